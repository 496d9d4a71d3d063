'use strict';
// A database written by a newer hotconf (a higher schema version) is refused
// with a clear message, and left as it was.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { withServer, put, get, assertStatus, hotconfBin } = require('./lib.js');

/* SQLite keeps PRAGMA user_version as a big-endian 32-bit integer at byte 60
 * of the database header; hotconf uses it as its schema version. */
function setUserVersion(file, v) {
	const fd = fs.openSync(file, 'r+');
	try {
		const b = Buffer.alloc(4);
		b.writeUInt32BE(v);
		fs.writeSync(fd, b, 0, 4, 60);
	} finally {
		fs.closeSync(fd);
	}
}

function run(argv) {
	return new Promise((resolve) => {
		const proc = spawn(hotconfBin(), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
		let stderr = '';
		proc.stderr.on('data', (c) => (stderr += c));
		const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
		proc.on('exit', (code, signal) => {
			clearTimeout(timer);
			resolve({ code, signal, stderr });
		});
	});
}

test('a database newer than the binary is refused with a clear message', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', 'DEFAULT_GROUP', 'kept', 'still here', { expect: 201 });
	await srv.stop(); // clean stop: the WAL is checkpointed into hotconf.db
	const db = path.join(srv.dataDir, 'hotconf.db');
	const before = fs.readFileSync(db);
	setUserVersion(db, 9999);

	const r = await run(['serve', '--listen', '127.0.0.1:0', '--data', srv.dataDir]);
	assert.equal(r.signal, null);
	assert.equal(r.code, 1, `hotconf should refuse to start with exit 1; stderr: ${r.stderr}`);
	assert.match(r.stderr, /schema version 9999 is newer than this hotconf/, r.stderr);
	assert.match(r.stderr, /upgrade hotconf/);
	const after = fs.readFileSync(db);
	assert.equal(after.readUInt32BE(60), 9999, 'the database is left as it was');
	assert.equal(Buffer.compare(after.subarray(100), before.subarray(100)), 0, 'no page was rewritten');

	// Put the version back: the same data serves again.
	setUserVersion(db, before.readUInt32BE(60));
	await srv.restart();
	const g = await get(srv, 'public', 'DEFAULT_GROUP', 'kept');
	assertStatus(g, 200);
	assert.equal(g.text, 'still here');
});
