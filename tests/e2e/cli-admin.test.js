'use strict';
// The command line's release and access commands against the real server and
// the real binary: gray ls|set|rm|promote, listeners, tokens ls|create|rm,
// export and import. Each asserts what a user reads (the human line or
// table), what a script reads (--json) and the exit code (3 not found,
// 4 conflict, 2 usage). The servers run with accounts on, as shipped; the
// CLI gets the admin's token through HOTCONF_TOKEN. No sleeps: every wait is
// a process exit or a condition with a deadline.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { withServer, request, put, get, cfgPath, md5, hotconfBin, tail } = require('./lib');

const G = 'DEFAULT_GROUP';
const K = `public/${G}/app.yaml`;
const EXIT_TIMEOUT_MS = 20000;

async function tmpDir(t) {
	const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'hotconf-cli-admin-'));
	t.after(() => fsp.rm(d, { recursive: true, force: true }));
	return d;
}

/* Runs bin ARGS to its end (killed after EXIT_TIMEOUT_MS): {code, signal, stdout, stderr}. */
function runProc(bin, args, { env, input }) {
	return new Promise((resolve, reject) => {
		const p = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
		const out = [];
		let stderr = '';
		const timer = setTimeout(() => p.kill('SIGKILL'), EXIT_TIMEOUT_MS);
		p.stdout.on('data', (c) => out.push(c));
		p.stderr.on('data', (c) => (stderr += c.toString('utf8')));
		p.stdin.on('error', () => {});
		p.on('error', reject);
		p.on('close', (code, signal) => {
			clearTimeout(timer);
			if (signal === 'SIGKILL') reject(new Error(`${args.join(' ')} did not exit in time; stderr: ${tail(stderr)}`));
			const buf = Buffer.concat(out);
			resolve({ code, signal, stdout: buf.toString('utf8'), buf, stderr });
		});
		p.stdin.end(input || '');
	});
}

/* `hotconf ARGS` with HOME in a temp dir and the server's address and token. */
function cliFor(srv, home, token = srv.token) {
	return (args, { input, env = {} } = {}) =>
		runProc(hotconfBin(), args, {
			input,
			env: {
				...process.env,
				HOME: home,
				XDG_CONFIG_HOME: '',
				NO_COLOR: '',
				HOTCONF_ADDR: srv.url,
				HOTCONF_TOKEN: token || '',
				...env,
			},
		});
}

function exits(r, code, what) {
	assert.equal(r.code, code, `${what}: want exit ${code}, got ${r.code}; stdout: ${tail(r.stdout, 600)}; stderr: ${r.stderr}`);
	assert.ok(code === 0 || r.stderr.length > 0, `${what}: says why on stderr`);
	assert.doesNotMatch(r.stderr, /Sanitizer/, `${what}: no leak or undefined behaviour`);
	return r;
}

function ok(r, what) {
	return exits(r, 0, what);
}

/* The rows of a table as arrays of cells (cells are separated by 2+ blanks;
 * empty cells at the end of a row are left out). */
function table(text) {
	return text
		.trimEnd()
		.split('\n')
		.map((l) => l.trimEnd().split(/ {2,}/));
}

