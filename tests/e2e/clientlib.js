'use strict';
// Helpers of the client tests (client.test.js, client-pattern.test.js): child
// processes whose output is collected, the libhotconf driver, temp dirs and
// file reads that tolerate a file being absent.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { waitFor, tail } = require('./lib');

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

const readOr = (f, d = null) => {
	try {
		return fs.readFileSync(f, 'utf8');
	} catch {
		return d;
	}
};
const lines = (f) => (readOr(f, '') || '').split('\n').filter(Boolean);

module.exports = { Child, driver, driverBin, tmpDir, readOr, lines, EXIT_TIMEOUT_MS };
