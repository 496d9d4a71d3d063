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

/*
 * A zip from an array of entries, written field by field so that a test can
 * build what a hostile or unusual tool writes: names may repeat, and headers
 * may lie. Each entry is {name (a string, or a Buffer of raw bytes), data
 * (string or Buffer), method (0 stored, the default, or 8 deflate),
 * declaredSize (the uncompressed size every header claims; the truth by
 * default), utf8 (set the UTF-8 name flag)}. The CRC is always that of data.
 * descriptor: true leaves CRC and sizes out of the local headers and writes
 * them after each entry's data, as java.util.zip.ZipOutputStream (Nacos'
 * exporter) does.
 */
function zipOf(entries, { descriptor = false } = {}) {
	const locals = [];
	const centrals = [];
	let offset = 0;
	for (const e of entries) {
		const n = Buffer.isBuffer(e.name) ? e.name : Buffer.from(e.name);
		const raw = Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data ?? '');
		const method = e.method ?? 0;
		const d = method === 8 ? zlib.deflateRawSync(raw) : raw;
		const crc = zlib.crc32(raw);
		const size = e.declaredSize ?? raw.length;
		const flags = (descriptor ? 0x0008 : 0) | (e.utf8 ? 0x0800 : 0);
		const dosDate = (1 << 5) | 1; // 1980-01-01
		const l = Buffer.alloc(30);
		l.writeUInt32LE(0x04034b50, 0);
		l.writeUInt16LE(20, 4);
		l.writeUInt16LE(flags, 6);
		l.writeUInt16LE(method, 8);
		l.writeUInt16LE(dosDate, 12);
		if (!descriptor) {
			l.writeUInt32LE(crc, 14);
			l.writeUInt32LE(d.length, 18);
			l.writeUInt32LE(size, 22);
		}
		l.writeUInt16LE(n.length, 26);
		locals.push(l, n, d);
		let len = l.length + n.length + d.length;
		if (descriptor) {
			const dd = Buffer.alloc(16);
			dd.writeUInt32LE(0x08074b50, 0);
			dd.writeUInt32LE(crc, 4);
			dd.writeUInt32LE(d.length, 8);
			dd.writeUInt32LE(size, 12);
			locals.push(dd);
			len += dd.length;
		}
		const c = Buffer.alloc(46);
		c.writeUInt32LE(0x02014b50, 0);
		c.writeUInt16LE(20, 4);
		c.writeUInt16LE(20, 6);
		c.writeUInt16LE(flags, 8);
		c.writeUInt16LE(method, 10);
		c.writeUInt16LE(dosDate, 14);
		c.writeUInt32LE(crc, 16);
		c.writeUInt32LE(d.length, 20);
		c.writeUInt32LE(size, 24);
		c.writeUInt16LE(n.length, 28);
		c.writeUInt32LE(offset, 42);
		centrals.push(c, n);
		offset += len;
	}
	const cd = Buffer.concat(centrals);
	const end = Buffer.alloc(22);
	end.writeUInt32LE(0x06054b50, 0);
	end.writeUInt16LE(entries.length, 8);
	end.writeUInt16LE(entries.length, 10);
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

/* Every config of a namespace, as the list API shows them (versions, md5s, times). */
async function listed(srv, ns) {
	const r = await request(srv, 'GET', '/api/v1/configs' + qs({ namespace: ns, size: 500 }));
	assertStatus(r, 200, 'list');
	return r.json;
}

/*
 * A server holding public/g/keep ("kept"), and refused(body) for the hostile
 * cases: each archive also carries g/ok (new) and g/keep (other content) and
 * is imported with policy=overwrite, so only its hostility can stop it. It
 * asserts a 400 invalid_argument and that nothing landed: g/ok is 404, g/keep
 * is untouched and the namespace's config list is exactly as before. Returns
 * the message.
 */
