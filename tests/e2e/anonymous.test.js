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
