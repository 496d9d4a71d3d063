'use strict';
// The REST API as a user sees it: namespaces, configs CRUD, listing, headers,
// conditional requests, history, rollback, and every error status of the spec.

const test = require('node:test');
const assert = require('node:assert/strict');
const {
	withServer,
	request,
	rawRequest,
	put,
	get,
	cfgPath,
	qs,
	md5,
	assertStatus,
	assertError,
	assertContentType,
	describe: describeRes,
	ISO_MS,
} = require('./lib');

const G = 'DEFAULT_GROUP';
// With auth on the author is the authenticated name (auth.test.js); these
// tests check the X-Hotconf-Author that --auth=off takes instead.
const OPEN = { args: ['--auth=off'] };

test('namespaces: list, create, defaults, duplicate, delete', async (t) => {
	const srv = await withServer(t);

	let r = await request(srv, 'GET', '/api/v1/namespaces');
	assertStatus(r, 200);
	assertContentType(r, 'application/json');
	assert.ok(Array.isArray(r.json.namespaces), `namespaces should be an array: ${r.text}`);
	const pub = r.json.namespaces.find((n) => n.id === 'public');
	assert.ok(pub, `public is always present: ${r.text}`);
	assert.equal(pub.configCount, 0);

	r = await request(srv, 'POST', '/api/v1/namespaces', {
		body: { id: 'dev', name: 'Development', description: 'for developers' },
	});
	assertStatus(r, 201, 'create dev');
	assert.equal(r.json.id, 'dev');
	assert.equal(r.json.name, 'Development');
	assert.equal(r.json.description, 'for developers');
	assert.equal(r.json.configCount, 0);
	assert.match(r.json.createdAt, ISO_MS, 'createdAt is ISO-8601 UTC with ms');

	r = await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'a-team' } });
	assertStatus(r, 201, 'create with id only');
	assert.equal(r.json.name, 'a-team', 'name defaults to the id');
	assert.equal(r.json.description, '', 'description defaults to ""');

	r = await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'dev', name: 'again' } });
	assertError(r, 409, 'conflict', 'duplicate namespace');

	r = await request(srv, 'GET', '/api/v1/namespaces');
	assertStatus(r, 200);
	assert.deepEqual(
		r.json.namespaces.map((n) => n.id),
		['a-team', 'dev', 'public'],
		'namespaces ordered by id'
	);
	const dev = r.json.namespaces.find((n) => n.id === 'dev');
	assert.equal(dev.name, 'Development');
	assert.equal(dev.description, 'for developers');
	assert.match(dev.createdAt, ISO_MS);

	r = await request(srv, 'DELETE', '/api/v1/namespaces/a-team');
	assertStatus(r, 200);
	assert.deepEqual(r.json, { id: 'a-team', deleted: true });
	r = await request(srv, 'GET', '/api/v1/namespaces');
	assert.deepEqual(
		r.json.namespaces.map((n) => n.id),
		['dev', 'public']
	);
	assertError(await request(srv, 'DELETE', '/api/v1/namespaces/a-team'), 404, 'not_found', 'delete again');
	assertError(await request(srv, 'DELETE', '/api/v1/namespaces/nope'), 404, 'not_found');
	assertError(await request(srv, 'DELETE', '/api/v1/namespaces/public'), 403, 'forbidden');
});

test('namespaces: configCount, delete refused while it holds configs', async (t) => {
	const srv = await withServer(t);
	assertStatus(await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'prod' } }), 201);
	await put(srv, 'prod', G, 'a', 'x=1', { expect: 201 });
	await put(srv, 'prod', 'other', 'b', 'y=2', { expect: 201 });

	let r = await request(srv, 'GET', '/api/v1/namespaces');
	assert.equal(r.json.namespaces.find((n) => n.id === 'prod').configCount, 2, r.text);
	assert.equal(r.json.namespaces.find((n) => n.id === 'public').configCount, 0, r.text);

	assertError(await request(srv, 'DELETE', '/api/v1/namespaces/prod'), 409, 'conflict');
	assertStatus(await request(srv, 'DELETE', cfgPath('prod', G, 'a')), 200);
	r = await request(srv, 'GET', '/api/v1/namespaces');
	assert.equal(r.json.namespaces.find((n) => n.id === 'prod').configCount, 1, r.text);
	assertError(await request(srv, 'DELETE', '/api/v1/namespaces/prod'), 409, 'conflict');
	assertStatus(await request(srv, 'DELETE', cfgPath('prod', 'other', 'b')), 200);
	assertStatus(await request(srv, 'DELETE', '/api/v1/namespaces/prod'), 200);

	// The namespace is gone: configs in it are 404 and listing it is 404.
	assertError(await put(srv, 'prod', G, 'a', 'x', { expect: 404 }), 404, 'not_found');
	assertError(await request(srv, 'GET', '/api/v1/configs?namespace=prod'), 404, 'not_found');
});

