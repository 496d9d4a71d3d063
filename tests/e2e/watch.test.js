'use strict';
// Long polls: one config (GET ?wait=) and many configs (POST /api/v1/watch).
// A watch is proven held by hotconf_watches_held in /metrics while its
// request has not settled; never by timing.

const test = require('node:test');
const assert = require('node:assert/strict');
const {
	withServer,
	request,
	put,
	get,
	cfgPath,
	qs,
	md5,
	assertStatus,
	assertError,
	waitHeld,
	track,
	answeredAtOnce,
	metric,
	waitFor,
} = require('./lib');

/* Checks hotconf_watch_expired_total is n. The server counts an expired
 * watch before it answers, so the count is there when the 304 is; the wait
 * only guards the scrape against a slow box, and the count may not go past. */
async function expiredIs(srv, n, what) {
	await waitFor(async () => (await metric(srv, 'hotconf_watch_expired_total')) >= n, { what });
	assert.equal(await metric(srv, 'hotconf_watch_expired_total'), n, what);
}

const G = 'DEFAULT_GROUP';
const LONG = '30s'; // a wait that must be cut short by an event
const SHORT = '500ms'; // a wait that must end in 304

function etag(content) {
	return `"${md5(content)}"`;
}

function watchOne(srv, dataId, { wait = LONG, ifNoneMatch, version, headers = {}, ns = 'public', group = G } = {}) {
	const h = { ...headers };
	if (ifNoneMatch !== undefined) h['If-None-Match'] = ifNoneMatch;
	return request(srv, 'GET', cfgPath(ns, group, dataId) + qs({ wait, version }), { headers: h });
}

function watchMany(srv, configs, { wait = LONG, headers } = {}) {
	return request(srv, 'POST', '/api/v1/watch' + qs({ wait }), { body: { configs }, headers });
}

test('single watch is held and woken by a PUT from another client', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'w', 'v1', { query: { format: 'text' }, expect: 201 });
	const w = track(watchOne(srv, 'w', { ifNoneMatch: etag('v1') }));
	await waitHeld(srv, 1);
	assert.equal(w.settled, false, 'the watch must still be pending while the server holds it');

	const pr = await put(srv, 'public', G, 'w', 'v2', { expect: 200 });
	const r = await w.promise;
	assertStatus(r, 200, 'woken watch');
	assert.equal(r.text, 'v2', 'woken watch carries the new content');
	assert.equal(r.headers.get('etag'), etag('v2'));
	assert.equal(r.headers.get('x-hotconf-version'), '2');
	assert.equal(r.headers.get('x-hotconf-revision'), String(pr.json.revision));
	assert.equal(r.headers.get('x-hotconf-format'), 'text');
	await waitHeld(srv, 0);
});

test('single watch by version=N is woken by a PUT', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'wv', 'one', { expect: 201 });
	await put(srv, 'public', G, 'wv', 'two', { expect: 200 });
	const w = track(watchOne(srv, 'wv', { version: 2 }));
	await waitHeld(srv, 1);
	assert.equal(w.settled, false, 'version=current must be held');
	await put(srv, 'public', G, 'wv', 'three', { expect: 200 });
	const r = await w.promise;
	assertStatus(r, 200);
	assert.equal(r.text, 'three');
	assert.equal(r.headers.get('x-hotconf-version'), '3');
});

test('single watch ends in 304 when the wait runs out', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'quiet', 'same', { expect: 201 });
	let r = await watchOne(srv, 'quiet', { wait: SHORT, ifNoneMatch: etag('same') });
	assertStatus(r, 304, 'If-None-Match current, wait=500ms');
	assert.equal(r.buf.length, 0, '304 has an empty body');
	r = await watchOne(srv, 'quiet', { wait: SHORT, version: 1 });
	assertStatus(r, 304, 'version current, wait=500ms');
	await waitHeld(srv, 0);
	// The config is untouched.
	r = await get(srv, 'public', G, 'quiet');
	assert.equal(r.text, 'same');
});