test('cli gray: set, ls, rm, promote; what instances get; --json; exit codes', async (t) => {
	const srv = await withServer(t);
	const home = await tmpDir(t);
	const run = cliFor(srv, home);
	await put(srv, 'public', G, 'app.yaml', 'port: 8080\n', { query: { format: 'yaml' } });

	// A rule for canary-labelled instances at this address.
	let r = ok(
		await run(['gray', 'set', K, 'canary', '--ips', '127.0.0.1, 10.1.0.0/16', '--labels', 'env=canary', '--priority', '5', '-m', 'try 9090'], {
			input: 'port: 9090\n',
		}),
		'gray set from stdin'
	);
	assert.equal(r.stdout, `created gray rule canary of ${K}: md5 ${md5('port: 9090\n')}\n`);
	let g = await request(srv, 'GET', cfgPath('public', G, 'app.yaml', '/gray/canary'));
	assert.equal(g.status, 200, g.text);
	assert.deepEqual(g.json.match, { ips: ['127.0.0.1', '10.1.0.0/16'], labels: 'env=canary' });
	assert.equal(g.json.priority, 5);
	assert.equal(g.json.content, 'port: 9090\n');
	assert.equal(g.json.message, 'try 9090');
	// What a service sees: the canary gets the rule's content, the others main.
	r = await get(srv, 'public', G, 'app.yaml', { headers: { 'X-Hotconf-Labels': 'env=canary' } });
	assert.equal(r.text, 'port: 9090\n');
	assert.equal(r.headers.get('x-hotconf-gray'), 'canary');
	r = await get(srv, 'public', G, 'app.yaml', { headers: { 'X-Hotconf-Labels': 'env=prod' } });
	assert.equal(r.text, 'port: 8080\n');

	r = ok(await run(['gray', 'set', K, 'canary', '--ips', '127.0.0.1,10.1.0.0/16', '--labels', 'env=canary', '--priority', '5', '--json'], { input: 'port: 9090\n' }), 'set again');
	const j = JSON.parse(r.stdout);
	assert.equal(typeof j.revision, 'number');
	delete j.revision;
	assert.deepEqual(j, {
		namespace: 'public',
		group: G,
		dataId: 'app.yaml',
		rule: 'canary',
		md5: md5('port: 9090\n'),
		created: false,
		changed: false,
	});

	// A second rule from a file, by percent, and a third with a rollout plan.
	const file = path.join(home, 'half.yaml');
	fs.writeFileSync(file, 'port: 7070\n');
	r = ok(await run(['gray', 'set', K, 'half', file, '--percent', '12.5', '-f', 'yaml']), 'gray set FILE --percent');
	assert.match(r.stdout, /^created gray rule half of /);
	r = ok(await run(['gray', 'set', K, 'ramp', '--steps', '5,50,100', '--interval', '1h', '--max-rejected', '2%', '--min-reports', '3'], { input: 'port: 6060\n' }), 'gray set --steps');
	g = await request(srv, 'GET', cfgPath('public', G, 'app.yaml', '/gray/ramp'));
	assert.equal(g.json.rollout.state, 'running');
	assert.deepEqual(g.json.rollout.steps, [5, 50, 100]);
	assert.equal(g.json.rollout.minReports, 3);

	r = ok(await run(['gray', 'ls', K]), 'gray ls');
	const rows = table(r.stdout);
	assert.deepEqual(rows[0], ['RULE', 'PRIORITY', 'MATCH', 'FORMAT', 'MD5', 'ROLLOUT', 'AUTHOR', 'UPDATED']);
	assert.deepEqual(rows.map((row) => row[0]), ['RULE', 'canary', 'half', 'ramp'], 'in creation order');
	assert.deepEqual(rows[1].slice(0, 5), ['canary', '5', 'ips=127.0.0.1,10.1.0.0/16 labels=env=canary', 'yaml', md5('port: 9090\n').slice(0, 8)]);
	assert.deepEqual(rows[1].slice(5, 7), ['-', 'admin']);
	assert.match(rows[1][7], /^\d{4}-\d\d-\d\dT.*Z$/);
	assert.equal(rows[2][2], 'percent=12.5');
	assert.equal(rows[3][5], 'running 1/3 5%');
	r = ok(await run(['gray', 'ls', K, '--json']), 'gray ls --json');
	const ls = JSON.parse(r.stdout);
	assert.deepEqual([ls.namespace, ls.group, ls.dataId], ['public', G, 'app.yaml']);
	assert.deepEqual(ls.rules.map((x) => [x.name, x.match]), [
		['canary', { ips: ['127.0.0.1', '10.1.0.0/16'], labels: 'env=canary' }],
		['half', { percent: 12.5 }],
		['ramp', { percent: 5 }],
	]);
	assert.ok(ls.rules.every((x) => !('content' in x)), 'the list carries no content');
	r = ok(await run(['gray', '--json', 'ls', K]), 'a common flag before the subcommand');
	assert.deepEqual(JSON.parse(r.stdout), ls);

	// Conflicts (4), not found (3), refusals by the server (1), usage (2).
	exits(await run(['gray', 'set', K, 'canary', '--ips', '127.0.0.1', '--if-match', md5('stale')], { input: 'x: 1\n' }), 4, 'a failed --if-match');
	exits(await run(['gray', 'rm', K, 'half', '--if-match', md5('stale')]), 4, 'rm with a failed --if-match');
	exits(await run(['rm', K]), 4, 'a config that holds rules cannot be deleted');
	exits(await run(['gray', 'ls', `public/${G}/absent`]), 3, 'gray ls of an absent config');
	exits(await run(['gray', 'set', `public/${G}/absent`, 'r', '--percent', '1'], { input: 'x' }), 3, 'gray set on an absent config');
	exits(await run(['gray', 'rm', K, 'nope']), 3, 'gray rm of an absent rule');
	exits(await run(['gray', 'promote', K, 'nope']), 3, 'gray promote of an absent rule');
	r = exits(await run(['gray', 'set', K, 'bad', '--percent', '1', '-f', 'yaml'], { input: 'a: [1\n' }), 1, 'invalid yaml');
	assert.match(r.stderr, /invalid yaml at line/);
	r = exits(await run(['gray', 'set', K, 'bad', '--percent', '101']), 1, 'percent over 100');
	assert.match(r.stderr, /match\.percent/);
	for (const args of [
		['gray'],
		['gray', 'frob'],
		['gray', 'ls'],
		['gray', 'set', K],
		['gray', 'set', K, 'r'],
		['gray', 'set', K, '..', '--percent', '1'],
		['gray', 'set', K, 'r', '--percent', 'half'],
		['gray', 'set', K, 'r', '--percent', '5', '--steps', '5,100'],
		['gray', 'set', K, 'r', '--interval', '1h', '--ips', '1.2.3.4'],
		['gray', 'rm', K],
		['gray', 'promote', 'a/b', 'r'],
		['gray', 'ls', K, '--frob'],
	]) {
		exits(await run(args, { input: 'x: 1\n' }), 2, `hotconf ${args.join(' ')}`);
	}
	assert.equal((await request(srv, 'GET', cfgPath('public', G, 'app.yaml', '/gray'))).json.rules.length, 3, 'no refused set wrote a rule');

	// Abort: the rule's instances get main again (the header names main's version).
	const main = Number((await get(srv, 'public', G, 'app.yaml')).headers.get('x-hotconf-version'));
	r = ok(await run(['gray', 'rm', K, 'half', '--json']), 'gray rm --json');
	assert.deepEqual(JSON.parse(r.stdout), {
		namespace: 'public',
		group: G,
		dataId: 'app.yaml',
		rule: 'half',
		removed: true,
		version: main,
		md5: md5('port: 8080\n'),
	});
	r = ok(await run(['gray', 'rm', K, 'ramp', '-m', 'stop']), 'gray rm');
	assert.equal(r.stdout, `removed gray rule ramp of ${K}: its instances get version ${main} (md5 ${md5('port: 8080\n')}) again\n`);
	// Promote: the rule's content becomes main, for everyone. (Each rule change
	// takes a history version, so main versions skip numbers.)
	r = ok(await run(['gray', 'promote', K, 'canary', '-m', 'ship it']), 'gray promote');
	const after = await get(srv, 'public', G, 'app.yaml', { headers: { 'X-Hotconf-Labels': 'env=prod' } });
	assert.equal(after.text, 'port: 9090\n', 'everyone gets the promoted content');
	assert.equal(after.headers.get('x-hotconf-gray'), null);
	const v = Number(after.headers.get('x-hotconf-version'));
	assert.ok(v > main);
	assert.equal(r.stdout, `promoted gray rule canary of ${K}: now version ${v}, md5 ${md5('port: 9090\n')}\n`);
	const h = await request(srv, 'GET', cfgPath('public', G, 'app.yaml', '/history'));
	assert.equal(h.json.items[0].op, 'gray-promote');
	assert.equal(h.json.items[0].message, 'ship it');
	r = ok(await run(['gray', 'ls', K]), 'gray ls of no rules');
	assert.equal(r.stdout.trimEnd().split('\n').length, 1, 'only the header');

	for (const sub of ['ls', 'set', 'rm', 'promote']) {
		r = ok(await run(['gray', sub, '--help']), `gray ${sub} --help`);
		assert.match(r.stdout, new RegExp(`^usage: hotconf gray ${sub} NS/GROUP/DATAID`));
	}
	r = ok(await run(['gray', '--help']), 'gray --help');
	assert.match(r.stdout, /Subcommands:\n {2}ls .*\n {2}set .*\n {2}rm .*\n {2}promote /);
	r = ok(await run(['help', 'gray']), 'help gray');
	assert.match(r.stdout, /^usage: hotconf gray /);
});

