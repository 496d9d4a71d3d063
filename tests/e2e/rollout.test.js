'use strict';
// Rollout plans (issue 10): a gray rule walks its percent up by itself while
// the instances in it report that they applied its content, aborts on its
// own when too many reject it, and promotes after its last step. 200
// simulated instances hold watches and behave like a client library: on an
// answer they take the content, report applied or rejected, and watch again.
// The plan's progress survives kill -9.

const test = require('node:test');
const assert = require('node:assert/strict');
const { withServer, waitFor, request, put, get, cfgPath, qs, md5, assertStatus, assertError } = require('./lib');

const N = 200;
const NS = 'public';
const G = 'DEFAULT_GROUP';
const MAIN = 'v: main\n';
const GRAY = 'v: canary\n';
const ARGS = ['--rollout-min-interval', '50ms', '--max-wait', '10m'];
const SALT = '5b0c9e7f2a1d4e6b8c3f0a9d7e5b1c2a'; // fixed: the same members every run

const name = (i) => `pod-${i}`;
const labels = (i) => `app=web,zone=z${i % 4}`;
const rulePath = (id, rule, suffix = '') => cfgPath(NS, G, id, `/gray/${rule}${suffix}`);

/*
 * The fleet: N instances, each a loop of long polls on id with the ETag it
 * holds. policy(i, content) says what it does with content it gets:
 * {status, message}. Each keeps what it holds (md5, content). stop() ends
 * every loop. A request that fails (the server restarting) is retried after
 * a short pause, as a client would.
 */
