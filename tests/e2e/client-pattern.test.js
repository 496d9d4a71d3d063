'use strict';
// Pattern watches on the client side against the real server: libhotconf's
// hotconf_watch_group through tests/client/hcdriver (a key ending in '/'),
// and `hotconf watch NS/GROUP/ --out-dir DIR`. Every wait is a condition
// with a deadline.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { withServer, startServer, waitFor, request, put, cfgPath, md5, waitHeld, hotconfBin } = require('./lib');
const { Child, driver, tmpDir, readOr, lines } = require('./clientlib');

const OPEN = { args: ['--auth=off'] };

const change = (group, dataId, content) => (e) =>
	e.event === 'change' && e.group === group && e.dataId === dataId && (content === undefined || e.content === content);

/* The listeners view's count of instances that reported this config applied. */
async function applied(srv, ns, group, id) {
	const r = await request(srv, 'GET', cfgPath(ns, group, id, '/listeners'));
	return r.status === 200 ? r.json.summary.applied : 0;
}

test('lib: a group pattern delivers what exists, then a creation, a change and a deletion; reports ride along', async (t) => {
	const srv = await withServer(t, OPEN);
	await put(srv, 'public', 'app', 'a', 'a1');
	await put(srv, 'public', 'app', 'b', 'b1');
	await put(srv, 'public', 'other', 'a', 'not in the pattern');
	const d = driver(t, ['--servers', srv.url, '--instance', 'pat-1', 'watch', 'public/app/']);
	const a = await d.event(change('app', 'a', 'a1'), 'initial a');
	const b = await d.event(change('app', 'b', 'b1'), 'initial b');
	assert.equal(a.namespace, 'public');
	assert.equal(a.version, 1);
	assert.equal(a.fromCache, false);
	assert.equal(a.more !== b.more, true, 'one answer is one burst: more is set on all but its last call');
	await waitHeld(srv, 1);
	// The apply reports of a pattern's configs reach the server as single items do.
	await waitFor(async () => (await applied(srv, 'public', 'app', 'a')) === 1, { what: 'a reported applied' });

	let n = d.events().length;
	await put(srv, 'public', 'app', 'c', 'c1');
	const c = await d.event(change('app', 'c', 'c1'), 'creation under the pattern', { from: n });
	assert.equal(c.deleted, false);
	assert.equal(c.more, false);

	n = d.events().length;
	await put(srv, 'public', 'app', 'a', 'a2');
	await d.event(change('app', 'a', 'a2'), 'change under the pattern', { from: n });

	n = d.events().length;
	assert.equal((await request(srv, 'DELETE', cfgPath('public', 'app', 'b'))).status, 200);
	const del = await d.event((e) => change('app', 'b')(e) && e.deleted, 'deletion under the pattern', { from: n });
	assert.equal(del.content, '');
	assert.equal(del.md5, '');

	// Re-created after the deletion: delivered again, as a creation.
	n = d.events().length;
	await put(srv, 'public', 'app', 'b', 'b again');
	await d.event(change('app', 'b', 'b again'), 're-creation', { from: n });
	await waitFor(async () => (await applied(srv, 'public', 'app', 'b')) === 1, { what: 'b again reported applied' });

	const seen = d.events().filter((e) => e.event === 'change').map((e) => `${e.group}/${e.dataId}:${e.deleted ? '-' : e.content}`);
	assert.deepEqual(seen, ['app/a:a1', 'app/b:b1', 'app/c:c1', 'app/a:a2', 'app/b:-', 'app/b:b again'], 'each change exactly once, nothing of other groups');
	d.send('quit');
	assert.deepEqual(await d.waitExit(), { code: 0, signal: null });
});

test('lib: a namespace pattern covers every group; a config watched singly too is delivered to both', async (t) => {
	const srv = await withServer(t, OPEN);
	assert.equal((await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'team' } })).status, 201);
	await put(srv, 'team', 'g1', 'x', 'x1');
	await put(srv, 'public', 'g1', 'x', 'elsewhere');
	const d = driver(t, ['--servers', srv.url, 'watch', 'team//', 'team/g1/x']);
	await waitFor(() => d.events().filter(change('g1', 'x', 'x1')).length === 2, { what: 'x delivered to the pattern and the single watch' });
	const n = d.events().length;
	await put(srv, 'team', 'g2', 'y', 'y1');
	const y = await d.event(change('g2', 'y', 'y1'), 'a new group of the namespace', { from: n });
	assert.equal(y.namespace, 'team');
	await put(srv, 'team', 'g1', 'x', 'x2');
	await waitFor(() => d.events().slice(n).filter(change('g1', 'x', 'x2')).length === 2, { what: 'x2 delivered twice' });
	assert.equal(d.events().filter((e) => e.event === 'change' && e.namespace !== 'team').length, 0, 'nothing of another namespace');
	d.send('quit');
	assert.deepEqual(await d.waitExit(), { code: 0, signal: null });
});

