'use strict';
// History retention runs in the background: with --retention-days 0 only the
// newest --retention-versions entries of each config survive, the current
// version is never touched, and young history is kept whatever its count.
// Also: a client that vanishes while its watch is held does not leak it.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { withServer, put, get, request, cfgPath, assertStatus, waitFor, waitHeld, metric, md5, authLine } = require('./lib.js');

const G = 'DEFAULT_GROUP';

async function historyVersions(srv, dataId) {
	const r = await request(srv, 'GET', cfgPath('public', G, dataId, '/history?size=100'));
	assertStatus(r, 200, 'history');
	return r.json.items.map((i) => i.version);
}

test('old history beyond --retention-versions is pruned in the background', async (t) => {
	const srv = await withServer(t, {
		args: ['--retention-days', '0', '--retention-versions', '3', '--prune-interval', '100ms'],
	});
	for (let v = 1; v <= 8; v++) await put(srv, 'public', G, 'kept', `v${v}`);
	await put(srv, 'public', G, 'gone', 'g1');
	await put(srv, 'public', G, 'gone', 'g2');
	assertStatus(await request(srv, 'DELETE', cfgPath('public', G, 'gone')), 200);

	await waitFor(async () => (await historyVersions(srv, 'kept')).length === 3, { what: 'history of kept pruned to 3' });
	assert.deepEqual(await historyVersions(srv, 'kept'), [8, 7, 6], 'the newest three versions stay');
	const cur = await get(srv, 'public', G, 'kept');
	assertStatus(cur, 200);
	assert.equal(cur.text, 'v8', 'the current version is untouched');
	// Fewer entries than the limit: all kept, the delete entry included.
	assert.deepEqual(await historyVersions(srv, 'gone'), [3, 2, 1]);
	// A pruned version is gone for good; rollback to it is a 404.
	assertStatus(await request(srv, 'GET', cfgPath('public', G, 'kept', '/history/2')), 404);
	assertStatus(await request(srv, 'POST', cfgPath('public', G, 'kept', '/rollback'), { body: { version: 2 } }), 404);
});

test('history younger than --retention-days is kept whatever its count', async (t) => {
	const srv = await withServer(t, {
		args: ['--retention-days', '30', '--retention-versions', '2', '--prune-interval', '100ms'],
	});
	for (let v = 1; v <= 6; v++) await put(srv, 'public', G, 'young', `v${v}`);
	const runs = await metric(srv, 'hotconf_prune_runs_total');
	// Two full passes after the publishes: each one chose to keep everything.
	await waitFor(async () => (await metric(srv, 'hotconf_prune_runs_total')) >= runs + 2, {
		what: 'two pruning passes',
	});
	assert.deepEqual(await historyVersions(srv, 'young'), [6, 5, 4, 3, 2, 1]);
	assert.equal(await metric(srv, 'hotconf_history_pruned_total'), 0);
});

test('a client that vanishes while its watch is held is let go at its deadline', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'v', 'x', { expect: 201 });
	const sock = net.connect(srv.port, '127.0.0.1');
	await new Promise((resolve, reject) => {
		sock.once('connect', resolve);
		sock.once('error', reject);
	});
	sock.write(
		`GET ${cfgPath('public', G, 'v')}?wait=1s HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
			authLine(srv) +
			`If-None-Match: "${md5('x')}"\r\n\r\n`
	);
	await waitHeld(srv, 1);
	sock.destroy();
	// The hang-up is seen (hardening.test.js), and the deadline would end it
	// anyway: either way it is let go.
	await waitHeld(srv, 0);
	const r = await request(srv, 'GET', '/healthz');
	assertStatus(r, 200);
});