async function hostileServer(t) {
	const srv = await withServer(t);
	await put(srv, 'public', 'g', 'keep', 'kept', { expect: 201 });
	const innocent = [
		{ name: 'g/ok', data: 'fine' },
		{ name: 'g/keep', data: 'replaced' },
	];
	async function refused(body, query = {}) {
		const before = await listed(srv, 'public');
		const r = await importZip(srv, 'public', body, { policy: 'overwrite', ...query });
		const msg = assertError(r, 400, 'invalid_argument');
		assert.equal((await get(srv, 'public', 'g', 'ok')).status, 404, `${msg}: g/ok was not imported`);
		const keep = await get(srv, 'public', 'g', 'keep');
		assertStatus(keep, 200);
		assert.equal(keep.text, 'kept', `${msg}: g/keep was not overwritten`);
		assert.deepEqual(await listed(srv, 'public'), before, `${msg}: the config list is unchanged`);
		return msg;
	}
	/* The same innocent entries alone do import: the 404s above mean something. */
	async function stillImports() {
		const r = await importZip(srv, 'public', zipOf(innocent), { policy: 'overwrite' });
		assertStatus(r, 200, 'the innocent part alone');
		assert.deepEqual(names(r.json.created), ['g/ok']);
		assert.deepEqual(names(r.json.changed), ['g/keep']);
	}
	return { srv, innocent, refused, stillImports };
}

test('zip bombs: an entry over 10 MiB, a ratio over 200:1, a total over 100 MiB, headers that lie: 400, nothing imported', async (t) => {
	const { innocent, refused, stillImports } = await hostileServer(t);
	const zeros = Buffer.alloc(30 << 20);

	// Honest headers: 30 MiB of zeros deflate to about 30 KiB.
	const bomb = zipOf([...innocent, { name: 'g/bomb', data: zeros, method: 8 }]);
	assert.ok(bomb.length < 100 << 10, `the bomb is small on the wire (${bomb.length} bytes)`);
	const big = "archive entry 'g/bomb' would inflate to 31457280 bytes, over the 10485760-byte cap";
	assert.equal(await refused(bomb), big);
	assert.equal(await refused(bomb, { dryRun: 'true' }), big, 'a dry run is refused the same way');

	// Under the entry cap, but 5 MiB from about 5 KiB.
	const dense = zipOf([...innocent, { name: 'g/bomb', data: zeros.subarray(0, 5 << 20), method: 8 }]);
	assert.match(await refused(dense), /^archive entry 'g\/bomb' compresses \d+:1, over the 200:1 cap \(a zip bomb\?\)$/);

	// Eleven entries of 10 MiB each (the entry cap, at about 88:1): each passes,
	// together they pass 100 MiB, refused on the headers before any is inflated.
	const ten = Buffer.alloc(10 << 20);
	for (let i = 0, x = 1; i < ten.length; i += 64) {
		x = (x * 1103515245 + 12345) >>> 0;
		ten[i] = x >>> 24;
	}
	const parts = Array.from({ length: 11 }, (_, i) => ({ name: `g/part${i}`, data: ten, method: 8 }));
	assert.equal(await refused(zipOf([...innocent, ...parts])), 'the archive would inflate to more than 104857600 bytes');

	// Lying headers: 1,000 bytes declared (under the ratio floor), 30 MiB inside.
	// Caught while inflating, one byte past the declared size.
	const liar = [...innocent, { name: 'g/bomb', data: zeros, method: 8, declaredSize: 1000 }];
	const lie = "archive entry 'g/bomb' inflates past the 1000 bytes its header declares (a zip bomb?)";
	assert.equal(await refused(zipOf(liar)), lie);
	// The same lie in the streamed layout (sizes in data descriptors, as Java writes).
	assert.equal(await refused(zipOf(liar, { descriptor: true })), lie);
	// A stored entry whose sizes say 10 bytes and whose data runs on for 5000.
	assert.equal(
		await refused(zipOf([...innocent, { name: 'g/bomb', data: 'x'.repeat(5000), declaredSize: 10 }])),
		"archive entry 'g/bomb' inflates past the 10 bytes its header declares (a zip bomb?)"
	);
	await stillImports();
});

