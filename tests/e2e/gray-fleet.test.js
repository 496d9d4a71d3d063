'use strict';
// Issue 9's fleet: 1,000 simulated instances, each with its own id and label
// set, hold a watch on one config. A 10% rule takes about 100 of them, and
// exactly the instances whose effective content changed are answered: when
// the rule is created, when its percent goes up (only the newcomers), on a
// main publish under the rule (only those outside it), on an abort (only its
// members) and on a promote (only the non-members: the members hold the
// promoted content already). Who is a member is decided by the preview of
// the rule over the current listeners, before the rule is saved, never by
// who was answered; a GET as each instance cross-checks it.
//
// "Nobody else was answered" is shown without a sleep: after each change a
// sentinel watch on another config is woken by a publish. The watch thread
// handles changes in order, so once the sentinel is answered the change
// before it has been handled in full; then the server must hold exactly the
// fleet watches that were not answered, and have counted exactly one wake-up
// per expected answer (plus the sentinel's), so a watcher woken by mistake
// and parked again is caught too.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { withServer, waitFor, waitHeld, metric, request, put, get, cfgPath, qs, md5, assertStatus } = require('./lib');

const N = 1000;
const NS = 'public';
const G = 'DEFAULT_GROUP';
const ID = 'fleet.yaml';
const SENTINEL = 'fleet-sentinel.txt';
// Fixed salts make the percent buckets, and so the member counts, the same
// on every run of one build: a count outside 100 +/- 30 is then a
// reproducible failure, not a 1-in-600 flake.
const SALT1 = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const SALT2 = '8c2a7e41d09b3f56a1c4e7b20d9f6a38';
const WAIT = '600s'; // the server runs with --max-wait 10m: no watch ends on its own here
const PAGE = 500; // the largest page the preview and listeners views give

const M1 = 'v: main-1\n';
const M2 = 'v: main-2\n';
const G1 = 'v: gray-1\n';
const G2 = 'v: gray-2\n';

const name = (i) => `inst-${i}`;
// Distinct label sets: host is unique, zone and rack repeat.
const labels = (i) => `zone=z${i % 5},rack=r${i % 17},host=h${i}`;
const all = () => new Set(Array.from({ length: N }, (_, i) => i));
const minus = (a, b) => new Set([...a].filter((x) => !b.has(x)));
const sorted = (s) => [...s].sort((x, y) => x - y);
const rulePath = (rule, suffix = '') => cfgPath(NS, G, ID, `/gray/${encodeURIComponent(rule)}${suffix}`);

function instIndex(id) {
	const m = /^inst-(\d+)$/.exec(id);
	assert.ok(m && Number(m[1]) < N, `unexpected instance ${JSON.stringify(id)} in a view`);
	return Number(m[1]);
}

/* A long poll on its own socket (node:http, no keep-alive). Never rejects:
 * the outcome is in w.res or w.err once w.settled. */
function longPoll(srv, agent, dataId, headers) {
	const w = { settled: false, res: null, err: null, req: null };
	const url = `${srv.url}${cfgPath(NS, G, dataId)}${qs({ wait: WAIT })}`;
	w.promise = new Promise((resolve) => {
		const done = (err, res) => {
			if (w.settled) return;
			w.err = err;
			w.res = res;
			w.settled = true;
			resolve(w);
		};
		const req = http.get(url, { agent, headers: { ...headers, Authorization: `Bearer ${srv.token}` } }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () =>
				done(null, { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
			);
			res.on('error', (e) => done(e, null));
		});
		req.on('error', (e) => done(e, null));
		w.req = req;
	});
	return w;
}

function outcome(w) {
	if (!w.settled) return 'held';
	if (w.err) return `error ${w.err.code || w.err.message}`;
	return `${w.res.status} gray=${w.res.headers['x-hotconf-gray']} body=${JSON.stringify(w.res.body.slice(0, 40))}`;
}

