'use strict';
// Pattern watches: a many-config watch item that names a group or a whole
// namespace instead of one config, with the md5s its client holds in
// "known". Held watches are proven held by hotconf_watches_held, never by
// timing; a watch that must not be woken by a change is shown by what it
// answers after a change that must wake it.

const test = require('node:test');
const assert = require('node:assert/strict');
const { withServer, request, put, cfgPath, qs, md5, assertStatus, assertError, waitHeld, track, answeredAtOnce } = require('./lib');

const G = 'DEFAULT_GROUP';
const LONG = '60s';

function watch(srv, configs, { wait = LONG, headers } = {}) {
	return request(srv, 'POST', '/api/v1/watch' + qs({ wait }), { body: { configs }, headers });
}

/* The changed list sorted by namespace, group and dataId, for comparing. */
function changed(r) {
	return [...r.json.changed].sort((a, b) =>
		`${a.namespace}/${a.group}/${a.dataId}`.localeCompare(`${b.namespace}/${b.group}/${b.dataId}`)
	);
}

test('group pattern: held while the client holds every config; woken by creation, change and deletion in the group only', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', 'app', 'a.yaml', 'a: 1\n', { expect: 201 });
	await put(srv, 'public', 'app', 'b.yaml', 'b: 1\n', { expect: 201 });
	const known = { 'a.yaml': md5('a: 1\n'), 'b.yaml': md5('b: 1\n') };

	// Creation.
	let w = track(watch(srv, [{ namespace: 'public', group: 'app', known }]));
	await waitHeld(srv, 1);
	assert.equal(w.settled, false, 'the client holds every config of the group: held');
	await put(srv, 'public', 'other', 'a.yaml', 'unrelated', { expect: 201 });
	await put(srv, 'public', 'app', 'c.yaml', 'c: 1\n', { expect: 201 });
	let r = await w.promise;
	assertStatus(r, 200);
	assert.deepEqual(r.json.changed, [{ namespace: 'public', group: 'app', dataId: 'c.yaml', md5: md5('c: 1\n'), version: 1 }], 'only the new config of the group');
	known['c.yaml'] = md5('c: 1\n');

	// Change.
	w = track(watch(srv, [{ namespace: 'public', group: 'app', known }]));
	await waitHeld(srv, 1);
	const pr = await put(srv, 'public', 'app', 'a.yaml', 'a: 2\n', { expect: 200 });
	r = await w.promise;
	assertStatus(r, 200);
	assert.deepEqual(r.json.changed, [{ namespace: 'public', group: 'app', dataId: 'a.yaml', md5: md5('a: 2\n'), version: pr.json.version }]);
	known['a.yaml'] = md5('a: 2\n');

	// Deletion: listed with md5 "" and version 0, as a deleted single config is.
	w = track(watch(srv, [{ namespace: 'public', group: 'app', known }]));
	await waitHeld(srv, 1);
	assertStatus(await request(srv, 'DELETE', cfgPath('public', 'app', 'b.yaml')), 200);
	r = await w.promise;
	assertStatus(r, 200);
	assert.deepEqual(r.json.changed, [{ namespace: 'public', group: 'app', dataId: 'b.yaml', md5: '', version: 0 }]);
	await waitHeld(srv, 0);
});

test('group pattern: answered at once with what the client lacks, holds stale, or holds and is gone', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', 'app', 'a', 'a1', { expect: 201 });
	await put(srv, 'public', 'app', 'b', 'b1', { expect: 201 });
	const r = await answeredAtOnce(srv, watch(srv, [{ namespace: 'public', group: 'app', known: { a: md5('old'), gone: md5('x') } }]));
	assertStatus(r, 200);
	assert.deepEqual(changed(r), [
		{ namespace: 'public', group: 'app', dataId: 'a', md5: md5('a1'), version: 1 },
		{ namespace: 'public', group: 'app', dataId: 'b', md5: md5('b1'), version: 1 },
		{ namespace: 'public', group: 'app', dataId: 'gone', md5: '', version: 0 },
	]);
	// No known at all: every config of the group, so a client starts from nothing.
	const first = await answeredAtOnce(srv, watch(srv, [{ namespace: 'public', group: 'app' }]));
	assert.deepEqual(changed(first).map((c) => c.dataId), ['a', 'b']);
	// A group with no configs and nothing known: held, then woken by the first config.
	const w = track(watch(srv, [{ namespace: 'public', group: 'empty' }]));
	await waitHeld(srv, 1);
	await put(srv, 'public', 'empty', 'first', 'f', { expect: 201 });
	assert.deepEqual((await w.promise).json.changed.map((c) => c.dataId), ['first']);
});

test('namespace pattern: every group of it, known by "group/dataId"; other namespaces leave it held', async (t) => {
	const srv = await withServer(t);
	assertStatus(await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'team' } }), 201);
	await put(srv, 'team', 'g1', 'x', 'x1', { expect: 201 });
	await put(srv, 'team', 'g2', 'y', 'y1', { expect: 201 });
	const known = { 'g1/x': md5('x1'), 'g2/y': md5('y1') };
	const w = track(watch(srv, [{ namespace: 'team', known }]));
	await waitHeld(srv, 1);
	await put(srv, 'public', 'g1', 'x', 'elsewhere', { expect: 201 });
	const pr = await put(srv, 'team', 'g2', 'y', 'y2', { expect: 200 });
	const r = await w.promise;
	assertStatus(r, 200);
	assert.deepEqual(r.json.changed, [{ namespace: 'team', group: 'g2', dataId: 'y', md5: md5('y2'), version: pr.json.version }]);
	// Mixed with single configs in one watch: each answered in its own shape.
	const both = await answeredAtOnce(srv, watch(srv, [
			{ namespace: 'team', group: 'g1', known: { x: md5('x1') } },
			{ namespace: 'public', group: 'g1', dataId: 'x', md5: md5('stale') },
		]));
	assert.deepEqual(both.json.changed, [{ namespace: 'public', group: 'g1', dataId: 'x', md5: md5('elsewhere'), version: 1 }]);
});

