'use strict';
// The process: startup (port file, database), shutdown on SIGTERM/SIGINT with
// held watches answered 304, bad flags, health and metrics.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const {
	withServer,
	request,
	put,
	get,
	md5,
	assertStatus,
	assertError,
	assertContentType,
	scrape,
	metricValue,
	waitHeld,
	track,
	hotconfBin,
	tail,
} = require('./lib');

const G = 'DEFAULT_GROUP';

for (const signal of ['SIGTERM', 'SIGINT']) {
	test(`${signal} answers held watches with 304 and exits 0`, async (t) => {
		const srv = await withServer(t);
		await put(srv, 'public', G, 'a', 'A', { expect: 201 });
		await put(srv, 'public', G, 'b', 'B', { expect: 201 });
		const watches = [
			track(get(srv, 'public', G, 'a', { query: { wait: '60s' }, headers: { 'If-None-Match': `"${md5('A')}"` } })),
			track(get(srv, 'public', G, 'b', { query: { wait: '60s', version: 1 } })),
			track(get(srv, 'public', G, 'later', { query: { wait: '60s', version: 0 } })),
			track(
				request(srv, 'POST', '/api/v1/watch?wait=60s', {
					body: { configs: [{ dataId: 'a', md5: md5('A') }, { dataId: 'b', md5: md5('B') }] },
				})
			),
		];
		await waitHeld(srv, watches.length);
		assert.ok(watches.every((w) => !w.settled), 'all watches held before the signal');

		srv.proc.kill(signal);
		const results = await Promise.allSettled(watches.map((w) => w.promise));
		results.forEach((r, i) => {
			assert.equal(r.status, 'fulfilled', `watch #${i} should be answered, not dropped: ${r.reason}`);
			assert.equal(r.value.status, 304, `watch #${i} is answered 304 on shutdown: ${r.value.what} ${r.value.text}`);
		});
		const ex = await srv.waitExit();
		assert.deepEqual(
			{ code: ex.code, signal: ex.signal },
			{ code: 0, signal: null },
			`exit status after ${signal}; stderr:\n${tail(srv.stderr)}`
		);
		await assert.rejects(fetch(srv.url + '/healthz'), 'the port is closed after exit');
	});
}

test('startup writes the port file and <data>/hotconf.db', async (t) => {
	const srv = await withServer(t);
	assert.match(srv.portFileText, /^\d+\n$/, 'port file is the decimal port and a newline');
	assert.ok(fs.existsSync(path.join(srv.dataDir, 'hotconf.db')), 'database at <data>/hotconf.db');
	assertStatus(await request(srv, 'GET', '/healthz'), 200);
});

test('bad flags: a message on stderr and exit 2', async (t) => {
	const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'hotconf-e2e-flags-'));
	t.after(() => fsp.rm(dir, { recursive: true, force: true }));
	const base = ['serve', '--listen', '127.0.0.1:0', '--data', path.join(dir, 'data'), '--port-file', path.join(dir, 'port')];
	const cases = [
		[...base, '--no-such-flag'],
		[...base, '--max-content', 'lots'],
		[...base, '--max-wait', 'soon'],
		[...base, '--trusted-proxy', 'not-a-cidr'],
		['serve', '--listen', 'nowhere', '--data', path.join(dir, 'data')],
		['serve', '--listen'],
	];
	for (const argv of cases) {
		const proc = spawn(hotconfBin(), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
		let stderr = '';
		proc.stderr.on('data', (c) => (stderr += c));
		const ex = await new Promise((resolve) => {
			const timer = setTimeout(() => {
				proc.kill('SIGKILL');
			}, 20000);
			proc.on('exit', (code, sig) => {
				clearTimeout(timer);
				resolve({ code, signal: sig });
			});
		});
		assert.deepEqual(ex, { code: 2, signal: null }, `hotconf ${argv.join(' ')} should exit 2; stderr: ${stderr}`);
		assert.ok(stderr.trim().length > 0, `hotconf ${argv.join(' ')} should say why on stderr`);
	}
});

test('healthz answers ok with the revision', async (t) => {
	const srv = await withServer(t);
	let r = await request(srv, 'GET', '/healthz');
	assertStatus(r, 200);
	assertContentType(r, 'application/json');
	assert.equal(r.json.status, 'ok');
	assert.equal(r.json.revision, 0);
	const p = await put(srv, 'public', G, 'x', '1', { expect: 201 });
	r = await request(srv, 'GET', '/healthz');
	assert.deepEqual(r.json, { status: 'ok', revision: p.json.revision });
	assert.equal(p.json.revision, 1);
});

