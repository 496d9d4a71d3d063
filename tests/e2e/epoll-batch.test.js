'use strict';
// Requests that reach one HTTP worker together are all read, however many.
//
// libmicrohttpd 0.9.75's own epoll thread (MHD_USE_EPOLL_INTERNAL_THREAD)
// fetches ready connections 128 at a time and, after a full batch, waits
// again with its blocking timeout: with exactly 128 or 256 ready it sat on
// them, unread, until a connection timeout or the door's sweep (30 s). The
// door's workers now run libmicrohttpd themselves (server/door.c). To make
// the requests arrive together, the server is stopped (SIGSTOP) while the
// clients send and continued (SIGCONT) once every byte is in its sockets;
// --threads 1 puts every watch on one worker. Each wait is on a condition,
// bounded well under the 30 s a stalled connection would wait.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const { withServer, put, cfgPath, md5, metric, waitFor } = require('./lib');

const G = 'DEFAULT_GROUP';
const BOUND_MS = 10000;

function connect(port) {
	return new Promise((resolve, reject) => {
		const s = net.connect(port, '127.0.0.1', () => resolve(s));
		s.once('error', reject);
	});
}

function write(s, data) {
	return new Promise((resolve, reject) => s.write(data, (err) => (err ? reject(err) : resolve())));
}

/* Whether every thread of pid is stopped (state T in /proc). */
function allStopped(pid) {
	const dir = `/proc/${pid}/task`;
	return fs.readdirSync(dir).every((tid) => {
		const stat = fs.readFileSync(`${dir}/${tid}/stat`, 'utf8');
		return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
	});
}

/* Runs fn (which sends) once every thread of the server has stopped, so
 * what it sends is all there when the server runs again. */
async function whileStopped(srv, fn) {
	process.kill(srv.proc.pid, 'SIGSTOP');
	try {
		await waitFor(() => allStopped(srv.proc.pid), { timeoutMs: BOUND_MS, intervalMs: 5, what: 'the server stopped' });
		return await fn();
	} finally {
		process.kill(srv.proc.pid, 'SIGCONT');
	}
}

/* A server with --threads 1 and config k at "v1"; n raw sockets, each
 * collecting what it receives in got[i]. */
async function setup(t, n) {
	const srv = await withServer(t, { args: ['--threads', '1', '--auth=off'] });
	await put(srv, 'public', G, 'k', 'v1', { expect: 201 });
	const got = new Array(n).fill('');
	const socks = [];
	t.after(() => socks.forEach((s) => s.destroy()));
	return { srv, got, socks };
}

function watchHead(etag) {
	return `GET ${cfgPath('public', G, 'k')}?wait=60s HTTP/1.1\r\nHost: x\r\nIf-None-Match: "${etag}"\r\n\r\n`;
}

function listen(socks, got, s) {
	const i = socks.length;
	s.setEncoding('latin1');
	s.on('data', (d) => (got[i] += d));
	socks.push(s);
}

async function waitAnswered(got, what) {
	let n = 0;
	try {
		await waitFor(() => (n = got.filter((g) => g.includes('\r\n\r\nv1')).length) === got.length, {
			timeoutMs: BOUND_MS,
			intervalMs: 20,
			what,
		});
	} catch (err) {
		err.message += `; ${n} of ${got.length} answered`;
		throw err;
	}
}

async function waitHeldAll(srv, n) {
	let held;
	await waitFor(async () => (held = await metric(srv, 'hotconf_watches_held')) === n, {
		timeoutMs: BOUND_MS,
		what: `all ${n} re-armed watches held`,
	}).catch((err) => {
		err.message += `; held ${held}`;
		throw err;
	});
}

for (const n of [127, 128, 256]) {
	test(`${n} first requests that arrive together are all answered`, { timeout: 60000 }, async (t) => {
		const { srv, got, socks } = await setup(t, n);
		// Connected and sent while the server is stopped: the door accepts them
		// all in one go and hands them to the one worker together.
		await whileStopped(srv, async () => {
			for (let i = 0; i < n; i++) listen(socks, got, await connect(srv.port));
			await Promise.all(socks.map((s) => write(s, watchHead('0'))));
		});
		await waitAnswered(got, `${n} answers to first requests`);
	});

	test(`${n} next requests that arrive together on kept-alive connections are all read`, { timeout: 60000 }, async (t) => {
		const { srv, got, socks } = await setup(t, n);
		// A first request each, one at a time (an old md5: answered at once, the
		// connection kept alive), so each connection is idle in the worker.
		for (let i = 0; i < n; i++) {
			listen(socks, got, await connect(srv.port));
			await write(socks[i], watchHead('0'));
			await waitFor(() => got[i].includes('\r\n\r\nv1'), { timeoutMs: BOUND_MS, intervalMs: 1, what: `answer ${i}` });
		}
		// Then every next request at once: a watch on the current md5, to be held.
		await whileStopped(srv, () => Promise.all(socks.map((s) => write(s, watchHead(md5('v1'))))));
		await waitHeldAll(srv, n);
		// And they are live: one publish answers every one.
		for (let i = 0; i < n; i++) got[i] = '';
		await put(srv, 'public', G, 'k', 'v2', { expect: 200 });
		await waitFor(() => got.every((g) => g.includes('\r\n\r\nv2')), { timeoutMs: BOUND_MS, what: 'every watch woken' });
		assert.equal(await metric(srv, 'hotconf_watches_held'), 0);
	});
}
