'use strict';
// The Nacos open API (config side): the real npm client nacos-config 2.6.3
// (DataClient) against hotconf, the listener's bytes against the protocol
// note's examples, malformed listener bodies, beta and tag as gray rules,
// history, search, the listeners query, /nacos/v2/cs/config, and who may do
// what with Nacos' credentials (username+password, accessToken, none).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { DataClient } = require('nacos-config');
const {
	withServer,
	waitFor,
	metric,
	request,
	put,
	md5,
	assertStatus,
	waitHeld,
	track,
	answeredAtOnce,
} = require('./lib');

const G = 'DEFAULT_GROUP';
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf8' };
const SEP = '\x02';
const END = '\x01';

/* A Nacos request as the Node client makes it: form body, no Bearer. */
function nacos(srv, method, p, { form, query, headers = {}, auth = true } = {}) {
	const f = { ...(form || {}) };
	if (auth) Object.assign(f, { username: 'admin', password: srv.adminPassword });
	const body = new URLSearchParams(f).toString();
	const q = query ? '?' + new URLSearchParams(query).toString() : '';
	if (method === 'GET' || method === 'DELETE') {
		const all = new URLSearchParams({ ...(query || {}), ...f }).toString();
		return request(srv, method, p + (all ? '?' + all : ''), { headers, anonymous: true });
	}
	return request(srv, method, p + q, { body, headers: { ...FORM, ...headers }, anonymous: true });
}

function newClient(t, srv, extra = {}) {
	const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nacos-cache-'));
	const c = new DataClient({
		serverAddr: `127.0.0.1:${srv.port}`,
		namespace: 'public',
		username: 'admin',
		password: srv.adminPassword,
		requestTimeout: 6000,
		cacheDir,
		...extra,
	});
	c.on('error', () => {}); // after close, the last long poll fails; that is not a finding
	t.after(() => {
		c.close();
		fs.rmSync(cacheDir, { recursive: true, force: true });
	});
	return c;
}

function listen(srv, records, { headers = {}, auth = true } = {}) {
	return nacos(srv, 'POST', '/nacos/v1/cs/configs/listener', {
		form: { 'Listening-Configs': records },
		headers,
		auth,
	});
}

test('the real nacos-config client: publish, read, subscribe, a native publish, gray, delete', async (t) => {
	// --max-wait 3s: the client's last hold ends soon after it is closed.
	const srv = await withServer(t, { args: ['--max-wait', '3s'] });
	const c = newClient(t, srv);
	await c.ready();
	assert.equal(await c.publishSingle('app.yaml', G, 'a: 1', { type: 'yaml' }), true);
	assert.equal(await c.getConfig('app.yaml', G), 'a: 1');
	const native = await request(srv, 'GET', '/api/v1/configs/public/DEFAULT_GROUP/app.yaml');
	assertStatus(native, 200);
	assert.equal(native.text, 'a: 1');
	assert.equal(native.headers.get('x-hotconf-format') || 'yaml', 'yaml');

	const seen = [];
	c.subscribe({ dataId: 'app.yaml', group: G }, (content) => seen.push(content));
	await waitFor(() => seen.includes('a: 1'), { what: 'the subscriber gets the current content' });
	await waitHeld(srv, 1);
	await put(srv, 'public', G, 'app.yaml', 'a: 2');
	// One hold: the parked listener is answered by the publish, not by a timeout.
	await waitFor(() => seen.includes('a: 2'), { timeoutMs: 2500, what: 'the subscriber sees the native publish' });

	// A gray rule for 127.0.0.1 (the client's address) reaches the subscriber.
	const rule = await request(srv, 'PUT', '/api/v1/configs/public/DEFAULT_GROUP/app.yaml/gray/local', {
		body: { priority: 1, content: 'a: gray', match: { ips: ['127.0.0.1'] } },
	});
	assert.ok(rule.status === 201 || rule.status === 200, rule.text);
	await waitFor(() => seen.includes('a: gray'), { timeoutMs: 9000, what: 'the subscriber gets the gray content' });
	assert.equal(await c.getConfig('app.yaml', G), 'a: gray');
	assertStatus(await request(srv, 'DELETE', '/api/v1/configs/public/DEFAULT_GROUP/app.yaml/gray/local'), 200);
	await waitFor(() => seen[seen.length - 1] === 'a: 2', { timeoutMs: 9000, what: 'back to main' });

	assert.equal(await c.remove('app.yaml', G), true);
	await waitFor(() => seen[seen.length - 1] === null, { timeoutMs: 9000, what: 'the subscriber gets null' });
	assert.equal(await c.getConfig('app.yaml', G), null);
	// The client's address shows in the native listeners view.
	const lv = await request(srv, 'GET', '/api/v1/configs/public/DEFAULT_GROUP/app.yaml/listeners');
	assertStatus(lv, 200);
	assert.match(lv.text, /127\.0\.0\.1/);
	// Closed while the server is up, so its last long poll ends in an answer.
	c.close();
	await waitHeld(srv, 0);
});

