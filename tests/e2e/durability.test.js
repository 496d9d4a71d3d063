'use strict';
// What a user sees after a restart: nothing lost, whether the server stopped
// cleanly (SIGTERM) or was killed with SIGKILL right after answering a write.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { withServer, request, put, get, cfgPath, md5, assertStatus, assertError } = require('./lib');

const G = 'DEFAULT_GROUP';

/* Everything a user can read back, minus per-process things. */
async function snapshot(srv) {
	const out = {};
	let r = await request(srv, 'GET', '/api/v1/namespaces');
	assertStatus(r, 200);
	out.namespaces = r.json;
	r = await request(srv, 'GET', '/api/v1/configs?size=500');
	assertStatus(r, 200);
	out.list = r.json;
	r = await request(srv, 'GET', '/healthz');
	assertStatus(r, 200);
	out.revision = r.json.revision;
	out.configs = {};
	for (const it of out.list.items) {
		r = await get(srv, it.namespace, it.group, it.dataId);
		assertStatus(r, 200);
		out.configs[`${it.namespace}/${it.group}/${it.dataId}`] = {
			content: r.text,
			etag: r.headers.get('etag'),
			version: r.headers.get('x-hotconf-version'),
			format: r.headers.get('x-hotconf-format'),
			revision: r.headers.get('x-hotconf-revision'),
			lastModified: r.headers.get('last-modified'),
		};
	}
	out.history = {};
	for (const key of ['public/DEFAULT_GROUP/app', 'public/DEFAULT_GROUP/gone', 'dev/web/site.yaml']) {
		const [ns, g, d] = key.split('/');
		r = await request(srv, 'GET', cfgPath(ns, g, d) + '/history');
		assertStatus(r, 200, `history of ${key}`);
		out.history[key] = r.json;
		out.history[key + '@1'] = (await request(srv, 'GET', cfgPath(ns, g, d) + '/history/1')).json;
	}
	return out;
}

test('a clean restart keeps namespaces, configs, history and the revision', async (t) => {
	const srv = await withServer(t);
	assertStatus(
		await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'dev', name: 'Dev', description: 'd' } }),
		201
	);
	await put(srv, 'public', G, 'app', 'a=1', { query: { format: 'properties', description: 'desc' }, headers: { 'X-Hotconf-Author': 'al' } });
	await put(srv, 'public', G, 'app', 'a=2', { query: { message: 'second' } });
	await put(srv, 'public', G, 'gone', 'bye');
	assertStatus(await request(srv, 'DELETE', cfgPath('public', G, 'gone')), 200);
	await put(srv, 'dev', 'web', 'site.yaml', 'x: 1\n', { query: { format: 'yaml' } });
	await put(srv, 'dev', 'web', 'site.yaml', 'x: 2\n');
	assertStatus(await request(srv, 'POST', cfgPath('dev', 'web', 'site.yaml') + '/rollback', { body: { version: 1 } }), 200);
	await put(srv, 'public', G, 'bin', Buffer.from([0xff, 0x00, 0x01]));

	const before = await snapshot(srv);
	assert.equal(before.revision, 8, 'eight changes so far');
	assert.ok(fs.existsSync(path.join(srv.dataDir, 'hotconf.db')), 'the database is <data>/hotconf.db');

	await srv.restart(); // SIGTERM, asserts exit 0, starts again on the same data
	const after = await snapshot(srv);
	assert.deepEqual(after, before, 'everything reads back the same after a restart');
	assert.deepEqual((await get(srv, 'public', G, 'bin')).buf, Buffer.from([0xff, 0x00, 0x01]), 'binary content survives');
	assertError(await get(srv, 'public', G, 'gone'), 404, 'not_found', 'deleted stays deleted');

	// Versions and the revision continue where they were.
	const r = await put(srv, 'public', G, 'app', 'a=3', { expect: 200 });
	assert.equal(r.json.version, 3);
	assert.equal(r.json.revision, 9);
	const g = await put(srv, 'public', G, 'gone', 'back', { expect: 201 });
	assert.equal(g.json.version, 3, 'versions continue after delete across a restart');
	assertError(await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'dev' } }), 409, 'conflict', 'namespace still exists');
});

