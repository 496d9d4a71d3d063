'use strict';
// Namespaces opened to credential-less reads from given networks (for
// clients that cannot authenticate): never on by default, admins only,
// audited, shown on the namespace, reads and watches only.

const test = require('node:test');
const assert = require('node:assert/strict');
const { withServer, request, cfgPath, waitHeld, track, waitFor } = require('./lib');

const G = 'DEFAULT_GROUP';
const anon = { anonymous: true };

async function open(srv, ns, cidrs, headers) {
	return request(srv, 'PUT', `/api/v1/namespaces/${ns}`, { body: { anonymousRead: { cidrs } }, headers });
}

test('anonymous reads: closed by default, opened by an admin to given networks, reads and watches only', async (t) => {
	const srv = await withServer(t);
	for (const ns of ['team', 'other']) {
		assert.equal((await request(srv, 'POST', '/api/v1/namespaces', { body: { id: ns } })).status, 201);
		assert.equal((await request(srv, 'PUT', cfgPath(ns, G, 'app.properties', '?format=properties'), { body: 'a=1\n' })).status, 201);
	}
	const ns0 = (await request(srv, 'GET', '/api/v1/namespaces')).json.namespaces.find((n) => n.id === 'team');
	assert.deepEqual(ns0.anonymousRead, { cidrs: [] }, 'closed by default, and said so');
	assert.equal((await request(srv, 'GET', cfgPath('team', G, 'app.properties'), anon)).status, 401);

	// Only an admin may open one; an owner may not.
	assert.equal((await request(srv, 'POST', '/api/v1/users', { body: { name: 'olga', password: 'olga-password-1' } })).status, 201);
	assert.equal((await request(srv, 'PUT', '/api/v1/namespaces/team/grants/olga', { body: { role: 'owner' } })).status, 200);
	const olga = (await request(srv, 'POST', '/api/v1/auth/login', { body: { username: 'olga', password: 'olga-password-1' }, anonymous: true })).json.token;
	const r403 = await open(srv, 'team', ['127.0.0.0/8'], { Authorization: `Bearer ${olga}` });
	assert.equal(r403.status, 403, r403.text);
	const bad = await open(srv, 'team', ['127.0.0.0/8', 'not-a-net']);
	assert.equal(bad.status, 400);
	assert.match(bad.json.error.message, /anonymousRead\.cidrs\[1\]/);

	// Open to another network: this caller (127.0.0.1) still needs a credential.
	let r = await open(srv, 'team', ['10.0.0.0/8']);
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.json.anonymousRead, { cidrs: ['10.0.0.0/8'] });
	assert.equal((await request(srv, 'GET', cfgPath('team', G, 'app.properties'), anon)).status, 401);

	r = await open(srv, 'team', ['10.0.0.0/8', '127.0.0.0/8']);
	assert.equal(r.status, 200, r.text);
	const got = await request(srv, 'GET', cfgPath('team', G, 'app.properties'), anon);
	assert.deepEqual([got.status, got.text], [200, 'a=1\n']);
	const w = await request(srv, 'POST', '/api/v1/watch', {
		...anon,
		body: { configs: [{ namespace: 'team', group: G, dataId: 'app.properties', md5: '' }] },
	});
	assert.equal(w.status, 200, w.text);
	assert.equal(w.json.changed[0].dataId, 'app.properties');
	// Reads of that namespace only; never writes, history, lists or other namespaces.
	for (const [m, p, body] of [
		['PUT', cfgPath('team', G, 'app.properties'), 'a=2\n'],
		['DELETE', cfgPath('team', G, 'app.properties')],
		['GET', cfgPath('team', G, 'app.properties', '/history')],
		['GET', cfgPath('other', G, 'app.properties')],
		['GET', '/api/v1/namespaces'],
		['GET', '/api/v1/configs?namespace=team'],
	]) {
		const x = await request(srv, m, p, { ...anon, body });
		assert.equal(x.status, 401, `${m} ${p}: ${x.text}`);
	}
	const mixed = await request(srv, 'POST', '/api/v1/watch', {
		...anon,
		body: { configs: [{ namespace: 'other', group: G, dataId: 'app.properties', md5: '' }] },
	});
	assert.equal(mixed.status, 403, 'a watch of a closed namespace is refused');
	assert.equal((await request(srv, 'GET', cfgPath('team', G, 'app.properties'))).text, 'a=1\n', 'nothing written');

	// A held anonymous watch is answered at once when the namespace closes.
	const md5 = got.headers.get('etag').replace(/"/g, '');
	const held = track(request(srv, 'GET', cfgPath('team', G, 'app.properties', '?wait=30s'), { ...anon, headers: { 'If-None-Match': `"${md5}"` } }));
	await waitHeld(srv, 1);
	assert.equal((await open(srv, 'team', [])).status, 200);
	await waitFor(() => held.settled, { what: 'the anonymous watch to be answered' });
	assert.equal((await held.promise).status, 401);
	assert.equal((await request(srv, 'GET', cfgPath('team', G, 'app.properties'), anon)).status, 401, 'closed again');

	// Audited, and kept across a restart.
	const audit = (await request(srv, 'GET', '/api/v1/audit?action=namespace-anonymous-read')).json.items;
	assert.equal(audit.length, 3);
	assert.match(audit[0].detail, /anonymousRead\.cidrs=\(none\)/);
	assert.equal((await open(srv, 'team', ['127.0.0.1'])).status, 200);
	await srv.restart();
	assert.equal((await request(srv, 'GET', cfgPath('team', G, 'app.properties'), anon)).status, 200, 'open after a restart');
});

