'use strict';
// Format conversion on read: GET .../configs/{ns}/{group}/{dataId}?as=json|yaml|properties
// answers the effective content converted, with the ETag, md5 and format of
// the converted bytes (and the source's md5 in X-Hotconf-Source-MD5); what
// cannot be converted without loss is a 422 naming the place. A single-config
// watch may ask for a conversion too: it is held while the client holds the
// converted bytes, whatever changed in the source.

const test = require('node:test');
const assert = require('node:assert/strict');
const { withServer, request, put, get, cfgPath, md5, assertStatus, assertError, assertContentType, waitHeld, track } = require('./lib');

const NS = 'public';
const G = 'DEFAULT_GROUP';
const etag = (s) => `"${md5(s)}"`;

const YAML = [
	'# database settings',
	'base: &b',
	'  host: db',
	'  port: 5432',
	'prod:',
	'  <<: *b',
	'  port: 6432',
	'hosts:',
	'  - a.example',
	'  - b.example',
	'debug: false',
	'ratio: 1.50',
	'name: "042"',
	''
].join('\n');

function asOf(srv, id, as, { headers, query } = {}) {
	return get(srv, NS, G, id, { headers, query: { as, ...query } });
}

/* The headers every converted answer carries, checked against its bytes. */
function assertConverted(r, as, source, label) {
	assertStatus(r, 200, label);
	assert.equal(r.headers.get('etag'), etag(r.text), `${label}: the ETag is of the converted bytes`);
	assert.equal(r.headers.get('x-hotconf-format'), as, label);
	assert.equal(r.headers.get('x-hotconf-source-md5'), md5(source), `${label}: the source's md5`);
}

test('as=json: YAML anchors and merges resolved, types kept; ETag and 304 by the converted bytes', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'db.yaml', YAML, { query: { format: 'yaml' }, expect: 201 });

	const r = await asOf(srv, 'db.yaml', 'json');
	assertConverted(r, 'json', YAML, 'yaml as json');
	assertContentType(r, 'application/json');
	assert.equal(r.headers.get('x-hotconf-version'), '1');
	assert.deepEqual(JSON.parse(r.text), {
		base: { host: 'db', port: 5432 },
		prod: { host: 'db', port: 6432 },
		hosts: ['a.example', 'b.example'],
		debug: false,
		ratio: 1.5,
		name: '042'
	});
	assert.match(r.text, /"ratio": 1\.50/, 'a number keeps its spelling');

	assertStatus(await asOf(srv, 'db.yaml', 'json', { headers: { 'If-None-Match': r.headers.get('etag') } }), 304, 'the converted ETag is current');
	const src = await asOf(srv, 'db.yaml', 'json', { headers: { 'If-None-Match': etag(YAML) } });
	assertStatus(src, 200, "the source's ETag is not the converted answer's");
	assert.equal(src.text, r.text);
	const plain = await get(srv, NS, G, 'db.yaml');
	assert.equal(plain.text, YAML, 'without as= the content is served as stored');
	assert.equal(plain.headers.get('etag'), etag(YAML));

	// The same format: the bytes as stored.
	const same = await asOf(srv, 'db.yaml', 'yaml');
	assertConverted(same, 'yaml', YAML, 'yaml as yaml');
	assert.equal(same.text, YAML);
});

test('round trips: properties -> json -> properties keeps the pairs; json -> yaml -> json keeps the value', async (t) => {
	const srv = await withServer(t);
	const props = 'server.port=8080\nserver.host=0.0.0.0\nfeatures[0]=a\nfeatures[1]=b\ngreeting=hello world\\n\n';
	await put(srv, NS, G, 'app.properties', props, { query: { format: 'properties' }, expect: 201 });
	const j = await asOf(srv, 'app.properties', 'json');
	assertConverted(j, 'json', props, 'properties as json');
	assert.deepEqual(JSON.parse(j.text), {
		server: { port: '8080', host: '0.0.0.0' },
		features: ['a', 'b'],
		greeting: 'hello world\n'
	}, 'dotted keys nest, [i] makes a list, values stay strings');

	await put(srv, NS, G, 'app.json', j.text, { query: { format: 'json' }, expect: 201 });
	const back = await asOf(srv, 'app.json', 'properties');
	assertConverted(back, 'properties', j.text, 'json as properties');
	assertContentType(back, 'text/plain; charset=utf-8');
	const pairs = (s) => s.split('\n').filter((l) => l && !l.startsWith('#')).sort();
	assert.deepEqual(pairs(back.text), pairs(props), 'the same key/value pairs');

	const y = await asOf(srv, 'app.json', 'yaml');
	assertConverted(y, 'yaml', j.text, 'json as yaml');
	await put(srv, NS, G, 'app.yaml', y.text, { query: { format: 'yaml' }, expect: 201 });
	const j2 = await asOf(srv, 'app.yaml', 'json');
	assert.deepEqual(JSON.parse(j2.text), JSON.parse(j.text), 'json -> yaml -> json');
	assert.equal(j2.text, j.text, 'and the same bytes');
});