function fleet(srv, id, policy) {
	const insts = Array.from({ length: N }, (_, i) => ({ i, md5: '', content: null, answers: 0, reports: 0, errors: [] }));
	const ctrl = new AbortController();
	let stopped = false;
	const headers = (x) => ({
		Authorization: `Bearer ${srv.token}`,
		'X-Hotconf-Instance': name(x.i),
		'X-Hotconf-Labels': labels(x.i),
	});
	async function loop(x) {
		while (!stopped) {
			try {
				const h = headers(x);
				if (x.md5) h['If-None-Match'] = `"${x.md5}"`;
				const res = await fetch(`${srv.url}${cfgPath(NS, G, id)}${qs({ wait: '60s' })}`, { headers: h, signal: ctrl.signal });
				const body = await res.text();
				if (res.status === 304) continue;
				if (res.status !== 200) {
					x.errors.push(`${res.status} ${body}`);
					await new Promise((r) => setTimeout(r, 100));
					continue;
				}
				x.md5 = res.headers.get('etag').replace(/"/g, '');
				x.content = body;
				x.answers++;
				const { status, message } = policy(x.i, body);
				const rep = await fetch(`${srv.url}/api/v1/reports`, {
					method: 'POST',
					headers: { ...headers(x), 'Content-Type': 'application/json' },
					body: JSON.stringify({ reports: [{ namespace: NS, group: G, dataId: id, md5: x.md5, status, message }] }),
					signal: ctrl.signal,
				});
				await rep.text();
				if (rep.status === 200) x.reports++;
				else x.errors.push(`report ${rep.status}`);
			} catch (err) {
				if (stopped) return;
				await new Promise((r) => setTimeout(r, 100));
			}
		}
	}
	const loops = insts.map((x) => loop(x));
	return {
		insts,
		holding: (content) => insts.filter((x) => x.content === content).length,
		async stop() {
			stopped = true;
			ctrl.abort();
			await Promise.allSettled(loops);
		},
	};
}

async function rule(srv, id, r) {
	return request(srv, 'GET', rulePath(id, r));
}

async function history(srv, id) {
	const h = await request(srv, 'GET', cfgPath(NS, G, id, '/history') + qs({ size: 100 }));
	assertStatus(h, 200);
	return h.json.items;
}

/* The instances (indexes) a GET as each one answers with the rule's content. */
async function members(srv, id) {
	const out = new Set();
	for (let i = 0; i < N; i++) {
		const r = await get(srv, NS, G, id, { headers: { 'X-Hotconf-Instance': name(i), 'X-Hotconf-Labels': labels(i) } });
		assertStatus(r, 200);
		if (r.headers.get('x-hotconf-gray')) out.add(i);
	}
	return out;
}

test('a plan goes through every step and promotes when all apply', async (t) => {
	const srv = await withServer(t, { args: ARGS });
	await put(srv, NS, G, 'web', MAIN, { query: { format: 'yaml' }, expect: 201 });
	const f = fleet(srv, 'web', () => ({ status: 'applied' }));
	t.after(() => f.stop());
	await waitFor(async () => f.holding(MAIN) === N, { what: 'every instance holds main', timeoutMs: 60000 });

	const r = await request(srv, 'PUT', rulePath('web', 'canary'), {
		body: {
			content: GRAY,
			salt: SALT,
			rollout: { steps: [10, 50, 100], interval: '300ms', maxRejected: '2%', minReports: 3 },
		},
	});
	assertStatus(r, 201, 'the rule with its plan');
	// (Its steps may already be moving: the history below shows each.)
	const g = (await rule(srv, 'web', 'canary')).json;
	if (g.rollout) assert.deepEqual(g.rollout.steps, [10, 50, 100]);

	// It promotes on its own: the rule goes and GRAY is the main version.
	await waitFor(async () => (await rule(srv, 'web', 'canary')).status === 404, { what: 'the rollout promotes', timeoutMs: 90000 });
	const main = await get(srv, NS, G, 'web');
	assert.equal(main.text, GRAY);
	assert.equal(main.headers.get('x-hotconf-gray'), null);
	await waitFor(async () => f.holding(GRAY) === N, { what: 'every instance holds the promoted content', timeoutMs: 60000 });

	const items = await history(srv, 'web');
	const ops = items.map((h) => [h.op, h.grayMatch ? h.grayMatch.percent : null]).reverse();
	assert.deepEqual(ops, [
		['publish', null],
		['gray-publish', 10],
		['gray-step', 50],
		['gray-step', 100],
		['gray-promote', 100],
	]);
	const promote = items[0];
	assert.equal(promote.author, 'rollout');
	assert.equal(promote.rollout.state, 'promoted');
	assert.equal(promote.rollout.stepsTaken, 3);
	assert.deepEqual(promote.rollout.steps, [10, 50, 100]);
	assert.equal(promote.rollout.rejected, 0);
	assert.ok(promote.rollout.applied >= 3, `applied ${promote.rollout.applied}`);
	for (const x of f.insts) assert.deepEqual(x.errors, [], `${name(x.i)} saw no error`);
	// Each step woke only the instances it moved into the rule, and the
	// promote none (they all held its content): main, then GRAY, once each.
	for (const x of f.insts) assert.equal(x.answers, 2, `${name(x.i)} was answered twice`);
});

test('rejections over maxRejected at step 1 abort: every instance goes back to main', async (t) => {
	const srv = await withServer(t, { args: ARGS });
	await put(srv, NS, G, 'api', MAIN, { query: { format: 'yaml' }, expect: 201 });
	// Who is in the rule at 10%: the preview, with the rule's salt, over a
	// fleet that listens first.
	const f0 = fleet(srv, 'api', () => ({ status: 'applied' }));
	await waitFor(async () => f0.holding(MAIN) === N, { what: 'every instance holds main', timeoutMs: 60000 });
	const pv = await request(srv, 'POST', rulePath('api', 'canary', '/preview') + qs({ size: 500 }), { body: { salt: SALT, match: { percent: 10 } } });
	assertStatus(pv, 200);
	assert.equal(pv.json.listeners, N);
	const step1 = pv.json.instances.map((x) => Number(x.instance.slice(4)));
	await f0.stop();
	assert.ok(step1.length >= 5, `step 1 takes ${step1.length} instances`);
	// 5% of step 1's instances reject its content.
	const rejectors = new Set(step1.slice(0, Math.max(1, Math.round(step1.length * 0.05))));
	const f = fleet(srv, 'api', (i, content) =>
		content === GRAY && rejectors.has(i) ? { status: 'rejected', message: `pod-${i}: port 0 is invalid` } : { status: 'applied' }
	);
	t.after(() => f.stop());
	await waitFor(async () => f.holding(MAIN) === N, { what: 'the fleet holds main again', timeoutMs: 60000 });

	assertStatus(
		await request(srv, 'PUT', rulePath('api', 'canary'), {
			body: { content: GRAY, salt: SALT, rollout: { steps: [10, 50, 100], interval: '300ms', maxRejected: '2%', minReports: 3 } },
		}),
		201
	);
	let g;
	await waitFor(
		async () => {
			g = (await rule(srv, 'api', 'canary')).json;
			return g.rollout.state === 'aborted';
		},
		{ what: 'the rollout aborts', timeoutMs: 60000 }
	);
	assert.equal(g.rollout.step, 1, 'it never left step 1');
	assert.match(g.rollout.reason, /rejected it at step 1/);
	assert.match(g.rollout.reason, /port 0 is invalid/);
	// Everyone is back on main; the aborted rule stays, matching nobody.
	await waitFor(async () => f.holding(MAIN) === N, { what: 'every instance back on main', timeoutMs: 60000 });
	assert.equal((await members(srv, 'api')).size, 0);
	assert.equal((await get(srv, NS, G, 'api')).text, MAIN);
	const items = await history(srv, 'api');
	assert.equal(items[0].op, 'gray-abort');
	assert.equal(items[0].rollout.state, 'aborted');
	assert.match(items[0].message, /rejected/);

	// Deleting removes it.
	assertStatus(await request(srv, 'DELETE', rulePath('api', 'canary')), 200);
	assertStatus(await rule(srv, 'api', 'canary'), 404);
});

test('pause, advance, resume by hand; each is audited', async (t) => {
	const srv = await withServer(t, { args: ARGS });
	await put(srv, NS, G, 'db', MAIN, { expect: 201 });
	assertStatus(
		await request(srv, 'PUT', rulePath('db', 'r'), {
			body: { content: GRAY, salt: SALT, rollout: { steps: [5, 25, 100], interval: '1h', maxRejected: 2 } },
		}),
		201
	);
	const state = async () => {
		const g = (await rule(srv, 'db', 'r')).json.rollout;
		return [g.state, g.step, g.percent];
	};
	assert.deepEqual(await state(), ['running', 1, 5]);
	assertStatus(await request(srv, 'POST', rulePath('db', 'r', '/pause')), 200);
	assert.deepEqual(await state(), ['paused', 1, 5]);
	assertError(await request(srv, 'POST', rulePath('db', 'r', '/pause')), 409, 'conflict', 'pausing twice');
	assertStatus(await request(srv, 'POST', rulePath('db', 'r', '/advance')), 200);
	assert.deepEqual(await state(), ['paused', 2, 25], 'advance skips the wait; it stays paused');
	assertStatus(await request(srv, 'POST', rulePath('db', 'r', '/resume')), 200);
	assert.deepEqual(await state(), ['running', 2, 25]);
	assertStatus(await request(srv, 'POST', rulePath('db', 'r', '/advance'), { body: { message: 'looks good' } }), 200);
	assert.deepEqual(await state(), ['running', 3, 100]);
	assertStatus(await request(srv, 'POST', rulePath('db', 'r', '/advance')), 200);
	assertStatus(await rule(srv, 'db', 'r'), 404, 'advancing past the last step promotes');
	assert.equal((await get(srv, NS, G, 'db')).text, GRAY);

	const ops = (await history(srv, 'db')).map((h) => h.op).reverse();
	assert.deepEqual(ops, ['publish', 'gray-publish', 'gray-pause', 'gray-step', 'gray-resume', 'gray-step', 'gray-promote']);
	const a = await request(srv, 'GET', '/api/v1/audit' + qs({ namespace: NS, size: 100 }));
	assertStatus(a, 200);
	const acts = a.json.items.filter((e) => e.action.startsWith('gray-')).map((e) => e.action);
	for (const op of ['gray-pause', 'gray-step', 'gray-resume', 'gray-promote']) assert.ok(acts.includes(op), `audit has ${op}`);
	assertError(await request(srv, 'POST', rulePath('db', 'gone', '/pause')), 404, 'not_found');
});

test('kill -9 mid-rollout: it resumes at the same step with the same instances', async (t) => {
	const srv = await withServer(t, { args: ARGS });
	await put(srv, NS, G, 'svc', MAIN, { expect: 201 });
	assertStatus(
		await request(srv, 'PUT', rulePath('svc', 'r'), {
			body: { content: GRAY, salt: SALT, rollout: { steps: [10, 40, 100], interval: '1h' } },
		}),
		201
	);
	assertStatus(await request(srv, 'POST', rulePath('svc', 'r', '/advance')), 200);
	const before = (await rule(srv, 'svc', 'r')).json.rollout;
	assert.deepEqual([before.state, before.step, before.percent], ['running', 2, 40]);
	const inBefore = await members(srv, 'svc');
	assert.ok(inBefore.size > 40 && inBefore.size < 120, `40% of ${N} took ${inBefore.size}`);

	await srv.kill9();
	await srv.restart();
	const after = (await rule(srv, 'svc', 'r')).json.rollout;
	assert.deepEqual(
		[after.state, after.step, after.percent, after.nextAt, after.stepAt],
		[before.state, before.step, before.percent, before.nextAt, before.stepAt]
	);
	assert.deepEqual([...(await members(srv, 'svc'))].sort(), [...inBefore].sort(), 'the same instances');
	assertStatus(await request(srv, 'POST', rulePath('svc', 'r', '/advance')), 200, 'and it goes on');
	assert.equal((await rule(srv, 'svc', 'r')).json.rollout.percent, 100);
});

test('bad plans: 400 naming the field, nothing changes', async (t) => {
	const srv = await withServer(t); // the default minimum interval: 1 s
	await put(srv, NS, G, 'app', MAIN, { expect: 201 });
	const cases = [
		[{ steps: [10, 5] }, /rollout\.steps must increase/],
		[{ steps: [10, 101] }, /rollout\.steps\[1\] must be a number from 0 to 100/],
		[{ steps: [] }, /rollout\.steps must be an array of 1 to 16/],
		[{ steps: Array.from({ length: 17 }, (_, i) => i) }, /1 to 16/],
		[{ steps: [1.234] }, /rollout\.steps\[0\] .* more than two decimals/],
		[{ steps: [10], interval: '500ms' }, /rollout\.interval must be at least 1000 ms/],
		[{ steps: [10], interval: 'soon' }, /rollout\.interval must be a duration/],
		[{ steps: [10], maxRejected: 'lots' }, /rollout\.maxRejected must be a percent/],
		[{ steps: [10], maxRejected: '120%' }, /rollout\.maxRejected/],
		[{ steps: [10], minReports: -1 }, /rollout\.minReports/],
		[{ steps: [10], speed: 2 }, /rollout\.speed is not a field/],
		[{ interval: '10m' }, /rollout\.steps is required/],
	];
	for (const [rollout, re] of cases) {
		const r = await request(srv, 'PUT', rulePath('app', 'r'), { body: { content: GRAY, rollout } });
		assertError(r, 400, 'invalid_argument', JSON.stringify(rollout));
		assert.match(r.json.error.message, re);
	}
	const both = await request(srv, 'PUT', rulePath('app', 'r'), {
		body: { content: GRAY, match: { percent: 5 }, rollout: { steps: [10] } },
	});
	assertError(both, 400, 'invalid_argument');
	assert.match(both.json.error.message, /match\.percent: a rule with a rollout/);
	assertStatus(await rule(srv, 'app', 'r'), 404, 'no case made the rule');
	assertError(await request(srv, 'POST', rulePath('app', 'r', '/pause')), 404, 'not_found');
	// A rule without a plan has nothing to pause.
	assertStatus(await request(srv, 'PUT', rulePath('app', 'p'), { body: { content: GRAY, match: { percent: 5 } } }), 201);
	assertError(await request(srv, 'POST', rulePath('app', 'p', '/pause')), 409, 'conflict');
	assert.equal((await rule(srv, 'app', 'p')).json.rollout, null);
});
