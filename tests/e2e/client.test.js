'use strict';
// The client side against the real server: libhotconf through the
// tests/client/hcdriver program (one JSON event per line on stdout,
// commands on stdin), and the hotconf command line. Every wait is a
// condition with a deadline.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { withServer, startServer, waitFor, request, put, cfgPath, md5, waitHeld, hotconfBin, tail } = require('./lib');
const { Child, driver, tmpDir, readOr, lines } = require('./clientlib');

const G = 'DEFAULT_GROUP';
// These tests are about the clients' own behaviour (failover between two
// servers, caches, reloads, the bytes they send), so the servers run without
// accounts; the last tests show the library and the CLI authenticating with
// a real service token against a server with auth on, as shipped.
const OPEN = { args: ['--auth=off'] };

/*
 * A TCP proxy on 127.0.0.1 port 0 in front of whichever server target()
 * names at connect time: the client's address stays the same across a
 * server restart (which picks a new port), and every byte the client sends
 * is kept in `sent`, so a test can read the watch bodies it carried.
 */
async function proxy(t, target) {
	const p = { sent: '', socks: new Set(), conns: 0 };
	p.server = net.createServer((c) => {
		p.conns++;
		p.socks.add(c);
		const up = net.connect(target(), '127.0.0.1');
		p.socks.add(up);
		c.on('data', (d) => {
			p.sent += d.toString('utf8');
			if (p.sent.length > 4 << 20) p.sent = p.sent.slice(-(2 << 20));
		});
		c.pipe(up);
		up.pipe(c);
		const end = () => {
			c.destroy();
			up.destroy();
			p.socks.delete(c);
			p.socks.delete(up);
		};
		c.on('error', end);
		up.on('error', end);
		c.on('close', end);
		up.on('close', end);
	});
	await new Promise((resolve) => p.server.listen(0, '127.0.0.1', resolve));
	p.url = `http://127.0.0.1:${p.server.address().port}`;
	t.after(
		() =>
			new Promise((resolve) => {
				for (const s of p.socks) s.destroy();
				p.server.close(resolve);
			})
	);
	return p;
}

const isChange = (dataId, content) => (e) =>
	e.event === 'change' && e.dataId === dataId && (content === undefined || e.content === content);

// ---------------------------------------------------------------- libhotconf

test('lib: get returns content, md5, version and format; errors are told apart', async (t) => {
	const srv = await withServer(t, OPEN);
	await put(srv, 'public', G, 'app.yaml', 'port: 8080\n', { query: { format: 'yaml' } });
	await put(srv, 'public', G, 'app.yaml', 'port: 8081\n');
	let d = driver(t, ['--servers', srv.url, 'get', `public/${G}/app.yaml`]);
	let e = await d.event((x) => x.event === 'get', 'get event');
	assert.equal(e.rc, 0, e.error);
	assert.equal(e.content, 'port: 8081\n');
	assert.equal(e.md5, md5('port: 8081\n'));
	assert.equal(e.version, 2);
	assert.equal(e.format, 'yaml');
	assert.equal(e.gray, null, 'no gray rule served it');
	assert.equal(e.fromCache, false);
	assert.deepEqual(await d.waitExit(), { code: 0, signal: null });

	d = driver(t, ['--servers', srv.url, 'get', `public/${G}/absent`]);
	e = await d.event((x) => x.event === 'get', 'get of an absent config');
	assert.equal(e.rc, -2, 'HOTCONF_ENOTFOUND');
	d = driver(t, ['--servers', srv.url, 'get', `public/${G}/..`]);
	e = await d.event((x) => x.event === 'get', 'get of a bad name');
	assert.equal(e.rc, -1, 'HOTCONF_EINVAL: ".." never reaches the server or a file name');
	d = driver(t, ['--servers', 'http://127.0.0.1:1', 'get', `public/${G}/app.yaml`]);
	e = await d.event((x) => x.event === 'get', 'get with no server up');
	assert.equal(e.rc, -4, 'HOTCONF_EUNAVAILABLE without a snapshot');
});

