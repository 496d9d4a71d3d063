'use strict';
// The client side against the real server: libhotconf through the
// tests/client/hcdriver program (one JSON event per line on stdout,
// commands on stdin), and the hotconf command line. Every wait is a
// condition with a deadline.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { withServer, startServer, waitFor, request, put, cfgPath, md5, waitHeld, hotconfBin, tail } = require('./lib');

const G = 'DEFAULT_GROUP';
const EXIT_TIMEOUT_MS = 20000;

function driverBin() {
	const b = process.env.HCDRIVER_BIN;
	if (!b) throw new Error('HCDRIVER_BIN is not set (ctest sets it to the built tests/client/hcdriver)');
	return path.resolve(b);
}

async function tmpDir(t, prefix = 'hotconf-client-') {
	const d = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
	t.after(() => fsp.rm(d, { recursive: true, force: true }));
	return d;
}

/*
 * A child process whose stdout is collected; lines() parses JSON lines.
 * Killed (SIGKILL) when the test ends if still running.
 */
class Child {
	constructor(t, bin, args, { env, cwd, input } = {}) {
		this.stdout = '';
		this.stderr = '';
		this.exit = null;
		this.proc = spawn(bin, args, {
			stdio: ['pipe', 'pipe', 'pipe'],
			env: { ...process.env, ...(env || {}) },
			cwd,
		});
		this.proc.stdout.on('data', (c) => (this.stdout += c.toString('utf8')));
		this.proc.stderr.on('data', (c) => {
			this.stderr += c.toString('utf8');
			if (this.stderr.length > 256 * 1024) this.stderr = this.stderr.slice(-128 * 1024);
		});
		this.proc.stdin.on('error', () => {});
		this.exited = new Promise((resolve) => {
			this.proc.on('exit', (code, signal) => resolve((this.exit = { code, signal })));
			this.proc.on('error', (err) => resolve((this.exit = { code: null, signal: null, error: err })));
		});
		if (input !== undefined) this.proc.stdin.end(input);
		t.after(() => {
			if (!this.exit) this.proc.kill('SIGKILL');
			return this.exited;
		});
	}

	events() {
		return this.stdout
			.split('\n')
			.filter((l) => l.trim())
			.map((l) => JSON.parse(l));
	}

	send(line) {
		this.proc.stdin.write(line + '\n');
	}

	/* Waits for an event matching pred among those after index `from`. */
	async event(pred, what, { from = 0, timeoutMs = 20000 } = {}) {
		return waitFor(() => this.events().slice(from).find(pred), {
			timeoutMs,
			what: `${what}; events so far: ${tail(this.stdout, 1500)}; stderr: ${tail(this.stderr, 1500)}`,
		});
	}

	async waitExit(timeoutMs = EXIT_TIMEOUT_MS) {
		let timer;
		const r = await Promise.race([
			this.exited,
			new Promise((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs))),
		]);
		clearTimeout(timer);
		if (!r) {
			this.proc.kill('SIGKILL');
			throw new Error(`process did not exit within ${timeoutMs} ms; stderr: ${tail(this.stderr)}`);
		}
		return r;
	}
}

function driver(t, args, opts) {
	return new Child(t, driverBin(), args, opts);
}

/*
 * A TCP proxy on 127.0.0.1 port 0 in front of whichever server target()
 * names at connect time: the client's address stays the same across a
 * server restart (which picks a new port), and every byte the client sends
 * is kept in `sent`, so a test can read the watch bodies it carried.
 */
async function proxy(t, target) {
	const p = { sent: '', socks: new Set() };
	p.server = net.createServer((c) => {
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
	const srv = await withServer(t);
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
	const srv = await withServer(t);
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
	const srv = await withServer(t);
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
	const a = await withServer(t);
	const b = await withServer(t);
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

test('lib: with no server up, get and watch start from the snapshot cache', async (t) => {
	const dir = await tmpDir(t);
	const cache = path.join(dir, 'cache');
	const srv = await startServer();
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
	const srv = await withServer(t);
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

