'use strict';
// The git mirror (--git-mirror DIR): every change is one commit with the
// config's content at ns/group/dataId (gray rules under .gray/), the author,
// the message and Hotconf-* trailers; a mirror that cannot write catches up
// from the store once it can, while publishes go on and pruning keeps what
// it has not written; a restart resumes after its last commit; and
// `hotconf restore --from-git` rebuilds the same configs and versions.
// The test reads the repository with the git command line; the server
// itself never runs git.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { withServer, startServer, request, put, get, cfgPath, assertStatus, waitFor, metric, hotconfBin } =
	require('./lib.js');

const G = 'DEFAULT_GROUP';

function tmpDir(t) {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), 'hotconf-mirror-'));
	t.after(() => {
		unfreeze(d);
		fs.rmSync(d, { recursive: true, force: true });
	});
	return d;
}

function git(dir, ...args) {
	return execFileSync('git', ['--git-dir', dir, ...args], { encoding: 'utf8' });
}

/* Every commit of main, oldest first: {id, author, time, message, trailers}. */
function commits(dir) {
	const out = git(dir, 'log', '--reverse', '--format=%H%x1f%an%x1f%at%x1f%B%x1e', 'main');
	return out
		.split('\x1e')
		.map((s) => s.replace(/^\n/, ''))
		.filter((s) => s)
		.map((s) => {
			const [id, author, time, body] = s.split('\x1f');
			const paras = body.replace(/\n+$/, '').split('\n\n');
			const trailers = {};
			for (const line of paras[paras.length - 1].split('\n')) {
				const m = /^(Hotconf-[A-Za-z-]+): (.*)$/.exec(line);
				if (m) trailers[m[1]] = m[2];
			}
			return { id, author, time: Number(time), message: paras.slice(0, -1).join('\n\n'), trailers };
		});
}

function show(dir, rev, p) {
	const r = spawnSync('git', ['--git-dir', dir, 'show', `${rev}:${p}`], { encoding: 'utf8' });
	return r.status === 0 ? r.stdout : null;
}

async function health(srv) {
	const r = await request(srv, 'GET', '/healthz', { anonymous: true });
	assertStatus(r, 200, 'healthz');
	return r.json;
}

async function mirrored(srv) {
	return waitFor(
		async () => {
			const h = await health(srv);
			return h.mirror.revision === h.revision && h.mirror.lag === 0 && h.mirror.state === 'ok' && h;
		},
		{ what: 'the mirror to reach the store revision' }
	);
}

async function ok(srv, method, p, body, headers) {
	const r = await request(srv, method, p, { body, headers });
	assert.ok(r.status === 200 || r.status === 201, `${method} ${p}: ${r.status} ${r.text}`);
	return r.json;
}

/* Makes every folder of the mirror unwritable (a no-op for root, whom a lock
 * file stops instead: see block()). */
function freeze(d, mode = 0o555) {
	for (const e of fs.readdirSync(d, { withFileTypes: true }))
		if (e.isDirectory()) freeze(path.join(d, e.name), mode);
	fs.chmodSync(d, mode);
}

function unfreeze(d) {
	try {
		freeze(d, 0o755);
	} catch {}
}

/* The history of a config as the API lists it, without what a restore
 * cannot keep (sub-second times, source addresses, change ids). */
async function history(srv, dataId) {
	const r = await request(srv, 'GET', cfgPath('public', G, dataId, '/history?size=500'));
	assertStatus(r, 200, `history of ${dataId}`);
	return r.json.items.map((h) => {
		const { sourceIp, changeId, createdAt, ...rest } = h;
		return { ...rest, createdAt: createdAt.slice(0, 19) };
	});
}