test('v1 configs: headers, 404 body, type validation, search, beta and tag', async (t) => {
	const srv = await withServer(t);
	const P = '/nacos/v1/cs/configs';
	let r = await nacos(srv, 'GET', P, { query: { dataId: 'nope', group: G } });
	assertStatus(r, 404);
	assert.equal(r.text, 'config data not exist\n');

	r = await nacos(srv, 'POST', P, { form: { dataId: 'j', group: G, content: '{bad', type: 'json' } });
	assertStatus(r, 400);
	assert.match(r.headers.get('content-type'), /^text\/plain/);
	r = await nacos(srv, 'POST', P, { form: { dataId: 'j', group: G, content: 'x', type: 'toml' } });
	assertStatus(r, 400);
	assert.match(r.text, /type 'toml' is invalid/);

	r = await nacos(srv, 'POST', P, { form: { dataId: 'j', group: G, content: '{"a":1}', type: 'json', tenant: '' } });
	assertStatus(r, 200);
	assert.equal(r.text, 'true');
	r = await nacos(srv, 'GET', P, { query: { dataId: 'j', group: G, tenant: 'public' } });
	assertStatus(r, 200);
	assert.equal(r.text, '{"a":1}');
	assert.equal(r.headers.get('content-md5'), md5('{"a":1}'));
	assert.equal(r.headers.get('config-type'), 'json');
	assert.equal(r.headers.get('pragma'), 'no-cache');
	assert.equal(r.headers.get('expires'), '0');
	assert.match(r.headers.get('cache-control'), /no-cache/);
	assert.ok(r.headers.get('last-modified'));
	assert.equal(r.headers.get('isbeta'), null);

	// A bad %-escape in the form body.
	r = await request(srv, 'POST', P, { body: 'dataId=a%zz&group=G&content=x', headers: FORM, anonymous: true });
	assertStatus(r, 400);

	// Beta: a header list of IPs; 127.0.0.1 gets it, with isBeta.
	r = await nacos(srv, 'POST', P, { form: { dataId: 'j', group: G, content: '{"a":"beta"}' }, headers: { betaIps: '127.0.0.1,10.0.0.9' } });
	assertStatus(r, 200);
	r = await nacos(srv, 'GET', P, { query: { dataId: 'j', group: G } });
	assert.equal(r.text, '{"a":"beta"}');
	assert.equal(r.headers.get('isbeta'), 'true');
	r = await nacos(srv, 'GET', P, { query: { dataId: 'j', group: G, beta: 'true' } });
	assertStatus(r, 200);
	assert.equal(r.json.data.betaIps, '127.0.0.1,10.0.0.9');
	assert.equal(r.json.data.content, '{"a":"beta"}');
	r = await nacos(srv, 'DELETE', P, { query: { dataId: 'j', group: G, beta: 'true' } });
	assertStatus(r, 200);
	r = await nacos(srv, 'GET', P, { query: { dataId: 'j', group: G } });
	assert.equal(r.text, '{"a":1}');

	// Tag: a rule tag_<v>; a reader with the tag (param or Vipserver-Tag) gets it.
	r = await nacos(srv, 'POST', P, { form: { dataId: 'j', group: G, content: '{"a":"blue"}', tag: 'blue' } });
	assertStatus(r, 200);
	r = await nacos(srv, 'GET', P, { query: { dataId: 'j', group: G, tag: 'blue' } });
	assert.equal(r.text, '{"a":"blue"}');
	r = await nacos(srv, 'GET', P, { query: { dataId: 'j', group: G }, headers: { 'Vipserver-Tag': 'blue' } });
	assert.equal(r.text, '{"a":"blue"}');
	r = await nacos(srv, 'GET', P, { query: { dataId: 'j', group: G } });
	assert.equal(r.text, '{"a":1}');
	const rules = await request(srv, 'GET', '/api/v1/configs/public/DEFAULT_GROUP/j/gray');
	assert.deepEqual(rules.json.rules.map((x) => x.name), ['tag_blue']);

	// Search.
	await nacos(srv, 'POST', P, { form: { dataId: 'app-one', group: G, content: 'x' } });
	await nacos(srv, 'POST', P, { form: { dataId: 'app-two', group: 'OTHER', content: 'y' } });
	r = await nacos(srv, 'GET', P, { query: { search: 'blur', dataId: 'app-*', group: '', pageNo: 1, pageSize: 10 } });
	assertStatus(r, 200);
	assert.equal(r.json.totalCount, 2);
	assert.deepEqual(r.json.pageItems.map((x) => x.dataId).sort(), ['app-one', 'app-two']);
	r = await nacos(srv, 'GET', P, { query: { search: 'accurate', dataId: 'app-one', group: G, pageNo: 1, pageSize: 10 } });
	assert.equal(r.json.totalCount, 1);
	assert.equal(r.json.pageItems[0].content, 'x');
	assert.equal(r.json.pagesAvailable, 1);
});

