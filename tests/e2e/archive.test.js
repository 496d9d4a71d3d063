'use strict';
// Namespace export and import over HTTP: a zip of group/dataId files and a
// manifest, imported whole or not at all under a policy, with a dry run.

const test = require('node:test');
const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const { withServer, request, put, get, cfgPath, qs, md5, assertStatus, assertError, waitHeld, track } = require('./lib');

/* A zip of stored (uncompressed) files, as any zip tool writes them. */
function zip(files) {
	const locals = [];
	const centrals = [];
	let offset = 0;
	for (const [name, text] of Object.entries(files)) {
		const n = Buffer.from(name);
		const d = Buffer.from(text);
		const crc = zlib.crc32(d);
		const l = Buffer.alloc(30);
		l.writeUInt32LE(0x04034b50, 0);
		l.writeUInt16LE(20, 4);
		l.writeUInt32LE(crc, 14);
		l.writeUInt32LE(d.length, 18);
		l.writeUInt32LE(d.length, 22);
		l.writeUInt16LE(n.length, 26);
		const c = Buffer.alloc(46);
		c.writeUInt32LE(0x02014b50, 0);
		c.writeUInt16LE(20, 4);
		c.writeUInt16LE(20, 6);
		c.writeUInt32LE(crc, 16);
		c.writeUInt32LE(d.length, 20);
		c.writeUInt32LE(d.length, 24);
		c.writeUInt16LE(n.length, 28);
		c.writeUInt32LE(offset, 42);
		locals.push(l, n, d);
		centrals.push(c, n);
		offset += 30 + n.length + d.length;
	}
	const cd = Buffer.concat(centrals);
	const end = Buffer.alloc(22);
	end.writeUInt32LE(0x06054b50, 0);
	end.writeUInt16LE(Object.keys(files).length, 8);
	end.writeUInt16LE(Object.keys(files).length, 10);
	end.writeUInt32LE(cd.length, 12);
	end.writeUInt32LE(offset, 16);
	return Buffer.concat([...locals, cd, end]);
}

async function exportZip(srv, ns, query = {}) {
	const r = await request(srv, 'GET', `/api/v1/namespaces/${ns}/export` + qs(query), );
	assertStatus(r, 200, 'export');
	assert.equal(r.headers.get('content-type'), 'application/zip');
	return r.buf;
}

function importZip(srv, ns, body, query = {}) {
	return request(srv, 'POST', `/api/v1/namespaces/${ns}/import` + qs(query), {
		body,
		headers: { 'Content-Type': 'application/zip' },
	});
}

const names = (list) => list.map((e) => `${e.group}/${e.dataId}`).sort();

test('export -> import into a fresh server reproduces the namespace: contents, formats, descriptions', async (t) => {
	const a = await withServer(t);
	await put(a, 'public', 'app', 'a.yaml', 'a: 1\n', { query: { format: 'yaml', description: 'the a' }, expect: 201 });
	await put(a, 'public', 'app', 'b.json', '{"b":1}', { query: { format: 'json' }, expect: 201 });
	await put(a, 'public', 'db', 'c.properties', 'c=1\n', { query: { format: 'properties' }, expect: 201 });
	const z = await exportZip(a, 'public');
	const g = await exportZip(a, 'public', { group: 'app' });
	assert.ok(g.length < z.length, 'a group export holds less');

	const b = await withServer(t);
	const r = await importZip(b, 'public', z);
	assertStatus(r, 200, 'import');
	assert.deepEqual(names(r.json.created), ['app/a.yaml', 'app/b.json', 'db/c.properties']);
	assert.deepEqual(r.json.changed, []);
	assert.ok(r.json.created.every((e) => e.version === 1));
	for (const [grp, id, content, format] of [
		['app', 'a.yaml', 'a: 1\n', 'yaml'],
		['app', 'b.json', '{"b":1}', 'json'],
		['db', 'c.properties', 'c=1\n', 'properties'],
	]) {
		const c = await get(b, 'public', grp, id);
		assertStatus(c, 200);
		assert.equal(c.text, content);
		assert.equal(c.headers.get('x-hotconf-format'), format);
	}
	const hist = await request(b, 'GET', cfgPath('public', 'app', 'a.yaml', '/history'));
	assert.equal(hist.json.items[0].message, 'import', 'a normal history entry');
	const meta = await request(b, 'GET', '/api/v1/configs' + qs({ namespace: 'public', group: 'app' }));
	assert.equal(meta.json.items.find((c) => c.dataId === 'a.yaml').description, 'the a');
	// The same archive again: all unchanged, nothing written.
	const again = await importZip(b, 'public', z);
	assertStatus(again, 200);
	assert.deepEqual(again.json.skipped.map((e) => e.reason), ['unchanged', 'unchanged', 'unchanged']);
});