test('lib: a watch of many configs sees every publish, creation, deletion and late add', async (t) => {
	const srv = await withServer(t, OPEN);
	await put(srv, 'public', G, 'a', 'a1');
	assert.equal((await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'dev' } })).status, 201);
	await put(srv, 'dev', 'web', 'b', 'b1');
	const d = driver(t, ['--servers', srv.url, 'watch', `public/${G}/a`, 'dev/web/b', `public/${G}/later`]);
	await d.event(isChange('a', 'a1'), 'initial a');
	await d.event(isChange('b', 'b1'), 'initial b');
	for (let i = 2; i <= 4; i++) {
		const n = d.events().length;
		await put(srv, 'public', G, 'a', `a${i}`);
		await put(srv, 'dev', 'web', 'b', `b${i}`);
		await d.event(isChange('a', `a${i}`), `a${i}`, { from: n });
		await d.event(isChange('b', `b${i}`), `b${i}`, { from: n });
	}
	let n = d.events().length;
	await put(srv, 'public', G, 'later', 'born');
	const born = await d.event(isChange('later', 'born'), 'creation of a watched config', { from: n });
	assert.equal(born.version, 1);
	n = d.events().length;
	assert.equal((await request(srv, 'DELETE', cfgPath('dev', 'web', 'b'))).status, 200);
	const del = await d.event((e) => isChange('b')(e) && e.deleted, 'deletion of b', { from: n });
	assert.equal(del.content, '');
	assert.equal(del.md5, '');

	// A config added after start is watched at once.
	await put(srv, 'public', G, 'c', 'c1');
	n = d.events().length;
	d.send(`add public/${G}/c`);
	await d.event((e) => e.event === 'added' && e.rc === 0, 'added');
	await d.event(isChange('c', 'c1'), 'initial c after a late add', { from: n });
	await put(srv, 'public', G, 'c', 'c2');
	await d.event(isChange('c', 'c2'), 'c2', { from: n });
	const seen = d.events().filter((e) => e.event === 'change').map((e) => `${e.dataId}:${e.content}`);
	assert.deepEqual(
		seen.filter((s) => s.startsWith('a:')),
		['a:a1', 'a:a2', 'a:a3', 'a:a4'],
		'each publish of a delivered exactly once, in order'
	);
	d.send('quit');
	assert.deepEqual(await d.waitExit(), { code: 0, signal: null });
});

test('lib: apply reports ride on the next watch request', async (t) => {
	const srv = await withServer(t, OPEN);
	const px = await proxy(t, () => srv.port);
	await put(srv, 'public', G, 'good', 'g1');
	await put(srv, 'public', G, 'bad', 'b1');
	const d = driver(t, ['--servers', px.url, '--reject', 'bad', 'watch', `public/${G}/good`, `public/${G}/bad`]);
	await d.event(isChange('good', 'g1'), 'good delivered');
	const b = await d.event(isChange('bad', 'b1'), 'bad delivered');
	assert.equal(b.result, 'rejected');
	const bodies = () =>
		px.sent
			.split(/\r\n\r\n/)
			.map((s) => s.match(/^\{"configs":.*?\]\}/))
			.filter(Boolean)
			.map((m) => JSON.parse(m[0]));
	const withReports = await waitFor(
		() => bodies().find((bd) => bd.configs.some((c) => c.status)),
		{ what: `a watch body carrying reports; sent: ${tail(px.sent, 2000)}` }
	);
	const byId = Object.fromEntries(withReports.configs.map((c) => [c.dataId, c]));
	assert.deepEqual(byId.good, {
		namespace: 'public',
		group: G,
		dataId: 'good',
		md5: md5('g1'),
		status: 'applied',
	});
	assert.deepEqual(byId.bad, {
		namespace: 'public',
		group: G,
		dataId: 'bad',
		md5: md5('b1'),
		status: 'rejected',
		message: 'hcdriver rejects bad',
	});
	// Sent once: the request after that carries no report.
	await put(srv, 'public', G, 'good', 'g2');
	await d.event(isChange('good', 'g2'), 'g2');
	await waitFor(() => bodies().some((bd) => bd.configs.some((c) => c.dataId === 'good' && c.md5 === md5('g2'))), {
		what: 'the watch re-armed with g2',
	});
	const rearmed = bodies().find((bd) => bd.configs.some((c) => c.dataId === 'good' && c.md5 === md5('g2')));
	assert.equal(rearmed.configs.find((c) => c.dataId === 'bad').status, undefined, 'bad was reported once');
	assert.equal(rearmed.configs.find((c) => c.dataId === 'good').status, 'applied', 'g2 reported applied');
	d.send('quit');
	assert.deepEqual(await d.waitExit(), { code: 0, signal: null });
});

test('lib: failover: with the first server killed, the second one serves the watch', async (t) => {
	const a = await withServer(t, OPEN);
	const b = await withServer(t, OPEN);
	await put(a, 'public', G, 'x', 'from a');
	await put(b, 'public', G, 'x', 'from b');
	const d = driver(t, ['--servers', `${a.url},${b.url}`, '--backoff-max', '500', 'watch', `public/${G}/x`]);
	await d.event(isChange('x', 'from a'), 'the first server in the list serves first');
	await waitHeld(a, 1);
	const n = d.events().length;
	await a.kill9();
	await d.event(isChange('x', 'from b'), 'the second server took over', { from: n });
	await put(b, 'public', G, 'x', 'b2');
	await d.event(isChange('x', 'b2'), 'a publish on the second server', { from: n });
	const g = d.events().length;
	d.send(`get public/${G}/x`);
	const e = await d.event((x) => x.event === 'get', 'get after failover', { from: g });
	assert.equal(e.rc, 0);
	assert.equal(e.content, 'b2');
	assert.equal(e.fromCache, false);
	d.send('quit');
	assert.deepEqual(await d.waitExit(), { code: 0, signal: null });
});