test('cli listeners: who holds a config, on which version or rule, and what they applied', async (t) => {
	const srv = await withServer(t);
	const home = await tmpDir(t);
	const run = cliFor(srv, home);
	await put(srv, 'public', G, 'app.yaml', 'port: 1\n', { expect: 201 });
	const as = (instance, labels) => ({ headers: { 'X-Hotconf-Instance': instance, 'X-Hotconf-Labels': labels } });
	assert.equal((await get(srv, 'public', G, 'app.yaml', as('pod-1', 'env=prod'))).status, 200);
	assert.equal((await get(srv, 'public', G, 'app.yaml', as('pod-2', 'env=canary'))).status, 200);
	let rep = await request(srv, 'POST', '/api/v1/reports', {
		body: { instance: 'pod-1', reports: [{ namespace: 'public', group: G, dataId: 'app.yaml', md5: md5('port: 1\n'), status: 'applied' }] },
	});
	assert.equal(rep.status, 200, rep.text);

	let r = ok(await run(['listeners', K]), 'listeners');
	let lines = r.stdout.split('\n');
	assert.equal(lines[0], `${K}: version 1, md5 ${md5('port: 1\n')}`);
	assert.equal(lines[1], '2 instances, 2 on latest, 0 watching, 1 applied, 0 rejected');
	let rows = table(lines.slice(3).join('\n'));
	assert.deepEqual(rows[0], ['INSTANCE', 'IP', 'HOLDS', 'LATEST', 'WATCHING', 'REPORT', 'LAST-SEEN', 'MESSAGE']);
	const byName = Object.fromEntries(rows.slice(1).map((row) => [row[0], row]));
	assert.deepEqual(Object.keys(byName).sort(), ['pod-1', 'pod-2']);
	assert.deepEqual(byName['pod-1'].slice(1, 6), ['127.0.0.1', 'version 1', 'yes', 'no', 'applied']);
	assert.deepEqual(byName['pod-2'].slice(1, 6), ['127.0.0.1', 'version 1', 'yes', 'no', '-']);

	// A rule for the canary, and a new main version only pod-1 has read.
	await request(srv, 'PUT', cfgPath('public', G, 'app.yaml', '/gray/canary'), { body: { content: 'port: 9\n', match: { labels: 'env=canary' } } });
	await put(srv, 'public', G, 'app.yaml', 'port: 2\n');
	assert.equal((await get(srv, 'public', G, 'app.yaml', as('pod-1', 'env=prod'))).text, 'port: 2\n');
	assert.equal((await get(srv, 'public', G, 'app.yaml', as('pod-2', 'env=canary'))).text, 'port: 9\n');
	const v3 = (await put(srv, 'public', G, 'app.yaml', 'port: 3\n')).json.version;
	r = ok(await run(['listeners', K, '--json']), 'listeners --json');
	const j = JSON.parse(r.stdout);
	assert.deepEqual([j.namespace, j.group, j.dataId, j.version, j.md5], ['public', G, 'app.yaml', v3, md5('port: 3\n')]);
	assert.deepEqual([j.summary.total, j.summary.onLatest, j.summary.byRule], [2, 1, { canary: 1 }]);
	assert.equal(j.total, 2);
	assert.ok(!('page' in j) && !('size' in j), 'every page is in the answer');
	const inst = Object.fromEntries(j.instances.map((i) => [i.instance, i]));
	assert.deepEqual([inst['pod-1'].version, inst['pod-1'].gray, inst['pod-1'].latest], [v3 - 1, null, false]);
	assert.deepEqual([inst['pod-2'].gray, inst['pod-2'].latest, inst['pod-2'].labels], ['canary', true, 'env=canary']);
	r = ok(await run(['listeners', K, '--latest', 'false', '--json']), 'listeners --latest false');
	assert.deepEqual(JSON.parse(r.stdout).instances.map((i) => i.instance), ['pod-1']);
	r = ok(await run(['listeners', K, '--gray', 'canary']), 'listeners --gray');
	rows = table(r.stdout.split('\n').slice(3).join('\n'));
	assert.deepEqual(rows.slice(1).map((row) => [row[0], row[2], row[3]]), [['pod-2', 'rule canary', 'yes']]);

	exits(await run(['listeners', `public/${G}/nobody`]), 3, 'an absent config nobody listens to');
	for (const args of [['listeners'], ['listeners', K, 'x'], ['listeners', K, '--latest', 'maybe'], ['listeners', K, '--gray', '..'], ['listeners', 'a/b']])
		exits(await run(args), 2, `hotconf ${args.join(' ')}`);
	r = ok(await run(['listeners', '--help']), 'listeners --help');
	assert.match(r.stdout, /^usage: hotconf listeners NS\/GROUP\/DATAID/);
});

