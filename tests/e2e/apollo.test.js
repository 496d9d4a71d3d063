'use strict';
// Apollo's config-service protocol: /configs (key/values, releaseKey, 304,
// 404), /configfiles/json and /configfiles, the /notifications/v2 long poll
// (at once when the client's id is old, held until a publish, 304 on
// timeout, 400 on bad input with nothing held), access keys (signature,
// wrong signature, clock skew), gray rules by address, and the real npm
// client ctrip-apollo 4.5.1 reading and following a namespace.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const {
	withServer,
	waitFor,
	metric,
	request,
	rawRequest,
	put,
	cfgPath,
	md5,
	assertStatus,
	assertError,
	waitHeld,
	track,
} = require('./lib');

const APP = 'app1';
const G = 'DEFAULT_GROUP';
const PROPS = 'timeout=100\nname = hotconf\n# a comment\nurl: http://x/y\\\n  z\nname=last\n';

async function setup(srv) {
	const r = await request(srv, 'POST', '/api/v1/namespaces', { body: { id: APP } });
	assertStatus(r, 201, 'create namespace');
}

async function publish(srv, dataId, content, format = 'properties') {
	const r = await put(srv, APP, G, dataId, content, { query: { format } });
	return r.json;
}

const notifs = (list) => encodeURIComponent(JSON.stringify(list));
const pollPath = (list, app = APP) => `/notifications/v2?appId=${app}&cluster=default&notifications=${notifs(list)}`;

test('configs: key/values, releaseKey and 304, 404, configfiles, other formats', async (t) => {
	const srv = await withServer(t);
	await setup(srv);
	await publish(srv, 'application.properties', PROPS);

	let r = await request(srv, 'GET', `/configs/${APP}/default/application`);
	assertStatus(r, 200, 'read application');
	assert.deepEqual(r.json, {
		appId: APP,
		cluster: 'default',
		namespaceName: 'application',
		configurations: { timeout: '100', name: 'last', url: 'http://x/yz' },
		releaseKey: md5(PROPS),
	});
	// The same config under Apollo's other spelling of the name.
	r = await request(srv, 'GET', `/configs/${APP}/default/application.properties`);
	assertStatus(r, 200);
	assert.equal(r.json.namespaceName, 'application');

	r = await request(srv, 'GET', `/configs/${APP}/default/application?releaseKey=${md5(PROPS)}`);
	assertStatus(r, 304, 'equal releaseKey');
	assert.equal(r.text, '');
	r = await request(srv, 'GET', `/configs/${APP}/default/application?releaseKey=old`);
	assertStatus(r, 200, 'other releaseKey');

	assertError(await request(srv, 'GET', `/configs/${APP}/default/absent`), 404, 'not_found');
	assertError(await request(srv, 'GET', `/configs/${APP}/other/application`), 404, 'not_found');
	assertError(await request(srv, 'GET', `/configs/no-such-app/default/application`), 404, 'not_found');
	assertError(await request(srv, 'GET', `/configs/${APP}/default/bad%20name`), 400, 'invalid_argument');

	r = await request(srv, 'GET', `/configfiles/json/${APP}/default/application`);
	assertStatus(r, 200, 'configfiles/json');
	assert.deepEqual(r.json, { timeout: '100', name: 'last', url: 'http://x/yz' });
	r = await request(srv, 'GET', `/configfiles/${APP}/default/application`);
	assertStatus(r, 200, 'configfiles');
	assert.equal(r.text, PROPS);

	const doc = '{"a": [1, 2]}\n';
	await publish(srv, 'feature.json', doc, 'json');
	r = await request(srv, 'GET', `/configs/${APP}/default/feature.json`);
	assertStatus(r, 200);
	assert.deepEqual(r.json.configurations, { content: doc });
	assert.equal(r.json.namespaceName, 'feature.json');
	r = await request(srv, 'GET', `/configfiles/json/${APP}/default/feature.json`);
	assert.deepEqual(r.json, { content: doc });

	// A cluster other than default is the group of that name.
	await put(srv, APP, 'shanghai', 'application.properties', 'k=sh\n', { query: { format: 'properties' } });
	r = await request(srv, 'GET', `/configs/${APP}/shanghai/application`);
	assert.deepEqual(r.json.configurations, { k: 'sh' });

	// The read shows in the listeners view, the caller known by its address.
	r = await request(srv, 'GET', cfgPath(APP, G, 'application.properties', '/listeners'));
	assertStatus(r, 200);
	assert.ok(JSON.stringify(r.json).includes('127.0.0.1'), `listeners: ${r.text}`);
});

