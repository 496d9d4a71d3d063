'use strict';
// Helpers for the end-to-end tests: start the real hotconf binary on
// 127.0.0.1 port 0 (the port comes back through --port-file), talk to it with
// fetch, read its metrics, and wait on conditions with deadlines. Each test
// file runs in its own Node process; every server started here is killed and
// its temporary directory removed when the test ends (or the process exits).

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');

const START_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 20000;
const POLL_MS = 20;
const STDERR_KEEP = 64 * 1024;

const live = new Set();

process.on('exit', () => {
	for (const srv of live) {
		if (srv.proc && srv.proc.exitCode === null && srv.proc.signalCode === null) {
			try {
				srv.proc.kill('SIGKILL');
			} catch {}
		}
		try {
			fs.rmSync(srv.tmpDir, { recursive: true, force: true });
		} catch {}
	}
});

/* The binary under test: $HOTCONF_BIN, resolved against the current directory. */
function hotconfBin() {
	const b = process.env.HOTCONF_BIN;
	if (!b)
		throw new Error(
			'HOTCONF_BIN is not set: run e.g. `HOTCONF_BIN=/path/to/hotconf node --test` ' +
				'from tests/e2e (ctest sets it for you)'
		);
	const abs = path.resolve(b);
	if (!fs.existsSync(abs)) throw new Error(`HOTCONF_BIN=${b}: no such file (${abs})`);
	return abs;
}

function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

/*
 * Calls fn (sync or async) every intervalMs until it returns a truthy value,
 * which it returns. After timeoutMs it throws, naming `what` and the last
 * value or error seen. This is how tests wait: on a condition, never a fixed
 * sleep.
 */