test('namespaces: bad ids and bad bodies are 400', async (t) => {
	const srv = await withServer(t);
	const bad = ['', 'a b', 'é', 'x'.repeat(129), 'a/b', 'a*b', 'tab\there'];
	for (const id of bad) {
		const r = await request(srv, 'POST', '/api/v1/namespaces', { body: { id } });
		assertError(r, 400, 'invalid_argument', `namespace id ${JSON.stringify(id)}`);
	}
	assertStatus(await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'n'.repeat(128) } }), 201, '128 chars is fine');
	assertStatus(await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'A.b_c:d-9' } }), 201, 'all allowed chars');

	for (const body of ['{"id":', 'not json', '[1,2]', '{}', '{"id":42}']) {
		const r = await request(srv, 'POST', '/api/v1/namespaces', {
			body,
			headers: { 'Content-Type': 'application/json' },
		});
		assertError(r, 400, 'invalid_argument', `namespace body ${body}`);
	}
});

test('configs: publish, read with headers, update, no-op, delete', async (t) => {
	const srv = await withServer(t, OPEN); // authors from X-Hotconf-Author: --auth=off
	const p = cfgPath('public', G, 'app.properties');

	let r = await put(srv, 'public', G, 'app.properties', 'a=1\n', {
		query: { format: 'properties', description: 'app settings' },
		headers: { 'X-Hotconf-Author': 'alice' },
		expect: 201,
	});
	assert.equal(r.json.version, 1, describeRes(r));
	assert.equal(r.json.md5, md5('a=1\n'), 'md5 is the md5 of the content');
	assert.equal(typeof r.json.revision, 'number');
	assert.equal(r.headers.get('etag'), `"${md5('a=1\n')}"`, 'PUT carries the ETag');
	const rev1 = r.json.revision;

	r = await request(srv, 'GET', p);
	assertStatus(r, 200);
	assert.equal(r.text, 'a=1\n', 'GET returns the raw content');
	assertContentType(r, 'text/plain; charset=utf-8');
	assert.equal(r.headers.get('etag'), `"${md5('a=1\n')}"`);
	assert.equal(r.headers.get('x-hotconf-version'), '1');
	assert.equal(r.headers.get('x-hotconf-format'), 'properties');
	assert.equal(r.headers.get('x-hotconf-revision'), String(rev1));
	const lm = r.headers.get('last-modified');
	assert.ok(lm && /GMT$/.test(lm) && !Number.isNaN(Date.parse(lm)), `Last-Modified is an HTTP date: ${lm}`);

	r = await put(srv, 'public', G, 'app.properties', 'a=2\n', { headers: { 'X-Hotconf-Author': 'bob' }, expect: 200 });
	assert.equal(r.json.version, 2);
	assert.equal(r.json.md5, md5('a=2\n'));
	assert.ok(r.json.revision > rev1, 'revision grows with every change');
	const rev2 = r.json.revision;
	r = await request(srv, 'GET', p);
	assert.equal(r.text, 'a=2\n');
	assert.equal(r.headers.get('x-hotconf-format'), 'properties', 'omitted format keeps the previous one');
	assert.equal(r.headers.get('x-hotconf-version'), '2');

	// Identical content and format: no-op, current version, revision unchanged, no history entry.
	r = await put(srv, 'public', G, 'app.properties', 'a=2\n', { expect: 200 });
	assert.equal(r.json.version, 2, 'no-op PUT answers the current version');
	assert.equal(r.json.revision, rev2, 'no-op PUT keeps the revision');
	assert.equal(r.json.md5, md5('a=2\n'));
	r = await request(srv, 'GET', p + '/history');
	assert.equal(r.json.total, 2, `no-op PUT adds no history entry: ${r.text}`);
	r = await request(srv, 'GET', '/healthz');
	assert.equal(r.json.revision, rev2, 'no-op PUT does not move the server revision');

	// Listing shows metadata, author and description.
	r = await request(srv, 'GET', '/api/v1/configs?namespace=public');
	assertStatus(r, 200);
	assert.equal(r.json.total, 1);
	const it = r.json.items[0];
	assert.equal(it.namespace, 'public');
	assert.equal(it.group, G);
	assert.equal(it.dataId, 'app.properties');
	assert.equal(it.format, 'properties');
	assert.equal(it.version, 2);
	assert.equal(it.md5, md5('a=2\n'));
	assert.equal(it.revision, rev2);
	assert.equal(it.author, 'bob');
	assert.equal(it.description, 'app settings');
	assert.match(it.createdAt, ISO_MS);
	assert.match(it.updatedAt, ISO_MS);
	assert.ok(it.updatedAt >= it.createdAt, 'updatedAt is not before createdAt');
	assert.equal(it.content, undefined, 'list items carry no content');

	r = await request(srv, 'DELETE', p);
	assertStatus(r, 200);
	assert.equal(r.json.version, 3, 'DELETE answers the delete entry version');
	assert.ok(r.json.revision > rev2);
	assertError(await request(srv, 'GET', p), 404, 'not_found', 'GET after DELETE');
	assertError(await request(srv, 'DELETE', p), 404, 'not_found', 'DELETE again');
	r = await request(srv, 'GET', '/api/v1/configs');
	assert.equal(r.json.total, 0, 'deleted config is not listed');

	// Publishing again continues the version numbering, answers 201.
	r = await put(srv, 'public', G, 'app.properties', 'a=3\n', { expect: 201 });
	assert.equal(r.json.version, 4, 'versions continue after a delete');
	r = await request(srv, 'GET', p);
	assert.equal(r.headers.get('x-hotconf-format'), 'text', 'a re-created config starts as text when format is omitted');
});