test('notifications: at once when old, held until a publish, 304 on timeout, 400 held nothing', async (t) => {
	const srv = await withServer(t, { args: ['--max-wait', '2s'] });
	await setup(srv);
	const first = await publish(srv, 'application.properties', 'k=1\n');

	// ctrip-apollo starts from 0, Apollo's Java client from -1: both are old.
	for (const id of [0, -1, first.revision + 5]) {
		const r = await request(srv, 'GET', pollPath([{ namespaceName: 'application', notificationId: id }]));
		assertStatus(r, 200, `poll from ${id}`);
		assert.deepEqual(r.json, [
			{
				namespaceName: 'application',
				notificationId: first.revision,
				messages: { details: { [`${APP}+default+application`]: first.revision } },
			},
		]);
	}

	// Current: held until a publish, which answers with the new revision.
	const held = track(
		request(srv, 'GET', pollPath([{ namespaceName: 'application', notificationId: first.revision }, { namespaceName: 'absent', notificationId: -1 }]))
	);
	await waitHeld(srv, 1);
	assert.equal(held.settled, false);
	const second = await publish(srv, 'application.properties', 'k=2\n');
	const r = await held.promise;
	assertStatus(r, 200, 'woken poll');
	assert.equal(r.json.length, 1);
	assert.equal(r.json[0].notificationId, second.revision);
	assert.ok(second.revision > first.revision);

	// Nothing changes: 304 at the (capped) deadline, with an empty body.
	const idle = await request(srv, 'GET', pollPath([{ namespaceName: 'application', notificationId: second.revision }]));
	assertStatus(idle, 304, 'poll timeout');
	assert.equal(idle.text, '');

	// Bad notifications: 400 at once, nothing held.
	for (const bad of ['', 'not-json', '[]', '{}', '[{"namespaceName":"application"}]', '[{"notificationId":1}]', '[{"namespaceName":"a b","notificationId":1}]', '[{"namespaceName":"application","notificationId":1.5}]']) {
		const p = `/notifications/v2?appId=${APP}&cluster=default&notifications=${encodeURIComponent(bad)}`;
		assertError(await request(srv, 'GET', p), 400, 'invalid_argument', `notifications=${bad}`);
	}
	assertError(await request(srv, 'GET', `/notifications/v2?cluster=default&notifications=${notifs([{ namespaceName: 'a', notificationId: 1 }])}`), 400, 'invalid_argument');
	assert.equal(await metric(srv, 'hotconf_watches_held'), 0);
});

/* Authorization and Timestamp headers of an Apollo access key. */
function signed(appId, secret, pathWithQuery, ts = Date.now()) {
	const sig = crypto.createHmac('sha1', secret).update(`${ts}\n${pathWithQuery}`).digest('base64');
	return { Authorization: `Apollo ${appId}:${sig}`, Timestamp: String(ts) };
}