async function waitFor(fn, { timeoutMs = 20000, intervalMs = POLL_MS, what = 'condition' } = {}) {
	const deadline = Date.now() + timeoutMs;
	let last, lastErr;
	for (;;) {
		try {
			last = await fn();
			lastErr = undefined;
			if (last) return last;
		} catch (err) {
			lastErr = err;
		}
		if (Date.now() >= deadline) {
			const seen = lastErr ? `last error: ${lastErr.stack || lastErr}` : `last value: ${JSON.stringify(last)}`;
			throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${seen}`);
		}
		await sleep(intervalMs);
	}
}

function tail(s, n = 4000) {
	return s.length > n ? '...' + s.slice(-n) : s;
}

class Server {
	constructor(args, dataDir, tmpDir, ownsData) {
		this.args = args;
		this.dataDir = dataDir;
		this.tmpDir = tmpDir;
		this.ownsData = ownsData;
		this.portFile = path.join(tmpDir, 'port');
		this.proc = null;
		this.stderr = '';
		this.stdout = '';
		this.exit = null; // {code, signal} of the last process once it ended
		this.port = 0;
		this.url = '';
		this.starts = 0;
		this.scheme = 'http';
		this.token = null; // the admin's, when auth is on (the default)
		this.adminPassword = 'admin-' + crypto.randomBytes(12).toString('hex');
		this.autoLogin = true;
		this.env = {};
	}

	/* Logs in as admin (the password the test gave the first start) and
	 * keeps the token: request() sends it unless told otherwise. */
	async login() {
		const r = await request(this, 'POST', '/api/v1/auth/login', {
			body: { username: 'admin', password: this.adminPassword },
			anonymous: true,
		});
		if (r.status !== 200) throw new Error(`admin login failed: ${describe(r)}`);
		this.token = r.json.token;
		return this.token;
	}

	get running() {
		return this.proc !== null && this.exit === null;
	}

	/* Spawns the server and waits for its port file. */
	async _start() {
		fs.rmSync(this.portFile, { force: true });
		const argv = [
			'serve',
			'--listen',
			'127.0.0.1:0',
			'--data',
			this.dataDir,
			'--port-file',
			this.portFile,
			...this.args,
		];
		this.argv = argv;
		this.starts++;
		this.exit = null;
		const env = { ...process.env, HOTCONF_ADMIN_PASSWORD: this.adminPassword, ...this.env };
		const proc = spawn(hotconfBin(), argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
		this.proc = proc;
		const keep = (which) => (chunk) => {
			this[which] += chunk.toString('utf8');
			if (this[which].length > STDERR_KEEP * 2) this[which] = this[which].slice(-STDERR_KEEP);
		};
		proc.stdout.on('data', keep('stdout'));
		proc.stderr.on('data', keep('stderr'));
		this.exited = new Promise((resolve) => {
			proc.on('exit', (code, signal) => {
				this.exit = { code, signal };
				resolve(this.exit);
			});
			proc.on('error', (err) => {
				this.exit = { code: null, signal: null, error: err };
				resolve(this.exit);
			});
		});
		const deadline = Date.now() + START_TIMEOUT_MS;
		for (;;) {
			if (this.exit) {
				throw new Error(
					`hotconf ${argv.join(' ')} exited before writing its port file ` +
						`(code ${this.exit.code}, signal ${this.exit.signal}` +
						`${this.exit.error ? ', ' + this.exit.error.message : ''}); stderr:\n` +
						tail(this.stderr)
				);
			}
			let text = null;
			try {
				text = fs.readFileSync(this.portFile, 'utf8');
			} catch {}
			if (text !== null && text !== '') {
				const m = /^(\d+)\n$/.exec(text);
				if (!m) throw new Error(`port file holds ${JSON.stringify(text)}, want "<decimal>\\n"`);
				this.port = Number(m[1]);
				if (!(this.port > 0 && this.port < 65536)) throw new Error(`port file holds bad port ${text}`);
				this.portFileText = text;
				this.url = `${this.scheme}://127.0.0.1:${this.port}`;
				if (this.autoLogin && !this.args.includes('--auth=off')) await this.login();
				return this;
			}
			if (Date.now() >= deadline) {
				try {
					proc.kill('SIGKILL');
				} catch {}
				throw new Error(
					`hotconf did not write its port file ${this.portFile} within ` +
						`${START_TIMEOUT_MS} ms; stderr:\n${tail(this.stderr)}`
				);
			}
			await sleep(POLL_MS);
		}
	}

	/* Waits (with a deadline) for the process to exit; returns {code, signal}. */
	async waitExit(timeoutMs = STOP_TIMEOUT_MS) {
		let timer;
		const timeout = new Promise((resolve) => {
			timer = setTimeout(() => resolve(null), timeoutMs);
		});
		const r = await Promise.race([this.exited, timeout]);
		clearTimeout(timer);
		if (r === null) {
			try {
				this.proc.kill('SIGKILL');
			} catch {}
			await this.exited;
			throw new Error(`hotconf did not exit within ${timeoutMs} ms; stderr:\n${tail(this.stderr)}`);
		}
		return r;
	}

	/* Sends a signal (default SIGTERM) and awaits the exit: {code, signal}. */
	async stop(signal = 'SIGTERM') {
		if (!this.running) return this.exit;
		this.proc.kill(signal);
		return this.waitExit();
	}

	/* kill -9, awaits the exit. */
	async kill9() {
		if (!this.running) return this.exit;
		this.proc.kill('SIGKILL');
		return this.waitExit();
	}

	/* Stops the server if it runs (SIGTERM, expecting exit 0) and starts it
	 * again on the same data directory and flags. url and port may change. */
	async restart() {
		if (this.running) {
			const r = await this.stop();
			assertCleanExit(this, r, 'stop before restart');
		}
		return this._start();
	}

	/* Stops the server (SIGTERM), fails if it did not exit 0, removes temp dirs. */
	async close() {
		try {
			if (this.running) {
				const r = await this.stop();
				assertCleanExit(this, r, 'stop at the end of the test');
			}
		} finally {
			live.delete(this);
			await fsp.rm(this.tmpDir, { recursive: true, force: true });
		}
	}
}

function assertCleanExit(srv, r, when) {
	assert.deepEqual(
		{ code: r.code, signal: r.signal },
		{ code: 0, signal: null },
		`hotconf should exit 0 on SIGTERM (${when}); got code ${r.code} signal ${r.signal}; stderr:\n` +
			tail(srv.stderr)
	);
}

/*
 * Starts `hotconf serve --listen 127.0.0.1:0 --data DIR --port-file F ARGS`.
 * dataDir defaults to a fresh temp dir. Returns a Server: url, port, dataDir,
 * proc, stderr, stop(), kill9(), restart(), close().
 */
/*
 * Auth is on, as shipped: the first admin gets a password the test knows
 * (HOTCONF_ADMIN_PASSWORD), the helper logs in, and request() sends the
 * admin's token unless it is given another credential or { anonymous: true }.
 * login: false skips the login; env adds to the server's environment.
 */
async function startServer({ args = [], dataDir, login = true, env = {}, adminPassword } = {}) {
	const tmpDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'hotconf-e2e-'));
	const ownsData = !dataDir;
	if (!dataDir) dataDir = path.join(tmpDir, 'data');
	await fsp.mkdir(dataDir, { recursive: true });
	const srv = new Server(args, dataDir, tmpDir, ownsData);
	srv.autoLogin = login;
	srv.env = env;
	if (adminPassword !== undefined) srv.adminPassword = adminPassword;
	live.add(srv);
	try {
		await srv._start();
	} catch (err) {
		live.delete(srv);
		await fsp.rm(tmpDir, { recursive: true, force: true });
		throw err;
	}
	return srv;
}

