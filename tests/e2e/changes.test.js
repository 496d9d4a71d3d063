'use strict';
// Change requests: drafts of edits to several configs, four-eyes review in
// protected namespaces, atomic publish (a fault in the middle changes
// nothing; a many-config watch gets every config in one answer), the
// stale-base 409, and scheduled publish across kill -9.

const test = require('node:test');
const assert = require('node:assert/strict');
const { withServer, waitFor, request, put, get, cfgPath, md5, assertStatus, assertError, waitHeld, track } = require('./lib');

const NS = 'team';
const G = 'svc';
const PW = 'correct-horse-battery';
const CH = `/api/v1/namespaces/${NS}/changes`;
const IDS = ['a', 'b', 'c', 'd', 'e'];

async function ok(srv, method, p, body, status = 200, headers) {
	const r = await request(srv, method, p, { body, headers });
	assertStatus(r, status, `${method} ${p}`);
	return r;
}

/* A user with role in NS, logged in: the headers to act as them. */
async function user(srv, name, role) {
	await ok(srv, 'POST', '/api/v1/users', { name, password: PW }, 201);
	if (role) await ok(srv, 'PUT', `/api/v1/namespaces/${NS}/grants/${name}`, { role });
	const r = await request(srv, 'POST', '/api/v1/auth/login', { body: { username: name, password: PW }, anonymous: true });
	assertStatus(r, 200, `login ${name}`);
	return { Authorization: `Bearer ${r.json.token}` };
}

async function setup(t, args = []) {
	const srv = await withServer(t, { args });
	await ok(srv, 'POST', '/api/v1/namespaces', { id: NS, name: NS }, 201);
	for (const id of IDS) assertStatus(await put(srv, NS, G, id, `${id}: 1\n`, { query: { format: 'yaml' } }), 201);
	return srv;
}

const publishItems = (v) => IDS.map((id) => ({ op: 'publish', group: G, dataId: id, content: `${id}: ${v}\n` }));

async function versions(srv) {
	const out = {};
	for (const id of IDS) {
		const r = await get(srv, NS, G, id);
		assertStatus(r, 200, `get ${id}`);
		out[id] = [r.headers.get('x-hotconf-version'), r.text];
	}
	return out;
}

test('five configs publish atomically: a fault in the middle changes none; a watch gets all five at once', async (t) => {
	const srv = await setup(t, ['--test-faults']);
	const before = await versions(srv);
	const cr = await ok(srv, 'POST', CH, { title: 'raise all to 2', description: 'together', items: publishItems(2) }, 201);
	assert.equal(cr.json.state, 'draft');
	assert.equal(cr.json.items.length, 5);
	assert.match(cr.json.items[0].diff, /^@@ .*\n-a: 1\n\+a: 2\n$/, `a diff against the current version: ${cr.json.items[0].diff}`);
	assert.equal(cr.json.items[0].baseMd5, md5('a: 1\n'));
	assert.equal(cr.json.items[0].stale, false);
	const id = cr.json.id;

	// A watch on all five, holding their current md5s.
	const watch = track(
		request(srv, 'POST', '/api/v1/watch?wait=60s', {
			body: { configs: IDS.map((d) => ({ namespace: NS, group: G, dataId: d, md5: md5(`${d}: 1\n`) })) },
		})
	);
	await waitHeld(srv, 1);

	// Every item writes several statements: the 8th write is inside the third item.
	await ok(srv, 'POST', '/api/v1/debug/faults', { point: 'write', error: 'io', after: 8, count: 1 });
	let r = await request(srv, 'POST', `${CH}/${id}/publish`, { body: {} });
	assert.ok(r.status >= 500, `the injected fault fails the publish: ${r.status} ${r.text}`);
	assert.deepEqual(await versions(srv), before, 'no config moved');
	assert.equal(watch.settled, false, 'the watch was not woken by a publish that did not commit');
	assert.equal((await ok(srv, 'GET', `${CH}/${id}`)).json.state, 'draft', 'the request is still a draft');

	r = await ok(srv, 'POST', `${CH}/${id}/publish`, {});
	assert.equal(r.json.state, 'published');
	const w = await watch.promise;
	assertStatus(w, 200, 'the watch answers');
	const changed = w.json.changed.map((c) => `${c.dataId}:${c.md5}`).sort();
	assert.deepEqual(changed, IDS.map((d) => `${d}:${md5(`${d}: 2\n`)}`), 'all five in one answer');

	for (const d of IDS) {
		const h = await ok(srv, 'GET', cfgPath(NS, G, d, '/history'));
		assert.equal(h.json.items[0].changeId, id, `${d}: history entry carries the request id`);
		assert.equal(h.json.items[0].message, 'raise all to 2', `${d}: and its title as message`);
		assert.equal(h.json.items[0].sourceIp, '127.0.0.1', `${d}: and the publisher's address`);
		assert.equal(h.json.items[1].changeId, undefined, `${d}: the direct publish before has none`);
	}
	const done = await ok(srv, 'GET', `${CH}/${id}`);
	assert.equal(done.json.items[0].diff, undefined, 'a published request has nothing left to diff');
	assert.equal(done.json.items[0].content, 'a: 2\n', 'but keeps what it published');
	// At most once.
	assertError(await request(srv, 'POST', `${CH}/${id}/publish`, { body: {} }), 409, 'conflict');
	const audit = await ok(srv, 'GET', `/api/v1/audit?namespace=${NS}&action=change-publish`);
	assert.equal(audit.json.total, 1, `one change-publish audit entry: ${audit.text}`);
});