test('pattern and gray: an instance a new rule selects is woken with the rule content; others stay held', async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', 'app', 'a', 'main', { expect: 201 });
	const known = { a: md5('main') };
	const canary = track(watch(srv, [{ namespace: 'public', group: 'app', known }], { headers: { 'X-Hotconf-Instance': 'c1', 'X-Hotconf-Labels': 'env=canary' } }));
	const plain = track(watch(srv, [{ namespace: 'public', group: 'app', known }], { headers: { 'X-Hotconf-Instance': 'p1', 'X-Hotconf-Labels': 'env=prod' } }));
	await waitHeld(srv, 2);
	assertStatus(
		await request(srv, 'PUT', cfgPath('public', 'app', 'a', '/gray/canary'), { body: { content: 'gray', match: { labels: 'env=canary' } } }),
		201
	);
	const r = await canary.promise;
	assertStatus(r, 200);
	assert.deepEqual(r.json.changed, [{ namespace: 'public', group: 'app', dataId: 'a', md5: md5('gray'), version: 1, gray: 'canary' }]);
	await waitHeld(srv, 1);
	assert.equal(plain.settled, false, 'the rule does not select env=prod: its answer did not change');
	await put(srv, 'public', 'app', 'a', 'main2', { expect: 200 });
	assert.deepEqual((await plain.promise).json.changed.map((c) => c.md5), [md5('main2')]);
});

test('pattern: bad bodies are 400 naming the entry; a pattern over --max-pattern-configs is 413', async (t) => {
	const srv = await withServer(t, { args: ['--max-pattern-configs', '2'] });
	const bad = [
		[[{ namespace: 'public', group: 'app', known: [] }], 'configs[0].known must be an object'],
		[[{ namespace: 'public', group: 'app', known: { a: 'not-an-md5' } }], 'configs[0].known: "a" must be a dataId'],
		[[{ namespace: 'public', known: { a: md5('x') } }], 'must be a group/dataId'],
		[[{ namespace: 'public', group: 'app', known: { 'a/b': md5('x') } }], 'must be a dataId'],
		[[{ namespace: 'public', group: 'app', md5: md5('x') }], 'configs[0] is a pattern'],
		[[{ namespace: 'public', group: 'app', status: 'applied' }], 'configs[0] is a pattern'],
		[[{ dataId: 'a', known: {} }], 'configs[0].known is for a pattern'],
		[[{ namespace: 'bad/ns' }], 'namespace'],
		[[{ namespace: 'public', group: 7 }], "a pattern's namespace and group must be strings"],
		[[{ group: 'app' }], 'must have a string dataId'],
	];
	for (const [configs, msg] of bad) {
		const r = await request(srv, 'POST', '/api/v1/watch' + qs({ wait: '0s' }), { body: { configs } });
		assert.ok(assertError(r, 400, 'invalid_argument', JSON.stringify(configs)).includes(msg), `${JSON.stringify(configs)}: ${r.text}`);
	}
	// A name given twice in known (JSON allows it; the server does not).
	const dup = await request(srv, 'POST', '/api/v1/watch', {
		body: `{"configs":[{"namespace":"public","group":"app","known":{"a":"${md5('1')}","a":"${md5('2')}"}}]}`,
		headers: { 'Content-Type': 'application/json' },
	});
	assert.match(assertError(dup, 400, 'invalid_argument', 'a duplicate known name'), /names "a" twice/);

	for (const id of ['a', 'b']) await put(srv, 'public', 'app', id, id, { expect: 201 });
	const fits = await answeredAtOnce(srv, watch(srv, [{ namespace: 'public', group: 'app' }]));
	assertStatus(fits, 200, 'two configs fit a cap of two');
	await put(srv, 'public', 'app', 'c', 'c', { expect: 201 });
	assert.match(
		assertError(await watch(srv, [{ dataId: 'a' }, { namespace: 'public', group: 'app' }], { wait: '0s' }), 413, 'too_large', 'a pattern over its cap'),
		/configs\[1\] covers more than 2 configs/
	);
	await waitHeld(srv, 0);
});

test('pattern: a reader may watch a namespace; a caller without a grant there is 403', async (t) => {
	const srv = await withServer(t);
	assertStatus(await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'team' } }), 201);
	await put(srv, 'team', 'g', 'x', 'x1', { expect: 201 });
	const tok = async (name, namespaces) => {
		const r = await request(srv, 'POST', '/api/v1/tokens', { body: { name, role: 'reader', namespaces } });
		assertStatus(r, 201);
		return { Authorization: `Bearer ${r.json.token}` };
	};
	const reader = await tok('r-team', ['team']);
	const r = await answeredAtOnce(srv, watch(srv, [{ namespace: 'team' }], { headers: reader }));
	assertStatus(r, 200);
	assert.deepEqual(r.json.changed.map((c) => `${c.group}/${c.dataId}`), ['g/x']);
	const other = await tok('r-public', ['public']);
	assert.match(
		assertError(await watch(srv, [{ namespace: 'team', group: 'g' }], { headers: other, wait: '0s' }), 403, 'forbidden', 'a reader of another namespace'),
		/may not read in namespace 'team'/
	);
});
