'use strict';
// What an unlucky operator can do to a running server: a permissive umask, a
// database deleted or replaced under it, a full or read-only disk, SIGTERM
// in the middle of traffic. hotconf refuses to acknowledge what it cannot
// keep, says why, and never loses what it did acknowledge.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const {
	startServer,
	withServer,
	request,
	put,
	get,
	cfgPath,
	md5,
	assertStatus,
	assertError,
	waitFor,
	waitHeld,
	track,
	tail,
} = require('./lib');

const G = 'DEFAULT_GROUP';

function mode(p) {
	return (fs.statSync(p).mode & 0o777).toString(8);
}

test('the data dir is 0700 and the database files 0600, whatever the umask', async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotconf-modes-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const data = path.join(dir, 'data');
	fs.mkdirSync(data);
	fs.chmodSync(data, 0o777); // made before, wide open
	const old = process.umask(0); // inherited by the server
	let srv;
	try {
		srv = await withServer(t, { dataDir: data });
	} finally {
		process.umask(old);
	}
	await put(srv, 'public', G, 'secret', 'password: hunter2', { expect: 201 });
	assert.equal(mode(data), '700', 'data dir');
	for (const f of fs.readdirSync(data)) assert.equal(mode(path.join(data, f)), '600', f);
	assert.ok(fs.existsSync(path.join(data, 'hotconf.db-wal')), 'the WAL is there and checked');
});

test('a database deleted under the server: writes 503 naming it, health says so, restart refuses', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'a', 'v1', { expect: 201 });
	for (const f of fs.readdirSync(srv.dataDir)) if (f.startsWith('hotconf.db')) fs.rmSync(path.join(srv.dataDir, f));
	const r = await put(srv, 'public', G, 'a', 'v2', { expect: 503 });
	const msg = assertError(r, 503, 'unavailable', 'a write after the delete');
	assert.match(msg, /hotconf\.db/, `names the file: ${msg}`);
	assert.match(msg, /deleted or replaced/);
	const h = await request(srv, 'GET', '/healthz');
	assertStatus(h, 503, 'health');
	assert.equal(h.json.status, 'degraded');
	assert.match(h.json.reason, /hotconf\.db/);
	// Restarting on the same data dir would silently start empty: refused.
	const stopped = await srv.stop();
	assert.equal(stopped.code, 0);
	await assert.rejects(srv.restart(), /exited before writing its port file/);
	assert.notEqual(srv.exit.code, 0, 'a non-zero exit');
	assert.match(srv.stderr, /--init/, 'the log says how to start anyway');
	srv.args.push('--init');
	await srv.restart();
	assertError(await get(srv, 'public', G, 'a'), 404, 'not_found', 'with --init it starts empty, as asked');
});

test('a database replaced under the server is detected the same way', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'a', 'v1', { expect: 201 });
	const db = path.join(srv.dataDir, 'hotconf.db');
	fs.copyFileSync(db, db + '.copy');
	fs.renameSync(db + '.copy', db); // a restore over the live file
	const msg = assertError(await put(srv, 'public', G, 'a', 'v2', { expect: 503 }), 503, 'unavailable');
	assert.match(msg, /deleted or replaced/);
	assertStatus(await request(srv, 'GET', '/healthz'), 503);
});

/* Mounts a small tmpfs when root may; null when not. It is unmounted after
 * the test's other after-hooks (its server closed first). */
function tryTmpfs(t, sizeMb) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotconf-full-'));
	try {
		execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { stdio: 'pipe' });
	} catch (err) {
		fs.rmSync(dir, { recursive: true, force: true });
		return null;
	}
	return dir;
}

function unmount(dir) {
	try {
		execFileSync('umount', [dir], { stdio: 'pipe' });
	} catch {}
	fs.rmSync(dir, { recursive: true, force: true });
}