/* startServer() whose close() runs when test t ends. */
async function withServer(t, opts) {
	const srv = await startServer(opts);
	t.after(() => srv.close());
	return srv;
}

function md5(data) {
	return crypto.createHash('md5').update(data).digest('hex');
}

function seg(s) {
	return encodeURIComponent(s);
}

/* /api/v1/configs/{ns}/{group}/{dataId}[suffix] with each name escaped. */
function cfgPath(ns, group, dataId, suffix = '') {
	return `/api/v1/configs/${seg(ns)}/${seg(group)}/${seg(dataId)}${suffix}`;
}

function qs(params) {
	const p = new URLSearchParams();
	for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null) p.set(k, String(v));
	const s = p.toString();
	return s ? '?' + s : '';
}

/*
 * One HTTP request with fetch. body: string/Buffer sent raw, or a plain
 * object sent as JSON. Returns {status, headers, text, buf, json, what}.
 */
/* The headers a request sends: the server's admin token unless the caller
 * gave an Authorization or a Cookie, or asked for none. */
function withAuth(srv, headers, anonymous) {
	const h = { ...headers };
	const has = Object.keys(h).some((k) => ['authorization', 'cookie'].includes(k.toLowerCase()));
	if (!anonymous && !has && srv.token) h.Authorization = `Bearer ${srv.token}`;
	return h;
}

/* The Authorization header line for raw requests ("" with auth off). */
function authLine(srv) {
	return srv.token ? `Authorization: Bearer ${srv.token}\r\n` : '';
}

async function request(srv, method, p, { body, headers = {}, signal, anonymous = false } = {}) {
	const h = withAuth(srv, headers, anonymous);
	let b = body;
	if (b !== undefined && b !== null && typeof b === 'object' && !Buffer.isBuffer(b) && !(b instanceof Uint8Array)) {
		b = JSON.stringify(b);
		if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
	}
	const what = `${method} ${p}`;
	let res;
	try {
		res = await fetch(srv.url + p, { method, body: b, headers: h, signal });
	} catch (err) {
		err.message = `${what}: ${err.message}${err.cause ? ' (' + err.cause.message + ')' : ''}`;
		throw err;
	}
	const buf = Buffer.from(await res.arrayBuffer());
	const text = buf.toString('utf8');
	let json;
	try {
		json = JSON.parse(text);
	} catch {}
	return { status: res.status, headers: res.headers, text, buf, json, what };
}

/*
 * One HTTP request with node:http, whose path goes out exactly as given (fetch
 * would resolve "." and ".." segments and re-encode). Same answer shape as
 * request().
 */
function rawRequest(srv, method, p, { body, headers = {}, anonymous = false } = {}) {
	const http = require('node:http');
	headers = withAuth(srv, headers, anonymous);
	const what = `${method} ${p}`;
	return new Promise((resolve, reject) => {
		const req = http.request({ host: '127.0.0.1', port: srv.port, method, path: p, headers }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const buf = Buffer.concat(chunks);
				const text = buf.toString('utf8');
				let json;
				try {
					json = JSON.parse(text);
				} catch {}
				const h = new Headers();
				for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : v);
				resolve({ status: res.statusCode, headers: h, text, buf, json, what });
			});
			res.on('error', reject);
		});
		req.on('error', (err) => {
			err.message = `${what}: ${err.message}`;
			reject(err);
		});
		if (body !== undefined) req.write(body);
		req.end();
	});
}

function describe(r) {
	return `${r.what} -> ${r.status} ${tail(r.text, 600)}`;
}

function assertStatus(r, status, msg = '') {
	assert.equal(r.status, status, `${msg ? msg + ': ' : ''}expected ${status}, got ${describe(r)}`);
}

function normType(ct) {
	return (ct || '').toLowerCase().replace(/\s*;\s*/g, '; ').trim();
}

function assertContentType(r, want) {
	assert.equal(
		normType(r.headers.get('content-type')),
		normType(want),
		`${r.what}: Content-Type should be ${want}`
	);
}