test('anonymous reads through Nacos and Apollo: config reads and listeners, never history, searches or the listeners view', async (t) => {
	const srv = await withServer(t);
	assert.equal((await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'team' } })).status, 201);
	assert.equal((await request(srv, 'PUT', cfgPath('team', G, 'app.properties', '?format=properties'), { body: 'a=1\n' })).status, 201);
	assert.equal((await request(srv, 'PUT', cfgPath('team', G, 'app.properties'), { body: 'a=2\n' })).status, 200);
	const q = 'dataId=app.properties&group=DEFAULT_GROUP&tenant=team';
	const closed = await request(srv, 'GET', `/nacos/v1/cs/configs?${q}`, anon);
	assert.equal(closed.status, 403, 'closed by default on Nacos too');
	assert.equal((await open(srv, 'team', ['127.0.0.0/8'])).status, 200);

	// What a client that cannot authenticate needs: reads and listeners.
	let r = await request(srv, 'GET', `/nacos/v1/cs/configs?${q}`, anon);
	assert.deepEqual([r.status, r.text], [200, 'a=2\n']);
	r = await request(srv, 'GET', `/nacos/v2/cs/config?dataId=app.properties&group=DEFAULT_GROUP&namespaceId=team`, anon);
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.data, 'a=2\n');
	r = await request(srv, 'POST', '/nacos/v1/cs/configs/listener', {
		...anon,
		body: `Listening-Configs=${encodeURIComponent('app.properties\x02DEFAULT_GROUP\x02\x02team\x01')}`,
		headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
	});
	assert.equal(r.status, 200, r.text);
	assert.match(r.text, /^app\.properties%02DEFAULT_GROUP%02team%01\n$/, 'the listener says it changed');
	r = await request(srv, 'GET', '/configs/team/default/app', anon);
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.json.configurations, { a: '2' });

	// Never history (old contents, who wrote them), searches (every config's
	// content) or the listeners view (who is listening), as on the native API.
	for (const p of [
		`/nacos/v1/cs/history?search=accurate&${q}`,
		`/nacos/v1/cs/history/configs?tenant=team`,
		`/nacos/v1/cs/configs?search=blur&dataId=*&group=*&tenant=team&pageNo=1&pageSize=10`,
		`/nacos/v1/cs/configs?search=accurate&dataId=&group=&tenant=team&pageNo=1&pageSize=10`,
		`/nacos/v1/cs/configs/listener?${q}`,
	]) {
		const x = await request(srv, 'GET', p, anon);
		assert.equal(x.status, 403, `GET ${p}: ${x.status} ${x.text}`);
		assert.doesNotMatch(x.text, /a=1|a=2/, `GET ${p} shows no content`);
	}
	r = await request(srv, 'GET', `/nacos/v1/cs/history?search=accurate&${q}`);
	assert.equal(r.status, 200, 'an admin still reads the history through Nacos');
	// And never writes.
	r = await request(srv, 'POST', '/nacos/v1/cs/configs', {
		...anon,
		body: `${q}&content=a%3D3`,
		headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
	});
	assert.equal(r.status, 403, r.text);
	assert.equal((await request(srv, 'GET', cfgPath('team', G, 'app.properties'))).text, 'a=2\n', 'nothing written');
});