test('lib: with no server answering, retries back off with full jitter under a doubling cap', async (t) => {
	// A port nothing listens on: every connection is refused at once.
	const port = await new Promise((resolve) => {
		const l = net.createServer().listen(0, '127.0.0.1', () => {
			const p = l.address().port;
			l.close(() => resolve(p));
		});
	});
	const args = ['--servers', `http://127.0.0.1:${port}`, '--backoff-base', '20', '--backoff-max', '320', 'watch', `public/${G}/x`];
	const delays = (d) => [...d.stderr.matchAll(/retrying in (\d+) ms/g)].map((m) => Number(m[1]));
	const a = driver(t, args);
	const b = driver(t, args);
	const N = 9;
	await waitFor(() => delays(a).length >= N && delays(b).length >= N, { what: `${N} retries each; stderr ${a.stderr.slice(-500)}` });
	for (const d of [a, b]) {
		const got = delays(d).slice(0, N);
		got.forEach((ms, i) => assert.ok(ms >= 0 && ms <= Math.min(320, 20 * 2 ** i), `retry ${i}: ${ms} ms is within [0, ${Math.min(320, 20 * 2 ** i)}]`));
		assert.ok(got.slice(3).some((ms) => ms > 20), `the cap grows past the first one: ${got}`);
		d.send('quit');
		assert.deepEqual(await d.waitExit(), { code: 0, signal: null });
	}
	assert.notDeepEqual(delays(a).slice(0, N), delays(b).slice(0, N), 'two clients do not retry in step (jitter)');
});

test('lib: with no server up, get and watch start from the snapshot cache', async (t) => {
	const dir = await tmpDir(t);
	const cache = path.join(dir, 'cache');
	const srv = await startServer(OPEN);
	t.after(() => srv.close());
	await put(srv, 'public', G, 'app.yaml', 'port: 1\n', { query: { format: 'yaml' } });
	await put(srv, 'public', G, 'app.yaml', 'port: 2\n');
	let d = driver(t, ['--servers', srv.url, '--cache', cache, 'get', `public/${G}/app.yaml`]);
	let e = await d.event((x) => x.event === 'get', 'get with the server up');
	assert.equal(e.rc, 0);
	assert.equal(e.fromCache, false);
	await d.waitExit();
	const file = path.join(cache, 'public', G, 'app.yaml');
	assert.equal(fs.readFileSync(file, 'utf8'), 'port: 2\n', 'the snapshot holds the content as served');
	assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'snapshots are private');
	assert.deepEqual(
		fs.readdirSync(path.dirname(file)).sort(),
		['app.yaml', 'app.yaml@meta'],
		'no temp files are left behind'
	);
	const url = srv.url;
	await srv.kill9();

	d = driver(t, ['--servers', url, '--cache', cache, 'get', `public/${G}/app.yaml`]);
	e = await d.event((x) => x.event === 'get', 'get with no server up');
	assert.equal(e.rc, 0, e.error);
	assert.equal(e.fromCache, true);
	assert.equal(e.content, 'port: 2\n');
	assert.equal(e.md5, md5('port: 2\n'));
	assert.equal(e.version, 2);
	assert.equal(e.format, 'yaml');

	d = driver(t, ['--servers', url, '--cache', cache, '--backoff-max', '300', 'watch', `public/${G}/app.yaml`]);
	e = await d.event(isChange('app.yaml'), 'the watch delivers the snapshot at start');
	assert.equal(e.fromCache, true);
	assert.equal(e.content, 'port: 2\n');
	d.send('quit');
	assert.deepEqual(await d.waitExit(), { code: 0, signal: null });

	// A snapshot whose metadata does not match its content: the content wins.
	fs.writeFileSync(file, 'port: 3\n');
	d = driver(t, ['--servers', url, '--cache', cache, 'get', `public/${G}/app.yaml`]);
	e = await d.event((x) => x.event === 'get', 'get of a snapshot with stale metadata');
	assert.equal(e.content, 'port: 3\n');
	assert.equal(e.md5, md5('port: 3\n'));
	assert.equal(e.version, 0, 'version unknown');
});

test('lib: stop is prompt while a long poll is held', async (t) => {
	const srv = await withServer(t, OPEN);
	await put(srv, 'public', G, 'x', 'x1');
	// The server may hold this watch for 100 s; stop must not wait for it.
	const d = driver(t, ['--servers', srv.url, '--wait', '100000', 'watch', `public/${G}/x`]);
	await d.event(isChange('x', 'x1'), 'initial x');
	await waitHeld(srv, 1);
	d.send('stop');
	await d.event((e) => e.event === 'stopped', 'stopped, long before the 100 s wait', { timeoutMs: 10000 });
	// After stop no callback runs; start again and it delivers the next change.
	d.send('start');
	await d.event((e) => e.event === 'started' && d.events().filter((x) => x.event === 'started').length === 2, 'restarted');
	await put(srv, 'public', G, 'x', 'x2');
	await d.event(isChange('x', 'x2'), 'x2 after a restart of the watch');
	d.send('quit');
	assert.deepEqual(await d.waitExit(10000), { code: 0, signal: null });
});


// ------------------------------------------------------------- command line

/* Runs `hotconf ARGS` to its end with HOME in a temp dir; {code, stdout, stderr}. */
async function cli(t, home, args, { env = {}, input = '' } = {}) {
	const c = new Child(t, hotconfBin(), args, {
		env: { HOME: home, XDG_CONFIG_HOME: '', NO_COLOR: '', ...env },
		input,
	});
	const r = await c.waitExit();
	return { code: r.code, signal: r.signal, stdout: c.stdout, stderr: c.stderr };
}