test('duplicate entry names: 400 naming the duplicate, nothing imported', async (t) => {
	const { innocent, refused, stillImports } = await hostileServer(t);
	// The same group/dataId twice, with different contents: which would win?
	assert.equal(
		await refused(zipOf([...innocent, { name: 'g/x', data: 'first' }, { name: 'g/x', data: 'second' }])),
		"two archive entries have the same name: 'g/x'"
	);
	// A config of the innocent set repeated: the first one must not land either.
	assert.equal(
		await refused(zipOf([...innocent, { name: 'g/ok', data: 'again' }])),
		"two archive entries have the same name: 'g/ok'"
	);
	// Two manifests in a hotconf export.
	const m = { name: 'manifest.json', data: JSON.stringify({ format: 'hotconf-export/1', namespace: 'public', configs: [] }) };
	assert.equal(await refused(zipOf([m, ...innocent, m])), "two archive entries have the same name: 'manifest.json'");
	// One file, listed twice by the manifest.
	const entry = { group: 'g', dataId: 'ok', format: 'text', description: '', version: 1, md5: md5('fine') };
	const twice = { format: 'hotconf-export/1', namespace: 'public', configs: [entry, entry] };
	assert.equal(
		await refused(zipOf([{ name: 'manifest.json', data: JSON.stringify(twice) }, { name: 'g/ok', data: 'fine' }])),
		"manifest.json lists 'g/ok' twice"
	);
	await stillImports();
});

test('entry names that are not UTF-8: 400, nothing imported', async (t) => {
	const { innocent, refused, stillImports } = await hostileServer(t);
	const raw = (...bytes) => Buffer.concat([Buffer.from('g/'), Buffer.from(bytes)]);
	// A raw 0xff, shown escaped in the message.
	assert.equal(await refused(zipOf([...innocent, { name: raw(0xff), data: 'x' }])), "archive entry 'g/\\xff' is not valid UTF-8");
	// An overlong '/' (0xc0 0xaf): a decoder that accepted it would see g//.
	assert.equal(
		await refused(zipOf([...innocent, { name: raw(0xc0, 0xaf), data: 'x' }])),
		"archive entry 'g/\\xc0\\xaf' is not valid UTF-8"
	);
	// The same 0xff under the zip's own UTF-8 flag: libzip finds the archive inconsistent.
	assert.match(
		await refused(zipOf([...innocent, { name: raw(0xff), data: 'x', utf8: true }])),
		/^the zip archive is corrupt or truncated: /
	);
	await stillImports();
});

test('absolute paths, .. and backslashes, and other names that are not group/dataId: 400, nothing imported', async (t) => {
	const { innocent, refused, stillImports } = await hostileServer(t);
	for (const [name, why] of [
		['/etc/x', 'is an absolute path'],
		['/g/x', 'is an absolute path'],
		['g/../../x', "climbs out with '..'"],
		['../g/x', "climbs out with '..'"],
		['g/..', "climbs out with '..'"],
		['g\\..\\x', 'contains a backslash'],
		['..\\..\\etc\\passwd', 'contains a backslash'],
		['C:\\x', 'contains a backslash'],
		['./g/x', "has a '.' segment"],
		['g/./x', "has a '.' segment"],
		['g//x', 'has an empty path segment'],
		['a/b/c', 'is not group/dataId'],
		['x', 'is not group/dataId'],
		['.meta', 'is not group/dataId'],
	])
		assert.equal(await refused(zipOf([...innocent, { name, data: 'x' }])), `archive entry '${name}' ${why}`, name);
	await stillImports();
});

