'use strict';
// Git as the source (--git-source PATH --git-path configs/ --git-interval):
// a commit to the repository is published (each config a new version with
// the commit's author and message, and a Git-Commit trailer) and wakes held
// watches; deleted files delete; an invalid file is reported in /healthz,
// the log and the audit log and not published while the rest of the commit
// is; a namespace fed from git refuses the API's writes (409 naming the
// source) until the source stops feeding it. The test makes its repository
// with the git command line; the server fetches it with libgit2.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
	withServer,
	request,
	put,
	get,
	cfgPath,
	assertStatus,
	assertError,
	waitFor,
	waitHeld,
	track,
	md5,
	hotconfBin,
} = require('./lib.js');

const G = 'DEFAULT_GROUP';

function tmpDir(t) {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), 'hotconf-gitsrc-'));
	t.after(() => fs.rmSync(d, { recursive: true, force: true }));
	return d;
}

function git(dir, args, who = 'Alice') {
	return execFileSync('git', ['-C', dir, ...args], {
		encoding: 'utf8',
		env: {
			...process.env,
			GIT_AUTHOR_NAME: who,
			GIT_AUTHOR_EMAIL: `${who.toLowerCase()}@example.com`,
			GIT_COMMITTER_NAME: who,
			GIT_COMMITTER_EMAIL: `${who.toLowerCase()}@example.com`,
		},
	}).trim();
}

/* A work tree on main; files is {path: content} written under it. */
function makeRepo(t, files) {
	const dir = path.join(tmpDir(t), 'repo');
	fs.mkdirSync(dir);
	git(dir, ['init', '-q', '-b', 'main']);
	commit(dir, files, 'first configs');
	return dir;
}

/* Writes files ({path: content}, null deletes) and commits them all; the new commit's id. */
function commit(dir, files, message, who = 'Alice') {
	for (const [p, content] of Object.entries(files)) {
		const f = path.join(dir, p);
		if (content === null) {
			fs.rmSync(f, { force: true });
		} else {
			fs.mkdirSync(path.dirname(f), { recursive: true });
			fs.writeFileSync(f, content);
		}
	}
	git(dir, ['add', '-A']);
	git(dir, ['commit', '-q', '--allow-empty', '-m', message], who);
	return git(dir, ['rev-parse', 'HEAD']);
}

async function health(srv) {
	const r = await request(srv, 'GET', '/healthz', { anonymous: true });
	assertStatus(r, 200, 'healthz');
	return r.json;
}

/* Waits until the server has published commit id; the git source's status. */
async function synced(srv, id) {
	return waitFor(
		async () => {
			const h = await health(srv);
			return h.gitSource && h.gitSource.commit === id && h.gitSource.state === 'ok' && h.gitSource;
		},
		{ what: `the git source to publish ${id}` }
	);
}

async function history(srv, ns, group, dataId) {
	const r = await request(srv, 'GET', cfgPath(ns, group, dataId, '/history'));
	assertStatus(r, 200, 'history');
	return r.json.items;
}

function serveArgs(repo, extra = []) {
	return ['--git-source', repo, '--git-path', 'configs/', '--git-interval', '100ms', ...extra];
}

