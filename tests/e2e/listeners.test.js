'use strict';
// The listeners view (issue 9): who holds which config after a publish, a
// gray rule and its promote; a silent instance expiring; the instance view;
// and the gray preview's counts before and after the rule is saved.

const test = require('node:test');
const assert = require('node:assert/strict');
const { withServer, waitFor, request, put, get, cfgPath, md5, assertStatus, assertError } = require('./lib');

const NS = 'public';
const G = 'DEFAULT_GROUP';
const inst = (id, labels) => ({ 'X-Hotconf-Instance': id, 'X-Hotconf-Labels': labels });

async function listeners(srv, id, query = '') {
	const r = await request(srv, 'GET', cfgPath(NS, G, id, `/listeners${query}`));
	assertStatus(r, 200, 'listeners');
	return r.json;
}

const byId = (view) => Object.fromEntries(view.instances.map((i) => [i.instance, i]));

test('listeners after publish, gray and promote; the instance view', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'v: 1\n', { query: { format: 'yaml' }, expect: 201 });
	const fleet = [];
	for (let i = 0; i < 6; i++) fleet.push([`pod-${i}`, i < 2 ? 'env=canary' : 'env=prod']);
	for (const [id, labels] of fleet) assertStatus(await get(srv, NS, G, 'app', { headers: inst(id, labels) }), 200);

	let v = await listeners(srv, 'app');
	assert.equal(v.summary.total, 6);
	assert.equal(v.summary.onLatest, 6);
	assert.deepEqual(v.summary.byVersion, { 1: 6 });
	assert.equal(byId(v)['pod-0'].md5, md5('v: 1\n'));
	assert.equal(byId(v)['pod-0'].labels, 'env=canary');

	// A new version: nobody has fetched it yet.
	await put(srv, NS, G, 'app', 'v: 2\n', { expect: 200 });
	v = await listeners(srv, 'app');
	assert.equal(v.summary.onLatest, 0);
	assert.equal((await listeners(srv, 'app', '?latest=false')).total, 6);
	for (const [id, labels] of fleet.slice(0, 3)) await get(srv, NS, G, 'app', { headers: inst(id, labels) });
	v = await listeners(srv, 'app');
	assert.equal(v.summary.onLatest, 3, '3 of 6 on the new version');
	assert.deepEqual(v.summary.byVersion, { 2: 3, 1: 3 });

	// A gray rule for the canaries: they are behind until they fetch it.
	assertStatus(
		await request(srv, 'PUT', cfgPath(NS, G, 'app', '/gray/canary'), {
			body: { content: 'v: gray\n', match: { labels: 'env=canary' } },
		}),
		201
	);
	v = await listeners(srv, 'app');
	assert.equal(v.summary.onLatest, 1, 'pod-2 holds v2, which is still its content');
	for (const [id, labels] of fleet) await get(srv, NS, G, 'app', { headers: inst(id, labels) });
	v = await listeners(srv, 'app');
	assert.equal(v.summary.onLatest, 6);
	assert.deepEqual(v.summary.byRule, { canary: 2 });
	assert.deepEqual(v.summary.byVersion, { 2: 4 });
	assert.equal(byId(v)['pod-1'].gray, 'canary');
	assert.equal(byId(v)['pod-1'].md5, md5('v: gray\n'));
	assert.equal((await listeners(srv, 'app', '?gray=canary')).total, 2);

	// Promote: the canaries hold the new main content already; the others do not.
	assertStatus(await request(srv, 'POST', cfgPath(NS, G, 'app', '/gray/canary/promote')), 200);
	v = await listeners(srv, 'app');
	assert.equal(v.version, 4, 'a rule change takes a history version of its own');
	assert.equal(v.summary.onLatest, 2);
	assert.deepEqual(
		(await listeners(srv, 'app', '?latest=true')).instances.map((i) => i.instance),
		['pod-0', 'pod-1']
	);

	// The instance view: every config pod-0 holds.
	await put(srv, NS, G, 'db', 'url: x\n', { expect: 201 });
	await get(srv, NS, G, 'db', { headers: inst('pod-0', 'env=canary') });
	const iv = await request(srv, 'GET', '/api/v1/instances/pod-0');
	assertStatus(iv, 200);
	assert.deepEqual(
		iv.json.configs.map((c) => [c.dataId, c.version, c.latest]),
		[
			['app', 2, true],
			['db', 1, true],
		]
	);
	assertError(await request(srv, 'GET', '/api/v1/instances/nobody'), 404, 'not_found');
	assertError(await request(srv, 'GET', cfgPath(NS, G, 'none', '/listeners')), 404, 'not_found');
});