test('stale base: 409 naming the config, nothing written; an edit re-bases it', async (t) => {
	const srv = await setup(t);
	const cr = await ok(srv, 'POST', CH, { title: 't', items: publishItems(3).slice(0, 3) }, 201);
	assertStatus(await put(srv, NS, G, 'b', 'b: meanwhile\n'), 200);
	let r = await request(srv, 'POST', `${CH}/${cr.json.id}/publish`, { body: {} });
	assertError(r, 409, 'conflict');
	assert.match(r.json.error.message, /svc\/b/, r.text);
	assert.doesNotMatch(r.json.error.message, /svc\/a /, r.text);
	assert.equal((await get(srv, NS, G, 'a')).text, 'a: 1\n', 'the fresh items were not written either');
	const g = await ok(srv, 'GET', `${CH}/${cr.json.id}`);
	assert.equal(g.json.items[1].stale, true, 'the view says which item is stale');
	assert.match(g.json.items[1].diff, /-b: meanwhile\n\+b: 3/, 'and diffs against what is there now');

	// Re-base by editing: the items are read again against the current versions.
	r = await ok(srv, 'PATCH', `${CH}/${cr.json.id}`, { rev: 1, items: publishItems(3).slice(0, 3) });
	assert.equal(r.json.rev, 2);
	assert.equal(r.json.items[1].stale, false);
	await ok(srv, 'POST', `${CH}/${cr.json.id}/publish`, {});
	assert.equal((await get(srv, NS, G, 'b')).text, 'b: 3\n');
});

test('items are validated when added and at submit', async (t) => {
	const srv = await setup(t);
	let r = await request(srv, 'POST', CH, { body: { title: 't', items: [{ op: 'publish', group: G, dataId: 'a', content: 'a: [1\n' }] } });
	assertError(r, 400, 'invalid_argument');
	assert.match(r.json.error.message, /^items\[0\]\.content: /, r.text);
	r = await request(srv, 'POST', CH, { body: { title: 't', items: [{ op: 'explode', group: G, dataId: 'a' }] } });
	assertError(r, 400, 'invalid_argument');
	assert.match(r.json.error.message, /items\[0\]\.op/);
	r = await request(srv, 'POST', CH, {
		body: { title: 't', items: [publishItems(2)[0], { op: 'delete', group: G, dataId: 'a' }] },
	});
	assertError(r, 400, 'invalid_argument');
	assert.match(r.json.error.message, /items\[1\] edits svc\/a/);
	r = await request(srv, 'POST', CH, { body: { title: '', items: publishItems(2) } });
	assertError(r, 400, 'invalid_argument');
	r = await request(srv, 'POST', CH, { body: { title: 't', items: [] } });
	assertError(r, 400, 'invalid_argument');
	r = await request(srv, 'POST', CH, {
		body: { title: 't', items: [{ op: 'gray-set', group: G, dataId: 'a', rule: 'canary', content: 'a: 9\n', match: { percent: 500 } }] },
	});
	assertError(r, 400, 'invalid_argument');
	assert.match(r.json.error.message, /items\[0\]\.match\.percent/, r.text);
	assertError(await request(srv, 'GET', `${CH}/999`), 404, 'not_found');
	assertError(await request(srv, 'GET', `${CH}/x`), 404, 'not_found');
	assertError(await request(srv, 'GET', `${CH}?state=bogus`), 400, 'invalid_argument');
});