test('every change is one commit: tree, author, message and trailers; restore rebuilds it', async (t) => {
	const dir = tmpDir(t);
	const mirror = path.join(dir, 'mirror.git');
	const srv = await withServer(t, { args: ['--git-mirror', mirror] });
	const tok = await ok(srv, 'POST', '/api/v1/tokens', { name: 'ci-bot', role: 'editor', namespaces: ['public'] });
	const bot = { Authorization: `Bearer ${tok.token}` };

	// What each change should look like, in order.
	const want = [];
	const note = (res, op, dataId, extra = {}) => want.push({ rev: res.revision, op, dataId, ...extra });
	const pub = async (dataId, content, q, headers) =>
		(await put(srv, 'public', G, dataId, content, { query: q, headers })).json;

	note(await pub('app.yaml', 'port: 1\n', { format: 'yaml', message: 'first' }), 'publish', 'app.yaml', {
		author: 'admin', message: 'first', content: 'port: 1\n', format: 'yaml',
	});
	note(await pub('app.yaml', 'port: 2\n', {}, bot), 'publish', 'app.yaml', {
		author: 'ci-bot', message: '', content: 'port: 2\n', format: 'yaml',
	});
	note(await pub('feature.json', '{"on":true}', { format: 'json', message: 'two\nlines' }), 'publish',
		'feature.json', { author: 'admin', message: 'two\nlines', content: '{"on":true}', format: 'json' });
	const rule = {
		priority: 5, content: 'port: 9\n', message: 'canary',
		match: { ips: ['10.0.0.7', '10.1.0.0/16'], labels: 'env=canary', percent: 12.5 },
	};
	note(await ok(srv, 'PUT', cfgPath('public', G, 'app.yaml', '/gray/canary'), rule), 'gray-publish', 'app.yaml',
		{ rule: 'canary', ruleContent: 'port: 9\n', priority: 5 });
	note(await ok(srv, 'PUT', cfgPath('public', G, 'app.yaml', '/gray/canary'), { ...rule, priority: 8 }),
		'gray-publish', 'app.yaml', { rule: 'canary', ruleContent: 'port: 9\n', priority: 8 });
	note(await ok(srv, 'POST', cfgPath('public', G, 'app.yaml', '/rollback'), { version: 1, message: 'back' }),
		'rollback', 'app.yaml', { author: 'admin', message: 'back', content: 'port: 1\n' });
	note(await ok(srv, 'POST', cfgPath('public', G, 'app.yaml', '/gray/canary/promote'), {}), 'gray-promote',
		'app.yaml', { content: 'port: 9\n', ruleGone: 'canary' });
	const plan = { content: 'port: 10\n', rollout: { steps: [10, 50, 100], interval: '1h' }, message: 'slow' };
	note(await ok(srv, 'PUT', cfgPath('public', G, 'app.yaml', '/gray/slow'), plan), 'gray-publish', 'app.yaml',
		{ rule: 'slow', ruleContent: 'port: 10\n' });
	note(await ok(srv, 'POST', cfgPath('public', G, 'app.yaml', '/gray/slow/advance'), {}), 'gray-step', 'app.yaml',
		{ rule: 'slow' });
	note(await ok(srv, 'POST', cfgPath('public', G, 'app.yaml', '/gray/slow/pause'), {}), 'gray-pause', 'app.yaml',
		{ rule: 'slow' });
	note(await ok(srv, 'POST', cfgPath('public', G, 'app.yaml', '/gray/slow/resume'), {}), 'gray-resume', 'app.yaml',
		{ rule: 'slow' });
	note(await ok(srv, 'PUT', cfgPath('public', G, 'feature.json', '/gray/beta'), {
		content: '{"on":false}', match: { labels: 'beta' },
	}), 'gray-publish', 'feature.json', { rule: 'beta' });
	note(await ok(srv, 'DELETE', cfgPath('public', G, 'feature.json', '/gray/beta')), 'gray-abort', 'feature.json',
		{ ruleGone: 'beta' });
	note(await ok(srv, 'DELETE', cfgPath('public', G, 'feature.json'), undefined, bot), 'delete', 'feature.json',
		{ author: 'ci-bot', deleted: true });
	assert.deepEqual(want.map((w) => w.rev), want.map((_, i) => i + 1), 'one revision per change');

	const h = await mirrored(srv);
	assert.equal(h.mirror.revision, want.length);
	assert.equal(h.mirror.lastError, null);
	const log = commits(mirror);
	assert.equal(log.length, want.length, 'one commit per change');
	const hist = {
		'app.yaml': await history(srv, 'app.yaml'),
		'feature.json': await history(srv, 'feature.json'),
	};
	for (let i = 0; i < want.length; i++) {
		const w = want[i], c = log[i], tr = c.trailers, what = `commit ${i + 1} (${w.op})`;
		const entry = hist[w.dataId].find((e) => e.revision === w.rev);
		assert.equal(tr['Hotconf-Op'], w.op, what);
		assert.equal(tr['Hotconf-Revision'], String(w.rev), what);
		assert.equal(tr['Hotconf-Config'], `public/${G}/${w.dataId}`, what);
		assert.equal(tr['Hotconf-Version'], String(entry.version), what);
		assert.equal(tr['Hotconf-Format'], entry.format, what);
		assert.equal(c.author, entry.author || 'hotconf', what);
		if (w.author) assert.equal(c.author, w.author, what);
		if (w.message) assert.equal(c.message, w.message, what);
		if (w.message === '') assert.equal(tr['Hotconf-Empty'], 'message', what);
		assert.equal(c.time, Math.floor(Date.parse(entry.createdAt + 'Z') / 1000), `${what}: author time`);
		const file = `public/${G}/${w.dataId}`;
		if (w.content !== undefined) assert.equal(show(mirror, c.id, file), w.content, `${what}: ${file}`);
		if (w.deleted) assert.equal(show(mirror, c.id, file), null, `${what}: ${file} is gone`);
		if (w.rule) {
			assert.equal(tr['Hotconf-Gray-Rule'], w.rule, what);
			const base = `.gray/public/${G}/${w.dataId}/${w.rule}`;
			const rj = JSON.parse(show(mirror, c.id, `${base}/rule.json`));
			assert.equal(rj.name, w.rule);
			if (w.ruleContent) assert.equal(show(mirror, c.id, `${base}/content`), w.ruleContent, what);
			if (w.priority !== undefined) assert.equal(rj.priority, w.priority, what);
			if (w.rule === 'canary') assert.deepEqual(rj.match, rule.match, what);
			if (w.rule === 'slow') assert.deepEqual(rj.plan.steps, [1000, 5000, 10000], what);
		}
		if (w.ruleGone)
			assert.equal(show(mirror, c.id, `.gray/public/${G}/${w.dataId}/${w.ruleGone}/rule.json`), null, what);
	}
	const slow = JSON.parse(show(mirror, 'main', `.gray/public/${G}/app.yaml/slow/rule.json`));
	assert.deepEqual([slow.rollout.state, slow.rollout.step], ['running', 2], 'the rollout as it stands');
	assert.deepEqual(git(mirror, 'ls-tree', '-r', '--name-only', 'main').trim().split('\n').sort(),
		[`.gray/public/${G}/app.yaml/slow/content`, `.gray/public/${G}/app.yaml/slow/rule.json`,
			`public/${G}/app.yaml`]);

	// restore --from-git: a new data dir with the same configs, versions,
	// history and rules.
	const before = {
		app: await get(srv, 'public', G, 'app.yaml'),
		rules: (await request(srv, 'GET', cfgPath('public', G, 'app.yaml', '/gray'))).json.rules,
	};
	await srv.stop();
	const data = path.join(dir, 'restored');
	const r = spawnSync(hotconfBin(), ['restore', '--from-git', mirror, '--data', data], { encoding: 'utf8' });
	assert.equal(r.status, 0, `restore: ${r.stderr}`);
	assert.match(r.stderr, new RegExp(`replayed ${want.length} commits`));
	const again = spawnSync(hotconfBin(), ['restore', '--from-git', mirror, '--data', data], { encoding: 'utf8' });
	assert.equal(again.status, 4, 'a store that holds changes is refused');
	assert.match(again.stderr, /already holds 14 changes: restore needs a new data directory/);

	const back = await startServer({ dataDir: data });
	t.after(() => back.close());
	const app = await get(back, 'public', G, 'app.yaml');
	assertStatus(app, 200);
	assert.equal(app.text, before.app.text);
	for (const hd of ['etag', 'x-hotconf-version', 'x-hotconf-revision', 'x-hotconf-format'])
		assert.equal(app.headers.get(hd), before.app.headers.get(hd), hd);
	assertStatus(await get(back, 'public', G, 'feature.json'), 404);
	assert.deepEqual(await history(back, 'app.yaml'), hist['app.yaml']);
	assert.deepEqual(await history(back, 'feature.json'), hist['feature.json']);
	const rules = (await request(back, 'GET', cfgPath('public', G, 'app.yaml', '/gray'))).json.rules;
	const keep = (x) => ({ name: x.name, priority: x.priority, md5: x.md5, match: x.match, revision: x.revision,
		state: x.rollout.state, step: x.rollout.step, steps: x.rollout.steps });
	assert.deepEqual(rules.map(keep), before.rules.map(keep));
	const health2 = await request(back, 'GET', '/healthz', { anonymous: true });
	assert.equal(health2.json.revision, want.length);
	assert.equal(health2.json.mirror, undefined, 'no mirror without --git-mirror');
});

