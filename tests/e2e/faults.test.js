'use strict';
// The store's fault hook through the real server (--test-faults): a batch whose
// COMMIT fails fails every write in it with a clear 5xx, changes nothing (no
// config, no history, no watcher woken), and the next batch commits.

const test = require('node:test');
const assert = require('node:assert/strict');
const {
	withServer,
	request,
	put,
	get,
	cfgPath,
	md5,
	assertStatus,
	assertError,
	waitFor,
	waitHeld,
	track,
	metric,
} = require('./lib');

const G = 'DEFAULT_GROUP';

function fault(srv, body) {
	return request(srv, 'POST', '/api/v1/debug/faults', { body });
}

async function queued(srv, n) {
	let last;
	await waitFor(
		async () => {
			last = await metric(srv, 'hotconf_writes_queued');
			return last === n;
		},
		{ what: `hotconf_writes_queued == ${n} (last ${last})` }
	);
}

const cases = [
	{ error: 'io', status: 500, code: 'io_error', words: /disk failed/ },
	{ error: 'busy', status: 503, code: 'unavailable', words: /locked/ },
	{ error: 'full', status: 507, code: 'insufficient_storage', words: /disk is full/ },
	{ error: 'readonly', status: 503, code: 'read_only', words: /read-only/ },
];

for (const c of cases) {
	test(`a failed COMMIT (${c.error}) fails its whole batch with ${c.status}; nothing changes`, async (t) => {
		const srv = await withServer(t, { args: ['--test-faults'] });
		const ids = ['a', 'b', 'c'];
		for (const id of ids) await put(srv, 'public', G, id, `${id}1`, { expect: 201 });
		const watches = ids.map((id) => track(request(srv, 'GET', cfgPath('public', G, id) + `?wait=60s`, { headers: { 'If-None-Match': `"${md5(id + '1')}"` } })));
		await waitHeld(srv, 3);
		const wake0 = await metric(srv, 'hotconf_watch_wakeups_total');
		const rev0 = (await request(srv, 'GET', '/healthz')).json.revision;

		// Three writes queued behind a held writer become one batch.
		assertStatus(await fault(srv, { hold: true }), 200);
		const writes = [
			put(srv, 'public', G, 'a', 'a2', { expect: c.status }),
			request(srv, 'DELETE', cfgPath('public', G, 'b')),
			put(srv, 'public', G, 'new', 'n1', { expect: c.status }),
		];
		await queued(srv, 3);
		assertStatus(await fault(srv, { point: 'commit', error: c.error, count: 1 }), 200);
		assertStatus(await fault(srv, { hold: false }), 200);
		for (const r of await Promise.all(writes)) {
			const msg = assertError(r, c.status, c.code, `${r.what} in the failed batch`);
			assert.match(msg, /not committed/, `${r.what}: says nothing was committed`);
			assert.match(msg, c.words, `${r.what}: says why`);
		}
		// Nothing changed: contents, versions, history, revision, watchers.
		for (const id of ids) {
			const r = await get(srv, 'public', G, id);
			assertStatus(r, 200, `${id} still there`);
			assert.equal(r.text, `${id}1`);
			assert.equal(r.headers.get('x-hotconf-version'), '1');
		}
		assertError(await get(srv, 'public', G, 'new'), 404, 'not_found', 'the new config was not created');
		assert.equal((await request(srv, 'GET', cfgPath('public', G, 'a') + '/history')).json.total, 1);
		assert.equal((await request(srv, 'GET', '/healthz')).json.revision, rev0);
		await waitHeld(srv, 3);
		assert.equal(await metric(srv, 'hotconf_watch_wakeups_total'), wake0, 'no watcher woken');
		assert.ok(watches.every((w) => !w.settled), 'every watch still held');

		// The fault fired once: the next batch commits and wakes a's watcher.
		const ok = await put(srv, 'public', G, 'a', 'a2', { expect: 200 });
		assert.equal(ok.json.version, 2);
		assert.equal(ok.json.revision, rev0 + 1);
		const woken = await watches[0].promise;
		assertStatus(woken, 200);
		assert.equal(woken.text, 'a2');
	});
}

test('a failed write statement in the middle of a batch fails the writes before it too', async (t) => {
	const srv = await withServer(t, { args: ['--test-faults'] });
	await put(srv, 'public', G, 'x', 'x1', { expect: 201 });
	assertStatus(await fault(srv, { hold: true }), 200);
	const writes = [put(srv, 'public', G, 'x', 'x2', { expect: 500 }), put(srv, 'public', G, 'y', 'y1', { expect: 500 })];
	await queued(srv, 2);
	// The first publish writes three statements; the fourth (the second's first) fails.
	assertStatus(await fault(srv, { point: 'write', error: 'io', after: 3, count: 1 }), 200);
	assertStatus(await fault(srv, { hold: false }), 200);
	for (const r of await Promise.all(writes)) assertError(r, 500, 'io_error', r.what);
	assert.equal((await get(srv, 'public', G, 'x')).text, 'x1');
	assertError(await get(srv, 'public', G, 'y'), 404, 'not_found');
	await put(srv, 'public', G, 'y', 'y1', { expect: 201 });
});

test('the fault endpoint does not exist without --test-faults, and checks its body', async (t) => {
	const srv = await withServer(t);
	assertError(await fault(srv, { point: 'commit' }), 404, 'not_found');
	const on = await withServer(t, { args: ['--test-faults'] });
	for (const body of [{ point: 'nope' }, { error: 'nope' }, { count: -1 }, { hold: 'yes' }, 'not json'])
		assertError(await fault(on, body), 400, 'invalid_argument', JSON.stringify(body));
});