test('a wait without suffix is in seconds and is really held', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'secs', 'x', { expect: 201 });
	// 100 read as seconds holds until the PUT below; read as 100 ms it would
	// expire (304, counted in hotconf_watch_expired_total) before being woken.
	const w = track(watchOne(srv, 'secs', { wait: '100', ifNoneMatch: etag('x') }));
	await waitHeld(srv, 1);
	assert.equal(w.settled, false);
	await put(srv, 'public', G, 'secs', 'y', { expect: 200 });
	const r = await w.promise;
	assertStatus(r, 200, 'woken by the publish, not expired');
	assert.equal(r.text, 'y');
	assert.equal(await metric(srv, 'hotconf_watch_expired_total'), 0, 'nothing expired');
});

test('no wait, or wait=0, never blocks', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'nb', 'x', { expect: 201 });
	const at = (p, what) => answeredAtOnce(srv, p, { what });
	assertStatus(await at(watchOne(srv, 'nb', { wait: '0', ifNoneMatch: etag('x') }), 'wait=0'), 304, 'wait=0 current');
	assertStatus(await at(watchOne(srv, 'nb', { wait: null, ifNoneMatch: etag('x') }), 'no wait'), 304, 'no wait current');
	assertStatus(await at(watchOne(srv, 'nb', { wait: '0', version: 1 }), 'wait=0 version'), 304, 'wait=0 version current');
	assertError(
		await at(watchOne(srv, 'absent', { wait: null, version: 0 }), 'version=0 without wait'),
		404,
		'not_found',
		'version=0 without wait'
	);
	assertStatus(
		await at(watchMany(srv, [{ dataId: 'nb', md5: md5('x') }], { wait: null }), 'many, no wait'),
		304,
		'many-config watch without wait'
	);
	assertStatus(
		await at(watchMany(srv, [{ dataId: 'nb', md5: md5('x') }], { wait: '0' }), 'many, wait=0'),
		304,
		'many-config watch with wait=0'
	);
});

test('wait is capped at --max-wait', async (t) => {
	const srv = await withServer(t, { args: ['--max-wait', '1s'] });
	await put(srv, 'public', G, 'cap', 'x', { expect: 201 });
	const expired0 = await metric(srv, 'hotconf_watch_expired_total');
	// If the cap were ignored this would hang for 10 minutes and the test time out.
	const r = await watchOne(srv, 'cap', { wait: '10m', ifNoneMatch: etag('x') });
	assertStatus(r, 304, 'wait=10m capped at 1s ends in 304');
	// It was held and then expired: not answered at once.
	await expiredIs(srv, expired0 + 1, 'the watch expired at its deadline');
	await waitHeld(srv, 0);
});

test('a wait of any size is capped, never wrapped', async (t) => {
	const srv = await withServer(t, { args: ['--max-wait', '1s'] });
	await put(srv, 'public', G, 'huge', 'x', { expect: 201 });
	// Each of these, taken modulo 2^64 ms, would be a short or zero wait, or a
	// deadline in the past; capped they hold for --max-wait and expire.
	const waits = ['18446744073709551616ms', '18446744073709552s', '307445734561825861m', '9'.repeat(40) + 's', '9'.repeat(25)];
	for (const [i, wait] of waits.entries()) {
		const r = await watchOne(srv, 'huge', { wait, ifNoneMatch: etag('x') });
		assertStatus(r, 304, `wait=${wait}`);
		await expiredIs(srv, 2 * i + 1, `wait=${wait} was held to its capped deadline`);
		const m = await watchMany(srv, [{ dataId: 'huge', md5: md5('x') }], { wait });
		assertStatus(m, 304, `many-config wait=${wait}`);
		await expiredIs(srv, 2 * i + 2, `many-config wait=${wait} held and expired`);
	}
});

test('a stale copy is answered at once with the content', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 's', 'old', { expect: 201 });
	await put(srv, 'public', G, 's', 'new', { expect: 200 });
	let r = await answeredAtOnce(srv, watchOne(srv, 's', { ifNoneMatch: etag('old') }), { what: 'stale ETag' });
	assertStatus(r, 200, 'stale ETag');
	assert.equal(r.text, 'new');
	assert.equal(r.headers.get('etag'), etag('new'));
	assert.equal(r.headers.get('x-hotconf-version'), '2');
	r = await answeredAtOnce(srv, watchOne(srv, 's', { version: 1 }), { what: 'stale version' });
	assertStatus(r, 200, 'stale version');
	assert.equal(r.text, 'new');
	r = await answeredAtOnce(srv, watchOne(srv, 's', { version: 0 }), { what: 'version=0 on existing' });
	assertStatus(r, 200, 'version=0 on an existing config');
	assert.equal(r.text, 'new');
});