test('configs: each format has its Content-Type; default format is text', async (t) => {
	const srv = await withServer(t);
	const cases = [
		['text', 'hello', 'text/plain; charset=utf-8'],
		['json', '{"a": [1, 2]}', 'application/json'],
		['yaml', 'a:\n  - 1\n  - 2\n', 'application/yaml'],
		['properties', 'a=1\nb=2\n', 'text/plain; charset=utf-8'],
		['xml', '<a><b>1</b></a>', 'application/xml'],
	];
	for (const [format, content, ct] of cases) {
		await put(srv, 'public', G, `f-${format}`, content, { query: { format }, expect: 201 });
		const r = await get(srv, 'public', G, `f-${format}`);
		assertStatus(r, 200);
		assert.equal(r.text, content);
		assertContentType(r, ct);
		assert.equal(r.headers.get('x-hotconf-format'), format);
	}
	await put(srv, 'public', G, 'noformat', 'plain', { expect: 201 });
	const r = await get(srv, 'public', G, 'noformat');
	assert.equal(r.headers.get('x-hotconf-format'), 'text', 'format defaults to text');
	assertContentType(r, 'text/plain; charset=utf-8');

	// Changing only the format is a change.
	const before = await put(srv, 'public', G, 'f-text', 'hello', { query: { format: 'properties' }, expect: 200 });
	assert.equal(before.json.version, 2, 'a format change is a new version');
	assertError(
		await put(srv, 'public', G, 'f-text', 'hello', { query: { format: 'ini' }, expect: 400 }),
		400,
		'invalid_argument',
		'unknown format'
	);
	assertError(
		await put(srv, 'public', G, 'new-one', 'x', { query: { format: 'JSONX' }, expect: 400 }),
		400,
		'invalid_argument'
	);
	assertError(await get(srv, 'public', G, 'new-one'), 404, 'not_found', 'rejected PUT created nothing');
});

test('configs: conditional GET with If-None-Match answers 304', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'c', 'v1', { expect: 201 });
	const etag = `"${md5('v1')}"`;
	let r = await get(srv, 'public', G, 'c', { headers: { 'If-None-Match': etag } });
	assertStatus(r, 304, 'current ETag');
	assert.equal(r.buf.length, 0, '304 has an empty body');
	assert.equal(r.headers.get('etag'), etag, '304 repeats the ETag');
	r = await get(srv, 'public', G, 'c', { headers: { 'If-None-Match': `"${md5('old')}"` } });
	assertStatus(r, 200, 'stale ETag');
	assert.equal(r.text, 'v1');
});

test('configs: compare-and-set with If-Match and create-only with If-None-Match: *', async (t) => {
	const srv = await withServer(t);
	const id = 'cas';
	// If-Match on an absent config: 412.
	assertError(
		await put(srv, 'public', G, id, 'v0', { headers: { 'If-Match': `"${md5('v0')}"` }, expect: 412 }),
		412,
		'precondition_failed',
		'If-Match on absent config'
	);
	// Create-only on absent: 201.
	await put(srv, 'public', G, id, 'v1', { headers: { 'If-None-Match': '*' }, expect: 201 });
	// Create-only on existing: 412, content unchanged.
	assertError(
		await put(srv, 'public', G, id, 'other', { headers: { 'If-None-Match': '*' }, expect: 412 }),
		412,
		'precondition_failed',
		'If-None-Match: * on existing'
	);
	assert.equal((await get(srv, 'public', G, id)).text, 'v1');

	// Right md5: 200, new version.
	let r = await put(srv, 'public', G, id, 'v2', { headers: { 'If-Match': `"${md5('v1')}"` }, expect: 200 });
	assert.equal(r.json.version, 2);
	// Stale md5 (the one just replaced): 412, content unchanged.
	assertError(
		await put(srv, 'public', G, id, 'v3', { headers: { 'If-Match': `"${md5('v1')}"` }, expect: 412 }),
		412,
		'precondition_failed',
		'stale If-Match'
	);
	r = await get(srv, 'public', G, id);
	assert.equal(r.text, 'v2', 'a failed CAS changes nothing');
	assert.equal(r.headers.get('x-hotconf-version'), '2');
	// If-Match: * only says "it must exist".
	assertError(
		await put(srv, 'public', G, 'never-made', 'x', { headers: { 'If-Match': '*' }, expect: 412 }),
		412,
		'precondition_failed',
		'If-Match: * on an absent config'
	);
	r = await put(srv, 'public', G, id, 'v2', { headers: { 'If-Match': '*' }, expect: 200 });
	assert.equal(r.json.changed, false, 'same content under If-Match: * is a no-op');

	// DELETE honours If-Match too.
	assertError(
		await request(srv, 'DELETE', cfgPath('public', G, id), { headers: { 'If-Match': `"${md5('v1')}"` } }),
		412,
		'precondition_failed',
		'DELETE with stale If-Match'
	);
	assertStatus(await get(srv, 'public', G, id), 200, 'still there after the refused DELETE');
	r = await request(srv, 'DELETE', cfgPath('public', G, id), { headers: { 'If-Match': `"${md5('v2')}"` } });
	assertStatus(r, 200, 'DELETE with the right If-Match');
	assertError(await get(srv, 'public', G, id), 404, 'not_found');
});