test('cli tokens: create prints the secret once, ls never shows it, rm revokes at once', async (t) => {
	const srv = await withServer(t);
	const home = await tmpDir(t);
	const run = cliFor(srv, home);
	await put(srv, 'public', G, 'k', 'v1', { expect: 201 });

	let r = ok(await run(['tokens', 'create', 'svc', '--namespaces', 'public']), 'tokens create');
	const m = /^created token svc \(id (\S+)\): reader of public, expires (\S+)\ntoken: (\S+)\napollo secret: [0-9a-f]{64}\n$/.exec(r.stdout);
	assert.ok(m, r.stdout);
	const [, id, expires, secret] = m;
	assert.match(r.stderr, /shown only now/);
	assert.ok(Date.parse(expires) > Date.now() + 80 * 86400e3, 'the default lifetime is 90 days');
	// The secret works, for reading only.
	const svc = cliFor(srv, home, secret);
	assert.equal(ok(await svc(['get', `public/${G}/k`]), 'get with the new token').stdout, 'v1');
	r = exits(await svc(['put', `public/${G}/k`], { input: 'v2' }), 1, 'a reader token cannot publish');
	assert.match(r.stderr, /not allowed/);
	exits(await svc(['tokens', 'create', 'x', '--namespaces', 'public']), 1, 'a token cannot make tokens');

	r = ok(await run(['tokens', 'create', 'ed', '-n', 'public', '--role', 'editor', '--expires-in', '2h', '--json']), 'tokens create --json');
	const ed = JSON.parse(r.stdout);
	assert.deepEqual([ed.name, ed.role, ed.namespaces, ed.createdBy, ed.revoked], ['ed', 'editor', ['public'], 'admin', false]);
	assert.ok(ed.token && /^[0-9a-f]{64}$/.test(ed.apolloSecret));
	assert.ok(Math.abs(Date.parse(ed.expiresAt) - Date.now() - 2 * 3600e3) < 600e3);

	r = ok(await run(['tokens', 'ls']), 'tokens ls');
	assert.ok(!r.stdout.includes(secret) && !r.stdout.includes(ed.token), 'no secret in the list');
	let rows = table(r.stdout);
	assert.deepEqual(rows[0], ['ID', 'NAME', 'ROLE', 'NAMESPACES', 'CREATED-BY', 'CREATED', 'EXPIRES', 'STATE']);
	const row = rows.find((x) => x[0] === id);
	assert.ok(row, r.stdout);
	assert.deepEqual([row[1], row[2], row[3], row[4], row[6], row[7]], ['svc', 'reader', 'public', 'admin', expires, 'active']);
	r = ok(await run(['tokens', 'ls', '--json']), 'tokens ls --json');
	let list = JSON.parse(r.stdout).tokens;
	assert.deepEqual(list.map((x) => x.name).sort(), ['ed', 'svc']);
	assert.ok(list.every((x) => !('token' in x)));

	r = ok(await run(['tokens', 'rm', id]), 'tokens rm');
	assert.equal(r.stdout, `revoked token ${id}\n`);
	r = exits(await svc(['get', `public/${G}/k`]), 1, 'a revoked token is refused');
	assert.match(r.stderr, /not allowed/);
	r = ok(await run(['tokens', 'rm', ed.id, '--json']), 'tokens rm --json');
	assert.deepEqual(JSON.parse(r.stdout), { id: ed.id, revoked: true });
	list = JSON.parse(ok(await run(['tokens', 'ls', '--json']), 'ls').stdout).tokens;
	assert.deepEqual(list.map((x) => x.revoked), [true, true]);
	assert.deepEqual(table(ok(await run(['tokens', 'ls']), 'ls').stdout).slice(1).map((x) => x[7]), ['revoked', 'revoked']);

	exits(await run(['tokens', 'rm', 'no-such-token']), 3, 'tokens rm of an unknown id');
	exits(await run(['tokens', 'create', 'x', '--namespaces', 'public', '--role', 'owner']), 1, 'role owner is refused by the server');
	for (const args of [['tokens'], ['tokens', 'frob'], ['tokens', 'ls', 'x'], ['tokens', 'create', 'x'], ['tokens', 'create', '--namespaces', 'public'], ['tokens', 'create', '..', '-n', 'public'], ['tokens', 'rm']])
		exits(await run(args), 2, `hotconf ${args.join(' ')}`);
	for (const sub of ['ls', 'create', 'rm']) {
		r = ok(await run(['tokens', sub, '--help']), `tokens ${sub} --help`);
		assert.match(r.stdout, new RegExp(`^usage: hotconf tokens ${sub}`));
	}
});