test('a watch on an absent config is 404 at once', async (t) => {
	const srv = await withServer(t);
	let r = await answeredAtOnce(srv, watchOne(srv, 'ghost', { ifNoneMatch: etag('anything') }), { what: 'absent, ETag' });
	assertError(r, 404, 'not_found', 'absent config, If-None-Match');
	r = await answeredAtOnce(srv, watchOne(srv, 'ghost', { version: 3 }), { what: 'absent, version=3' });
	assertError(r, 404, 'not_found', 'absent config, version=3');
});

test('delete wakes a held watch with 404', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'doomed', 'x', { expect: 201 });
	const a = track(watchOne(srv, 'doomed', { ifNoneMatch: etag('x') }));
	const b = track(watchOne(srv, 'doomed', { version: 1 }));
	await waitHeld(srv, 2);
	assert.equal(a.settled || b.settled, false, 'both watches held');
	assertStatus(await request(srv, 'DELETE', cfgPath('public', G, 'doomed')), 200);
	assertError(await a.promise, 404, 'not_found', 'watch by ETag after delete');
	assertError(await b.promise, 404, 'not_found', 'watch by version after delete');
	await waitHeld(srv, 0);
});

test('version=0 waits for the config to be created', async (t) => {
	const srv = await withServer(t);
	const w = track(watchOne(srv, 'later', { version: 0 }));
	await waitHeld(srv, 1);
	assert.equal(w.settled, false, 'version=0 on an absent config is held');
	await put(srv, 'public', G, 'later', 'born', { query: { format: 'properties' }, expect: 201 });
	const r = await w.promise;
	assertStatus(r, 200);
	assert.equal(r.text, 'born');
	assert.equal(r.headers.get('etag'), etag('born'));
	assert.equal(r.headers.get('x-hotconf-version'), '1');
	assert.equal(r.headers.get('x-hotconf-format'), 'properties');
});

test('a watch is not woken by changes to other configs', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'mine', 'm', { expect: 201 });
	const w = track(watchOne(srv, 'mine', { ifNoneMatch: etag('m') }));
	await waitHeld(srv, 1);
	const wake0 = await metric(srv, 'hotconf_watch_wakeups_total');
	await put(srv, 'public', G, 'other', 'o', { expect: 201 });
	await put(srv, 'public', 'G2', 'mine', 'same key in another group', { expect: 201 });
	// Still held after those publishes, and not even woken inside the server
	// (a wrong wake would re-park unseen by the client): the counter stays.
	await waitHeld(srv, 1);
	assert.equal(w.settled, false, 'changes to other configs must not wake this watch');
	assert.equal(await metric(srv, 'hotconf_watch_wakeups_total'), wake0, 'no watcher was woken');
	await put(srv, 'public', G, 'mine', 'm2', { expect: 200 });
	const r = await w.promise;
	assertStatus(r, 200);
	assert.equal(r.text, 'm2');
	assert.equal(await metric(srv, 'hotconf_watch_wakeups_total'), wake0 + 1, 'exactly this watcher was woken');
});

test('a description-only edit wakes nobody', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'desc', 'same', { expect: 201 });
	const one = track(watchOne(srv, 'desc', { ifNoneMatch: etag('same') }));
	const many = track(watchMany(srv, [{ dataId: 'desc', md5: md5('same') }]));
	await waitHeld(srv, 2);
	const wake0 = await metric(srv, 'hotconf_watch_wakeups_total');
	const r = await put(srv, 'public', G, 'desc', 'same', { query: { description: 'now described' }, expect: 200 });
	assert.equal(r.json.changed, true, 'the description changed');
	assert.equal(r.json.version, 1, 'but no new version');
	await waitHeld(srv, 2);
	assert.equal(one.settled || many.settled, false, 'no watch answered');
	assert.equal(await metric(srv, 'hotconf_watch_wakeups_total'), wake0, 'no watcher woken, even inside the server');
	await put(srv, 'public', G, 'desc', 'changed', { expect: 200 });
	assertStatus(await one.promise, 200);
	assertStatus(await many.promise, 200);
});