/* Runs fn over 0..n-1 with at most `width` calls in flight. */
async function pool(n, width, fn) {
	let next = 0;
	const worker = async () => {
		while (next < n) await fn(next++);
	};
	await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

class Fleet {
	constructor(srv, agent) {
		this.srv = srv;
		this.agent = agent;
		this.watches = new Array(N).fill(null);
		this.holds = new Array(N).fill(md5(M1)); // the md5 each instance was last given
		this.sentinel = null;
		this.tick = 0;
	}

	headers(i) {
		return { 'X-Hotconf-Instance': name(i), 'X-Hotconf-Labels': labels(i) };
	}

	arm(i) {
		this.watches[i] = longPoll(this.srv, this.agent, ID, { ...this.headers(i), 'If-None-Match': `"${this.holds[i]}"` });
	}

	armSentinel() {
		this.sentinel = longPoll(this.srv, this.agent, SENTINEL, {
			'X-Hotconf-Instance': 'sentinel',
			'If-None-Match': `"${md5(`tick ${this.tick}`)}"`,
		});
	}

	/* Re-arms the given instances (and the sentinel) and waits until the
	 * server holds every fleet watch and the sentinel, none answered. */
	async rearm(which, what) {
		for (const i of which) this.arm(i);
		this.armSentinel();
		await waitHeld(this.srv, N + 1, 60000);
		const early = this.watches.map((w, i) => (w.settled ? `${name(i)}: ${outcome(w)}` : null)).filter(Boolean);
		assert.deepEqual(early, [], `${what}: no watch may be answered before the change`);
		assert.equal(this.sentinel.settled, false, `${what}: the sentinel is held`);
	}

	answered() {
		const s = new Set();
		this.watches.forEach((w, i) => w.settled && s.add(i));
		return s;
	}

	/*
	 * After a change: waits (with deadlines) until every expected instance
	 * is answered, then runs the sentinel barrier and asserts that exactly
	 * the expected ones were answered and woken. check(i, res) then checks
	 * each answer, and the instance's md5 is updated from its ETag.
	 */
	async expectAnswered(expected, wakeupsBefore, what, check) {
		try {
			await waitFor(() => sorted(expected).every((i) => this.watches[i].settled), {
				timeoutMs: 30000,
				what: `${what}: all ${expected.size} expected instances answered`,
			});
		} catch (err) {
			const missing = sorted(expected).filter((i) => !this.watches[i].settled);
			err.message += `; still held: ${missing.slice(0, 20).map(name).join(' ')} (${missing.length} in all)`;
			throw err;
		}
		// The barrier: the sentinel's publish is handled after the change.
		this.tick++;
		await put(this.srv, NS, G, SENTINEL, `tick ${this.tick}`, { expect: 200 });
		await waitFor(() => this.sentinel.settled, { timeoutMs: 30000, what: `${what}: the sentinel answered` });
		assert.equal(this.sentinel.res && this.sentinel.res.status, 200, `${what}: sentinel ${outcome(this.sentinel)}`);

		const rest = N - expected.size;
		let held;
		try {
			await waitFor(async () => (held = await metric(this.srv, 'hotconf_watches_held')) === rest, {
				timeoutMs: 10000,
				what: `${what}: hotconf_watches_held == ${rest}`,
			});
		} catch (err) {
			err.message += `; the server holds ${held} watches, the client saw ${this.answered().size} answered`;
			throw err;
		}
		const woken = await metric(this.srv, 'hotconf_watch_wakeups_total');
		assert.equal(
			woken - wakeupsBefore,
			expected.size + 1,
			`${what}: one wake-up per expected answer and one for the sentinel (no watcher woken and parked again)`
		);
		const got = this.answered();
		const extra = sorted(minus(got, expected));
		assert.deepEqual(
			extra.map((i) => `${name(i)}: ${outcome(this.watches[i])}`),
			[],
			`${what}: instances answered that should not have been`
		);
		assert.deepEqual(sorted(got), sorted(expected), `${what}: the answered set`);
		for (const i of expected) {
			const w = this.watches[i];
			assert.equal(w.err, null, `${what}: ${name(i)} ${outcome(w)}`);
			assert.equal(w.res.status, 200, `${what}: ${name(i)} ${outcome(w)}`);
			check(i, w.res);
			this.holds[i] = JSON.parse(w.res.headers.etag);
		}
	}

	/* Destroys every socket the fleet opened. */
	close() {
		for (const w of [...this.watches, this.sentinel]) if (w && !w.settled) w.req.destroy();
		this.agent.destroy();
	}
}

/* The instances a rule (saved, or described by body) serves, from its
 * preview over the config's current listeners; every page of it. */
async function preview(srv, rule, body) {
	const served = new Set();
	const matched = new Set();
	let first;
	for (let page = 1; page <= Math.ceil(N / PAGE) + 1; page++) {
		const p = rulePath(rule, '/preview') + qs({ page, size: PAGE });
		const r = body ? await request(srv, 'POST', p, { body }) : await request(srv, 'GET', p);
		assertStatus(r, 200, `preview of ${rule}`);
		first = first || r.json;
		for (const x of r.json.instances) {
			const i = instIndex(x.instance);
			assert.equal(x.labels, labels(i), `preview: ${x.instance} is listed with the labels it sent`);
			matched.add(i);
			if (x.served) served.add(i);
		}
		if (matched.size >= r.json.matched || r.json.instances.length === 0) break;
	}
	assert.equal(first.listeners, N, `preview of ${rule}: the fleet is the config's listeners`);
	assert.equal(matched.size, first.matched, `preview of ${rule}: every matched instance listed`);
	assert.equal(served.size, first.served, `preview of ${rule}: served count`);
	return { served, salt: first.salt, saved: first.saved };
}

/* GETs the config as every instance and returns those served rule. */
async function servedByGet(srv, rule, content, mainContent) {
	const s = new Set();
	await pool(N, 8, async (i) => {
		const r = await get(srv, NS, G, ID, { headers: { 'X-Hotconf-Instance': name(i), 'X-Hotconf-Labels': labels(i) } });
		assertStatus(r, 200, `GET as ${name(i)}`);
		const gray = r.headers.get('x-hotconf-gray');
		if (gray === rule) {
			assert.equal(r.text, content, `GET as ${name(i)}: the rule's content`);
			s.add(i);
		} else {
			assert.equal(gray, null, `GET as ${name(i)}: no other rule`);
			assert.equal(r.text, mainContent, `GET as ${name(i)}: main content`);
		}
	});
	return s;
}

const wakeups = async (srv) => (await metric(srv, 'hotconf_watch_wakeups_total')) || 0;

test(`${N} instances: a 10% rule, raise, main publish, abort, promote wake exactly the right ones`, { timeout: 180000 }, async (t) => {
	const t0 = Date.now();
	const srv = await withServer(t, { args: ['--max-wait', '10m'] });
	const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
	const fleet = new Fleet(srv, agent);
	let closed = false;
	t.after(() => closed || fleet.close());

	const v1 = await put(srv, NS, G, ID, M1, { query: { format: 'yaml' }, expect: 201 });
	await put(srv, NS, G, SENTINEL, 'tick 0', { expect: 201 });
	await fleet.rearm(all(), 'the fleet parks');
	const version1 = String(v1.json.version);

	// 1. A 10% rule. Its members, from the preview before it exists.
	const pre = await preview(srv, 'canary', { match: { percent: 10 }, salt: SALT1 });
	assert.equal(pre.saved, false);
	assert.equal(pre.salt, SALT1, 'the preview uses the salt it is given');
	const p10 = pre.served;
	assert.ok(p10.size >= 70 && p10.size <= 130, `a 10% rule takes 100 +/- 30 of ${N}, took ${p10.size}`);
	let w0 = await wakeups(srv);
	const c = await request(srv, 'PUT', rulePath('canary'), {
		body: { content: G1, match: { percent: 10 }, salt: SALT1 },
	});
	assertStatus(c, 201, 'create the 10% rule');
	assert.equal(String(c.json.version), version1, 'a rule leaves the main version');
	await fleet.expectAnswered(p10, w0, '10% rule created', (i, res) => {
		assert.equal(res.body, G1, `${name(i)} gets the rule's content`);
		assert.equal(res.headers['x-hotconf-gray'], 'canary', `${name(i)}: X-Hotconf-Gray`);
		assert.equal(res.headers.etag, `"${md5(G1)}"`);
		assert.equal(res.headers['x-hotconf-version'], version1);
	});
	const saved = await preview(srv, 'canary');
	assert.equal(saved.saved, true);
	assert.deepEqual(sorted(saved.served), sorted(p10), 'the saved rule serves what its preview showed');
	assert.deepEqual(sorted(await servedByGet(srv, 'canary', G1, M1)), sorted(p10), 'a GET as each instance agrees');

	// 2. 10% -> 20%: only the newcomers; no member leaves (buckets are sticky).
	await fleet.rearm(p10, 'members re-armed');
	const p20 = (await preview(srv, 'canary', { content: G1, match: { percent: 20 } })).served;
	assert.deepEqual(sorted(minus(p10, p20)), [], 'raising the percent keeps every member');
	assert.ok(p20.size >= 140 && p20.size <= 260, `a 20% rule takes 200 +/- 60 of ${N}, took ${p20.size}`);
	const newcomers = minus(p20, p10);
	assert.ok(newcomers.size > 0, 'raising the percent adds instances');
	w0 = await wakeups(srv);
	assertStatus(
		await request(srv, 'PUT', rulePath('canary'), { body: { content: G1, match: { percent: 20 } } }),
		200,
		'raise to 20%'
	);
	await fleet.expectAnswered(newcomers, w0, 'raised to 20%', (i, res) => {
		assert.equal(res.body, G1, `${name(i)} gets the rule's content`);
		assert.equal(res.headers['x-hotconf-gray'], 'canary', `${name(i)}: X-Hotconf-Gray`);
	});
	assert.deepEqual(sorted((await preview(srv, 'canary')).served), sorted(p20), 'the saved 20% rule');
	assert.deepEqual(sorted(await servedByGet(srv, 'canary', G1, M1)), sorted(p20), 'a GET as each instance agrees');

	// 3. A main publish under the rule reaches only the instances outside it.
	await fleet.rearm(newcomers, 'newcomers re-armed');
	const outside = minus(all(), p20);
	w0 = await wakeups(srv);
	const v2 = await put(srv, NS, G, ID, M2, { expect: 200 });
	await fleet.expectAnswered(outside, w0, 'main publish under the rule', (i, res) => {
		assert.equal(res.body, M2, `${name(i)} gets the new main content`);
		assert.equal(res.headers['x-hotconf-gray'], undefined, `${name(i)}: no X-Hotconf-Gray`);
		assert.equal(res.headers['x-hotconf-version'], String(v2.json.version));
	});

	// 4. Abort: exactly the members go back to main.
	await fleet.rearm(outside, 'outsiders re-armed');
	w0 = await wakeups(srv);
	const ab = await request(srv, 'DELETE', rulePath('canary'));
	assertStatus(ab, 200, 'abort');
	assert.equal(ab.json.md5, md5(M2));
	await fleet.expectAnswered(p20, w0, 'abort', (i, res) => {
		assert.equal(res.body, M2, `${name(i)} gets main again`);
		assert.equal(res.headers['x-hotconf-gray'], undefined, `${name(i)}: no X-Hotconf-Gray`);
		assert.equal(res.headers['x-hotconf-version'], String(ab.json.version));
	});

	// 5. A new 10% rule (another salt: other members), then its promote.
	await fleet.rearm(p20, 'members re-armed after the abort');
	const q = (await preview(srv, 'second', { match: { percent: 10 }, salt: SALT2 })).served;
	assert.ok(q.size >= 70 && q.size <= 130, `a 10% rule takes 100 +/- 30 of ${N}, took ${q.size}`);
	w0 = await wakeups(srv);
	assertStatus(
		await request(srv, 'PUT', rulePath('second'), { body: { content: G2, match: { percent: 10 }, salt: SALT2 } }),
		201,
		'create the second rule'
	);
	await fleet.expectAnswered(q, w0, 'second rule created', (i, res) => {
		assert.equal(res.body, G2, `${name(i)} gets the second rule's content`);
		assert.equal(res.headers['x-hotconf-gray'], 'second', `${name(i)}: X-Hotconf-Gray`);
	});
	assert.deepEqual(sorted(await servedByGet(srv, 'second', G2, M2)), sorted(q), 'a GET as each instance agrees');

	// Promote: the members hold the promoted content already, so only the
	// others are answered.
	await fleet.rearm(q, 'second-rule members re-armed');
	const rest = minus(all(), q);
	w0 = await wakeups(srv);
	const pr = await request(srv, 'POST', rulePath('second', '/promote'));
	assertStatus(pr, 200, 'promote');
	assert.equal(pr.json.md5, md5(G2));
	await fleet.expectAnswered(rest, w0, 'promote', (i, res) => {
		assert.equal(res.body, G2, `${name(i)} gets the promoted content`);
		assert.equal(res.headers['x-hotconf-gray'], undefined, `${name(i)}: no X-Hotconf-Gray after a promote`);
		assert.equal(res.headers['x-hotconf-version'], String(pr.json.version));
	});

	// Everyone holds the same content now, by the client's count and the
	// server's listeners view.
	assert.deepEqual([...new Set(fleet.holds)], [md5(G2)], 'all instances hold the promoted md5');
	await fleet.rearm(rest, 'all re-armed after the promote');
	const seen = new Map();
	for (let page = 1; page <= Math.ceil(N / PAGE); page++) {
		const l = await request(srv, 'GET', cfgPath(NS, G, ID, '/listeners') + qs({ page, size: PAGE }));
		assertStatus(l, 200, 'listeners');
		assert.equal(l.json.md5, md5(G2));
		assert.equal(l.json.summary.total, N);
		assert.equal(l.json.summary.onLatest, N, 'every listener is on the latest content');
		assert.equal(l.json.summary.watching, N, 'and watching');
		for (const x of l.json.instances) seen.set(instIndex(x.instance), x.md5);
	}
	assert.equal(seen.size, N);
	assert.deepEqual([...new Set(seen.values())], [md5(G2)], 'the server sees one md5 across the fleet');

	// Hang up every watch; the server lets go of all of them.
	fleet.close();
	closed = true;
	await waitHeld(srv, 0);
	t.diagnostic(`members: 10% ${p10.size}, 20% ${p20.size}, second ${q.size}; ${Date.now() - t0} ms`);
});
