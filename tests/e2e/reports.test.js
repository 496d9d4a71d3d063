'use strict';
// Apply reports (issue 10): instances say whether they applied what they
// were served, by POST /api/v1/reports or on a many-config watch; the
// listeners view shows it per instance and counts it per version and rule.
// Bad reports change nothing.

const test = require('node:test');
const assert = require('node:assert/strict');
const { withServer, request, put, get, cfgPath, md5, assertStatus, assertError, metric } = require('./lib');

const NS = 'public';
const G = 'DEFAULT_GROUP';
const inst = (id, labels = '') => ({ 'X-Hotconf-Instance': id, 'X-Hotconf-Labels': labels });

async function listeners(srv, id) {
	const r = await request(srv, 'GET', cfgPath(NS, G, id, '/listeners'));
	assertStatus(r, 200, 'listeners');
	return r.json;
}
const byId = (view) => Object.fromEntries(view.instances.map((i) => [i.instance, i]));

function report(srv, instance, reports, headers = {}) {
	return request(srv, 'POST', '/api/v1/reports', { body: { instance, reports }, headers });
}
const rep = (dataId, content, status, message) => ({ namespace: NS, group: G, dataId, md5: md5(content), status, message });

test('reports show in the listeners view, per instance, version and rule', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'v: 1\n', { query: { format: 'yaml' }, expect: 201 });
	for (const id of ['a', 'b', 'c']) assertStatus(await get(srv, NS, G, 'app', { headers: inst(id, 'env=prod') }), 200);
	assertStatus(
		await request(srv, 'PUT', cfgPath(NS, G, 'app', '/gray/canary'), {
			body: { content: 'v: 2\n', match: { labels: 'env=canary' } },
		}),
		201
	);
	assertStatus(await get(srv, NS, G, 'app', { headers: inst('d', 'env=canary') }), 200);

	let v = await listeners(srv, 'app');
	assert.equal(v.summary.applied, 0);
	assert.equal(byId(v).a.applied, false);
	assert.equal(byId(v).a.report, null);

	let r = await report(srv, 'a', [rep('app', 'v: 1\n', 'applied')]);
	assertStatus(r, 200, 'a applied');
	assert.equal(r.json.recorded, 1);
	// The header may stand in for the body's instance.
	assertStatus(await report(srv, undefined, [rep('app', 'v: 1\n', 'rejected', 'bad port')], inst('b')), 200);
	assertStatus(await report(srv, 'd', [rep('app', 'v: 2\n', 'applied')], inst('d', 'env=canary')), 200);

	v = await listeners(srv, 'app');
	const a = byId(v).a, b = byId(v).b, d = byId(v).d;
	assert.deepEqual([a.applied, a.rejected, a.report.status, a.report.md5], [true, false, 'applied', md5('v: 1\n')]);
	assert.deepEqual([b.applied, b.rejected, b.message, b.report.status], [false, true, 'bad port', 'rejected']);
	assert.equal(byId(v).c.report, null, 'c said nothing');
	assert.equal(d.applied, true);
	assert.equal(v.summary.applied, 2);
	assert.equal(v.summary.rejected, 1);
	assert.deepEqual(v.summary.appliedByVersion, { 1: 1 });
	assert.deepEqual(v.summary.rejectedByVersion, { 1: 1 });
	assert.deepEqual(v.summary.appliedByRule, { canary: 1 });
	assert.deepEqual(v.summary.rejectedByRule, {});

	// A new version: what a said is about v1, not what it will hold next.
	await put(srv, NS, G, 'app', 'v: 3\n', { expect: 200 });
	assertStatus(await get(srv, NS, G, 'app', { headers: inst('a', 'env=prod') }), 200);
	v = await listeners(srv, 'app');
	assert.equal(byId(v).a.applied, false, 'a holds v3 and has not reported on it');
	assert.equal(byId(v).a.report.md5, md5('v: 1\n'));
	assert.equal(v.summary.applied, 1);
	assert.ok((await metric(srv, 'hotconf_reports_total', { result: 'recorded' })) >= 3);
});