function ok(r, what) {
	assert.equal(r.code, 0, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
	return r;
}

test('cli: get, put, ls, history, diff, rollback, rm; --json; exit codes', async (t) => {
	const srv = await withServer(t, OPEN);
	const home = await tmpDir(t);
	const env = { HOTCONF_ADDR: srv.url };
	const run = (args, input) => cli(t, home, args, { env, input });
	const K = `public/${G}/app.yaml`;

	let r = ok(await run(['put', K, '--format', 'yaml', '-m', 'first one'], 'a: 1\nb: 2\nc: 3\n'), 'put');
	assert.equal(r.stdout, `created ${K}: version 1, md5 ${md5('a: 1\nb: 2\nc: 3\n')}\n`);
	const file = path.join(home, 'v2.yaml');
	fs.writeFileSync(file, 'a: 1\nb: 20\nc: 3\nd: 4\n');
	r = ok(await run(['put', K, file]), 'put FILE');
	assert.match(r.stdout, /^updated public\/DEFAULT_GROUP\/app\.yaml: version 2, md5 [0-9a-f]{32}\n$/);
	r = ok(await run(['put', K, file, '--json']), 'put unchanged --json');
	assert.deepEqual(JSON.parse(r.stdout), {
		namespace: 'public',
		group: G,
		dataId: 'app.yaml',
		version: 2,
		md5: md5('a: 1\nb: 20\nc: 3\nd: 4\n'),
		created: false,
		changed: false,
	});
	r = await run(['put', K, '--if-match', md5('stale')], 'x: 1\n');
	assert.equal(r.code, 4, `a failed --if-match exits 4; ${r.stderr}`);
	assert.match(r.stderr, /^hotconf: .*not/);
	r = await run(['put', K, '--format', 'yaml'], 'a: [1\n');
	assert.equal(r.code, 1, 'invalid YAML is another error');
	assert.match(r.stderr, /invalid yaml at line/);

	r = ok(await run(['get', K]), 'get');
	assert.equal(r.stdout, 'a: 1\nb: 20\nc: 3\nd: 4\n', 'get prints the content as it is');
	r = ok(await run(['--json', 'get', K]), 'get --json (flag before the command)');
	assert.deepEqual(JSON.parse(r.stdout), {
		namespace: 'public',
		group: G,
		dataId: 'app.yaml',
		version: 2,
		md5: md5('a: 1\nb: 20\nc: 3\nd: 4\n'),
		format: 'yaml',
		content: 'a: 1\nb: 20\nc: 3\nd: 4\n',
	});
	r = await run(['get', `public/${G}/absent`]);
	assert.equal(r.code, 3, 'not found exits 3');
	assert.match(r.stderr, /not found/);

	ok(await run(['put', `public/other/b.json`, '-f', 'json'], '{"x":1}'), 'put b.json');
	r = ok(await run(['ls']), 'ls');
	const rows = r.stdout.trimEnd().split('\n');
	assert.match(rows[0], /^NAMESPACE {2}GROUP +DATAID +FORMAT +VERSION +UPDATED$/);
	assert.equal(rows.length, 3);
	const col = rows[0].indexOf('DATAID');
	assert.ok(rows.slice(1).every((l) => /^\S/.test(l.slice(col))), 'columns are aligned');
	r = ok(await run(['ls', '-q', '--group', G]), 'ls -q --group');
	assert.equal(r.stdout, `${K}\n`);
	r = ok(await run(['ls', '--json', '--namespace', 'public']), 'ls --json');
	assert.deepEqual(JSON.parse(r.stdout).items.map((i) => `${i.group}/${i.dataId}:${i.version}`).sort(), [
		`${G}/app.yaml:2`,
		'other/b.json:1',
	]);

	r = ok(await run(['history', K]), 'history');
	const h = r.stdout.trimEnd().split('\n');
	assert.match(h[0], /^VERSION +OP +FORMAT +MD5 +AUTHOR +CREATED +MESSAGE$/);
	assert.match(h[1], /^2 +publish +yaml +[0-9a-f]{8} +- +\S+Z +$/);
	assert.match(h[2], /^1 +publish +yaml +[0-9a-f]{8} +- +\S+Z +first one$/);
	r = ok(await run(['history', K, '--json']), 'history --json');
	assert.deepEqual(JSON.parse(r.stdout).items.map((i) => i.version), [2, 1]);
	r = await run(['history', `public/${G}/absent`]);
	assert.equal(r.code, 3);

	const unified =
		`--- ${K}@1\n+++ ${K}@2 (current)\n@@ -1,3 +1,4 @@\n a: 1\n-b: 2\n+b: 20\n c: 3\n+d: 4\n`;
	r = ok(await run(['diff', K, '1']), 'diff V1');
	assert.equal(r.stdout, unified);
	r = ok(await run(['diff', K, '1', '2', '--color', 'always']), 'diff --color always');
	assert.ok(r.stdout.includes('\x1b[31m-b: 2\x1b[m\n') && r.stdout.includes('\x1b[32m+b: 20\x1b[m\n'), r.stdout);
	r = ok(await run(['diff', K, '2', '--json']), 'diff to itself');
	assert.equal(JSON.parse(r.stdout).same, true);
	assert.equal(JSON.parse(r.stdout).diff, '');
	r = await run(['diff', K, '9']);
	assert.equal(r.code, 3, 'an unknown version exits 3');

	r = ok(await run(['rollback', K, '1', '-m', 'undo']), 'rollback');
	assert.equal(r.stdout, `rolled back ${K} to version 1: now version 3, md5 ${md5('a: 1\nb: 2\nc: 3\n')}\n`);
	assert.equal(ok(await run(['get', K]), 'get after rollback').stdout, 'a: 1\nb: 2\nc: 3\n');
	r = await run(['rollback', K, '77']);
	assert.equal(r.code, 3);

	r = await run(['rm', K, '--if-match', md5('nope')]);
	assert.equal(r.code, 4, 'rm with a failed --if-match exits 4');
	r = ok(await run(['rm', K]), 'rm');
	assert.equal(r.stdout, `deleted ${K} (history version 4)\n`);
	r = await run(['rm', K]);
	assert.equal(r.code, 3);
	r = await run(['rollback', K, '4']);
	assert.equal(r.code, 4, 'rollback to a delete entry is a conflict (409)');

	// Usage errors exit 2; no server answering exits 5.
	for (const args of [['get'], ['get', 'a/b'], ['get', `public/${G}/..`], ['put', K, '--frob'], ['frob'], ['diff', K, 'x'], ['ls', '--format']]) {
		r = await run(args);
		assert.equal(r.code, 2, `hotconf ${args.join(' ')} exits 2; stderr: ${r.stderr}`);
		assert.ok(r.stderr.length > 0, 'and says why');
	}
	r = await cli(t, home, ['get', K], { env: { HOTCONF_ADDR: 'http://127.0.0.1:1,127.0.0.1:1' } });
	assert.equal(r.code, 5, 'no server answered exits 5');
	assert.match(r.stderr, /no server answered/);

	// --help everywhere, exit codes documented.
	r = ok(await run(['--help']), '--help');
	assert.match(r.stdout, /Exit codes:[\s\S]*3 +not found[\s\S]*4 +conflict[\s\S]*5 +unavailable/);
	for (const c of ['get', 'put', 'rm', 'ls', 'history', 'diff', 'rollback', 'login', 'watch']) {
		r = ok(await run([c, '--help']), `${c} --help`);
		assert.match(r.stdout, new RegExp(`^usage: hotconf ${c} `), `${c} --help`);
	}
});

test('cli: address from the settings file, token from HOTCONF_TOKEN as a bearer token', async (t) => {
	const srv = await withServer(t, OPEN);
	const px = await proxy(t, () => srv.port);
	const home = await tmpDir(t);
	await put(srv, 'public', G, 'k', 'v');
	fs.mkdirSync(path.join(home, '.config', 'hotconf'), { recursive: true });
	fs.writeFileSync(path.join(home, '.config', 'hotconf', 'config'), `# test\naddr = ${px.url}\n`);
	let r = ok(await cli(t, home, ['get', `public/${G}/k`], { env: { HOTCONF_TOKEN: 's3cret' } }), 'get');
	assert.equal(r.stdout, 'v');
	assert.match(px.sent, /\r\nAuthorization: Bearer s3cret\r\n/);
	// A token saved by `hotconf login` is used when nothing else names one.
	fs.writeFileSync(path.join(home, '.config', 'hotconf', 'token'), 'saved-token\n', { mode: 0o600 });
	r = ok(await cli(t, home, ['get', `public/${G}/k`]), 'get with the saved token');
	assert.match(px.sent, /\r\nAuthorization: Bearer saved-token\r\n/);
});

/* Starts `hotconf watch ARGS` in the background; stopped by the test's end. */
function watchCli(t, home, args, env = {}) {
	return new Child(t, hotconfBin(), ['watch', ...args], { env: { HOME: home, ...env } });
}


test('cli watch --exec: renders, reloads once per burst, SIGTERM exits 0', async (t) => {
	const srv = await withServer(t, OPEN);
	const dir = await tmpDir(t);
	const out = path.join(dir, 'app.conf'),
		runs = path.join(dir, 'runs');
	await put(srv, 'public', G, 'app', 'v0');
	fs.writeFileSync(out, 'old\n', { mode: 0o640 });
	fs.chmodSync(out, 0o640);
	const w = watchCli(t, dir, [`public/${G}/app`, '--out', out, '--wait', '1s:60s', '--exec', `cat '${out}' >> '${runs}'; echo >> '${runs}'`], {
		HOTCONF_ADDR: srv.url,
	});
	await waitFor(() => readOr(out) === 'v0', { what: `first render; stderr ${w.stderr}` });
	assert.equal(fs.statSync(out).mode & 0o777, 0o640, 'the old file mode is kept');
	await waitFor(() => lines(runs).length === 1, { what: 'the command ran after the first render' });
	// A burst: five quick publishes, far closer together than the 1 s of quiet.
	for (let i = 1; i <= 5; i++) await put(srv, 'public', G, 'app', `v${i}`);
	await waitFor(() => lines(runs).length >= 2, { what: `a reload after the burst; stderr ${w.stderr}` });
	assert.deepEqual(lines(runs), ['v0', 'v5'], 'one reload for the burst, with the last content in place');
	assert.equal(readOr(out), 'v5');
	assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('hotconf-')), [], 'no temp file left behind');
	w.proc.kill('SIGTERM');
	assert.deepEqual(await w.waitExit(), { code: 0, signal: null }, w.stderr);
});