test('configs: list with paging, filters, search and ordering', async (t) => {
	const srv = await withServer(t, OPEN); // authors from X-Hotconf-Author: --auth=off
	assertStatus(await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'dev' } }), 201);
	const keys = [
		['public', 'DEFAULT_GROUP', 'zeta'],
		['public', 'DEFAULT_GROUP', 'alpha'],
		['public', 'Payments', 'db.yaml'],
		['public', 'payments', 'cache'],
		['dev', 'DEFAULT_GROUP', 'alpha'],
		['dev', 'web', 'Frontend.JSON'],
	];
	for (const [ns, g, d] of keys) await put(srv, ns, g, d, `${ns}/${g}/${d}`, { expect: 201 });
	const sorted = keys
		.map(([ns, g, d]) => `${ns}/${g}/${d}`)
		.sort((a, b) => {
			const [x, y] = [a.split('/'), b.split('/')];
			for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
			return 0;
		});
	const ids = (r) => r.json.items.map((i) => `${i.namespace}/${i.group}/${i.dataId}`);

	let r = await request(srv, 'GET', '/api/v1/configs');
	assertStatus(r, 200);
	assert.equal(r.json.total, 6);
	assert.equal(r.json.page, 1, 'page defaults to 1');
	assert.equal(r.json.size, 20, 'size defaults to 20');
	assert.deepEqual(ids(r), sorted, 'ordered by namespace, group, dataId');
	for (const it of r.json.items) {
		for (const f of ['namespace', 'group', 'dataId', 'format', 'version', 'md5', 'revision', 'createdAt', 'updatedAt', 'author', 'description'])
			assert.ok(f in it, `list item has ${f}: ${JSON.stringify(it)}`);
		assert.equal(it.content, undefined, 'no content in lists');
		assert.equal(it.md5, md5(`${it.namespace}/${it.group}/${it.dataId}`));
		assert.equal(it.author, '', 'author defaults to ""');
		assert.equal(it.description, '', 'description defaults to ""');
		assert.equal(it.format, 'text');
		assert.equal(it.version, 1);
	}

	r = await request(srv, 'GET', '/api/v1/configs' + qs({ page: 2, size: 4 }));
	assertStatus(r, 200);
	assert.equal(r.json.total, 6);
	assert.equal(r.json.page, 2);
	assert.equal(r.json.size, 4);
	assert.deepEqual(ids(r), sorted.slice(4), 'page 2 of size 4');
	r = await request(srv, 'GET', '/api/v1/configs' + qs({ page: 9, size: 4 }));
	assertStatus(r, 200, 'a page past the end');
	assert.deepEqual(r.json.items, []);
	assert.equal(r.json.total, 6);
	r = await request(srv, 'GET', '/api/v1/configs' + qs({ size: 500 }));
	assertStatus(r, 200, 'size 500 is the maximum');

	r = await request(srv, 'GET', '/api/v1/configs' + qs({ namespace: 'dev' }));
	assert.deepEqual(ids(r), ['dev/DEFAULT_GROUP/alpha', 'dev/web/Frontend.JSON']);
	r = await request(srv, 'GET', '/api/v1/configs' + qs({ namespace: 'public', group: 'payments' }));
	assert.deepEqual(ids(r), ['public/payments/cache'], 'group filters exactly (case-sensitive)');
	r = await request(srv, 'GET', '/api/v1/configs' + qs({ group: 'DEFAULT_GROUP' }));
	assert.deepEqual(ids(r), ['dev/DEFAULT_GROUP/alpha', 'public/DEFAULT_GROUP/alpha', 'public/DEFAULT_GROUP/zeta']);
	r = await request(srv, 'GET', '/api/v1/configs' + qs({ q: 'PAYMENTS' }));
	assert.deepEqual(ids(r), ['public/Payments/db.yaml', 'public/payments/cache'], 'q matches group case-insensitively');
	r = await request(srv, 'GET', '/api/v1/configs' + qs({ q: 'json' }));
	assert.deepEqual(ids(r), ['dev/web/Frontend.JSON'], 'q matches dataId case-insensitively');
	r = await request(srv, 'GET', '/api/v1/configs' + qs({ q: 'LPH', namespace: 'public' }));
	assert.deepEqual(ids(r), ['public/DEFAULT_GROUP/alpha']);
	assert.equal(r.json.total, 1);

	assertError(await request(srv, 'GET', '/api/v1/configs' + qs({ namespace: 'nope' })), 404, 'not_found');
	for (const q of [{ page: 0 }, { page: -1 }, { page: 'abc' }, { size: 0 }, { size: 501 }, { size: 'x' }, { page: '1.5' }]) {
		assertError(await request(srv, 'GET', '/api/v1/configs' + qs(q)), 400, 'invalid_argument', JSON.stringify(q));
	}
});