test('a commit is published as new versions with its author and message, and wakes a held watch', async (t) => {
	const repo = makeRepo(t, {
		'configs/team/DEFAULT_GROUP/app.yaml': 'port: 8080\n',
		'configs/team/db/pool.properties': 'size=10\n',
		'configs/README.md': 'not a config\n',
		'docs/elsewhere.txt': 'outside the path\n',
	});
	const first = git(repo, ['rev-parse', 'HEAD']);
	const srv = await withServer(t, { args: serveArgs(repo) });
	const st = await synced(srv, first);
	assert.deepEqual(st.namespaces, ['team']);
	assert.deepEqual(st.invalid, []);
	assert.equal(st.message, 'first configs');

	let r = await get(srv, 'team', G, 'app.yaml');
	assertStatus(r, 200);
	assert.equal(r.text, 'port: 8080\n');
	assert.equal(r.headers.get('x-hotconf-format'), 'yaml', 'the suffix gives the format');
	r = await get(srv, 'team', 'db', 'pool.properties');
	assert.equal(r.headers.get('x-hotconf-format'), 'properties');
	const ns = await request(srv, 'GET', '/api/v1/namespaces');
	const team = ns.json.namespaces.find((n) => n.id === 'team');
	assert.ok(team, 'the namespace was created');
	assert.match(team.source, /^git .*repo \(ref main, path configs\/\)$/);
	assert.equal(ns.json.namespaces.find((n) => n.id === 'public').source, null);

	const w = track(
		request(srv, 'GET', cfgPath('team', G, 'app.yaml') + '?wait=60s', {
			headers: { 'If-None-Match': `"${md5('port: 8080\n')}"` },
		})
	);
	await waitHeld(srv, 1);
	assert.equal(w.settled, false);
	const second = commit(repo, { 'configs/team/DEFAULT_GROUP/app.yaml': 'port: 9090\n' }, 'Move to 9090\n\nThe load balancer moved.', 'Bob');
	r = await w.promise;
	assertStatus(r, 200, 'the held watch is answered by the commit');
	assert.equal(r.text, 'port: 9090\n');
	assert.equal(r.headers.get('x-hotconf-version'), '2');
	await synced(srv, second);

	const h = await history(srv, 'team', G, 'app.yaml');
	assert.equal(h.length, 2);
	assert.equal(h[0].author, 'Bob');
	assert.equal(h[0].message, `Move to 9090\n\nGit-Commit: ${second}`);
	assert.equal(h[1].author, 'Alice');
	assert.equal(h[1].message, `first configs\n\nGit-Commit: ${first}`);
	const pool = await history(srv, 'team', 'db', 'pool.properties');
	assert.equal(pool.length, 1, 'an unchanged file gets no new version');
	const audit = await request(srv, 'GET', '/api/v1/audit?action=git-sync&size=50');
	assertStatus(audit, 200);
	assert.ok(
		audit.json.items.some((a) => a.actor === 'Bob' && a.namespace === 'team' && a.detail.includes(second)),
		'the sync of the commit is audited: ' + JSON.stringify(audit.json.items)
	);
});

test('several commits fetched at once each become their own version, oldest first', async (t) => {
	const repo = makeRepo(t, { 'configs/team/DEFAULT_GROUP/a.txt': 'one' });
	const srv = await withServer(t, { args: serveArgs(repo) });
	await synced(srv, git(repo, ['rev-parse', 'HEAD']));
	// Three commits on a side branch, then main moves to them in one step:
	// one fetch sees all three.
	git(repo, ['checkout', '-q', '-b', 'work']);
	const ids = [
		commit(repo, { 'configs/team/DEFAULT_GROUP/a.txt': 'two' }, 'step two', 'Bob'),
		commit(repo, { 'configs/team/DEFAULT_GROUP/a.txt': 'three' }, 'step three', 'Carol'),
		commit(repo, { 'configs/team/DEFAULT_GROUP/b.txt': 'bee' }, 'add b', 'Dave'),
	];
	git(repo, ['checkout', '-q', 'main']);
	git(repo, ['merge', '-q', '--ff-only', 'work']);
	await synced(srv, ids[2]);
	const h = await history(srv, 'team', G, 'a.txt');
	assert.deepEqual(
		h.map((e) => [e.version, e.author, e.message.split('\n')[0]]),
		[
			[3, 'Carol', 'step three'],
			[2, 'Bob', 'step two'],
			[1, 'Alice', 'first configs'],
		]
	);
	assert.ok(h[0].revision > h[1].revision);
	const b = await history(srv, 'team', G, 'b.txt');
	assert.equal(b[0].author, 'Dave');
	assert.ok(b[0].revision > h[0].revision, 'the commits land in their order');
});