test('listener: the encoding, with and without tenant, timeout, No-Hangup', async (t) => {
	const srv = await withServer(t, { args: ['--max-wait', '1s'] });
	await nacos(srv, 'POST', '/nacos/v1/cs/configs', { form: { dataId: 'app.yaml', group: G, content: 'a: 1' } });
	// md5 differs: answered at once, URL-encoded, with its newline.
	let r = await listen(srv, `app.yaml${SEP}${G}${SEP}${END}`, { headers: { 'Long-Pulling-Timeout': '30000' } });
	assertStatus(r, 200);
	assert.equal(r.text, 'app.yaml%02DEFAULT_GROUP%01\n');
	r = await listen(srv, `app.yaml${SEP}${G}${SEP}deadbeef${'0'.repeat(24)}${SEP}public${END}`, {
		headers: { 'Long-Pulling-Timeout': '30000' },
	});
	assert.equal(r.text, 'app.yaml%02DEFAULT_GROUP%02public%01\n');
	assert.deepEqual([...r.buf.subarray(-4)], [0x25, 0x30, 0x31, 0x0a]); // "%01\n"

	// Current md5, no header: answered at once with nothing.
	const cur = `app.yaml${SEP}${G}${SEP}${md5('a: 1')}${END}`;
	r = await answeredAtOnce(srv, listen(srv, cur), { what: 'no Long-Pulling-Timeout' });
	assertStatus(r, 200);
	assert.equal(r.text, '');
	r = await answeredAtOnce(
		srv,
		listen(srv, cur, { headers: { 'Long-Pulling-Timeout': '30000', 'Long-Pulling-Timeout-No-Hangup': 'true' } }),
		{ what: 'No-Hangup' }
	);
	assert.equal(r.text, '');

	// Held until the (capped) deadline: 200, empty.
	const held = track(listen(srv, cur, { headers: { 'Long-Pulling-Timeout': '30000' } }));
	await waitFor(async () => held.settled || (await metric(srv, 'hotconf_watches_held')) === 1, { what: 'held' });
	r = await held.promise;
	assertStatus(r, 200);
	assert.equal(r.text, '');
	assert.equal(await metric(srv, 'hotconf_watches_held'), 0);
});