test('a change request can carry gray rule edits, and publishes them with the rest', async (t) => {
	const srv = await setup(t);
	const cr = await ok(
		srv,
		'POST',
		CH,
		{
			title: 'canary and main',
			items: [
				{ op: 'gray-set', group: G, dataId: 'a', rule: 'canary', priority: 5, content: 'a: canary\n', match: { labels: 'env=canary' } },
				{ op: 'publish', group: G, dataId: 'b', content: 'b: 2\n' },
				{ op: 'delete', group: G, dataId: 'e' },
			],
		},
		201
	);
	assert.equal(cr.json.items[0].priority, 5);
	assert.deepEqual(cr.json.items[0].match, { labels: 'env=canary' });
	await ok(srv, 'POST', `${CH}/${cr.json.id}/publish`, {});
	const g = await ok(srv, 'GET', cfgPath(NS, G, 'a', '/gray/canary'));
	assert.equal(g.json.content, 'a: canary\n');
	assert.equal((await get(srv, NS, G, 'a', { headers: { 'X-Hotconf-Labels': 'env=canary' } })).text, 'a: canary\n');
	assertStatus(await get(srv, NS, G, 'e'), 404, 'the delete went with it');
	const list = await ok(srv, 'GET', `${CH}?state=published`);
	assert.equal(list.json.total, 1);
	assert.equal(list.json.items[0].items.length, 3);
});