test('cli: conflicts from the server state: tokens without accounts, listeners not kept', async (t) => {
	const srv = await withServer(t, { args: ['--auth=off', '--max-listeners', '0'] });
	const home = await tmpDir(t);
	const run = cliFor(srv, home, '');
	await put(srv, 'public', G, 'app.yaml', 'x', { expect: 201 });
	let r = exits(await run(['tokens', 'ls']), 4, 'tokens with --auth=off');
	assert.match(r.stderr, /auth/);
	r = exits(await run(['listeners', K]), 4, 'listeners with --max-listeners 0');
	assert.match(r.stderr, /keeps no listeners/);
	exits(await run(['listeners', K], { env: { HOTCONF_ADDR: 'http://127.0.0.1:1' } }), 5, 'no server answered');
	exits(await run(['gray', 'ls', K], { env: { HOTCONF_ADDR: 'http://127.0.0.1:1' } }), 5, 'no server answered');
});

/* Runs `hotconf ARGS` with its stdout on a terminal (util-linux script). */
function onTerminal(srv, home, args) {
	const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
	return runProc('script', ['-qec', [hotconfBin(), ...args].map(q).join(' '), '/dev/null'], {
		env: { ...process.env, HOME: home, HOTCONF_ADDR: srv.url, HOTCONF_TOKEN: srv.token },
	});
}