test('an invalid file is reported and not published; the rest of the commit is; deleted files delete', async (t) => {
	const repo = makeRepo(t, {
		'configs/team/DEFAULT_GROUP/good.json': '{"a": 1}',
		'configs/team/DEFAULT_GROUP/keep.yaml': 'k: 1\n',
		'configs/team/DEFAULT_GROUP/gone.txt': 'bye',
	});
	const srv = await withServer(t, { args: serveArgs(repo) });
	await synced(srv, git(repo, ['rev-parse', 'HEAD']));

	fs.symlinkSync('good.json', path.join(repo, 'configs/team/DEFAULT_GROUP/link.json'));
	const id = commit(
		repo,
		{
			'configs/team/DEFAULT_GROUP/good.json': '{"a": 2}',
			'configs/team/DEFAULT_GROUP/keep.yaml': 'k: [1\n',
			'configs/team/DEFAULT_GROUP/bad.json': '{"a": ',
			'configs/team/DEFAULT_GROUP/new.properties': 'x=1\n',
			'configs/team/DEFAULT_GROUP/gone.txt': null,
			'configs/team/loose.txt': 'a file directly in a namespace',
			'configs/team/DEFAULT_GROUP/deeper/x.txt': 'too deep',
			'configs/team/bad group!/x.txt': 'a group no name can be',
		},
		'mixed commit'
	);
	const st = await synced(srv, id);
	const byPath = Object.fromEntries(st.invalid.map((i) => [i.path, i.error]));
	assert.deepEqual(Object.keys(byPath).sort(), [
		'team/DEFAULT_GROUP/bad.json',
		'team/DEFAULT_GROUP/deeper',
		'team/DEFAULT_GROUP/keep.yaml',
		'team/DEFAULT_GROUP/link.json',
		'team/bad group!',
		'team/loose.txt',
	]);
	assert.match(byPath['team/DEFAULT_GROUP/bad.json'], /not valid json: invalid json at line 1/);
	assert.match(byPath['team/DEFAULT_GROUP/keep.yaml'], /not valid yaml/);
	assert.match(byPath['team/DEFAULT_GROUP/link.json'], /symbolic link/);
	assert.match(byPath['team/bad group!'], /group 'bad group!' is invalid/);

	let r = await get(srv, 'team', G, 'good.json');
	assert.equal(r.text, '{"a": 2}', 'the valid change landed');
	r = await get(srv, 'team', G, 'new.properties');
	assertStatus(r, 200, 'the new file landed');
	r = await get(srv, 'team', G, 'bad.json');
	assertError(r, 404, 'not_found');
	r = await get(srv, 'team', G, 'keep.yaml');
	assert.equal(r.text, 'k: 1\n', 'a file made invalid keeps its last good version');
	r = await get(srv, 'team', G, 'link.json');
	assertError(r, 404, 'not_found');
	r = await get(srv, 'team', G, 'gone.txt');
	assertError(r, 404, 'not_found', 'the deleted file deleted the config');
	assert.equal((await history(srv, 'team', G, 'gone.txt'))[0].op, 'delete');

	const audit = await request(srv, 'GET', '/api/v1/audit?action=git-source-invalid&size=50');
	assertStatus(audit, 200);
	const entry = audit.json.items.find((a) => a.detail.includes(id));
	assert.ok(entry, 'the invalid files are in the audit log: ' + JSON.stringify(audit.json.items));
	assert.match(entry.detail, /team\/DEFAULT_GROUP\/bad\.json/);
	assert.match(srv.stderr, /git source: configs\/team\/DEFAULT_GROUP\/bad\.json is not published: not valid json/);

	const fixed = commit(repo, { 'configs/team/DEFAULT_GROUP/bad.json': '{"a": 3}', 'configs/team/DEFAULT_GROUP/keep.yaml': 'k: 2\n', 'configs/team/loose.txt': null, 'configs/team/DEFAULT_GROUP/deeper/x.txt': null, 'configs/team/bad group!/x.txt': null, 'configs/team/DEFAULT_GROUP/link.json': null }, 'fix');
	const st2 = await synced(srv, fixed);
	assert.deepEqual(st2.invalid, [], 'nothing is invalid any more');
	r = await get(srv, 'team', G, 'bad.json');
	assert.equal(r.text, '{"a": 3}');
	r = await get(srv, 'team', G, 'keep.yaml');
	assert.equal(r.text, 'k: 2\n');
});