test('access keys: a token signs, a wrong signature or a skewed clock is 401', async (t) => {
	const srv = await withServer(t);
	await setup(srv);
	await publish(srv, 'application.properties', 'k=v\n');
	let r = await request(srv, 'POST', '/api/v1/tokens', { body: { name: 'apollo', role: 'reader', namespaces: [APP] } });
	assertStatus(r, 201, 'token');
	const secret = r.json.apolloSecret;
	assert.equal(secret, crypto.createHash('sha256').update(r.json.token).digest('hex'));

	const p = `/configs/${APP}/default/application?ip=127.0.0.1`;
	r = await rawRequest(srv, 'GET', p, { headers: signed(APP, secret, p) });
	assertStatus(r, 200, 'signed read');
	assert.deepEqual(r.json.configurations, { k: 'v' });

	// Anonymous: the namespace is not open.
	assertError(await rawRequest(srv, 'GET', p, { anonymous: true }), 401, 'unauthenticated');
	// Signed for another path, with another secret, for another app, or skewed.
	assertError(await rawRequest(srv, 'GET', p, { headers: signed(APP, secret, `/configs/${APP}/default/other`) }), 401, 'unauthenticated');
	assertError(await rawRequest(srv, 'GET', p, { headers: signed(APP, 'not-the-secret', p) }), 401, 'unauthenticated');
	assertError(await rawRequest(srv, 'GET', p, { headers: signed('other', secret, p) }), 401, 'unauthenticated');
	assertError(await rawRequest(srv, 'GET', p, { headers: signed(APP, secret, p, Date.now() - 61000) }), 401, 'unauthenticated');
	assertError(await rawRequest(srv, 'GET', p, { headers: signed(APP, secret, p, Date.now() + 61000) }), 401, 'unauthenticated');
	assertError(await rawRequest(srv, 'GET', p, { headers: { ...signed(APP, secret, p), Timestamp: 'soon' } }), 401, 'unauthenticated');

	// A signed poll, and a revoked token's key no longer signs.
	const pp = pollPath([{ namespaceName: 'application', notificationId: -1 }]);
	r = await rawRequest(srv, 'GET', pp, { headers: signed(APP, secret, pp) });
	assertStatus(r, 200, 'signed poll');
	// Held with its key; revoking the token answers it 401 at once.
	const cur = r.json[0].notificationId;
	const hp = pollPath([{ namespaceName: 'application', notificationId: cur }]);
	const held = track(rawRequest(srv, 'GET', hp, { headers: signed(APP, secret, hp) }));
	await waitHeld(srv, 1);
	const list = await request(srv, 'GET', '/api/v1/tokens');
	const tok = list.json.tokens.find((x) => x.name === 'apollo');
	assertStatus(await request(srv, 'DELETE', `/api/v1/tokens/${tok.id}`), 200, 'revoke');
	assertError(await held.promise, 401, 'unauthenticated', 'held poll after the revoke');
	assertError(await rawRequest(srv, 'GET', p, { headers: signed(APP, secret, p) }), 401, 'unauthenticated');
});

test('gray: a rule by address reaches the caller; a foreign ip argument does not', async (t) => {
	const srv = await withServer(t);
	await setup(srv);
	await publish(srv, 'application.properties', 'k=main\n');
	let r = await request(srv, 'PUT', cfgPath(APP, G, 'application.properties', '/gray/near'), {
		body: { content: 'k=gray\n', match: { ips: ['127.0.0.1'] } },
	});
	assert.ok(r.status === 200 || r.status === 201, `gray rule: ${r.status} ${r.text}`);
	r = await request(srv, 'PUT', cfgPath(APP, G, 'application.properties', '/gray/far'), {
		body: { content: 'k=far\n', priority: 5, match: { ips: ['10.0.0.7'] } },
	});
	assert.ok(r.status === 200 || r.status === 201, `gray rule: ${r.status} ${r.text}`);
	r = await request(srv, 'GET', `/configs/${APP}/default/application?ip=127.0.0.1`);
	assert.deepEqual(r.json.configurations, { k: 'gray' });
	assert.equal(r.json.releaseKey, md5('k=gray\n'));
	// Naming another instance's address gets this caller's own slice.
	r = await request(srv, 'GET', `/configs/${APP}/default/application?ip=10.0.0.7`);
	assert.deepEqual(r.json.configurations, { k: 'gray' });
	r = await request(srv, 'GET', `/configs/${APP}/default/application?label=canary`);
	assert.deepEqual(r.json.configurations, { k: 'gray' });
	assertError(await request(srv, 'GET', `/configs/${APP}/default/application?label=${encodeURIComponent('a b')}`), 400, 'invalid_argument');
});