test('configs: names: 128 chars and every allowed char work; anything else is 400', async (t) => {
	const srv = await withServer(t);
	const long = 'd'.repeat(128);
	await put(srv, 'public', 'g'.repeat(128), long, 'ok', { expect: 201 });
	assert.equal((await get(srv, 'public', 'g'.repeat(128), long)).text, 'ok');
	await put(srv, 'public', 'A-z_0.9:x', 'Z.y_1-2:3', 'ok', { expect: 201 });

	const badNames = ['x'.repeat(129), 'a b', 'é', 'a*b', 'a%b', 'a"b', 'a\\b', 'a?b', 'a#b'];
	for (const bad of badNames) {
		for (const [ns, g, d] of [
			['public', G, bad],
			['public', bad, 'ok'],
			[bad, G, 'ok'],
		]) {
			const label = `${JSON.stringify(ns)}/${JSON.stringify(g)}/${JSON.stringify(d)}`;
			assertError(await put(srv, ns, g, d, 'x', { expect: 400 }), 400, 'invalid_argument', `PUT ${label}`);
			assertError(await get(srv, ns, g, d), 400, 'invalid_argument', `GET ${label}`);
		}
	}
	const r = await request(srv, 'GET', '/api/v1/configs');
	assert.equal(r.json.total, 2, `only the two good configs exist: ${r.text}`);
});

test('configs: invalid JSON and YAML are 400 with line and column', async (t) => {
	const srv = await withServer(t);
	const cases = [
		// [format, content, line, column]
		['json', '{\n  "a": 1,\n  "b": ,\n  "c": 3\n}', 3, 8],
		['json', '{\n  "a": 1,\n  "b": 2\n  "c": 3\n}', 4, 3],
		['json', '{"a": 1} x', 1, 10],
		['yaml', 'a: 1\nb: 2\nc: @oops\n', 3, 4],
		['yaml', 'a: 1\nb: 2\n  c: 3\n', 3, 4],
	];
	for (const [format, content, line, column] of cases) {
		const r = await put(srv, 'public', G, `bad-${format}`, content, { query: { format }, expect: 400 });
		const msg = assertError(r, 400, 'invalid_argument', `invalid ${format} ${JSON.stringify(content)}`);
		const m = /line (\d+), column (\d+)/.exec(msg);
		assert.ok(m, `message names "line L, column C": ${msg}`);
		assert.equal(Number(m[1]), line, `${format} error line for ${JSON.stringify(content)}: ${msg}`);
		if (content !== '{"a": 1} x')
			assert.equal(Number(m[2]), column, `${format} error column for ${JSON.stringify(content)}: ${msg}`);
		else assert.ok(Number(m[2]) >= 9, `column points at the trailing garbage: ${msg}`);
	}
	assertError(await get(srv, 'public', G, 'bad-json'), 404, 'not_found', 'rejected content was not stored');

	// Valid documents are accepted, and an update to invalid content keeps the old one.
	await put(srv, 'public', G, 'good', '{"a": 1}', { query: { format: 'json' }, expect: 201 });
	const r = await put(srv, 'public', G, 'good', '{"a": ', { expect: 400 });
	assert.match(assertError(r, 400, 'invalid_argument', 'existing json config keeps json validation'), /line 1, column \d+/);
	assert.equal((await get(srv, 'public', G, 'good')).text, '{"a": 1}');
	await put(srv, 'public', G, 'good-yaml', 'a:\n  b: [1, 2]\n', { query: { format: 'yaml' }, expect: 201 });
	// text and properties are not parsed.
	await put(srv, 'public', G, 'free', '{ not json: [', { query: { format: 'text' }, expect: 201 });
});

test('configs: content over --max-content is 413 naming the limit', async (t) => {
	const srv = await withServer(t, { args: ['--max-content', '1024'] });
	await put(srv, 'public', G, 'fits', 'x'.repeat(1024), { expect: 201 });
	for (const size of [1025, 200 * 1024]) {
		const r = await put(srv, 'public', G, 'big', 'y'.repeat(size), { expect: 413 });
		const msg = assertError(r, 413, 'too_large', `${size} bytes`);
		assert.match(msg, /\b1024\b/, `413 message names the limit in bytes: ${msg}`);
	}
	assertError(await get(srv, 'public', G, 'big'), 404, 'not_found', 'oversized content was not stored');
	// Still serving after refusing large bodies.
	assert.equal((await get(srv, 'public', G, 'fits')).text, 'x'.repeat(1024));
	await put(srv, 'public', G, 'fits', 'z'.repeat(1025), { expect: 413 });
	assert.equal((await get(srv, 'public', G, 'fits')).text, 'x'.repeat(1024), 'update over the limit changes nothing');
});