test('a mirror that cannot write catches up later; publishes never fail and pruning waits', async (t) => {
	const dir = tmpDir(t);
	const mirror = path.join(dir, 'mirror.git');
	const srv = await withServer(t, {
		args: ['--git-mirror', mirror, '--retention-days', '0', '--retention-versions', '1',
			'--prune-interval', '100ms'],
	});
	for (let v = 1; v <= 3; v++) await put(srv, 'public', G, 'app', `v${v}`);
	await mirrored(srv);

	// Unwritable: a lock on the branch (git's own, which stops root too) and,
	// for anyone else, no write permission anywhere in the repository.
	const lock = path.join(mirror, 'refs', 'heads', 'main.lock');
	fs.writeFileSync(lock, '');
	if (process.getuid && process.getuid() !== 0) freeze(mirror);
	const runs = await metric(srv, 'hotconf_prune_runs_total');
	for (let v = 4; v <= 12; v++) {
		const r = await put(srv, 'public', G, 'app', `v${v}`);
		assertStatus(r, 200, 'a publish while the mirror is stuck');
	}
	await put(srv, 'public', G, 'other', 'x');
	const stuck = await waitFor(async () => {
		const h = await health(srv);
		return h.mirror.state === 'failing' && h.mirror.lastError && h;
	}, { what: 'the mirror to report its failure' });
	assert.equal(stuck.mirror.revision, 3);
	assert.equal(stuck.mirror.lag, 10);
	assert.match(stuck.mirror.lastError, /lock|denied|permission/i);
	// The pruner runs meanwhile but keeps what the mirror has not written.
	await waitFor(async () => (await metric(srv, 'hotconf_prune_runs_total')) >= runs + 2, { what: 'two prune runs' });
	const kept = (await request(srv, 'GET', cfgPath('public', G, 'app', '/history'))).json.items;
	assert.deepEqual(kept.map((e) => e.version), [12, 11, 10, 9, 8, 7, 6, 5, 4], 'unmirrored entries are kept');
	assert.equal(commits(mirror).length, 3);

	unfreeze(mirror);
	fs.rmSync(lock);
	const h = await mirrored(srv);
	assert.equal(h.mirror.revision, 13);
	assert.equal(h.mirror.gap, null, 'nothing was pruned before it was mirrored');
	assert.match(h.mirror.lastError, /lock|denied|permission/i, 'the last error stays for the record');
	let log = commits(mirror);
	assert.deepEqual(log.map((c) => Number(c.trailers['Hotconf-Revision'])), [...Array(13).keys()].map((i) => i + 1));
	assert.equal(show(mirror, log[11].id, `public/${G}/app`), 'v12');
	// Once written, pruning goes on.
	await waitFor(async () => (await request(srv, 'GET', cfgPath('public', G, 'app', '/history'))).json.total === 1,
		{ what: 'the mirrored entries to be pruned' });

	// A restart resumes after the last commit: no commit twice, none lost.
	await srv.restart();
	await put(srv, 'public', G, 'app', 'v13');
	await mirrored(srv);
	log = commits(mirror);
	assert.deepEqual(log.map((c) => Number(c.trailers['Hotconf-Revision'])), [...Array(14).keys()].map((i) => i + 1));
	assert.match(srv.stderr, /git mirror .*: at revision 13, the store at 13/);
});