test('wait values that do not parse are 400', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'p', 'x', { expect: 201 });
	for (const wait of ['abc', '10x', '-1', '1.5s', 's', '10 s']) {
		assertError(await watchOne(srv, 'p', { wait, ifNoneMatch: etag('x') }), 400, 'invalid_argument', `GET wait=${wait}`);
		assertError(await watchMany(srv, [{ dataId: 'p', md5: md5('x') }], { wait }), 400, 'invalid_argument', `POST watch wait=${wait}`);
	}
	for (const version of ['abc', '-1', '1.5'])
		assertError(await watchOne(srv, 'p', { version, wait: '1s' }), 400, 'invalid_argument', `version=${version}`);
});

test('watch accepts caller headers, rejects malformed labels', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'who', 'x', { expect: 201 });
	const headers = { 'X-Hotconf-Instance': 'pod-7', 'X-Hotconf-Labels': 'app=web,env=dev' };
	let r = await watchOne(srv, 'who', { wait: SHORT, ifNoneMatch: etag('x'), headers });
	assertStatus(r, 304, 'single watch with caller headers');
	r = await watchMany(srv, [{ dataId: 'who', md5: md5('x') }], { wait: SHORT, headers });
	assertStatus(r, 304, 'many-config watch with caller headers');
	const bad = { 'X-Hotconf-Labels': 'app' };
	assertError(await watchOne(srv, 'who', { wait: SHORT, ifNoneMatch: etag('x'), headers: bad }), 400, 'invalid_argument');
	assertError(await watchMany(srv, [{ dataId: 'who', md5: md5('x') }], { wait: SHORT, headers: bad }), 400, 'invalid_argument');
	await waitHeld(srv, 0);
});

test('many-config watch: answers at once with only the entries that differ', async (t) => {
	const srv = await withServer(t);
	assertStatus(await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'dev' } }), 201);
	await put(srv, 'public', G, 'a', 'A', { expect: 201 });
	const b = await put(srv, 'public', G, 'b', 'B', { expect: 201 });
	await put(srv, 'dev', 'web', 'c', 'C', { expect: 201 });

	const now = (body, what) => answeredAtOnce(srv, watchMany(srv, body), { what });
	let r = await now(
		[
			{ namespace: 'public', group: G, dataId: 'a', md5: md5('A') },
			{ dataId: 'b', md5: md5('stale') }, // namespace and group default to public/DEFAULT_GROUP
			{ namespace: 'dev', group: 'web', dataId: 'c', md5: md5('C') },
			{ dataId: 'absent', md5: '' },
		],
		'one stale entry'
	);
	assertStatus(r, 200, 'one entry differs');
	assert.deepEqual(r.json, {
		changed: [{ namespace: 'public', group: G, dataId: 'b', md5: md5('B'), version: b.json.version }],
	});

	// md5 omitted means "I have none": every existing config differs.
	r = await now([{ dataId: 'a' }, { namespace: 'dev', group: 'web', dataId: 'c' }], 'md5 omitted');
	assertStatus(r, 200);
	const changed = r.json.changed.map((c) => `${c.namespace}/${c.group}/${c.dataId}:${c.md5}:${c.version}`).sort();
	assert.deepEqual(changed, [`dev/web/c:${md5('C')}:1`, `public/${G}/a:${md5('A')}:1`]);

	// A config the client thinks exists but does not: md5 "" and version 0.
	r = await now([{ dataId: 'absent', md5: md5('gone') }], 'absent config with an md5');
	assertStatus(r, 200);
	assert.deepEqual(r.json.changed, [{ namespace: 'public', group: G, dataId: 'absent', md5: '', version: 0 }]);

	// Nothing differs and no wait: 304 at once.
	r = await answeredAtOnce(srv, watchMany(srv, [{ dataId: 'a', md5: md5('A') }, { dataId: 'absent' }], { wait: null }), {
		what: 'nothing differs, no wait',
	});
	assertStatus(r, 304, 'nothing differs, no wait');
});