test('every JSON body over the small-body cap is 413, not a shape error', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'rb', 'v1', { expect: 201 });
	const pad = 'x'.repeat(70 * 1024);
	const cases = [
		['POST', cfgPath('public', G, 'rb') + '/rollback', JSON.stringify({ version: 1, message: pad })],
		['POST', '/api/v1/namespaces', JSON.stringify({ id: 'big', description: pad })],
	];
	for (const [method, p, body] of cases) {
		const msg = assertError(await request(srv, method, p, { body, headers: { 'Content-Type': 'application/json' } }), 413, 'too_large', `${method} ${p}`);
		assert.match(msg, /65536/, `names the limit: ${msg}`);
	}
	assert.equal((await get(srv, 'public', G, 'rb')).headers.get('x-hotconf-version'), '1', 'no rollback happened');
});

test('configs: PUT into an absent namespace is 404', async (t) => {
	const srv = await withServer(t);
	assertError(await put(srv, 'ghost', G, 'a', 'x', { expect: 404 }), 404, 'not_found');
	assertError(await get(srv, 'ghost', G, 'a'), 404, 'not_found');
	assertError(await get(srv, 'public', G, 'never'), 404, 'not_found');
	assertError(await request(srv, 'DELETE', cfgPath('public', G, 'never')), 404, 'not_found');
});

test('history: newest first, paging, single versions, after delete, binary content', async (t) => {
	const srv = await withServer(t, OPEN); // authors from X-Hotconf-Author: --auth=off
	const p = cfgPath('public', G, 'h');
	const revs = [];
	for (let i = 1; i <= 3; i++) {
		const r = await put(srv, 'public', G, 'h', `v${i}`, {
			query: { message: `change ${i}`, format: i === 3 ? 'yaml' : undefined },
			headers: { 'X-Hotconf-Author': `user${i}` },
		});
		revs.push(r.json.revision);
	}
	let r = await request(srv, 'GET', p + '/history');
	assertStatus(r, 200);
	assert.equal(r.json.total, 3);
	assert.equal(r.json.page, 1);
	assert.equal(r.json.size, 20);
	assert.deepEqual(
		r.json.items.map((i) => i.version),
		[3, 2, 1],
		'newest first'
	);
	const h3 = r.json.items[0];
	assert.equal(h3.op, 'publish');
	assert.equal(h3.md5, md5('v3'));
	assert.equal(h3.format, 'yaml');
	assert.equal(h3.author, 'user3');
	assert.equal(h3.message, 'change 3');
	assert.equal(h3.sourceIp, '127.0.0.1');
	assert.match(h3.createdAt, ISO_MS);
	assert.equal(h3.revision, revs[2]);
	assert.equal(h3.content, undefined, 'history lists carry no content');
	assert.equal(r.json.items[2].format, 'text');

	r = await request(srv, 'GET', p + '/history' + qs({ page: 2, size: 2 }));
	assertStatus(r, 200);
	assert.deepEqual(
		r.json.items.map((i) => i.version),
		[1]
	);
	assert.equal(r.json.total, 3);
	for (const q of [{ page: 0 }, { size: 501 }, { size: 'x' }])
		assertError(await request(srv, 'GET', p + '/history' + qs(q)), 400, 'invalid_argument', `history ${JSON.stringify(q)}`);

	r = await request(srv, 'GET', p + '/history/2');
	assertStatus(r, 200);
	assert.equal(r.json.version, 2);
	assert.equal(r.json.content, 'v2');
	assert.equal(r.json.md5, md5('v2'));
	assert.equal(r.json.op, 'publish');
	assert.equal(r.json.author, 'user2');
	assert.equal(r.json.message, 'change 2');
	assert.equal(r.json.revision, revs[1]);
	assert.match(r.json.createdAt, ISO_MS);
	assertError(await request(srv, 'GET', p + '/history/4'), 404, 'not_found', 'absent version');
	for (const v of ['0', '-1', 'abc', '1.5'])
		assertError(await request(srv, 'GET', p + '/history/' + v), 400, 'invalid_argument', `version ${v}`);

	// Readable after delete, with a delete entry on top.
	r = await request(srv, 'DELETE', p, { headers: { 'X-Hotconf-Author': 'remover' } });
	assertStatus(r, 200);
	const delVersion = r.json.version;
	assert.equal(delVersion, 4);
	r = await request(srv, 'GET', p + '/history');
	assertStatus(r, 200, 'history readable after delete');
	assert.equal(r.json.total, 4);
	assert.equal(r.json.items[0].version, 4);
	assert.equal(r.json.items[0].op, 'delete');
	assert.equal(r.json.items[0].author, 'remover');
	assert.equal((await request(srv, 'GET', p + '/history/1')).json.content, 'v1');

	assertError(await request(srv, 'GET', cfgPath('public', G, 'never') + '/history'), 404, 'not_found', 'never existed');
	assertError(await request(srv, 'GET', cfgPath('public', G, 'never') + '/history/1'), 404, 'not_found');

	// Content that is not UTF-8 comes back base64-encoded.
	const bin = Buffer.from([0xff, 0xfe, 0x00, 0x41, 0xc3]);
	await put(srv, 'public', G, 'bin', bin, { expect: 201 });
	r = await get(srv, 'public', G, 'bin');
	assert.deepEqual(r.buf, bin, 'raw GET returns the exact bytes');
	r = await request(srv, 'GET', cfgPath('public', G, 'bin') + '/history/1');
	assertStatus(r, 200);
	assert.equal(r.json.content, undefined, 'no "content" for bytes that are not UTF-8');
	assert.equal(r.json.contentBase64, bin.toString('base64'));
	assert.equal(r.json.md5, md5(bin));
});