test('lib: with no server up, a group pattern starts from the configs the snapshot cache held under it', async (t) => {
	const dir = await tmpDir(t);
	const cache = path.join(dir, 'cache');
	const srv = await startServer(OPEN);
	t.after(() => srv.close());
	await put(srv, 'public', 'app', 'a.yaml', 'a: 1\n', { query: { format: 'yaml' } });
	await put(srv, 'public', 'app', 'b', 'b1');
	await put(srv, 'public', 'app', 'gone', 'soon deleted');
	await put(srv, 'public', 'other', 'z', 'another group');
	let d = driver(t, ['--servers', srv.url, '--cache', cache, 'watch', 'public/app/', 'public/other/z']);
	await d.event(change('app', 'gone', 'soon deleted'), 'gone delivered');
	await d.event(change('other', 'z'), 'z delivered');
	let n = d.events().length;
	assert.equal((await request(srv, 'DELETE', cfgPath('public', 'app', 'gone'))).status, 200);
	await d.event((e) => change('app', 'gone')(e) && e.deleted, 'gone deleted', { from: n });
	n = d.events().length;
	await put(srv, 'public', 'app', 'b', 'b2');
	await d.event(change('app', 'b', 'b2'), 'b2', { from: n });
	await waitFor(() => readOr(path.join(cache, 'public', 'app', 'b')) === 'b2', { what: 'b2 in the snapshot' });
	await waitFor(() => !fs.existsSync(path.join(cache, 'public', 'app', 'gone')), { what: 'the deleted config left the snapshot' });
	d.send('quit');
	assert.deepEqual(await d.waitExit(), { code: 0, signal: null });
	const url = srv.url;
	await srv.kill9();

	d = driver(t, ['--servers', url, '--cache', cache, '--backoff-max', '300', 'watch', 'public/app/']);
	await waitFor(() => d.events().filter((e) => e.event === 'change').length >= 2, {
		what: `the snapshots delivered; stderr: ${d.stderr}`,
	});
	const got = d.events().filter((e) => e.event === 'change');
	assert.deepEqual(
		got.map((e) => `${e.group}/${e.dataId}:${e.content}`).sort(),
		['app/a.yaml:a: 1\n', 'app/b:b2'],
		'every config the cache held under the group, none deleted, none of another group'
	);
	assert.ok(got.every((e) => e.fromCache && e.namespace === 'public'));
	const a = got.find((e) => e.dataId === 'a.yaml');
	assert.equal(a.format, 'yaml');
	assert.equal(a.md5, md5('a: 1\n'));
	assert.deepEqual(got.map((e) => e.more), [true, false], 'the offer is one burst');
	assert.match(d.stderr, /no server answered; delivering 2 snapshots/);
	d.send('quit');
	assert.deepEqual(await d.waitExit(), { code: 0, signal: null });
});

/* The files of DIR as one generation shows them: {name: content}, or null
 * while DIR flips under the read (its old directory removed): read again. */
function generation(dir) {
	let target;
	try {
		target = path.join(path.dirname(dir), fs.readlinkSync(dir));
		const out = {};
		for (const f of fs.readdirSync(target).sort()) out[f] = fs.readFileSync(path.join(target, f), 'utf8');
		return JSON.stringify(out);
	} catch (e) {
		if (e.code === 'ENOENT') return null;
		throw e;
	}
}