test('kill -9 right after a write reply loses nothing', async (t) => {
	const srv = await withServer(t);
	let revision = 0;
	const expected = new Map(); // dataId -> {content, version} or null when deleted

	const check = async (label) => {
		const h = await request(srv, 'GET', '/healthz');
		assertStatus(h, 200, label);
		assert.equal(h.json.revision, revision, `${label}: revision after kill -9 and restart`);
		for (const [id, want] of expected) {
			const r = await get(srv, 'public', G, id);
			if (want === null) {
				assertError(r, 404, 'not_found', `${label}: ${id} stays deleted`);
				continue;
			}
			assertStatus(r, 200, `${label}: ${id}`);
			assert.equal(r.text, want.content, `${label}: content of ${id}`);
			assert.equal(r.headers.get('etag'), `"${md5(want.content)}"`, `${label}: ETag of ${id}`);
			assert.equal(r.headers.get('x-hotconf-version'), String(want.version), `${label}: version of ${id}`);
		}
	};

	for (let i = 1; i <= 6; i++) {
		const id = `k${i % 3}`;
		const content = `round ${i}: ${'x'.repeat(i * 1000)}`;
		const r = await put(srv, 'public', G, id, content);
		revision = r.json.revision;
		expected.set(id, { content, version: r.json.version });
		const ex = await srv.kill9(); // the reply is in hand: the write must be durable
		assert.equal(ex.signal, 'SIGKILL');
		await srv.restart();
		await check(`after PUT #${i}`);
	}

	let r = await request(srv, 'DELETE', cfgPath('public', G, 'k1'));
	assertStatus(r, 200);
	revision = r.json.revision;
	expected.set('k1', null);
	await srv.kill9();
	await srv.restart();
	await check('after DELETE');
	r = await request(srv, 'GET', cfgPath('public', G, 'k1') + '/history');
	assert.equal(r.json.items[0].op, 'delete', 'the delete entry survived kill -9');

	r = await request(srv, 'POST', cfgPath('public', G, 'k1') + '/rollback', { body: { version: 1 } });
	assertStatus(r, 201);
	revision = r.json.revision;
	const v1 = (await request(srv, 'GET', cfgPath('public', G, 'k1') + '/history/1')).json.content;
	expected.set('k1', { content: v1, version: r.json.version });
	await srv.kill9();
	await srv.restart();
	await check('after rollback');

	r = await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'made-before-kill' } });
	assertStatus(r, 201);
	await srv.kill9();
	await srv.restart();
	r = await request(srv, 'GET', '/api/v1/namespaces');
	assert.ok(
		r.json.namespaces.some((n) => n.id === 'made-before-kill'),
		`namespace created just before kill -9 survives: ${r.text}`
	);
});

test('concurrent writes sharing commits: every acknowledged one survives kill -9', async (t) => {
	const srv = await withServer(t);
	const N = 200;
	const acked = new Map(); // dataId -> content, for every PUT answered 201
	let killed = false;
	// Many writers at once, so the server batches them into shared commits.
	// kill -9 lands while some are still in flight; only answers matter.
	const writes = Array.from({ length: N }, async (_, i) => {
		const id = `c${i}`;
		const content = `write ${i} ${'y'.repeat(512)}`;
		try {
			const r = await request(srv, 'PUT', cfgPath('public', G, id), { body: content });
			if (r.status === 201) acked.set(id, content);
			else assert.fail(`PUT ${id}: unexpected ${r.status} ${r.text}`);
		} catch (err) {
			if (!killed) throw err; // cut off by the kill: never acknowledged
		}
		if (acked.size === N / 2 && !killed) {
			killed = true;
			await srv.kill9();
		}
	});
	await Promise.all(writes);
	assert.ok(killed, 'the server was killed while writes were in flight');
	assert.ok(acked.size >= N / 2, `at least ${N / 2} writes were acknowledged (${acked.size})`);
	await srv.restart();
	for (const [id, content] of acked) {
		const r = await get(srv, 'public', G, id);
		assertStatus(r, 200, `acknowledged ${id} after kill -9`);
		assert.equal(r.text, content, `content of ${id}`);
	}
	// Whatever else landed is whole, never half-written.
	const list = await request(srv, 'GET', '/api/v1/configs?size=500');
	assertStatus(list, 200);
	assert.ok(list.json.total >= acked.size);
	for (const it of list.json.items) {
		const r = await get(srv, 'public', G, it.dataId);
		assert.match(r.text, /^write \d+ y{512}$/, `${it.dataId} is whole`);
	}
});