test('many-config watch: held, then woken by a change to one of the keys', async (t) => {
	const srv = await withServer(t);
	const keys = ['k1', 'k2', 'k3', 'k4'];
	for (const k of keys) await put(srv, 'public', G, k, `${k}-v1`, { expect: 201 });
	const w = track(
		watchMany(srv, [...keys.map((k) => ({ dataId: k, md5: md5(`${k}-v1`) })), { dataId: 'not-yet', md5: '' }])
	);
	await waitHeld(srv, 1);
	assert.equal(w.settled, false, 'nothing differs: the watch is held');
	await put(srv, 'public', 'other-group', 'k3', 'unrelated', { expect: 201 });
	const pr = await put(srv, 'public', G, 'k3', 'k3-v2', { expect: 200 });
	const r = await w.promise;
	assertStatus(r, 200);
	assert.deepEqual(r.json, {
		changed: [{ namespace: 'public', group: G, dataId: 'k3', md5: md5('k3-v2'), version: pr.json.version }],
	}, 'only the changed key is listed');
	await waitHeld(srv, 0);
});

test('many-config watch: creation and deletion wake it', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'present', 'p', { expect: 201 });

	let w = track(watchMany(srv, [{ dataId: 'present', md5: md5('p') }, { dataId: 'future' }]));
	await waitHeld(srv, 1);
	assert.equal(w.settled, false);
	await put(srv, 'public', G, 'future', 'f', { expect: 201 });
	let r = await w.promise;
	assertStatus(r, 200, 'woken by creation');
	assert.deepEqual(r.json.changed, [{ namespace: 'public', group: G, dataId: 'future', md5: md5('f'), version: 1 }]);

	w = track(watchMany(srv, [{ dataId: 'present', md5: md5('p') }, { dataId: 'future', md5: md5('f') }]));
	await waitHeld(srv, 1);
	assert.equal(w.settled, false);
	assertStatus(await request(srv, 'DELETE', cfgPath('public', G, 'present')), 200);
	r = await w.promise;
	assertStatus(r, 200, 'woken by deletion');
	assert.deepEqual(r.json.changed, [{ namespace: 'public', group: G, dataId: 'present', md5: '', version: 0 }]);
});

test('many-config watch: 304 when the wait runs out', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'a', 'A', { expect: 201 });
	const r = await watchMany(srv, [{ dataId: 'a', md5: md5('A') }, { dataId: 'none', md5: '' }], { wait: SHORT });
	assertStatus(r, 304);
	assert.equal(r.buf.length, 0, '304 has an empty body');
	await waitHeld(srv, 0);
});

test('many-config watch: 1..10000 entries, bad bodies are 400', async (t) => {
	const srv = await withServer(t);
	const many = (n) => Array.from({ length: n }, (_, i) => ({ dataId: `cfg-${i}`, md5: '' }));
	let r = await answeredAtOnce(srv, watchMany(srv, many(10000), { wait: null }), { what: '10000 entries' });
	assertStatus(r, 304, '10000 entries of absent configs with md5 "" do not differ');
	r = await watchMany(srv, many(10001), { wait: null });
	assertError(r, 400, 'invalid_argument', '10001 entries');
	r = await watchMany(srv, [], { wait: null });
	assertError(r, 400, 'invalid_argument', 'empty list');

	const bodies = [
		'not json',
		'{}',
		'{"configs": "a"}',
		'{"configs": [{"md5": ""}]}',
		'{"configs": [{"dataId": "a b"}]}',
		`{"configs": [{"dataId": "${'x'.repeat(129)}"}]}`,
		'{"configs": [{"namespace": "é", "dataId": "a"}]}',
		'{"configs": [{"dataId": "a", "md5": 5}]}',
	];
	for (const body of bodies) {
		r = await request(srv, 'POST', '/api/v1/watch?wait=1s', { body, headers: { 'Content-Type': 'application/json' } });
		assertError(r, 400, 'invalid_argument', `watch body ${body.slice(0, 60)}`);
	}
});