test('review: protected namespaces, the author cannot approve, role matrix, force by admin', async (t) => {
	const srv = await setup(t);
	const rita = await user(srv, 'rita', 'reader');
	const eddie = await user(srv, 'eddie', 'editor');
	const ed2 = await user(srv, 'ed2', 'editor');
	const alma = await user(srv, 'alma', 'approver');
	const olga = await user(srv, 'olga', 'owner');

	// Only an owner (or admin) protects a namespace, and only an admin lowers it.
	assertError(await request(srv, 'PUT', `/api/v1/namespaces/${NS}`, { body: { review: { required: 1 } }, headers: alma }), 403, 'forbidden');
	let r = await ok(srv, 'PUT', `/api/v1/namespaces/${NS}`, { review: { required: 1 } }, 200, olga);
	assert.deepEqual(r.json.review, { required: 1 });
	assertError(await request(srv, 'PUT', `/api/v1/namespaces/${NS}`, { body: { review: { required: 0 } }, headers: olga }), 403, 'forbidden');
	assertError(await request(srv, 'PUT', `/api/v1/namespaces/${NS}`, { body: { review: { required: 'x' } } }), 400, 'invalid_argument');
	const nss = await ok(srv, 'GET', '/api/v1/namespaces');
	assert.deepEqual(nss.json.namespaces.find((n) => n.id === NS).review, { required: 1 });

	// Direct writes are refused with a message that says how.
	r = await request(srv, 'PUT', cfgPath(NS, G, 'a'), { body: 'a: direct\n', headers: eddie });
	assertError(r, 409, 'conflict');
	assert.match(r.json.error.message, /requires review.*POST \/api\/v1\/namespaces\/team\/changes/);
	assertError(await request(srv, 'DELETE', cfgPath(NS, G, 'a'), { headers: olga }), 409, 'conflict');
	assertError(await request(srv, 'POST', cfgPath(NS, G, 'a', '/rollback'), { body: { version: 1 } }), 409, 'conflict');
	assertError(
		await request(srv, 'PUT', cfgPath(NS, G, 'a', '/gray/x'), { body: { content: 'x', match: { labels: 'a=b' } } }),
		409,
		'conflict'
	);

	// A reader may read and comment, not draft.
	assertError(await request(srv, 'POST', CH, { body: { title: 't', items: publishItems(2) }, headers: rita }), 403, 'forbidden');
	const cr = await ok(srv, 'POST', CH, { title: 'eddie wants 2', items: publishItems(2) }, 201, eddie);
	const id = cr.json.id;
	assert.deepEqual(cr.json.review, { required: 1, approvals: 0 });
	await ok(srv, 'POST', `${CH}/${id}/comments`, { text: 'looks fine' }, 200, rita);
	// Only the author edits.
	assertError(await request(srv, 'PATCH', `${CH}/${id}`, { body: { title: 'mine now' }, headers: ed2 }), 403, 'forbidden');
	// Not approved: neither publish nor schedule.
	r = await request(srv, 'POST', `${CH}/${id}/publish`, { body: {}, headers: eddie });
	assertError(r, 409, 'conflict');
	assert.match(r.json.error.message, /0 of the 1 approval/);
	await ok(srv, 'POST', `${CH}/${id}/submit`, {}, 200, eddie);
	// Editors and readers may not approve; the author may not even as an approver.
	assertError(await request(srv, 'POST', `${CH}/${id}/approve`, { body: {}, headers: ed2 }), 403, 'forbidden');
	assertError(await request(srv, 'POST', `${CH}/${id}/approve`, { body: {}, headers: rita }), 403, 'forbidden');
	const own = await ok(srv, 'POST', CH, { title: 'alma own', items: publishItems(7).slice(0, 1) }, 201, alma);
	await ok(srv, 'POST', `${CH}/${own.json.id}/submit`, {}, 200, alma);
	r = await request(srv, 'POST', `${CH}/${own.json.id}/approve`, { body: {}, headers: alma });
	assertError(r, 409, 'conflict');
	assert.match(r.json.error.message, /cannot approve it/);
	// An approver approves at the rev they read.
	assertError(await request(srv, 'POST', `${CH}/${id}/approve`, { body: { rev: 7 }, headers: alma }), 412, 'precondition_failed');
	r = await ok(srv, 'POST', `${CH}/${id}/approve`, { rev: 1, comment: 'ok' }, 200, alma);
	assert.equal(r.json.state, 'approved');
	assert.deepEqual(r.json.review, { required: 1, approvals: 1 });
	assert.deepEqual(
		r.json.events.map((e) => `${e.kind}:${e.actor}`),
		['create:eddie', 'comment:rita', 'submit:eddie', 'approve:alma']
	);
	// A reader cannot publish; the author can, now.
	assertError(await request(srv, 'POST', `${CH}/${id}/publish`, { body: {}, headers: rita }), 403, 'forbidden');
	await ok(srv, 'POST', `${CH}/${id}/publish`, {}, 200, eddie);
	assert.equal((await get(srv, NS, G, 'c')).text, 'c: 2\n');

	// Reject, then an owner approves the resubmitted edit.
	const cr2 = await ok(srv, 'POST', CH, { title: 'three', items: publishItems(3).slice(0, 2) }, 201, eddie);
	await ok(srv, 'POST', `${CH}/${cr2.json.id}/submit`, {}, 200, eddie);
	r = await ok(srv, 'POST', `${CH}/${cr2.json.id}/reject`, { reason: 'not on a Friday' }, 200, alma);
	assert.equal(r.json.state, 'rejected');
	assert.equal(r.json.reason, 'not on a Friday');
	assertError(await request(srv, 'POST', `${CH}/${cr2.json.id}/publish`, { body: {}, headers: eddie }), 409, 'conflict');
	r = await ok(srv, 'PATCH', `${CH}/${cr2.json.id}`, { title: 'three, on Monday' }, 200, eddie);
	assert.equal(r.json.state, 'draft');
	await ok(srv, 'POST', `${CH}/${cr2.json.id}/submit`, {}, 200, eddie);
	await ok(srv, 'POST', `${CH}/${cr2.json.id}/approve`, {}, 200, olga);
	await ok(srv, 'POST', `${CH}/${cr2.json.id}/publish`, {}, 200, eddie);

	// An admin may force a request past review; an owner may not; it is audited.
	const cr3 = await ok(srv, 'POST', CH, { title: 'hotfix', items: publishItems(9).slice(4) }, 201, eddie);
	assertError(await request(srv, 'POST', `${CH}/${cr3.json.id}/publish`, { body: { force: true }, headers: olga }), 403, 'forbidden');
	r = await ok(srv, 'POST', `${CH}/${cr3.json.id}/publish`, { force: true });
	assert.equal(r.json.state, 'published');
	const audit = await ok(srv, 'GET', `/api/v1/audit?namespace=${NS}&action=change-force-publish`);
	assert.equal(audit.json.total, 1);
	assert.equal(audit.json.items[0].actor, 'admin');
	// Cancel: the author or an approver, not another editor.
	const cr4 = await ok(srv, 'POST', CH, { title: 'never', items: publishItems(5).slice(0, 1) }, 201, eddie);
	assertError(await request(srv, 'POST', `${CH}/${cr4.json.id}/cancel`, { body: {}, headers: ed2 }), 403, 'forbidden');
	r = await ok(srv, 'POST', `${CH}/${cr4.json.id}/cancel`, { reason: 'dropped' }, 200, alma);
	assert.equal(r.json.state, 'cancelled');
	// The admin lowers the protection; direct writes work again.
	await ok(srv, 'PUT', `/api/v1/namespaces/${NS}`, { review: { required: 0 } });
	assertStatus(await request(srv, 'PUT', cfgPath(NS, G, 'a'), { body: 'a: direct\n', headers: eddie }), 200);
});