test('cli watch NS/GROUP/ --out-dir: a created config appears, a change lands, a deleted one disappears, each answer in one flip', async (t) => {
	const srv = await withServer(t, OPEN);
	const dir = await tmpDir(t);
	const outDir = path.join(dir, 'conf'),
		runs = path.join(dir, 'runs');
	await put(srv, 'public', 'app', 'a', 'a1');
	await put(srv, 'public', 'app', 'b', 'b1');
	await put(srv, 'public', 'other', 'x', 'not in the group');
	const state = (o) => JSON.stringify(Object.fromEntries(Object.entries(o).sort()));
	const allowed = new Set([state({ a: 'a1', b: 'b1' })]);
	const w = new Child(t, hotconfBin(), ['watch', 'public/app/', '--out-dir', outDir, '--exec', `echo run >> '${runs}'`], {
		env: { HOME: dir, HOTCONF_ADDR: srv.url },
	});
	await waitFor(() => generation(outDir) === state({ a: 'a1', b: 'b1' }), { what: `first directory; stderr ${w.stderr}` });
	await waitFor(() => lines(runs).length === 1, { what: 'the command ran after the first directory' });
	await waitHeld(srv, 1);

	let done = false,
		reads = 0;
	const seen = new Set();
	const reader = (async () => {
		const deadline = Date.now() + 90000;
		while (!done && Date.now() < deadline) {
			const g = generation(outDir);
			if (g !== null) {
				assert.ok(allowed.has(g), `read ${reads}: ${g} is not a state the group was in`);
				seen.add(g);
				reads++;
			}
			await new Promise((r) => setImmediate(r));
		}
	})();
	const step = async (want, act, what) => {
		allowed.add(state(want));
		const n = lines(runs).length;
		await act();
		await waitFor(() => seen.has(state(want)) && lines(runs).length > n, { timeoutMs: 30000, what: `${what}; stderr ${w.stderr}` });
	};
	await step({ a: 'a1', b: 'b1', c: 'c1' }, () => put(srv, 'public', 'app', 'c', 'c1'), 'the created config appears');
	await step({ a: 'a2', b: 'b1', c: 'c1' }, () => put(srv, 'public', 'app', 'a', 'a2'), 'the change lands');
	await step(
		{ a: 'a2', c: 'c1' },
		async () => assert.equal((await request(srv, 'DELETE', cfgPath('public', 'app', 'b'))).status, 200),
		'the deleted config disappears'
	);
	// Two configs published in one change request reach the client in one
	// answer: the directory flips once, from both old to both new.
	await step(
		{ a: 'a3', c: 'c3' },
		async () => {
			const cr = await request(srv, 'POST', '/api/v1/namespaces/public/changes', {
				body: { title: 'both', items: [{ op: 'publish', group: 'app', dataId: 'a', content: 'a3' }, { op: 'publish', group: 'app', dataId: 'c', content: 'c3' }] },
			});
			assert.equal(cr.status, 201, cr.text);
			const r = await request(srv, 'POST', `/api/v1/namespaces/public/changes/${cr.json.id}/publish`, { body: {} });
			assert.equal(r.status, 200, r.text);
		},
		'both configs of one change request in one flip'
	);
	done = true;
	await reader;
	assert.ok(reads > 4, `the reader looped (${reads} reads)`);
	assert.equal(lines(runs).length, 5, 'one --exec per flip');
	await waitFor(() => fs.readdirSync(dir).filter((f) => f.startsWith('.hotconf-conf-')).length === 1, { what: 'old directories removed' });
	w.proc.kill('SIGTERM');
	assert.deepEqual(await w.waitExit(), { code: 0, signal: null }, w.stderr);
});

test('cli watch NS/GROUP/: usage errors for a namespace, a second config, no --out-dir, a template', async (t) => {
	const dir = await tmpDir(t);
	const run = async (args) => {
		const c = new Child(t, hotconfBin(), ['watch', ...args], { env: { HOME: dir, HOTCONF_ADDR: 'http://127.0.0.1:1' } });
		await c.waitExit();
		return { code: c.exit.code, stderr: c.stderr };
	};
	const out = path.join(dir, 'd');
	for (const [args, msg] of [
		[['public//', '--out-dir', out], /whole namespace.*watch NS\/GROUP\/ for each group/],
		[['public/app/', 'public/app/x', '--out-dir', out], /give it alone/],
		[['public/app/', '--out', out], /use --out-dir/],
		[['public/app/', '--out', out, '--template', path.join(dir, 'none')], /NS\/GROUP\/ goes with --out-dir|cannot read the template/],
	]) {
		const r = await run(args);
		assert.equal(r.code, 2, `${args.join(' ')}: exit 2; stderr ${r.stderr}`);
		assert.match(r.stderr, msg);
	}
	const c = new Child(t, hotconfBin(), ['watch', '--help'], { env: { HOME: dir } });
	await c.waitExit();
	assert.match(c.stdout, /NS\/GROUP\/ --out-dir DIR/);
});