test('more than 10000 entries: 400, nothing imported', async (t) => {
	const { innocent, refused, stillImports } = await hostileServer(t);
	const many = [...innocent];
	while (many.length < 10001) many.push({ name: `g/c${many.length}`, data: 'x' });
	assert.equal(await refused(zipOf(many)), 'the archive has 10001 entries, over the cap of 10000');
	await stillImports();
});

/*
 * A zip as Nacos writes it (java.util.zip.ZipOutputStream: deflate, UTF-8
 * names, sizes in data descriptors, no directory entries): group/dataId
 * files, then the metadata file, if any.
 */
function nacosZip(files, meta) {
	const entries = files.map(([name, data]) => ({ name, data, method: 8, utf8: true }));
	if (meta) entries.push({ name: meta[0], data: meta[1], method: 8, utf8: true });
	return zipOf(entries, { descriptor: true });
}

test("Nacos' export v2 (.metadata.yml): a dry run lists it, then it imports with types as formats and descs as descriptions", async (t) => {
	const srv = await withServer(t);
	const files = [
		['DEFAULT_GROUP/app.yaml', 'server:\n  port: 8080\n'],
		['DEFAULT_GROUP/db.properties', 'url=jdbc:mysql://db/app\n'],
		['ORDERS/flags.json', '{"on":true}'],
		['ORDERS/rules.xml', '<rules><rule id="1"/></rules>'],
		['ORDERS/page.html', '<p>hi</p>'],
	];
	// SnakeYAML's dumpAsMap of {metadata: [ConfigMetadata...]}: block style,
	// properties in alphabetical order, null ones left out.
	const meta =
		'metadata:\n' +
		'- appName: shop\n  dataId: app.yaml\n  desc: the shop app\n  group: DEFAULT_GROUP\n  type: yaml\n' +
		'- dataId: db.properties\n  group: DEFAULT_GROUP\n  type: properties\n' +
		'- configTags: a,b\n  dataId: flags.json\n  desc: feature flags\n  group: ORDERS\n  type: json\n' +
		'- dataId: rules.xml\n  group: ORDERS\n  type: xml\n' +
		'- dataId: page.html\n  group: ORDERS\n  type: html\n';
	const z = nacosZip(files, ['.metadata.yml', meta]);
	const all = files.map(([n]) => n).sort();

	const dry = await importZip(srv, 'public', z, { dryRun: 'true' });
	assertStatus(dry, 200, 'dry run');
	assert.equal(dry.json.dryRun, true);
	assert.deepEqual(names(dry.json.created), all);
	assert.deepEqual(dry.json.changed, []);
	assert.deepEqual(dry.json.skipped, []);
	assert.equal((await listed(srv, 'public')).total, 0, 'a dry run writes nothing');

	const r = await importZip(srv, 'public', z);
	assertStatus(r, 200, 'import');
	assert.equal(r.json.dryRun, false);
	assert.deepEqual(names(r.json.created), all);
	assert.ok(r.json.created.every((e) => e.version === 1));
	const formats = { 'app.yaml': 'yaml', 'db.properties': 'properties', 'flags.json': 'json', 'rules.xml': 'xml', 'page.html': 'text' };
	const descs = { 'app.yaml': 'the shop app', 'flags.json': 'feature flags' };
	const list = (await listed(srv, 'public')).items;
	assert.equal(list.length, files.length);
	for (const [name, content] of files) {
		const [grp, id] = name.split('/');
		const c = await get(srv, 'public', grp, id);
		assertStatus(c, 200, name);
		assert.equal(c.text, content, `${name}: content`);
		assert.equal(c.headers.get('x-hotconf-format'), formats[id], `${name}: format from type`);
		const item = list.find((i) => i.group === grp && i.dataId === id);
		assert.equal(item.format, formats[id]);
		assert.equal(item.description, descs[id] ?? '', `${name}: description from desc`);
	}
	// Metadata that names a file the zip does not hold: refused, nothing more lands.
	const before = await listed(srv, 'public');
	const extra = meta + '- dataId: gone.yaml\n  group: ORDERS\n  type: yaml\n';
	const bad = nacosZip([...files, ['ORDERS/new.yaml', 'n: 1\n']], ['.metadata.yml', extra]);
	assert.equal(
		assertError(await importZip(srv, 'public', bad, { policy: 'overwrite' }), 400, 'invalid_argument'),
		".metadata.yml lists 'ORDERS/gone.yaml', which is not in the archive"
	);
	assert.equal((await get(srv, 'public', 'ORDERS', 'new.yaml')).status, 404);
	assert.deepEqual(await listed(srv, 'public'), before);
});