test('cli export and import: usage, no zip on a terminal', async (t) => {
	const srv = await withServer(t);
	const home = await tmpDir(t);
	const run = cliFor(srv, home);
	const r = await onTerminal(srv, home, ['export', 'public']);
	assert.equal(r.code, 2, `export to a terminal exits 2: ${r.stdout}`);
	assert.match(r.stdout, /not for a terminal: give -o FILE/);
	assert.ok(!r.stdout.includes('PK'), 'nothing of a zip reached the terminal');
	const zip = path.join(home, 'x.zip');
	fs.writeFileSync(zip, 'PK');
	for (const args of [
		['export'],
		['export', 'a', 'b'],
		['export', '..', '-o', zip],
		['export', 'public', '--group', '..', '-o', zip],
		['export', 'public', '--json'],
		['import', 'public'],
		['import', 'public', zip, '--policy', 'frob'],
		['import', 'public', zip, '--color', 'sometimes'],
		['import', '..', zip],
	])
		exits(await run(args), 2, `hotconf ${args.join(' ')}`);
	exits(await run(['import', 'public', path.join(home, 'absent.zip')]), 1, 'import of a file that is not there');
	for (const c of ['export', 'import']) assert.match(ok(await run([c, '--help']), `${c} --help`).stdout, new RegExp(`^usage: hotconf ${c} NS`));
});