test('cli watch: a reader never sees a half-written file', async (t) => {
	const srv = await withServer(t, OPEN);
	const dir = await tmpDir(t);
	const out = path.join(dir, 'big.txt');
	const version = (i) => `${i}:`.padEnd(300 * 1024, String.fromCharCode(97 + (i % 26))) + '\n';
	const published = new Set([version(0)]);
	await put(srv, 'public', G, 'big', version(0));
	const w = watchCli(t, dir, [`public/${G}/big`, '--out', out], { HOTCONF_ADDR: srv.url });
	await waitFor(() => readOr(out) === version(0), { what: 'first render' });
	const N = 15;
	let done = false,
		reads = 0;
	const reader = (async () => {
		const deadline = Date.now() + 60000;
		while (!done && Date.now() < deadline) {
			const s = readOr(out);
			assert.ok(published.has(s), `read ${reads}: ${s === null ? 'no file' : `${s.length} bytes, not a published version`}`);
			reads++;
			await new Promise((r) => setImmediate(r));
		}
	})();
	for (let i = 1; i <= N; i++) {
		published.add(version(i));
		await put(srv, 'public', G, 'big', version(i));
	}
	await waitFor(() => readOr(out) === version(N), { timeoutMs: 30000, what: 'the last version in place' });
	done = true;
	await reader;
	assert.ok(reads > N, `the reader looped (${reads} reads)`);
	w.proc.kill('SIGTERM');
	assert.equal((await w.waitExit()).code, 0);
});