test("Nacos' export v1 (.meta.yml of appName lines): imports the files; formats come from what is there, else text", async (t) => {
	const srv = await withServer(t);
	// Already here as yaml, with other content: the import keeps its format.
	await put(srv, 'public', 'DEFAULT_GROUP', 'app.yaml', 'old: 1\n', { query: { format: 'yaml' }, expect: 201 });
	const files = [
		['DEFAULT_GROUP/app.yaml', 'server:\n  port: 8080\n'],
		['DEFAULT_GROUP/db.properties', 'url=jdbc:mysql://db/app\n'],
		['ORDERS/flags.json', '{"on":true}'],
	];
	// Nacos writes "group.dataId.app=appName\r\n" (the dataId's last '.' as
	// '~') for the configs that have an appName; no type, no desc.
	const meta = 'DEFAULT_GROUP.app~yaml.app=shop\r\nORDERS.flags~json.app=orders\r\n';
	const z = nacosZip(files, ['.meta.yml', meta]);

	const dry = await importZip(srv, 'public', z, { policy: 'overwrite', dryRun: 'true' });
	assertStatus(dry, 200, 'dry run');
	assert.equal(dry.json.dryRun, true);
	assert.deepEqual(names(dry.json.created), ['DEFAULT_GROUP/db.properties', 'ORDERS/flags.json']);
	assert.deepEqual(names(dry.json.changed), ['DEFAULT_GROUP/app.yaml']);
	assert.match(dry.json.changed[0].diff, /-old: 1\n\+server:\n\+  port: 8080\n/);
	assert.equal((await get(srv, 'public', 'DEFAULT_GROUP', 'app.yaml')).text, 'old: 1\n', 'a dry run writes nothing');
	assert.equal((await get(srv, 'public', 'ORDERS', 'flags.json')).status, 404, 'a dry run creates nothing');

	const r = await importZip(srv, 'public', z, { policy: 'overwrite' });
	assertStatus(r, 200, 'import');
	assert.deepEqual(names(r.json.created), ['DEFAULT_GROUP/db.properties', 'ORDERS/flags.json']);
	assert.deepEqual(r.json.changed.map((e) => [e.dataId, e.version]), [['app.yaml', 2]]);
	for (const [name, content, format] of [
		[...files[0], 'yaml'],
		[...files[1], 'text'],
		[...files[2], 'text'],
	]) {
		const [grp, id] = name.split('/');
		const c = await get(srv, 'public', grp, id);
		assertStatus(c, 200, name);
		assert.equal(c.text, content, `${name}: content`);
		assert.equal(c.headers.get('x-hotconf-format'), format, `${name}: format`);
	}
	// A .meta.yml line that is not group.dataId.app=appName: refused whole.
	const before = await listed(srv, 'public');
	const bad = nacosZip([['ORDERS/new.txt', 'n']], ['.meta.yml', 'ORDERS.new~txt.app=a=b\r\n']);
	assert.equal(
		assertError(await importZip(srv, 'public', bad), 400, 'invalid_argument'),
		".meta.yml: 'ORDERS.new~txt.app=a=b' is not group.dataId.app=appName"
	);
	assert.equal((await get(srv, 'public', 'ORDERS', 'new.txt')).status, 404);
	assert.deepEqual(await listed(srv, 'public'), before);
});