/* Asserts an error reply: status, JSON body {"error":{"code","message"}}. */
function assertError(r, status, code, msg = '') {
	assertStatus(r, status, msg);
	assert.match(
		r.headers.get('content-type') || '',
		/^application\/json/i,
		`${r.what}: error bodies are JSON (${describe(r)})`
	);
	assert.ok(r.json && typeof r.json.error === 'object', `${r.what}: body should be {"error":{...}}: ${r.text}`);
	assert.equal(r.json.error.code, code, `${r.what}: error.code (${describe(r)})`);
	assert.equal(typeof r.json.error.message, 'string', `${r.what}: error.message should be a string`);
	assert.ok(r.json.error.message.length > 0, `${r.what}: error.message should not be empty`);
	return r.json.error.message;
}

/* PUT content; asserts 200/201 unless expect is given. */
async function put(srv, ns, group, dataId, content, { query, headers, expect } = {}) {
	const r = await request(srv, 'PUT', cfgPath(ns, group, dataId) + qs(query), { body: content, headers });
	if (expect !== undefined) assertStatus(r, expect);
	else assert.ok(r.status === 200 || r.status === 201, `PUT should succeed: ${describe(r)}`);
	return r;
}

async function get(srv, ns, group, dataId, { query, headers } = {}) {
	return request(srv, 'GET', cfgPath(ns, group, dataId) + qs(query), { headers });
}

/* Parses Prometheus text: [{name, labels:{}, value}]. */
function parseMetrics(text) {
	const out = [];
	for (const line of text.split('\n')) {
		if (!line || line.startsWith('#')) continue;
		const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
		if (!m) continue;
		const labels = {};
		if (m[3]) {
			const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
			let lm;
			while ((lm = re.exec(m[3]))) labels[lm[1]] = lm[2];
		}
		out.push({ name: m[1], labels, value: Number(m[4]) });
	}
	return out;
}

async function scrape(srv) {
	const r = await request(srv, 'GET', '/metrics');
	assertStatus(r, 200, 'GET /metrics');
	return { text: r.text, samples: parseMetrics(r.text), res: r };
}

/* Sum of the samples of `name` whose labels include `labels`; undefined when
 * no such sample exists. */
function metricValue(samples, name, labels = {}) {
	let found = false,
		sum = 0;
	for (const s of samples) {
		if (s.name !== name) continue;
		if (!Object.entries(labels).every(([k, v]) => s.labels[k] === v)) continue;
		found = true;
		sum += s.value;
	}
	return found ? sum : undefined;
}

async function metric(srv, name, labels) {
	return metricValue((await scrape(srv)).samples, name, labels);
}

/* Waits until hotconf_watches_held equals n. */
async function waitHeld(srv, n, timeoutMs = 30000) {
	let last;
	try {
		await waitFor(
			async () => {
				last = await metric(srv, 'hotconf_watches_held');
				return last === n;
			},
			{ timeoutMs, what: `hotconf_watches_held == ${n}` }
		);
	} catch (err) {
		// Say what the server saw: how far it got and what it answered.
		let answered = '';
		try {
			const m = await scrape(srv);
			answered = m.samples
				.filter((x) => x.name === 'hotconf_http_responses_total')
				.map((x) => `${x.labels.status}:${x.value}`)
				.join(' ');
		} catch {}
		err.message += `; last seen ${last}; responses by status ${answered}; stderr:\n${tail(srv.stderr, 1500)}`;
		throw err;
	}
}

/*
 * Resolves with the response of a request that must be answered without
 * being held: fails if hotconf_watches_held rises above `already` before the
 * request settles. (A held watch stays held for its whole wait, so the poll
 * cannot miss it.) Use only when no other watch comes or goes meanwhile.
 */
async function answeredAtOnce(srv, promise, { already = 0, what = 'request' } = {}) {
	const w = track(promise);
	let held = already;
	await waitFor(
		async () => {
			if (w.settled) return true;
			held = await metric(srv, 'hotconf_watches_held');
			return w.settled || held > already;
		},
		{ timeoutMs: 30000, what: `${what} to be answered` }
	);
	assert.ok(w.settled, `${what} should be answered at once, but the server holds it (hotconf_watches_held=${held})`);
	return w.promise;
}

/* Wraps a promise so a test can ask whether it has settled yet. */
function track(promise) {
	const t = { settled: false, promise };
	promise.then(
		() => (t.settled = true),
		() => (t.settled = true)
	);
	return t;
}

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

module.exports = {
	startServer,
	withServer,
	waitFor,
	request,
	rawRequest,
	withAuth,
	authLine,
	put,
	get,
	cfgPath,
	qs,
	md5,
	assertStatus,
	assertError,
	assertContentType,
	describe,
	parseMetrics,
	scrape,
	metric,
	metricValue,
	waitHeld,
	track,
	answeredAtOnce,
	hotconfBin,
	sleep,
	tail,
	ISO_MS,
};