test('a mirror turned on after history was pruned says which revisions it never saw, and mirrors the rest', async (t) => {
	const dir = tmpDir(t);
	const mirror = path.join(dir, 'mirror.git');
	const srv = await withServer(t, { args: ['--retention-days', '0', '--retention-versions', '1', '--prune-interval', '100ms'] });
	for (let v = 1; v <= 4; v++) await put(srv, 'public', G, 'app', `v${v}`);
	await put(srv, 'public', G, 'other', 'o1');
	await waitFor(async () => (await request(srv, 'GET', cfgPath('public', G, 'app', '/history'))).json.total === 1,
		{ what: 'the old versions of app to be pruned' });
	srv.args.push('--git-mirror', mirror);
	await srv.restart();
	const h = await mirrored(srv);
	assert.equal(h.mirror.gap, '1-3', 'revisions 1-3 were pruned before the mirror could write them');
	assert.match(srv.stderr, /revisions 1-3 were pruned before they were mirrored/);
	const log = commits(mirror);
	assert.deepEqual(log.map((c) => Number(c.trailers['Hotconf-Revision'])), [4, 5], 'what was left is mirrored, in order');
	assert.equal(show(mirror, 'main', `public/${G}/app`), 'v4');
	assert.equal(show(mirror, 'main', `public/${G}/other`), 'o1');
	// From here on every change is mirrored.
	await put(srv, 'public', G, 'app', 'v5');
	await mirrored(srv);
	assert.equal(commits(mirror).length, 3);
	assert.equal(show(mirror, 'main', `public/${G}/app`), 'v5');
});

test('a mirror of another store is refused at start', async (t) => {
	const dir = tmpDir(t);
	const mirror = path.join(dir, 'mirror.git');
	const a = await withServer(t, { args: ['--git-mirror', mirror] });
	await put(a, 'public', G, 'x', '1');
	await put(a, 'public', G, 'x', '2');
	await mirrored(a);
	await a.stop();
	await assert.rejects(startServer({ args: ['--git-mirror', mirror] }),
		/is at revision 2 but the store only at 0: it mirrors another store/);
	fs.writeFileSync(path.join(dir, 'plain'), 'not a repository');
	await assert.rejects(startServer({ args: ['--git-mirror', path.join(dir, 'plain')] }),
		/is not a git repository hotconf can use/);
});