test('a full disk: 507, health degraded, deletes still work, and it recovers', async (t) => {
	const mnt = tryTmpfs(t, 24);
	if (mnt) {
		t.diagnostic('ran on a real 24 MiB tmpfs filled to the last byte');
		const data = path.join(mnt, 'data');
		const srv = await startServer({ dataDir: data });
		t.after(async () => {
			await srv.close();
			unmount(mnt);
		});
		await put(srv, 'public', G, 'keep', 'k', { expect: 201 });
		await put(srv, 'public', G, 'drop', 'd', { expect: 201 });
		const filler = path.join(mnt, 'filler');
		const fd = fs.openSync(filler, 'w');
		const mb = Buffer.alloc(1 << 20, 1);
		try {
			for (let i = 0; i < 64; i++) fs.writeSync(fd, mb);
		} catch (err) {
			assert.equal(err.code, 'ENOSPC');
		}
		fs.closeSync(fd);
		const big = 'x'.repeat(200 * 1024);
		let full = null;
		for (let i = 0; i < 50 && !full; i++) {
			const r = await request(srv, 'PUT', cfgPath('public', G, `big${i}`), { body: big + i });
			if (r.status === 507) full = r;
			else assertStatus(r, 201, `big${i} before the disk is full`);
		}
		assert.ok(full, 'a publish met the full disk');
		assert.match(assertError(full, 507, 'insufficient_storage'), /full/);
		const h = await request(srv, 'GET', '/healthz');
		assertStatus(h, 503, 'health while full');
		assert.match(h.json.reason, /full/);
		// Publishes are refused at once; deletes (which free space) still commit.
		assert.match(assertError(await put(srv, 'public', G, 'tiny', 't', { expect: 507 }), 507, 'insufficient_storage'), /deletes/);
		assertStatus(await request(srv, 'DELETE', cfgPath('public', G, 'drop')), 200, 'a delete on a full disk');
		fs.rmSync(filler);
		await waitFor(async () => (await request(srv, 'GET', '/healthz')).status === 200, { what: 'health to recover' });
		await put(srv, 'public', G, 'tiny', 't', { expect: 201 });
		assert.equal((await get(srv, 'public', G, 'keep')).text, 'k');
		return;
	}
	t.diagnostic('cannot mount a tmpfs here: ran with the store fault hook (SQLITE_FULL) instead');
	const srv = await withServer(t, { args: ['--test-faults'] });
	await put(srv, 'public', G, 'drop', 'd', { expect: 201 });
	assertStatus(await request(srv, 'POST', '/api/v1/debug/faults', { body: { point: 'commit', error: 'full' } }), 200);
	assertError(await put(srv, 'public', G, 'x', 'x', { expect: 507 }), 507, 'insufficient_storage');
	// The real disk has room, so the next write finds it and recovers.
	assertStatus(await request(srv, 'DELETE', cfgPath('public', G, 'drop')), 200);
	await put(srv, 'public', G, 'x', 'x', { expect: 201 });
});

test('a read-only database: 503 read_only, health says so, and a good write clears it', async (t) => {
	// A tmpfs with open files cannot be remounted read-only, and root ignores
	// file modes: this runs with the store fault hook (SQLITE_READONLY).
	t.diagnostic('ran with the store fault hook (SQLITE_READONLY)');
	const srv = await withServer(t, { args: ['--test-faults'] });
	await put(srv, 'public', G, 'a', 'v1', { expect: 201 });
	assertStatus(await request(srv, 'POST', '/api/v1/debug/faults', { body: { point: 'write', error: 'readonly' } }), 200);
	const msg = assertError(await put(srv, 'public', G, 'a', 'v2', { expect: 503 }), 503, 'read_only');
	assert.match(msg, /read-only/);
	const h = await request(srv, 'GET', '/healthz');
	assertStatus(h, 503);
	assert.match(h.json.reason, /cannot be written/);
	assert.equal(h.json.error.code, 'read_only');
	await put(srv, 'public', G, 'a', 'v2', { expect: 200 });
	assertStatus(await request(srv, 'GET', '/healthz'), 200, 'a committed write clears it');
});

test('SIGTERM in the middle of large publishes and held watches: exit 0, every acknowledged write kept', async (t) => {
	for (let round = 0; round < 3; round++) {
		const srv = await startServer();
		t.after(() => srv.close());
		await put(srv, 'public', G, 'w', 'v0', { expect: 201 });
		const watches = Array.from({ length: 30 }, () =>
			request(srv, 'GET', cfgPath('public', G, 'w') + '?wait=60s', { headers: { 'If-None-Match': `"${md5('v0')}"` } }).catch((e) => e)
		);
		await waitHeld(srv, 30);
		// Deep-ish YAML over the inline limit goes through the checker thread.
		const yaml = (i) => `round: ${round}\nitem: ${i}\n` + Array.from({ length: 3000 }, (_, k) => `k${k}: [${k}, {a: ${i}}]`).join('\n') + '\n';
		const writes = Array.from({ length: 40 }, (_, i) =>
			request(srv, 'PUT', cfgPath('public', G, `p${i}`) + '?format=yaml', { body: yaml(i) }).then(
				(r) => ({ i, r }),
				(e) => ({ i, e })
			)
		);
		// Stop once some have been acknowledged, while others are in flight.
		await Promise.race(writes);
		const exit = await srv.stop();
		assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, `round ${round}: exit 0; stderr:\n${tail(srv.stderr)}`);
		const done = await Promise.all(writes);
		await Promise.all(watches);
		const acked = done.filter((d) => d.r && (d.r.status === 200 || d.r.status === 201));
		for (const d of done) if (d.r) assert.ok([200, 201, 503].includes(d.r.status), `round ${round}: ${d.r.status} ${d.r.text}`);
		await srv.restart();
		for (const { i, r } of acked) {
			const g = await get(srv, 'public', G, `p${i}`);
			assertStatus(g, 200, `round ${round}: acknowledged p${i} survives`);
			assert.equal(g.headers.get('etag'), `"${r.json.md5}"`);
		}
		await srv.close();
	}
});