test('cli watch --check: a failed check keeps the old file and reports rejected', async (t) => {
	const srv = await withServer(t, OPEN);
	const px = await proxy(t, () => srv.port);
	const dir = await tmpDir(t);
	const out = path.join(dir, 'c.conf'),
		runs = path.join(dir, 'runs');
	await put(srv, 'public', G, 'c', 'good 1');
	const w = watchCli(
		t,
		dir,
		[`public/${G}/c`, '--out', out, '--check', 'grep -q good {{file}}', '--exec', `echo run >> '${runs}'`, '--poll', '1s'],
		{ HOTCONF_ADDR: px.url }
	);
	await waitFor(() => readOr(out) === 'good 1' && lines(runs).length === 1, { what: 'first render' });
	await put(srv, 'public', G, 'c', 'bad 2');
	const bad = md5('bad 2');
	const rejected = new RegExp(`"md5":"${bad}","status":"rejected","message":"--check command exited with status 1`);
	await waitFor(() => rejected.test(px.sent), { what: `a rejected report for bad 2; stderr ${w.stderr}` });
	assert.equal(readOr(out), 'good 1', 'the old file stays');
	assert.equal(lines(runs).length, 1, 'no reload for rejected content');
	await put(srv, 'public', G, 'c', 'good 3');
	await waitFor(() => readOr(out) === 'good 3' && lines(runs).length === 2, { what: 'good 3 in place' });
	await waitFor(() => px.sent.includes(`"md5":"${md5('good 3')}","status":"applied"`), { what: 'applied report' });
	w.proc.kill('SIGTERM');
	assert.equal((await w.waitExit()).code, 0);
});

test('cli watch --exec that fails: the file stays in place, and the listeners view shows rejected with the message while the watch is held', async (t) => {
	const srv = await withServer(t, OPEN);
	const dir = await tmpDir(t);
	const out = path.join(dir, 'svc.conf');
	await put(srv, 'public', G, 'svc', 'one');
	// --poll 120s: a report that waited for the held watch to end would not
	// be seen within waitFor's deadline.
	const w = watchCli(t, dir, [`public/${G}/svc`, '--out', out, '--exec', 'echo reload failed >&2; exit 7', '--poll', '120s', '--instance', 'svc-1'], {
		HOTCONF_ADDR: srv.url,
	});
	await waitFor(() => readOr(out) === 'one', { what: `first render; stderr ${w.stderr}` });
	const view = async () => (await request(srv, 'GET', cfgPath('public', G, 'svc', '/listeners'))).json;
	const mine = (v) => (v.instances || []).find((i) => i.instance === 'svc-1');
	let v = await waitFor(async () => {
		const x = await view();
		return mine(x) && mine(x).rejected && x;
	}, { what: `svc-1 rejected in the listeners view; stderr ${w.stderr}` });
	assert.equal(mine(v).md5, md5('one'));
	assert.equal(mine(v).message, '--exec command exited with status 7');
	assert.equal(mine(v).watching, true, 'the watch is held again');
	await put(srv, 'public', G, 'svc', 'two');
	v = await waitFor(async () => {
		const x = await view();
		return mine(x) && mine(x).md5 === md5('two') && mine(x).rejected && x;
	}, { what: `two rejected; stderr ${w.stderr}` });
	assert.equal(readOr(out), 'two', 'the file is in place: the command ran after it was');
	assert.equal(v.summary.rejected, 1);
	w.proc.kill('SIGTERM');
	assert.equal((await w.waitExit()).code, 0);
});