test('what cannot be converted without loss: 422 naming the place; a bad as= is 400', async (t) => {
	const srv = await withServer(t);
	const cases = [
		['notes.txt', 'text', 'just words\n', 'json', /text/],
		['page.xml', 'xml', '<a/>\n', 'yaml', /xml/],
		['clash.properties', 'properties', 'a=1\na.b=2\n', 'json', /a\.b|'a'/],
		['gap.properties', 'properties', 'l[0]=x\nl[2]=y\n', 'json', /l\[2\]|line 2/],
		['nul.json', 'json', '{"a":{"b":null}}', 'properties', /a\.b|\$\.a\.b/],
		['dot.json', 'json', '{"a.b":1}', 'properties', /a\.b/],
		['list.json', 'json', '[1,2]', 'properties', /object/],
		['dup.yaml', 'yaml', 'a: 1\na: 2\n', 'json', /'a'|line 2/],
		['dupkey.json', 'json', '{"a":1,"a":2}', 'yaml', /"a"|'a'|\$/],
		['bomb.yaml', 'yaml', ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]', 'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]', 'g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]', ''].join('\n'), 'json', /alias|expand|node/],
		['inf.yaml', 'yaml', 'x: .inf\n', 'json', /inf|\$\.x|line 1/]
	];
	for (const [id, format, content, as, place] of cases) {
		await put(srv, NS, G, id, content, { query: { format }, expect: 201 });
		const r = await asOf(srv, id, as);
		assertError(r, 422, 'unprocessable', `${id} as ${as}`);
		assert.match(r.json.error.message, place, `${id} as ${as}: the message names the place`);
		const plain = await get(srv, NS, G, id);
		assert.equal(plain.text, content, `${id} is still served as stored`);
	}
	for (const bad of ['xml', 'JSON', '', 'yml']) {
		const r = await asOf(srv, 'dot.json', bad);
		assertError(r, 400, 'invalid_argument', `as=${bad}`);
		assert.match(r.json.error.message, /json, yaml or properties/);
	}
	assertError(await asOf(srv, 'absent.yaml', 'json'), 404, 'not_found', 'an absent config');
});

test('a gray instance gets its rule content converted, marked with the rule', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app.yaml', 'v: main\n', { query: { format: 'yaml' }, expect: 201 });
	assertStatus(
		await request(srv, 'PUT', cfgPath(NS, G, 'app.yaml', '/gray/lab'), { body: { content: 'v: gray\n', match: { labels: 'env=lab' } } }),
		201
	);
	const g = await asOf(srv, 'app.yaml', 'json', { headers: { 'X-Hotconf-Labels': 'env=lab' } });
	assertConverted(g, 'json', 'v: gray\n', 'gray as json');
	assert.deepEqual(JSON.parse(g.text), { v: 'gray' });
	assert.equal(g.headers.get('x-hotconf-gray'), 'lab');
	const m = await asOf(srv, 'app.yaml', 'json', { headers: { 'X-Hotconf-Labels': 'env=prod' } });
	assertConverted(m, 'json', 'v: main\n', 'main as json');
	assert.deepEqual(JSON.parse(m.text), { v: 'main' });
	assert.equal(m.headers.get('x-hotconf-gray'), null);
});

test('a watch with as= is held while the converted bytes are the same, and answers them converted', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'w.yaml', 'a: 1\n', { query: { format: 'yaml' }, expect: 201 });
	const first = await asOf(srv, 'w.yaml', 'json');
	assertStatus(first, 200);

	const w = track(asOf(srv, 'w.yaml', 'json', { query: { wait: '60s' }, headers: { 'If-None-Match': first.headers.get('etag') } }));
	await waitHeld(srv, 1);
	// A comment changes the source but not its JSON: the watch stays held
	// (what it answers below is version 3's, not version 2's).
	const v2 = await put(srv, NS, G, 'w.yaml', '# same\na: 1\n', { expect: 200 });
	assert.equal(v2.json.version, 2);
	const v3 = await put(srv, NS, G, 'w.yaml', 'a: 2\n', { expect: 200 });
	const r = await w.promise;
	assertConverted(r, 'json', 'a: 2\n', 'the woken watch');
	assert.deepEqual(JSON.parse(r.text), { a: 2 });
	assert.equal(r.headers.get('x-hotconf-version'), String(v3.json.version), 'answered for the change that alters the JSON');
	await waitHeld(srv, 0);

	// A change the conversion refuses wakes the watch with the 422.
	const w2 = track(asOf(srv, 'w.yaml', 'json', { query: { wait: '60s' }, headers: { 'If-None-Match': r.headers.get('etag') } }));
	await waitHeld(srv, 1);
	await put(srv, NS, G, 'w.yaml', 'a: 1\na: 2\n', { expect: 200 });
	assertError(await w2.promise, 422, 'unprocessable', 'woken by an unconvertible version');
});