test('a namespace fed from git is read-only for the API until the source stops feeding it', async (t) => {
	const repo = makeRepo(t, {
		'configs/team/DEFAULT_GROUP/app.txt': 'from git',
		'configs/other/DEFAULT_GROUP/o.txt': 'other',
	});
	const srv = await withServer(t, { args: serveArgs(repo) });
	await synced(srv, git(repo, ['rev-parse', 'HEAD']));

	const source = /namespace 'team' is fed from git \S*repo \(ref main, path configs\/\) and read-only here/;
	let r = await put(srv, 'team', G, 'app.txt', 'from the API', { expect: 409 });
	assertError(r, 409, 'conflict');
	assert.match(r.json.error.message, source);
	r = await put(srv, 'team', G, 'fresh.txt', 'new one', { expect: 409 });
	assertError(r, 409, 'conflict', 'creating a config is a write too');
	r = await request(srv, 'DELETE', cfgPath('team', G, 'app.txt'));
	assertError(r, 409, 'conflict');
	r = await request(srv, 'POST', cfgPath('team', G, 'app.txt', '/rollback'), { body: { version: 1 } });
	assertError(r, 409, 'conflict');
	r = await request(srv, 'PUT', cfgPath('team', G, 'app.txt', '/gray/canary'), {
		body: { content: 'gray', match: { labels: 'env=canary' } },
	});
	assertError(r, 409, 'conflict');
	r = await get(srv, 'team', G, 'app.txt');
	assert.equal(r.text, 'from git', 'nothing was written');
	await put(srv, 'public', G, 'mine.txt', 'the API still writes elsewhere', { expect: 201 });

	// The namespace leaves the tree: its configs are deleted, and it is writable again.
	const id = commit(repo, { 'configs/other/DEFAULT_GROUP/o.txt': null }, 'other moves out');
	const st = await synced(srv, id);
	assert.deepEqual(st.namespaces, ['team']);
	r = await get(srv, 'other', G, 'o.txt');
	assertError(r, 404, 'not_found');
	const ns = await request(srv, 'GET', '/api/v1/namespaces');
	assert.equal(ns.json.namespaces.find((n) => n.id === 'other').source, null);
	await put(srv, 'other', G, 'o.txt', 'now from the API', { expect: 201 });

	// Restarted without --git-source, no namespace is fed any more.
	srv.args = srv.args.filter((a, i, all) => !a.startsWith('--git-') && !all[i - 1]?.startsWith('--git-'));
	await srv.restart();
	await put(srv, 'team', G, 'app.txt', 'from the API', { expect: 200 });
});

test('a restart reconciles with the newest commit without new versions for what is the same (a file:// URL)', async (t) => {
	const repo = makeRepo(t, { 'configs/team/DEFAULT_GROUP/a.txt': 'one' });
	const srv = await withServer(t, { args: serveArgs(`file://${repo}`) });
	await synced(srv, git(repo, ['rev-parse', 'HEAD']));
	await srv.stop();
	const id = commit(repo, { 'configs/team/DEFAULT_GROUP/b.txt': 'bee' }, 'while it was down');
	await srv.restart();
	await synced(srv, id);
	const a = await history(srv, 'team', G, 'a.txt');
	assert.equal(a.length, 1, 'a.txt is unchanged: no new version');
	const b = await get(srv, 'team', G, 'b.txt');
	assert.equal(b.text, 'bee');
	const st = await synced(srv, id);
	assert.equal(st.url, `file://${repo}`);
});

test('a --git-path the commit lacks publishes nothing and says so; a bad ref is refused at start', async (t) => {
	const repo = makeRepo(t, { 'configs/team/DEFAULT_GROUP/a.txt': 'one' });
	const srv = await withServer(t, {
		args: ['--git-source', repo, '--git-path', 'nope', '--git-interval', '100ms'],
	});
	const st = await waitFor(
		async () => {
			const h = await health(srv);
			return h.gitSource.state === 'failing' && h.gitSource;
		},
		{ what: 'the git source to fail' }
	);
	assert.match(st.lastError, /--git-path nope\/ is not a folder of commit [0-9a-f]{12}: nothing was published/);
	assert.equal(st.commit, null);
	const ns = await request(srv, 'GET', '/api/v1/namespaces');
	assert.deepEqual(
		ns.json.namespaces.map((n) => n.id),
		['public']
	);

	const data = tmpDir(t);
	const r = spawnSync(
		hotconfBin(),
		['serve', '--listen', '127.0.0.1:0', '--data', data, '--git-source', repo, '--git-ref', 'a..b'],
		{ encoding: 'utf8', timeout: 20000 }
	);
	assert.notEqual(r.status, 0);
	assert.match(r.stderr, /--git-ref 'a\.\.b' is not a valid git ref/);
});