test('history: sourceIp honours X-Forwarded-For only from a trusted proxy', async (t) => {
	const plain = await withServer(t);
	await put(plain, 'public', G, 'ip', 'x', { headers: { 'X-Forwarded-For': '10.9.8.7' } });
	let r = await request(plain, 'GET', cfgPath('public', G, 'ip') + '/history');
	assert.equal(r.json.items[0].sourceIp, '127.0.0.1', 'X-Forwarded-For is ignored without --trusted-proxy');

	const proxied = await withServer(t, { args: ['--trusted-proxy', '127.0.0.0/8'] });
	await put(proxied, 'public', G, 'ip', 'x', { headers: { 'X-Forwarded-For': '10.9.8.7' } });
	r = await request(proxied, 'GET', cfgPath('public', G, 'ip') + '/history');
	assert.equal(r.json.items[0].sourceIp, '10.9.8.7', 'X-Forwarded-For is used from a trusted proxy');
});

test('rollback: new version with old content and format, no-op, delete entries, re-create', async (t) => {
	const srv = await withServer(t);
	const p = cfgPath('public', G, 'rb');
	await put(srv, 'public', G, 'rb', '{"v": 1}', { query: { format: 'json' }, expect: 201 });
	await put(srv, 'public', G, 'rb', 'v: 2\n', { query: { format: 'yaml' }, expect: 200 });

	let r = await request(srv, 'POST', p + '/rollback', {
		body: { version: 1, message: 'back to 1' },
		headers: { 'X-Hotconf-Author': 'ops' },
	});
	assertStatus(r, 200);
	assert.equal(r.json.version, 3);
	assert.equal(r.json.md5, md5('{"v": 1}'));
	assert.equal(typeof r.json.revision, 'number');
	r = await get(srv, 'public', G, 'rb');
	assert.equal(r.text, '{"v": 1}', 'content of version 1');
	assert.equal(r.headers.get('x-hotconf-format'), 'json', 'format of version 1');
	assert.equal(r.headers.get('x-hotconf-version'), '3');
	r = await request(srv, 'GET', p + '/history/3');
	assert.equal(r.json.op, 'rollback');
	assert.equal(r.json.message, 'back to 1');
	assert.equal(r.json.content, '{"v": 1}');

	// Rolling back to the content it already has: no-op.
	const hist = (await request(srv, 'GET', p + '/history')).json.total;
	r = await request(srv, 'POST', p + '/rollback', { body: { version: 1 } });
	assertStatus(r, 200, 'rollback to identical content');
	assert.equal(r.json.version, 3, 'no-op rollback answers the current version');
	assert.equal((await request(srv, 'GET', p + '/history')).json.total, hist, 'no-op rollback adds no entry');

	assertError(await request(srv, 'POST', p + '/rollback', { body: { version: 99 } }), 404, 'not_found');
	for (const body of ['not json', '{}', '{"version":"x"}', '{"version":0}', '{"version":-2}']) {
		assertError(
			await request(srv, 'POST', p + '/rollback', { body, headers: { 'Content-Type': 'application/json' } }),
			400,
			'invalid_argument',
			`rollback body ${body}`
		);
	}

	r = await request(srv, 'DELETE', p);
	assertStatus(r, 200);
	const del = r.json.version;
	assertError(await request(srv, 'POST', p + '/rollback', { body: { version: del } }), 409, 'conflict', 'rollback to a delete entry');
	r = await request(srv, 'POST', p + '/rollback', { body: { version: 2 } });
	assertStatus(r, 201, 'rollback re-creates a deleted config');
	assert.equal(r.json.version, del + 1);
	assert.equal(r.json.md5, md5('v: 2\n'));
	r = await get(srv, 'public', G, 'rb');
	assertStatus(r, 200);
	assert.equal(r.text, 'v: 2\n');
	assert.equal(r.headers.get('x-hotconf-format'), 'yaml');

	assertError(
		await request(srv, 'POST', cfgPath('public', G, 'never') + '/rollback', { body: { version: 1 } }),
		404,
		'not_found',
		'rollback of a config that never existed'
	);
});