test('a silent instance expires; a watching one stays', async (t) => {
	const srv = await withServer(t, { args: ['--listener-grace', '1s'] });
	await put(srv, NS, G, 'app', 'v: 1\n', { expect: 201 });
	await get(srv, NS, G, 'app', { headers: inst('reader', '') });
	const ac = new AbortController();
	const held = request(srv, 'GET', cfgPath(NS, G, 'app') + '?wait=60s', {
		headers: { ...inst('watcher', ''), 'If-None-Match': `"${md5('v: 1\n')}"` },
		signal: ac.signal,
	}).catch(() => null);
	await waitFor(async () => (await listeners(srv, 'app')).summary.watching === 1, { what: 'the watch is held' });
	assert.equal((await listeners(srv, 'app')).summary.total, 2);
	await waitFor(async () => (await listeners(srv, 'app')).summary.total === 1, { what: 'the reader expires' });
	const v = await listeners(srv, 'app');
	assert.equal(v.instances[0].instance, 'watcher');
	assert.equal(v.instances[0].watching, true);
	ac.abort();
	await held;
});

test('preview: which current listeners a rule takes, before and after it is saved', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'v: 1\n', { expect: 201 });
	for (let i = 0; i < 200; i++) await get(srv, NS, G, 'app', { headers: inst(`i-${i}`, `zone=z${i % 4}`) });
	const pv = await request(srv, 'POST', cfgPath(NS, G, 'app', '/gray/half/preview'), {
		body: { match: { percent: 50, labels: 'zone in (z0,z1)' } },
	});
	assertStatus(pv, 200);
	assert.equal(pv.json.saved, false);
	assert.equal(pv.json.listeners, 200);
	assert.ok(pv.json.matched > 20 && pv.json.matched < 80, `about 50: ${pv.json.matched}`);
	assert.equal(pv.json.served, pv.json.matched);
	// Saved with the preview's salt, the rule takes exactly those instances.
	assertStatus(
		await request(srv, 'PUT', cfgPath(NS, G, 'app', '/gray/half'), {
			body: { content: 'v: 2\n', match: { percent: 50, labels: 'zone in (z0,z1)' }, salt: pv.json.salt },
		}),
		201
	);
	const saved = await request(srv, 'GET', cfgPath(NS, G, 'app', '/gray/half/preview?size=500'));
	assertStatus(saved, 200);
	assert.equal(saved.json.matched, pv.json.matched);
	let gray = 0;
	for (let i = 0; i < 200; i++) {
		const r = await get(srv, NS, G, 'app', { headers: inst(`i-${i}`, `zone=z${i % 4}`) });
		if (r.headers.get('x-hotconf-gray') === 'half') gray++;
	}
	assert.equal(gray, pv.json.matched, 'the saved rule serves exactly the previewed instances');
	// A higher-priority rule over some of them: matched, but not served.
	const over = await request(srv, 'POST', cfgPath(NS, G, 'app', '/gray/zero/preview'), {
		body: { match: { labels: 'zone=z0' }, priority: -1 },
	});
	assert.equal(over.json.matched, 50);
	assert.ok(over.json.served < 50 && over.json.served > 0, `served ${over.json.served}`);
	assertError(
		await request(srv, 'POST', cfgPath(NS, G, 'app', '/gray/half/preview'), {
			body: { match: { percent: 5 }, salt: '0'.repeat(32) },
		}),
		400,
		'invalid_argument'
	);
	assertError(await request(srv, 'GET', cfgPath(NS, G, 'app', '/gray/nope/preview')), 404, 'not_found');
});