test('cli watch: survives a server restart and keeps the last file while it is down', async (t) => {
	const srv = await withServer(t, OPEN);
	const px = await proxy(t, () => srv.port);
	const dir = await tmpDir(t);
	const out = path.join(dir, 'r.conf');
	await put(srv, 'public', G, 'r', 'before');
	const w = watchCli(t, dir, [`public/${G}/r`, '--out', out], { HOTCONF_ADDR: px.url });
	await waitFor(() => readOr(out) === 'before', { what: 'first render' });
	await srv.stop();
	// While it is down the watcher keeps retrying, and the file stays as it was.
	const conns = px.conns;
	await waitFor(() => px.conns >= conns + 2, { what: 'two attempts while the server is down' });
	assert.equal(readOr(out), 'before');
	assert.equal(w.exit, null, 'the watcher does not give up');
	await srv.restart();
	await put(srv, 'public', G, 'r', 'after');
	await waitFor(() => readOr(out) === 'after', { timeoutMs: 30000, what: `content after the restart; stderr ${w.stderr}` });
	assert.equal(w.exit, null, 'the watcher kept running');
	w.proc.kill('SIGTERM');
	assert.deepEqual(await w.waitExit(), { code: 0, signal: null });
});

test('cli watch --out-dir: all files flip at once through one symlink', async (t) => {
	const srv = await withServer(t, OPEN);
	const dir = await tmpDir(t);
	const outDir = path.join(dir, 'conf');
	await put(srv, 'public', G, 'one', 'one-1');
	await put(srv, 'public', 'g2', 'two', 'two-1');
	const w = watchCli(t, dir, [`public/${G}/one`, 'public/g2/two', '--out-dir', outDir], { HOTCONF_ADDR: srv.url });
	const pair = () => `${readOr(path.join(outDir, 'one'))}|${readOr(path.join(outDir, 'two'))}`;
	await waitFor(() => pair() === 'one-1|two-1', { what: `first directory; stderr ${w.stderr}` });
	assert.ok(fs.lstatSync(outDir).isSymbolicLink(), 'DIR is a symlink');
	const first = fs.readlinkSync(outDir);
	assert.match(first, /^\.hotconf-conf-\d+$/);
	await put(srv, 'public', G, 'one', 'one-2');
	await put(srv, 'public', 'g2', 'two', 'two-2');
	await waitFor(() => pair() === 'one-2|two-2', { what: 'second directory' });
	const second = fs.readlinkSync(outDir);
	assert.notEqual(second, first);
	await waitFor(() => !fs.existsSync(path.join(dir, first)), { what: 'the old directory is removed' });
	assert.deepEqual(fs.readdirSync(path.join(dir, second)).sort(), ['one', 'two']);
	w.proc.kill('SIGTERM');
	assert.equal((await w.waitExit()).code, 0);
});

test('cli watch --signal HUP --pid-file and --template with several configs', async (t) => {
	const srv = await withServer(t, OPEN);
	const dir = await tmpDir(t);
	const out = path.join(dir, 'nginx.conf'),
		pidFile = path.join(dir, 'pid'),
		hups = path.join(dir, 'hups'),
		tpl = path.join(dir, 't.tpl');
	const prog = new Child(t, process.execPath, [
		'-e',
		`const fs=require('fs');process.on('SIGHUP',()=>fs.appendFileSync(${JSON.stringify(hups)},fs.readFileSync(${JSON.stringify(out)},'utf8')+'\\n'));fs.writeFileSync(${JSON.stringify(pidFile)},String(process.pid));setInterval(()=>{},1e6);`,
	]);
	await waitFor(() => readOr(pidFile), { what: 'the program wrote its pid' });
	await put(srv, 'public', G, 'port', '8080');
	await put(srv, 'public', G, 'host', 'example.org');
	fs.writeFileSync(tpl, 'listen {{key "public/DEFAULT_GROUP/port"}}; server_name {{key "public/DEFAULT_GROUP/host"}}; # {{env "HC_T"}} {{"{{"}}');
	const w = watchCli(t, dir, ['--out', out, '--template', tpl, '--signal', 'HUP', '--pid-file', pidFile], {
		HOTCONF_ADDR: srv.url,
		HC_T: 'env-ok',
	});
	const want = (p) => `listen ${p}; server_name example.org; # env-ok {{`;
	await waitFor(() => lines(hups).length === 1, { what: `first HUP; stderr ${w.stderr}` });
	assert.deepEqual(lines(hups), [want(8080)], 'the program was signalled after the file was in place');
	await put(srv, 'public', G, 'port', '8081');
	await waitFor(() => lines(hups).length === 2, { what: 'second HUP' });
	assert.deepEqual(lines(hups), [want(8080), want(8081)]);
	w.proc.kill('SIGTERM');
	assert.equal((await w.waitExit()).code, 0);
	prog.proc.kill('SIGKILL');

	// Template errors are usage errors, named by line and column.
	fs.writeFileSync(tpl, 'a\n  {{ frob }}');
	const r = await cli(t, dir, ['watch', '--out', out, '--template', tpl], { env: { HOTCONF_ADDR: srv.url } });
	assert.equal(r.code, 2);
	assert.match(r.stderr, /line 2, column 3: unknown action/);
});