test('listener: malformed records and over 10,000 are 400 with nothing held', async (t) => {
	const srv = await withServer(t);
	const bad = [
		`app.yaml${SEP}${G}${END}`, // two fields
		`a${SEP}b${SEP}c${SEP}d${SEP}e${END}`, // five
		`app.yaml${SEP}${G}${SEP}`, // no record end
		`bad name${SEP}${G}${SEP}${END}`, // not a hotconf name
		`app.yaml${SEP}${G}${SEP}short${END}`, // not an md5
		'',
	];
	for (const b of bad) {
		const r = await listen(srv, b, { headers: { 'Long-Pulling-Timeout': '30000' } });
		assertStatus(r, 400, JSON.stringify(b));
		assert.match(r.headers.get('content-type'), /^text\/plain/);
		assert.equal(await metric(srv, 'hotconf_watches_held'), 0);
	}
	let r = await request(srv, 'POST', '/nacos/v1/cs/configs/listener', {
		body: 'Listening-Configs=a%2',
		headers: { ...FORM, 'Long-Pulling-Timeout': '30000' },
		anonymous: true,
	});
	assertStatus(r, 400);
	let many = '';
	for (let i = 0; i <= 10000; i++) many += `c${i}${SEP}${G}${SEP}${END}`;
	r = await listen(srv, many, { headers: { 'Long-Pulling-Timeout': '30000' } });
	assertStatus(r, 400);
	assert.equal(await metric(srv, 'hotconf_watches_held'), 0);
});

test('listeners query, history by accurate search, nid and previous', async (t) => {
	const srv = await withServer(t);
	const P = '/nacos/v1/cs/configs';
	await nacos(srv, 'POST', P, { form: { dataId: 'h', group: G, content: 'one' } });
	await nacos(srv, 'POST', P, { form: { dataId: 'h', group: G, content: 'two' } });
	const held = track(listen(srv, `h${SEP}${G}${SEP}${md5('two')}${END}`, { headers: { 'Long-Pulling-Timeout': '30000' } }));
	await waitHeld(srv, 1);
	let r = await nacos(srv, 'GET', '/nacos/v1/cs/configs/listener', { query: { dataId: 'h', group: G, tenant: '' } });
	assertStatus(r, 200);
	assert.deepEqual(r.json, { collectStatus: 200, lisentersGroupkeyStatus: { '127.0.0.1': md5('two') } });
	await nacos(srv, 'POST', P, { form: { dataId: 'h', group: G, content: 'three' } });
	assert.equal((await held.promise).text, 'h%02DEFAULT_GROUP%01\n');

	r = await nacos(srv, 'GET', '/nacos/v1/cs/history', {
		query: { search: 'accurate', dataId: 'h', group: G, tenant: '', pageNo: 1, pageSize: 10 },
	});
	assertStatus(r, 200);
	assert.equal(r.json.totalCount, 3);
	const [newest, middle] = r.json.pageItems;
	assert.equal(newest.opType, 'U');
	assert.equal(r.json.pageItems[2].opType, 'I');
	r = await nacos(srv, 'GET', '/nacos/v1/cs/history', { query: { nid: newest.id, dataId: 'h', group: G } });
	assertStatus(r, 200);
	assert.equal(r.json.content, 'three');
	assert.equal(r.json.md5, md5('three'));
	r = await nacos(srv, 'GET', '/nacos/v1/cs/history/previous', { query: { id: newest.id, dataId: 'h', group: G } });
	assertStatus(r, 200);
	assert.equal(r.json.id, middle.id);
	assert.equal(r.json.content, 'two');
	r = await nacos(srv, 'GET', '/nacos/v1/cs/history', { query: { nid: 999999, dataId: 'h', group: G } });
	assertStatus(r, 404);
	r = await nacos(srv, 'GET', '/nacos/v1/cs/history/configs', { query: { tenant: 'public' } });
	assertStatus(r, 200);
	assert.deepEqual(r.json.map((x) => x.dataId), ['h']);
});