test('routing: unknown paths are 404, wrong methods 405 with Allow', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'r', 'x');
	for (const p of ['/api/v1/nope', '/api/v2/configs', '/api/v1/configs/public/DEFAULT_GROUP/r/extra/more', '/api/v1/namespaces/x/y']) {
		assertError(await request(srv, 'GET', p), 404, 'not_found', `unknown path ${p}`);
	}
	const cases = [
		['PUT', '/api/v1/namespaces', ['GET', 'POST']],
		['DELETE', '/api/v1/namespaces', ['GET', 'POST']],
		['GET', '/api/v1/namespaces/dev', ['DELETE']],
		['POST', '/api/v1/configs', ['GET']],
		['POST', cfgPath('public', G, 'r'), ['GET', 'PUT', 'DELETE']],
		['PATCH', cfgPath('public', G, 'r'), ['GET', 'PUT', 'DELETE']],
		['DELETE', cfgPath('public', G, 'r') + '/history', ['GET']],
		['POST', cfgPath('public', G, 'r') + '/history/1', ['GET']],
		['GET', cfgPath('public', G, 'r') + '/rollback', ['POST']],
		['GET', '/api/v1/watch', ['POST']],
		['POST', '/healthz', ['GET']],
		['DELETE', '/metrics', ['GET']],
	];
	for (const [method, p, allow] of cases) {
		const r = await request(srv, method, p, { body: method === 'GET' ? undefined : '' });
		assertError(r, 405, 'method_not_allowed', `${method} ${p}`);
		const got = (r.headers.get('allow') || '')
			.split(',')
			.map((s) => s.trim().toUpperCase())
			.filter(Boolean);
		for (const m of allow) assert.ok(got.includes(m), `${method} ${p}: Allow "${r.headers.get('allow')}" should list ${m}`);
		assert.ok(!got.includes(method), `${method} ${p}: Allow should not list ${method}`);
	}
});

test('routing: names are read after decoding, per segment; NUL, %2F, . and .. are 400', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'victim', 'precious', { expect: 201 });
	const base = '/api/v1/configs/public/DEFAULT_GROUP/';
	// An encoded name is decoded: %2D is '-', so this is the config "a-b".
	let r = await rawRequest(srv, 'PUT', base + 'a%2Db', { body: 'x' });
	assertStatus(r, 201, 'percent-encoded name');
	r = await get(srv, 'public', G, 'a-b');
	assert.equal(r.text, 'x', 'stored under its decoded name');
	// Each of these must be refused, never stored under another name.
	const bad = [
		['victim%00.x', 'an encoded NUL'],
		['victim%00', 'a trailing NUL'],
		['a%2Fb', 'an encoded / inside a segment'],
		['%2E', 'an encoded .'],
		['%2E%2E', 'an encoded ..'],
		['.', 'a bare .'],
		['..', 'a bare ..'],
		['ab%zz', 'a malformed escape'],
		['ab%4', 'a cut escape'],
	];
	for (const [name, what] of bad) {
		for (const method of ['PUT', 'GET', 'DELETE']) {
			r = await rawRequest(srv, method, base + name, { body: method === 'PUT' ? 'evil' : undefined });
			assertError(r, 400, 'invalid_argument', `${method} ${what} (${name})`);
		}
	}
	for (const q of ['namespace=pub%00lic', 'group=a%00', 'q=x%00y']) {
		r = await rawRequest(srv, 'GET', '/api/v1/configs?' + q);
		assertError(r, 400, 'invalid_argument', `NUL in the query: ${q}`);
	}
	r = await rawRequest(srv, 'POST', '/api/v1/watch?wait=0', {
		body: JSON.stringify({ configs: [{ dataId: 'victim\u0000.x', md5: '' }] }),
	});
	assertError(r, 400, 'invalid_argument', 'NUL in a watch body name');
	for (const id of ['.', '..']) {
		r = await request(srv, 'POST', '/api/v1/namespaces', { body: { id } });
		assertError(r, 400, 'invalid_argument', `namespace id ${id}`);
	}
	r = await get(srv, 'public', G, 'victim');
	assert.equal(r.text, 'precious', 'the victim is untouched');
	assert.equal(r.headers.get('x-hotconf-version'), '1');
	r = await request(srv, 'GET', '/api/v1/configs?namespace=public');
	assert.deepEqual(
		r.json.items.map((i) => i.dataId).sort(),
		['a-b', 'victim'],
		'nothing else was created'
	);
});

test('caller identity headers: accepted on GET, malformed labels are 400', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'id', 'x');
	let r = await get(srv, 'public', G, 'id', {
		headers: { 'X-Hotconf-Instance': 'host-1:8080', 'X-Hotconf-Labels': 'env=prod,zone=eu-1' },
	});
	assertStatus(r, 200, 'well-formed caller headers');
	assert.equal(r.text, 'x');
	for (const labels of ['justakey', 'env=prod,broken', '=v']) {
		r = await get(srv, 'public', G, 'id', { headers: { 'X-Hotconf-Labels': labels } });
		assertError(r, 400, 'invalid_argument', `X-Hotconf-Labels: ${labels}`);
	}
});

test('healthz: ok with the server revision', async (t) => {
	const srv = await withServer(t);
	let r = await request(srv, 'GET', '/healthz');
	assertStatus(r, 200);
	assertContentType(r, 'application/json');
	assert.deepEqual(r.json, { status: 'ok', revision: 0 }, 'a fresh server is at revision 0');
	const a = await put(srv, 'public', G, 'a', '1');
	await put(srv, 'public', G, 'b', '1');
	const c = await put(srv, 'public', G, 'a', '2');
	assert.ok(c.json.revision > a.json.revision);
	r = await request(srv, 'GET', '/healthz');
	assert.deepEqual(r.json, { status: 'ok', revision: 3 }, 'revision counts the changes');
	assert.equal(c.json.revision, 3, 'the last change carries the server revision');
});