test('gray: behind a trusted proxy the ip argument counts; labels select', async (t) => {
	const srv = await withServer(t, { args: ['--trusted-proxy', '127.0.0.0/8'] });
	await setup(srv);
	await publish(srv, 'application.properties', 'k=main\n');
	await request(srv, 'PUT', cfgPath(APP, G, 'application.properties', '/gray/far'), {
		body: { content: 'k=far\n', match: { ips: ['10.0.0.7'] } },
	});
	await request(srv, 'PUT', cfgPath(APP, G, 'application.properties', '/gray/canary'), {
		body: { content: 'k=canary\n', match: { labels: 'canary' } },
	});
	let r = await request(srv, 'GET', `/configs/${APP}/default/application?ip=10.0.0.7`);
	assert.deepEqual(r.json.configurations, { k: 'far' });
	r = await request(srv, 'GET', `/configs/${APP}/default/application?ip=10.0.0.8&label=blue,canary`);
	assert.deepEqual(r.json.configurations, { k: 'canary' });
	r = await request(srv, 'GET', `/configs/${APP}/default/application?ip=10.0.0.8`);
	assert.deepEqual(r.json.configurations, { k: 'main' });
});

test('ctrip-apollo 4.5.1: reads a namespace, sees a publish and a gray rule for its address', async (t) => {
	const apollo = require('ctrip-apollo');
	const srv = await withServer(t);
	await setup(srv);
	let r = await request(srv, 'PUT', `/api/v1/namespaces/${APP}`, { body: { anonymousRead: { cidrs: ['127.0.0.0/8'] } } });
	assertStatus(r, 200, 'open to anonymous reads');
	await publish(srv, 'application.properties', 'timeout=100\nname=a\n');

	const cachePath = await fsp.mkdtemp(path.join(os.tmpdir(), 'hotconf-apollo-'));
	t.after(() => fsp.rm(cachePath, { recursive: true, force: true }));
	const app = apollo({ host: srv.url, appId: APP, ip: '127.0.0.1', cachePath, fetchTimeout: 10000 });
	const cluster = app.cluster('default');
	const ns = cluster.namespace('application');
	// Stopped before the server is: no poll is retried after the test.
	t.after(() => cluster.enableUpdateNotification(false));
	const changes = [];
	ns.on('change', (c) => changes.push(c));
	await ns.ready();
	assert.equal(ns.get('timeout'), '100');
	assert.equal(ns.get('name'), 'a');

	// Its poll is held; a publish through the native API reaches it.
	await waitHeld(srv, 1);
	await publish(srv, 'application.properties', 'timeout=200\nname=a\n');
	await waitFor(() => changes.some((c) => c.key === 'timeout' && c.newValue === '200'), {
		what: 'change event for timeout',
	});
	assert.deepEqual(changes[0], { key: 'timeout', oldValue: '100', newValue: '200' });

	// A gray rule for its address is what it is served next.
	await waitHeld(srv, 1);
	r = await request(srv, 'PUT', cfgPath(APP, G, 'application.properties', '/gray/mine'), {
		body: { content: 'timeout=300\nname=a\n', match: { ips: ['127.0.0.1'] } },
	});
	assert.ok(r.status === 200 || r.status === 201, `gray rule: ${r.status} ${r.text}`);
	await waitFor(() => ns.get('timeout') === '300', { what: 'the gray value' });

	// The listeners view knows it by its address, watching.
	r = await request(srv, 'GET', cfgPath(APP, G, 'application.properties', '/listeners'));
	assertStatus(r, 200);
	assert.ok(r.text.includes('127.0.0.1'), `listeners: ${r.text}`);
	cluster.enableUpdateNotification(false);
});