test('cli export -> import into a fresh server: the namespace comes back; policies and dry run', async (t) => {
	const a = await withServer(t);
	const home = await tmpDir(t);
	const runA = cliFor(a, home);
	const zip = path.join(home, 'public.zip');
	await put(a, 'public', G, 'app.yaml', 'port: 1\n', { query: { format: 'yaml' } });
	await put(a, 'public', G, 'app.yaml', 'port: 2\n');
	await put(a, 'public', 'web', 'b.json', '{"x":1}', { query: { format: 'json', description: 'bee' } });
	await put(a, 'public', 'web', 'c.txt', 'plain');

	let r = ok(await runA(['export', 'public', '-o', zip]), 'export -o');
	assert.match(r.stdout, new RegExp(`^exported namespace public to ${zip.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d+ bytes\\)\n$`));
	const bytes = fs.readFileSync(zip);
	assert.equal(bytes.subarray(0, 2).toString('latin1'), 'PK', 'a zip');
	r = ok(await runA(['export', 'public', '-o', zip, '--json']), 'export --json');
	assert.deepEqual(JSON.parse(r.stdout), { namespace: 'public', file: zip, bytes: bytes.length, md5: md5(fs.readFileSync(zip)) });
	r = ok(await runA(['export', 'public', '--group', 'web']), 'export --group to a pipe');
	assert.equal(r.buf.subarray(0, 2).toString('latin1'), 'PK');

	const b = await withServer(t);
	const runB = cliFor(b, home);
	r = ok(await runB(['import', 'public', zip, '--dry-run']), 'import --dry-run');
	assert.match(r.stdout, /dry run of an import into public: 3 to create, 0 to change, 0 skipped; nothing was written/);
	assert.equal((await get(b, 'public', G, 'app.yaml')).status, 404, 'a dry run writes nothing');
	r = ok(await runB(['import', 'public', zip, '--json']), 'import');
	const j = JSON.parse(r.stdout);
	assert.equal(j.created.length, 3);
	for (const [g, d, content, format] of [
		[G, 'app.yaml', 'port: 2\n', 'yaml'],
		['web', 'b.json', '{"x":1}', 'json'],
		['web', 'c.txt', 'plain', 'text'],
	]) {
		const got = await get(b, 'public', g, d);
		assert.equal(got.status, 200, `${g}/${d} imported`);
		assert.equal(got.text, content);
		assert.equal(got.headers.get('x-hotconf-format'), format);
	}

	// The same archive again: everything unchanged, which is no conflict.
	r = ok(await runB(['import', 'public', zip]), 'policy abort, nothing differs');
	assert.match(r.stdout, /imported into public: 0 created, 0 changed, 3 skipped/);
	await put(b, 'public', G, 'app.yaml', 'port: 3\n');
	exits(await runB(['import', 'public', zip]), 4, 'policy abort with a config that differs');
	r = ok(await runB(['import', 'public', zip, '--policy', 'skip']), 'policy skip');
	assert.match(r.stdout, /imported into public: 0 created, 0 changed, 3 skipped/);
	assert.equal((await get(b, 'public', G, 'app.yaml')).text, 'port: 3\n', 'skip keeps it');
	r = ok(await runB(['import', 'public', zip, '--policy', 'overwrite', '--dry-run', '--color', 'always']), 'overwrite dry run');
	assert.ok(r.stdout.includes('\x1b[31m-port: 3\x1b[m') && r.stdout.includes('\x1b[32m+port: 2\x1b[m'), r.stdout);
	assert.equal((await get(b, 'public', G, 'app.yaml')).text, 'port: 3\n');
	r = ok(await runB(['import', 'public', zip, '--policy', 'overwrite']), 'overwrite');
	assert.match(r.stdout, /^changed +DEFAULT_GROUP +app\.yaml/m);
	assert.equal((await get(b, 'public', G, 'app.yaml')).text, 'port: 2\n');
	fs.writeFileSync(path.join(home, 'bad.zip'), 'not a zip');
	exits(await runB(['import', 'public', path.join(home, 'bad.zip')]), 1, 'a broken archive');
});