test('scheduled publish: once, across kill -9 and restart; a cancelled one never', async (t) => {
	const srv = await setup(t);
	const inSeconds = (n) => new Date(Math.ceil((Date.now() + n * 1000) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
	const at = inSeconds(2);
	const cr = await ok(srv, 'POST', CH, { title: 'at two seconds', items: publishItems(4) }, 201);
	let r = await ok(srv, 'POST', `${CH}/${cr.json.id}/publish`, { at });
	assert.equal(r.json.state, 'scheduled');
	assert.equal(Date.parse(r.json.scheduledAt), Date.parse(at));
	const never = await ok(srv, 'POST', CH, { title: 'cancelled', items: publishItems(5).slice(0, 1) }, 201);
	await ok(srv, 'POST', `${CH}/${never.json.id}/publish`, { at });
	await ok(srv, 'POST', `${CH}/${never.json.id}/cancel`, {});
	assertError(await request(srv, 'POST', `${CH}/${cr.json.id}/publish`, { body: { at: 'tomorrow' } }), 400, 'invalid_argument');
	assertError(
		await request(srv, 'POST', `${CH}/${cr.json.id}/publish`, { body: { at: '2001-01-01T00:00:00Z' } }),
		400,
		'invalid_argument'
	);

	// Killed before it is due; the schedule is in the database.
	await srv.kill9();
	await srv.restart();
	await waitFor(async () => (await request(srv, 'GET', `${CH}/${cr.json.id}`)).json.state === 'published', {
		what: 'the scheduled request to publish after the restart',
	});
	r = await ok(srv, 'GET', `${CH}/${cr.json.id}`);
	assert.ok(Date.parse(r.json.publishedAt) >= Date.parse(at), 'not before its time');
	for (const d of IDS) {
		const h = await ok(srv, 'GET', cfgPath(NS, G, d, '/history'));
		assert.equal(h.json.items.filter((e) => e.changeId === cr.json.id).length, 1, `${d}: published exactly once`);
		assert.equal((await get(srv, NS, G, d)).text, `${d}: 4\n`);
	}
	r = await ok(srv, 'GET', `${CH}/${never.json.id}`);
	assert.equal(r.json.state, 'cancelled');
	assert.equal(r.json.publishedAt, undefined);

	// A scheduled request whose base changes by its time fails, and says so.
	const late = await ok(srv, 'POST', CH, { title: 'will fail', items: publishItems(5).slice(0, 1) }, 201);
	await ok(srv, 'POST', `${CH}/${late.json.id}/publish`, { at: inSeconds(2) });
	assertStatus(await put(srv, NS, G, 'a', 'a: moved\n'), 200);
	await waitFor(async () => (await request(srv, 'GET', `${CH}/${late.json.id}`)).json.state === 'failed', {
		what: 'the stale scheduled request to fail',
	});
	r = await ok(srv, 'GET', `${CH}/${late.json.id}`);
	assert.match(r.json.reason, /svc\/a/);
	assert.equal((await get(srv, NS, G, 'a')).text, 'a: moved\n');
	const audit = await ok(srv, 'GET', `/api/v1/audit?namespace=${NS}&action=change-fail`);
	assert.equal(audit.json.total, 1);
});