test('a many-config watch carries reports', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'w1', 'x: 1\n', { expect: 201 });
	await put(srv, NS, G, 'w2', 'y: 1\n', { expect: 201 });
	for (const id of ['w1', 'w2']) await get(srv, NS, G, id, { headers: inst('svc') });
	const r = await request(srv, 'POST', '/api/v1/watch?wait=0', {
		headers: inst('svc'),
		body: {
			configs: [
				{ namespace: NS, group: G, dataId: 'w1', md5: md5('x: 1\n'), status: 'applied' },
				{ namespace: NS, group: G, dataId: 'w2', md5: md5('y: 1\n'), status: 'rejected', message: 'no' },
			],
		},
	});
	assertStatus(r, 304, 'nothing changed');
	assert.equal(byId(await listeners(srv, 'w1')).svc.applied, true);
	const w2 = byId(await listeners(srv, 'w2')).svc;
	assert.deepEqual([w2.rejected, w2.message], [true, 'no']);

	// A watch's report that cannot be verified is dropped, the watch goes on.
	const dropped = await metric(srv, 'hotconf_reports_total', { result: 'dropped' });
	const r2 = await request(srv, 'POST', '/api/v1/watch?wait=0', {
		headers: inst('svc'),
		body: { configs: [{ namespace: NS, group: G, dataId: 'w1', md5: md5('never'), status: 'applied' }] },
	});
	assertStatus(r2, 200, 'its md5 is not the current one: answered');
	assert.equal(await metric(srv, 'hotconf_reports_total', { result: 'dropped' }), dropped + 1);
	assert.equal(byId(await listeners(srv, 'w1')).svc.report.md5, md5('x: 1\n'), 'the dropped report left the last one');

	// A bad status in a watch is a 400 like any bad field.
	assertError(
		await request(srv, 'POST', '/api/v1/watch?wait=0', {
			body: { configs: [{ dataId: 'w1', md5: md5('x: 1\n'), status: 'done' }] },
		}),
		400,
		'invalid_argument'
	);
});

test('bad reports: 400 naming the field, and nothing is recorded', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'v: 1\n', { expect: 201 });
	await put(srv, NS, G, 'other', 'o: 1\n', { expect: 201 });
	await get(srv, NS, G, 'app', { headers: inst('p') });
	await get(srv, NS, G, 'other', { headers: inst('p') });
	const good = rep('app', 'v: 1\n', 'applied');
	const cases = [
		[[{ ...good, status: 'ok' }], /reports\[0\]\.status/],
		[[{ ...good, md5: 'xyz' }], /reports\[0\]\.md5/],
		[[good, rep('other', 'not what it got', 'applied')], /reports\[1\]\.md5: .*never served/],
		[[good, rep('nothere', 'n', 'applied')], /reports\[1\]: .*has not read or watched/],
		[[good, { ...good }], /reports\[1\] is on .* again/],
		[[{ ...good, message: 'x'.repeat(600) }], /reports\[0\]\.message/],
		[[{ ...good, dataId: 'bad name!' }], /dataId/],
		[[], /1 to 1000/],
		[Array.from({ length: 1001 }, () => good), /1 to 1000/],
	];
	for (const [reports, re] of cases) {
		const r = await report(srv, 'p', reports);
		assertError(r, 400, 'invalid_argument', JSON.stringify(reports).slice(0, 80));
		assert.match(r.json.error.message, re);
	}
	assert.match(
		(await report(srv, 'p', [good], inst('q'))).json.error.message,
		/differs from X-Hotconf-Instance/
	);
	assertError(await request(srv, 'POST', '/api/v1/reports', { body: '{"reports":' }), 400, 'invalid_argument');
	const v = await listeners(srv, 'app');
	assert.equal(byId(v).p.report, null, 'no case recorded anything');
	assert.equal(v.summary.applied, 0);
});

test('reports are rate-limited per instance and config; repeats are free', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'v: 1\n', { expect: 201 });
	await get(srv, NS, G, 'app', { headers: inst('flappy') });
	// The same report again and again is never limited.
	for (let i = 0; i < 30; i++) assertStatus(await report(srv, 'flappy', [rep('app', 'v: 1\n', 'applied')]), 200, `repeat ${i}`);
	// Flapping is: a burst of 10 changes, then 5 a second. 40 changes sent
	// back to back outrun that unless each took over 100 ms.
	let limited = null, last = 'applied';
	for (let i = 0; i < 40 && !limited; i++) {
		const status = i % 2 ? 'applied' : 'rejected';
		const r = await report(srv, 'flappy', [rep('app', 'v: 1\n', status, `try ${i}`)]);
		if (r.status === 429) limited = r;
		else {
			assertStatus(r, 200, `change ${i}`);
			last = status;
		}
	}
	assert.ok(limited, 'a flapping instance is limited');
	assertError(limited, 429, 'too_many_requests');
	const me = byId(await listeners(srv, 'app')).flappy;
	assert.equal(me.report.status, last, 'the refused report changed nothing');
});