test('v2 /nacos/v2/cs/config: envelope, 20004', async (t) => {
	const srv = await withServer(t);
	const P = '/nacos/v2/cs/config';
	let r = await nacos(srv, 'GET', P, { query: { dataId: 'v', group: G, namespaceId: 'public' } });
	assertStatus(r, 404);
	assert.equal(r.json.code, 20004);
	r = await nacos(srv, 'POST', P, { form: { dataId: 'v', group: G, namespaceId: '', content: 'k=v', type: 'properties' } });
	assertStatus(r, 200);
	assert.deepEqual(r.json, { code: 0, message: 'success', data: true });
	r = await nacos(srv, 'GET', P, { query: { dataId: 'v', group: G, namespaceId: 'public' } });
	assert.deepEqual(r.json, { code: 0, message: 'success', data: 'k=v' });
	r = await nacos(srv, 'DELETE', P, { query: { dataId: 'v', group: G } });
	assert.deepEqual(r.json, { code: 0, message: 'success', data: true });
	r = await nacos(srv, 'GET', P, { query: { dataId: 'v', group: G } });
	assert.equal(r.json.code, 20004);
});

test('auth: username+password on every request runs argon2 once, then the cached identity answers (listener re-arms included)', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'c', 'v1');
	const q = { dataId: 'c', group: G };
	const before = await metric(srv, 'hotconf_password_checks_total');
	for (let i = 0; i < 5; i++) {
		const r = await nacos(srv, 'GET', '/nacos/v1/cs/configs', { query: q });
		assertStatus(r, 200);
		assert.equal(r.text, 'v1');
	}
	for (let i = 0; i < 3; i++) assertStatus(await listen(srv, `c${SEP}${G}${SEP}${md5('v1')}${END}`), 200);
	assert.equal(await metric(srv, 'hotconf_password_checks_total'), before + 1, 'one argon2 for eight requests');
	const wrong = await nacos(srv, 'GET', '/nacos/v1/cs/configs', { query: { ...q, username: 'admin', password: 'not-it-at-all' }, auth: false });
	assertStatus(wrong, 403);
	assert.equal(await metric(srv, 'hotconf_password_checks_total'), before + 2, 'a wrong password is checked, never cached');
});

test('auth: none is 403, username+password, a wrong password, accessToken, login, Nacos-Server agent', async (t) => {
	const srv = await withServer(t);
	const P = '/nacos/v1/cs/configs';
	await put(srv, 'public', G, 'sec', 's3cret');
	const q = { dataId: 'sec', group: G };
	let r = await nacos(srv, 'GET', P, { query: q, auth: false });
	assertStatus(r, 403);
	assert.ok(!r.text.includes('s3cret'));
	r = await nacos(srv, 'GET', P, { query: q, auth: false, headers: { 'User-Agent': 'Nacos-Server' } });
	assertStatus(r, 403);
	r = await nacos(srv, 'POST', P, { form: { ...q, content: 'x' }, auth: false });
	assertStatus(r, 403);
	r = await listen(srv, `sec${SEP}${G}${SEP}${END}`, { auth: false });
	assertStatus(r, 403);
	r = await nacos(srv, 'GET', P, { query: { ...q, username: 'admin', password: 'wrong-password' }, auth: false });
	assertStatus(r, 403);
	r = await nacos(srv, 'GET', P, { query: q });
	assertStatus(r, 200);
	assert.equal(r.text, 's3cret');

	r = await request(srv, 'POST', '/nacos/v1/auth/login', {
		body: new URLSearchParams({ username: 'admin', password: srv.adminPassword }).toString(),
		headers: FORM,
		anonymous: true,
	});
	assertStatus(r, 200);
	assert.equal(r.json.username, 'admin');
	assert.equal(r.json.globalAdmin, true);
	assert.ok(r.json.tokenTtl > 0);
	r = await nacos(srv, 'GET', P, { query: { ...q, accessToken: r.json.accessToken }, auth: false });
	assertStatus(r, 200);
	assert.equal(r.text, 's3cret');
	r = await nacos(srv, 'GET', P, { query: { ...q, accessToken: 'hcs_not-a-token' }, auth: false });
	assertStatus(r, 403);
	r = await request(srv, 'POST', '/nacos/v1/auth/login', {
		body: 'username=admin&password=nope-nope',
		headers: FORM,
		anonymous: true,
	});
	assertStatus(r, 403);
});