test('policies and the dry run: abort refuses whole, skip keeps, overwrite replaces; a dry run writes nothing', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', 'g', 'x', 'old-x', { expect: 201 });
	await put(srv, 'public', 'g', 'same', 'same', { expect: 201 });
	const z = zip({ 'g/x': 'new-x\n', 'g/same': 'same', 'g/fresh': 'f' });

	const abort = await importZip(srv, 'public', z);
	assert.match(assertError(abort, 409, 'conflict', 'abort'), /app|g\/x/);
	assert.equal((await get(srv, 'public', 'g', 'fresh')).status, 404, 'abort: not even the new config');

	const dry = await importZip(srv, 'public', z, { policy: 'overwrite', dryRun: 'true' });
	assertStatus(dry, 200);
	assert.equal(dry.json.dryRun, true);
	assert.deepEqual(names(dry.json.created), ['g/fresh']);
	assert.deepEqual(names(dry.json.changed), ['g/x']);
	assert.match(dry.json.changed[0].diff, /-old-x\n(\\ No newline at end of file\n)?\+new-x\n/);
	assert.equal((await get(srv, 'public', 'g', 'x')).text, 'old-x', 'a dry run writes nothing');

	const skip = await importZip(srv, 'public', z, { policy: 'skip' });
	assertStatus(skip, 200);
	assert.deepEqual(names(skip.json.created), ['g/fresh']);
	assert.deepEqual(skip.json.skipped.map((e) => `${e.dataId}:${e.reason}`).sort(), ['same:unchanged', 'x:exists with other content']);
	assert.equal((await get(srv, 'public', 'g', 'x')).text, 'old-x');

	// overwrite: the change wakes a held watch of it.
	const w = track(request(srv, 'GET', cfgPath('public', 'g', 'x') + qs({ wait: '60s' }), { headers: { 'If-None-Match': `"${md5('old-x')}"` } }));
	await waitHeld(srv, 1);
	const over = await importZip(srv, 'public', z, { policy: 'overwrite', message: 'from staging' });
	assertStatus(over, 200);
	assert.deepEqual(over.json.changed.map((e) => [e.dataId, e.version]), [['x', 2]]);
	const woken = await w.promise;
	assertStatus(woken, 200);
	assert.equal(woken.text, 'new-x\n');
	const hist = await request(srv, 'GET', cfgPath('public', 'g', 'x', '/history'));
	assert.equal(hist.json.items[0].message, 'from staging');
});

test('bad archives and bad input: 400 naming the problem, nothing imported', async (t) => {
	const srv = await withServer(t);
	const bad = [
		[Buffer.from('not a zip'), /not a zip/],
		[zip({ '../evil': 'x' }), /\.\./],
		[zip({ 'g/ok': 'fine', 'g/bad.json': '{', 'manifest.json': '' }), /./],
	];
	for (const [body, msg] of bad) assert.match(assertError(await importZip(srv, 'public', body), 400, 'invalid_argument'), msg);
	// A valid archive with one file that is not valid as its format: none lands.
	const m = {
		format: 'hotconf-export/1',
		namespace: 'public',
		configs: [
			{ group: 'g', dataId: 'ok', format: 'text', description: '', version: 1, md5: md5('fine') },
			{ group: 'g', dataId: 'bad.json', format: 'json', description: '', version: 1, md5: md5('{') },
		],
	};
	const z = zip({ 'manifest.json': JSON.stringify(m), 'g/ok': 'fine', 'g/bad.json': '{' });
	assert.match(assertError(await importZip(srv, 'public', z), 400, 'invalid_argument'), /g\/bad\.json is not valid json/);
	assert.equal((await get(srv, 'public', 'g', 'ok')).status, 404, 'nothing imported');
	assertError(await importZip(srv, 'public', z, { policy: 'merge' }), 400, 'invalid_argument');
	assertError(await importZip(srv, 'public', z, { dryRun: 'yes' }), 400, 'invalid_argument');
	assertError(await importZip(srv, 'nope', z), 404, 'not_found');
	assertError(await request(srv, 'GET', '/api/v1/namespaces/nope/export'), 404, 'not_found');
	// A namespace that requires review takes no direct import.
	assertStatus(await request(srv, 'PUT', '/api/v1/namespaces/public', { body: { review: { required: 1 } } }), 200);
	assert.match(assertError(await importZip(srv, 'public', zip({ 'g/y': 'y' })), 409, 'conflict'), /requires review/);
});