test('metrics: the named series exist and move after a publish and a woken watch', async (t) => {
	const srv = await withServer(t);
	let m = await scrape(srv);
	assert.match(m.res.headers.get('content-type') || '', /^text\/plain/, 'metrics are text/plain');
	for (const [name, type] of [
		['hotconf_watches_held', 'gauge'],
		['hotconf_publishes_total', 'counter'],
		['hotconf_watch_wakeups_total', 'counter'],
		['hotconf_http_responses_total', 'counter'],
		['hotconf_http_request_duration_seconds', 'histogram'],
	]) {
		assert.match(m.text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `# TYPE line for ${name}`);
	}
	assert.equal(metricValue(m.samples, 'hotconf_watches_held'), 0);
	const pub0 = metricValue(m.samples, 'hotconf_publishes_total');
	assert.equal(pub0, 0, 'no publishes yet');
	const wake0 = metricValue(m.samples, 'hotconf_watch_wakeups_total');
	assert.equal(typeof wake0, 'number', 'hotconf_watch_wakeups_total is exported before any wakeup');
	const ok0 = metricValue(m.samples, 'hotconf_http_responses_total', { status: '200' }) || 0;

	// One publish, one held watch woken by a second publish, one 404.
	await put(srv, 'public', G, 'm', 'one', { expect: 201 });
	const w = track(get(srv, 'public', G, 'm', { query: { wait: '30s' }, headers: { 'If-None-Match': `"${md5('one')}"` } }));
	await waitHeld(srv, 1);
	assert.equal(w.settled, false);
	await put(srv, 'public', G, 'm', 'two', { expect: 200 });
	assertStatus(await w.promise, 200);
	assertError(await get(srv, 'public', G, 'missing'), 404, 'not_found');
	await waitHeld(srv, 0);

	m = await scrape(srv);
	assert.equal(metricValue(m.samples, 'hotconf_publishes_total'), pub0 + 2, 'two publishes counted');
	assert.ok(
		metricValue(m.samples, 'hotconf_watch_wakeups_total') >= wake0 + 1,
		`watch wakeups counted: ${wake0} -> ${metricValue(m.samples, 'hotconf_watch_wakeups_total')}`
	);
	const ok1 = metricValue(m.samples, 'hotconf_http_responses_total', { status: '200' });
	assert.ok(ok1 >= ok0 + 3, `200 responses counted: ${ok0} -> ${ok1}`);
	assert.ok(metricValue(m.samples, 'hotconf_http_responses_total', { status: '404' }) >= 1, '404 responses counted');
	assert.ok(metricValue(m.samples, 'hotconf_http_responses_total', { status: '201' }) >= 1, '201 responses counted');

	// The histogram is well-formed: cumulative buckets ending in +Inf == _count.
	const H = 'hotconf_http_request_duration_seconds';
	const buckets = m.samples.filter((s) => s.name === H + '_bucket');
	assert.ok(buckets.length > 1, 'histogram has buckets');
	const groups = new Map();
	for (const b of buckets) {
		const { le, ...rest } = b.labels;
		assert.ok(le !== undefined, 'every bucket has le');
		const key = JSON.stringify(rest);
		if (!groups.has(key)) groups.set(key, []);
		groups.get(key).push({ le: le === '+Inf' ? Infinity : Number(le), v: b.value });
	}
	let infTotal = 0;
	for (const [key, list] of groups) {
		list.sort((a, b) => a.le - b.le);
		for (let i = 1; i < list.length; i++)
			assert.ok(list[i].v >= list[i - 1].v, `buckets ${key} are cumulative: ${JSON.stringify(list)}`);
		assert.equal(list[list.length - 1].le, Infinity, `buckets ${key} end with le="+Inf"`);
		infTotal += list[list.length - 1].v;
	}
	const count = metricValue(m.samples, H + '_count');
	const sum = metricValue(m.samples, H + '_sum');
	assert.equal(typeof sum, 'number', `${H}_sum exported`);
	assert.ok(sum >= 0);
	assert.equal(infTotal, count, `+Inf buckets equal ${H}_count`);
	assert.ok(count >= 5, `requests observed: ${count}`);
});

test('metrics: hotconf_watches_held follows watches as they come and go', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'g', 'x', { expect: 201 });
	const etag = `"${md5('x')}"`;
	const ws = [];
	for (let i = 1; i <= 3; i++) {
		ws.push(track(get(srv, 'public', G, 'g', { query: { wait: '30s' }, headers: { 'If-None-Match': etag } })));
		await waitHeld(srv, i);
	}
	// A watch that ends by timing out leaves the gauge too.
	const short = await get(srv, 'public', G, 'g', { query: { wait: '300ms' }, headers: { 'If-None-Match': etag } });
	assertStatus(short, 304);
	await waitHeld(srv, 3);
	assert.ok(ws.every((w) => !w.settled));
	await put(srv, 'public', G, 'g', 'y', { expect: 200 });
	for (const w of ws) assertStatus(await w.promise, 200);
	await waitHeld(srv, 0);
});