test('example: client/examples/reload.c hot-reloads one YAML setting', async (t) => {
	const bin = process.env.HOTCONF_EXAMPLE_BIN;
	assert.ok(bin, 'HOTCONF_EXAMPLE_BIN is set by ctest');
	const srv = await withServer(t, OPEN);
	await put(srv, 'public', G, 'app.yaml', 'port: 8080\nname: web\n', { query: { format: 'yaml' } });
	const ex = new Child(t, path.resolve(bin), [srv.url, 'public', G, 'app.yaml', 'port']);
	await waitFor(() => ex.stdout.includes('port = 8080 (version 1)\n'), { what: `start value; ${ex.stderr}` });
	await put(srv, 'public', G, 'app.yaml', 'port: 8081\n');
	await waitFor(() => ex.stdout.includes('port = 8081 (version 2)\n'), { what: 'reloaded value' });
	await put(srv, 'public', G, 'app.yaml', 'name: no port\n');
	await waitFor(() => ex.stderr.includes("rejected version 3: no top-level 'port'"), { what: 'rejection' });
	assert.ok(!ex.stdout.includes('version 3'), 'the old value stays in force');
	ex.proc.kill('SIGTERM');
	assert.deepEqual(await ex.waitExit(), { code: 0, signal: null });
});

test('cli over https with a CA file made by openssl: login saves a token that later commands use; an untrusted server is unavailable', async (t) => {
	const dir = await tmpDir(t);
	const cert = path.join(dir, 'cert.pem'),
		key = path.join(dir, 'key.pem');
	execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
	const srv = await withServer(t, { args: ['--tls-cert', cert, '--tls-key', key], login: false });
	const addr = `https://127.0.0.1:${srv.port}`;
	const env = { HOTCONF_ADDR: addr };
	let r = await cli(t, dir, ['login', '--cacert', cert, '-u', 'admin', '--password-stdin', '--json'], { env, input: srv.adminPassword + '\n' });
	ok(r, 'login');
	const saved = JSON.parse(r.stdout).tokenFile;
	assert.ok(saved.startsWith(dir), `the token is saved under HOME: ${saved}`);
	assert.equal((fs.statSync(saved).mode & 0o777).toString(8), '600', 'only its owner may read the token');
	r = await cli(t, dir, ['put', '--cacert', cert, `public/${G}/tls.yaml`, '--format', 'yaml', '-m', 'over https'], { env, input: 'x: 1\n' });
	ok(r, 'put with the saved token');
	r = ok(await cli(t, dir, ['get', '--cacert', cert, `public/${G}/tls.yaml`], { env }), 'get');
	assert.equal(r.stdout, 'x: 1\n');
	const h = ok(await cli(t, dir, ['history', '--cacert', cert, '--json', `public/${G}/tls.yaml`], { env }), 'history');
	assert.equal(JSON.parse(h.stdout).items[0].author, 'admin', 'written as the account that logged in');
	// Without the CA the certificate is not trusted: unavailable (5), saying why.
	r = await cli(t, dir, ['get', `public/${G}/tls.yaml`], { env });
	assert.equal(r.code, 5, `exit ${r.code}; stderr ${r.stderr}`);
	assert.match(r.stderr, /certificate/i);
	// A wrong password saves nothing new and says so.
	const before = fs.readFileSync(saved, 'utf8');
	r = await cli(t, dir, ['login', '--cacert', cert, '-u', 'admin', '--password-stdin'], { env, input: 'wrong-password\n' });
	assert.notEqual(r.code, 0);
	assert.match(r.stderr, /password|credential|unauthori/i);
	assert.equal(fs.readFileSync(saved, 'utf8'), before, 'the saved token is kept');
});

test('lib and cli against a server with auth on: a service token works, no token is 401', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'secure', 'v1', { expect: 201 });
	const tk = await request(srv, 'POST', '/api/v1/tokens', {
		body: { name: 'svc', role: 'reader', namespaces: ['public'] },
	});
	assert.equal(tk.status, 201, tk.text);
	const home = await tmpDir(t);
	let r = ok(await cli(t, home, ['--addr', srv.url, 'get', `public/${G}/secure`], { env: { HOTCONF_TOKEN: tk.json.token } }), 'get with a token');
	assert.equal(r.stdout, 'v1');
	r = await cli(t, home, ['--addr', srv.url, 'get', `public/${G}/secure`]);
	assert.notEqual(r.code, 0, 'without a token the CLI fails');
	assert.match(r.stderr, /401|authentication|credential/i);
	const d = driver(t, ['--servers', srv.url, '--token', tk.json.token, 'get', `public/${G}/secure`]);
	const out = await d.waitExit();
	assert.equal(out.code, 0, `hcdriver get with a token: ${d.stderr}`);
	assert.match(d.stdout, /v1|"md5"/);
});
