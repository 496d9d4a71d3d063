'use strict';
// Gray release over HTTP: rules of a config (create, replace, list, get,
// abort, promote, If-Match), which instance gets which content (by address,
// labels, percent, priority), the X-Hotconf-Gray header, both watches, bad
// input, history and audit, and who may change rules.

const test = require('node:test');
const assert = require('node:assert/strict');
const {
	withServer,
	waitFor,
	metric,
	request,
	put,
	get,
	cfgPath,
	qs,
	md5,
	assertStatus,
	assertError,
	waitHeld,
	track,
} = require('./lib');

const NS = 'public';
const G = 'DEFAULT_GROUP';
const PW = 'correct-horse-battery';

const rulePath = (id, rule, suffix = '') => cfgPath(NS, G, id, `/gray/${encodeURIComponent(rule)}${suffix}`);
const etag = (s) => `"${md5(s)}"`;

function putRule(srv, id, rule, body, headers = {}) {
	return request(srv, 'PUT', rulePath(id, rule), { body, headers });
}

/* Headers that describe an instance: id, labels, forwarded address. */
function inst({ id, labels, ip } = {}) {
	const h = {};
	if (id !== undefined) h['X-Hotconf-Instance'] = id;
	if (labels !== undefined) h['X-Hotconf-Labels'] = labels;
	if (ip !== undefined) h['X-Forwarded-For'] = ip;
	return h;
}

async function getAs(srv, id, who, query) {
	return get(srv, NS, G, id, { headers: inst(who), query });
}

async function rules(srv, id) {
	const r = await request(srv, 'GET', cfgPath(NS, G, id, '/gray'));
	assertStatus(r, 200, 'list rules');
	return r.json.rules;
}

test('rules: create, replace, no-op, list, get, abort, promote; statuses and bodies', async (t) => {
	const srv = await withServer(t);
	assertError(
		await putRule(srv, 'app', 'canary', { content: 'x', match: { labels: 'env=canary' } }),
		404,
		'not_found',
		'a rule needs its config'
	);
	await put(srv, NS, G, 'app', 'v: main\n', { query: { format: 'yaml' }, expect: 201 });
	assert.deepEqual(await rules(srv, 'app'), []);

	const body = {
		priority: 10,
		content: 'v: gray\n',
		message: 'try it',
		match: { ips: ['10.0.0.7', '10.1.0.0/16', 'fd00::/8'], labels: 'env=canary,zone in (a,b),!legacy', percent: 5 },
	};
	const c = await putRule(srv, 'app', 'canary', body);
	assertStatus(c, 201, 'create');
	assert.equal(c.json.rule, 'canary');
	assert.equal(c.json.version, 1, 'the main version stays');
	assert.equal(c.json.md5, md5('v: gray\n'));
	assert.equal(c.json.changed, true);
	assert.equal(c.headers.get('etag'), etag('v: gray\n'));

	const same = await putRule(srv, 'app', 'canary', body);
	assertStatus(same, 200, 'identical replace');
	assert.equal(same.json.changed, false);
	assert.equal(same.json.revision, c.json.revision);

	const one = await request(srv, 'GET', rulePath('app', 'canary'));
	assertStatus(one, 200);
	assert.equal(one.headers.get('etag'), etag('v: gray\n'));
	assert.equal(one.json.name, 'canary');
	assert.equal(one.json.priority, 10);
	assert.equal(one.json.content, 'v: gray\n');
	assert.equal(one.json.format, 'yaml', 'the config format when none is given');
	assert.equal(one.json.message, 'try it');
	assert.equal(one.json.author, 'admin');
	assert.deepEqual(one.json.match, body.match);

	const rep = await putRule(srv, 'app', 'canary', { ...body, priority: 3, content: 'v: gray2\n', match: { percent: 12.5 } });
	assertStatus(rep, 200, 'replace');
	assert.equal(rep.json.changed, true);
	assert.ok(rep.json.revision > c.json.revision);
	const list = await rules(srv, 'app');
	assert.equal(list.length, 1);
	assert.deepEqual(list[0].match, { percent: 12.5 });
	assert.equal(list[0].priority, 3);
	assert.equal(list[0].md5, md5('v: gray2\n'));
	assert.equal(list[0].content, undefined, 'the list leaves content out');

	assertError(await request(srv, 'GET', rulePath('app', 'nope')), 404, 'not_found');
	assertError(await request(srv, 'DELETE', rulePath('app', 'nope')), 404, 'not_found');
	assertError(await request(srv, 'POST', rulePath('app', 'nope', '/promote')), 404, 'not_found');

	const del = await request(srv, 'DELETE', rulePath('app', 'canary'));
	assertStatus(del, 200, 'abort');
	assert.equal(del.json.version, 1);
	assert.equal(del.json.md5, md5('v: main\n'), 'an abort answers with the main md5');
	assert.deepEqual(await rules(srv, 'app'), []);
	assertError(await request(srv, 'GET', rulePath('app', 'canary')), 404, 'not_found');

	assertStatus(await putRule(srv, 'app', 'p', { content: 'v: next\n', match: { percent: 0 } }), 201);
	const pr = await request(srv, 'POST', rulePath('app', 'p', '/promote'), { body: { message: 'ship it' } });
	assertStatus(pr, 200, 'promote');
	// Gray entries take history versions of their own: 2 to 5 here.
	assert.equal(pr.json.version, 6, 'the next history version');
	assert.equal(pr.json.md5, md5('v: next\n'));
	assert.deepEqual(await rules(srv, 'app'), []);
	const g = await get(srv, NS, G, 'app');
	assert.equal(g.text, 'v: next\n', 'everyone gets the promoted content');
	assert.equal(g.headers.get('x-hotconf-version'), '6');
	assert.equal(g.headers.get('x-hotconf-gray'), null);

	// A config holding rules cannot be deleted.
	assertStatus(await putRule(srv, 'app', 'keep', { content: 'k', match: { percent: 1 } }), 201);
	assertError(await request(srv, 'DELETE', cfgPath(NS, G, 'app')), 409, 'conflict');
});

test('If-Match and If-None-Match on rules', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'main', { expect: 201 });
	const b = { content: 'one', match: { percent: 50 } };
	assertError(await putRule(srv, 'app', 'r', b, { 'If-Match': '*' }), 412, 'precondition_failed', '* needs the rule');
	assertStatus(await putRule(srv, 'app', 'r', b, { 'If-None-Match': '*' }), 201);
	assertError(await putRule(srv, 'app', 'r', b, { 'If-None-Match': '*' }), 412, 'precondition_failed');
	assertError(
		await putRule(srv, 'app', 'r', { ...b, content: 'two' }, { 'If-Match': etag('main') }),
		412,
		'precondition_failed'
	);
	assert.equal((await request(srv, 'GET', rulePath('app', 'r'))).json.content, 'one', 'a failed If-Match changes nothing');
	assertStatus(await putRule(srv, 'app', 'r', { ...b, content: 'two' }, { 'If-Match': etag('one') }), 200);
	assertError(
		await request(srv, 'DELETE', rulePath('app', 'r'), { headers: { 'If-Match': etag('one') } }),
		412,
		'precondition_failed'
	);
	assertError(
		await request(srv, 'POST', rulePath('app', 'r', '/promote'), { headers: { 'If-Match': etag('one') } }),
		412,
		'precondition_failed'
	);
	assert.equal((await rules(srv, 'app')).length, 1);
	assertStatus(await request(srv, 'DELETE', rulePath('app', 'r'), { headers: { 'If-Match': etag('two') } }), 200);
});

test('by address (trusted proxy), labels, the X-Hotconf-Gray header, ETag and 304', async (t) => {
	const srv = await withServer(t, { args: ['--trusted-proxy', '127.0.0.1/32'] });
	await put(srv, NS, G, 'app', 'main', { expect: 201 });
	assertStatus(await putRule(srv, 'app', 'net', { content: 'by-ip', match: { ips: ['10.0.0.7', '10.1.0.0/16', 'fd00::/8'] } }), 201);
	for (const ip of ['10.0.0.7', '10.1.2.3', 'fd00::1']) {
		const r = await getAs(srv, 'app', { ip });
		assertStatus(r, 200);
		assert.equal(r.text, 'by-ip', `${ip} is inside the rule`);
		assert.equal(r.headers.get('x-hotconf-gray'), 'net');
		assert.equal(r.headers.get('etag'), etag('by-ip'));
		assert.equal(r.headers.get('x-hotconf-version'), '1');
		const nm = await getAs(srv, 'app', { ip }, undefined);
		assert.equal(nm.text, 'by-ip', 'the same answer again (nothing cached for another)');
	}
	for (const ip of ['10.0.0.8', '10.2.0.1', 'fe80::1', undefined]) {
		const r = await getAs(srv, 'app', { ip });
		assert.equal(r.text, 'main', `${ip} is outside`);
		assert.equal(r.headers.get('x-hotconf-gray'), null);
		assert.equal(r.headers.get('etag'), etag('main'));
	}
	const cur = await get(srv, NS, G, 'app', { headers: { ...inst({ ip: '10.0.0.7' }), 'If-None-Match': etag('by-ip') } });
	assertStatus(cur, 304, 'the gray md5 is current for a gray instance');
	assert.equal(cur.headers.get('x-hotconf-gray'), 'net');
	const stale = await get(srv, NS, G, 'app', { headers: { ...inst({ ip: '10.9.9.9' }), 'If-None-Match': etag('by-ip') } });
	assertStatus(stale, 200, 'but not for a main one');
	assert.equal(stale.text, 'main');

	assertStatus(await putRule(srv, 'app', 'lab', { content: 'by-label', match: { labels: 'env=canary,zone in (a,b),!legacy' } }), 201);
	const cases = [
		['env=canary,zone=a', 'by-label'],
		['env=canary,zone=b', 'by-label'],
		['env=canary,zone=c', 'main'],
		['env=canary,zone=a,legacy=1', 'main'],
		['env=prod,zone=a', 'main'],
	];
	for (const [labels, want] of cases) {
		const r = await getAs(srv, 'app', { labels });
		assert.equal(r.text, want, `labels ${labels}`);
		assert.equal(r.headers.get('x-hotconf-gray'), want === 'main' ? null : 'lab');
	}
	assertError(await getAs(srv, 'app', { labels: 'a=b=c' }), 400, 'invalid_argument', 'malformed X-Hotconf-Labels');
});

test('percent: sticky per instance id, about half at 50%, raising it never takes an instance out', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'main', { expect: 201 });
	assertStatus(await putRule(srv, 'app', 'half', { content: 'gray', match: { percent: 50 } }), 201);
	const ids = Array.from({ length: 200 }, (_, i) => `inst-${i}`);
	const inAt = async () => {
		const s = new Set();
		for (const id of ids) {
			const r = await getAs(srv, 'app', { id });
			if (r.text === 'gray') s.add(id);
		}
		return s;
	};
	const at50 = await inAt();
	assert.ok(at50.size >= 60 && at50.size <= 140, `50% serves roughly half of 200, got ${at50.size}`);
	assert.deepEqual([...(await inAt())].sort(), [...at50].sort(), 'the same instances every time');
	assertStatus(await putRule(srv, 'app', 'half', { content: 'gray', match: { percent: 80 } }), 200);
	const at80 = await inAt();
	for (const id of at50) assert.ok(at80.has(id), `${id} stays in when the percent goes up`);
	assert.ok(at80.size > at50.size, `80% serves more than 50% (${at80.size} vs ${at50.size})`);
});

test('priority decides, and the older rule wins a tie', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'main', { expect: 201 });
	const who = { labels: 'env=canary' };
	assertStatus(await putRule(srv, 'app', 'a', { priority: 10, content: 'A', match: { labels: 'env=canary' } }), 201);
	assertStatus(await putRule(srv, 'app', 'b', { priority: 20, content: 'B', match: { labels: 'env' } }), 201);
	assert.equal((await getAs(srv, 'app', who)).headers.get('x-hotconf-gray'), 'b');
	assertStatus(await putRule(srv, 'app', 'c', { priority: 20, content: 'C', match: { percent: 100 } }), 201);
	const r = await getAs(srv, 'app', who);
	assert.equal(r.text, 'B', 'b is older than c at the same priority');
	assert.equal((await getAs(srv, 'app', { labels: 'env=prod' })).headers.get('x-hotconf-gray'), 'b');
	assert.equal((await getAs(srv, 'app', {})).text, 'C', 'no labels: only c matches');
	assertStatus(await putRule(srv, 'app', 'b', { priority: 5, content: 'B', match: { labels: 'env' } }), 200);
	assert.equal((await getAs(srv, 'app', who)).text, 'C', 'a replace changes the priority');
	assertStatus(await putRule(srv, 'app', 'c', { priority: 5, content: 'C', match: { percent: 100 } }), 200);
	assert.equal((await getAs(srv, 'app', who)).text, 'A', 'a (10) over b and c (5)');
	assertStatus(await putRule(srv, 'app', 'a', { priority: 5, content: 'A', match: { labels: 'env=canary' } }), 200);
	assert.equal((await getAs(srv, 'app', who)).text, 'A', 'a replace keeps the creation order: a is oldest');
});

test('single watch: an instance inside a new rule is answered with it, one outside stays held', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'main', { expect: 201 });
	const watch = (labels) =>
		request(srv, 'GET', cfgPath(NS, G, 'app') + qs({ wait: '30s' }), {
			headers: { ...inst({ labels }), 'If-None-Match': etag('main') },
		});
	const inside = track(watch('env=canary'));
	const outside = track(watch('env=prod'));
	await waitHeld(srv, 2);
	const woken0 = (await metric(srv, 'hotconf_watch_wakeups_total')) || 0;
	assertStatus(await putRule(srv, 'app', 'canary', { content: 'gray', match: { labels: 'env=canary' } }), 201);
	const a = await inside.promise;
	assertStatus(a, 200, 'the instance inside the rule');
	assert.equal(a.text, 'gray');
	assert.equal(a.headers.get('x-hotconf-gray'), 'canary');
	assert.equal(a.headers.get('etag'), etag('gray'));
	// Only the watcher whose answer changed was woken: the count is exact.
	await waitHeld(srv, 1);
	assert.equal(await metric(srv, 'hotconf_watch_wakeups_total'), woken0 + 1, 'one watcher woken');
	assert.equal(outside.settled, false, 'the instance outside the rule is not answered');

	// A watcher inside the rule holding the gray md5 parks through a change
	// to another rule that does not change its answer.
	const inside2 = track(
		request(srv, 'GET', cfgPath(NS, G, 'app') + qs({ wait: '30s' }), {
			headers: { ...inst({ labels: 'env=canary' }), 'If-None-Match': etag('gray') },
		})
	);
	await waitHeld(srv, 2);
	const woken1 = await metric(srv, 'hotconf_watch_wakeups_total');
	assertStatus(await putRule(srv, 'app', 'other', { content: 'other', match: { labels: 'env=test' } }), 201);
	const h = await request(srv, 'GET', cfgPath(NS, G, 'app', '/history'));
	assert.equal(h.json.items[0].grayRule, 'other', 'the change is committed');

	// A main publish reaches only the instance outside the rules. Changes
	// are handled in order, so once its answer is in, the rule change before
	// it has been handled too: neither woke the gray instance.
	await put(srv, NS, G, 'app', 'main2', { expect: 200 });
	const b = await outside.promise;
	assertStatus(b, 200, 'a main publish ends the outside watch');
	assert.equal(b.text, 'main2');
	assert.equal(b.headers.get('x-hotconf-gray'), null);
	await waitHeld(srv, 1);
	assert.equal(
		await metric(srv, 'hotconf_watch_wakeups_total'),
		woken1 + 1,
		'the rule change for env=test woke nobody, the main publish one watcher'
	);
	assert.equal(inside2.settled, false, 'main changed, but the gray instance is served the rule');
	assertStatus(await request(srv, 'DELETE', rulePath('app', 'canary')), 200);
	const c = await inside2.promise;
	assertStatus(c, 200, 'an abort sends the rule instances back to main');
	assert.equal(c.text, 'main2');
	assert.equal(c.headers.get('x-hotconf-gray'), null);
	await waitHeld(srv, 0);

	// A watch that sends both an ETag and ?version= is compared by its ETag,
	// so a rule change (main version unchanged) still answers it.
	const cur = await get(srv, NS, G, 'app');
	const both = track(
		request(srv, 'GET', cfgPath(NS, G, 'app') + qs({ wait: '120s', version: cur.headers.get('x-hotconf-version') }), {
			headers: { ...inst({ labels: 'env=canary' }), 'If-None-Match': etag('main2') },
		})
	);
	await waitHeld(srv, 1);
	const woken2 = await metric(srv, 'hotconf_watch_wakeups_total');
	assertStatus(await putRule(srv, 'app', 'canary', { content: 'gray2', match: { labels: 'env=canary' } }), 201);
	// Woken by the change (its wait is far longer than waitHeld's deadline).
	await waitHeld(srv, 0);
	assert.equal(await metric(srv, 'hotconf_watch_wakeups_total'), woken2 + 1, 'the rule change woke it');
	const d = await both.promise;
	assertStatus(d, 200, 'the ETag decides, not the unchanged main version');
	assert.equal(d.text, 'gray2');
});

test('many-config watch compares effective md5s and names the rule', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'a', 'A', { expect: 201 });
	await put(srv, NS, G, 'b', 'B', { expect: 201 });
	const items = (ma, mb) => [
		{ namespace: NS, group: G, dataId: 'a', md5: ma },
		{ namespace: NS, group: G, dataId: 'b', md5: mb },
	];
	const watch = (labels, configs, wait = '30s') =>
		request(srv, 'POST', '/api/v1/watch' + qs({ wait }), { body: { configs }, headers: inst({ labels }) });
	const inside = track(watch('env=canary', items(md5('A'), md5('B'))));
	const outside = track(watch('env=prod', items(md5('A'), md5('B'))));
	await waitHeld(srv, 2);
	assertStatus(await putRule(srv, 'a', 'canary', { content: 'A-gray', match: { labels: 'env=canary' } }), 201);
	const r = await inside.promise;
	assertStatus(r, 200);
	assert.deepEqual(r.json.changed, [
		{ namespace: NS, group: G, dataId: 'a', md5: md5('A-gray'), version: 1, gray: 'canary' },
	]);
	await waitHeld(srv, 1);
	assert.equal(outside.settled, false, 'the instance outside the rule stays held');

	const now = await watch('env=canary', items(md5('A-gray'), md5('B')), '0s');
	assertStatus(now, 304, 'the gray md5 is current');
	const main = await watch('env=canary', items(md5('A'), md5('B')), '0s');
	assert.equal(main.json.changed[0].gray, 'canary');
	const plain = await watch(undefined, items(md5('A'), md5('B')), '0s');
	assertStatus(plain, 304, 'no labels: main is current');

	await put(srv, NS, G, 'b', 'B2', { expect: 200 });
	const o = await outside.promise;
	assertStatus(o, 200);
	assert.deepEqual(o.json.changed, [{ namespace: NS, group: G, dataId: 'b', md5: md5('B2'), version: 2 }]);
	await waitHeld(srv, 0);
});

test('promote and abort: who gets what afterwards', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'main', { expect: 201 });
	const canary = { labels: 'env=canary' };
	assertStatus(await putRule(srv, 'app', 'r', { content: 'gray', match: { labels: 'env=canary' } }), 201);
	assert.equal((await getAs(srv, 'app', canary)).text, 'gray');
	assertStatus(await request(srv, 'DELETE', rulePath('app', 'r')), 200);
	const back = await getAs(srv, 'app', canary);
	assert.equal(back.text, 'main', 'after an abort the rule instances get main');
	assert.equal(back.headers.get('x-hotconf-gray'), null);

	assertStatus(await putRule(srv, 'app', 'r', { content: 'gray2', format: 'text', match: { labels: 'env=canary' } }), 201);
	const pr = await request(srv, 'POST', rulePath('app', 'r', '/promote'));
	assertStatus(pr, 200);
	for (const who of [canary, {}, { labels: 'env=prod' }]) {
		const r = await getAs(srv, 'app', who);
		assert.equal(r.text, 'gray2', 'after a promote everyone gets the rule content');
		assert.equal(r.headers.get('x-hotconf-version'), String(pr.json.version));
		assert.equal(r.headers.get('x-hotconf-gray'), null);
	}
	assert.deepEqual(await rules(srv, 'app'), []);
});

test('bad input: 400 naming the field, and nothing changes', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'v: 1\n', { query: { format: 'yaml' }, expect: 201 });
	assertStatus(await putRule(srv, 'app', 'keep', { content: 'v: 2\n', match: { percent: 10 } }), 201);
	const before = JSON.stringify(await rules(srv, 'app'));
	const hist = (await request(srv, 'GET', cfgPath(NS, G, 'app', '/history'))).json.total;
	const ok = { content: 'v: 3\n', match: { percent: 10 } };
	const cases = [
		[{ ...ok, match: { ips: ['10.0.0.0/33'] } }, /match\.ips\[0\]/],
		[{ ...ok, match: { ips: ['10.0.0.1', 'nope'] } }, /match\.ips\[1\]/],
		[{ ...ok, match: { ips: '10.0.0.1' } }, /match\.ips/],
		[{ ...ok, match: { ips: [7] } }, /match\.ips\[0\]/],
		[{ ...ok, match: { ips: [] } }, /match\.ips/],
		[{ ...ok, match: { labels: 'env in (a' } }, /match\.labels at \d+/],
		[{ ...ok, match: { labels: 'env=a,,b' } }, /match\.labels at \d+/],
		[{ ...ok, match: { labels: 5 } }, /match\.labels/],
		[{ ...ok, match: { percent: 101 } }, /match\.percent/],
		[{ ...ok, match: { percent: -1 } }, /match\.percent/],
		[{ ...ok, match: { percent: 1.234 } }, /match\.percent/],
		[{ ...ok, match: { percent: '5' } }, /match\.percent/],
		[{ ...ok, match: { percent: 5, zone: 'a' } }, /match\.zone/],
		[{ ...ok, match: {} }, /match/],
		[{ content: 'v: 3\n' }, /match/],
		[{ match: { percent: 1 } }, /content/],
		[{ ...ok, content: 'v: [1\n' }, /content.*line/],
		[{ ...ok, format: 'json', content: '{"a":' }, /content/],
		[{ ...ok, format: 'toml' }, /format/],
		[{ ...ok, priority: 1.5 }, /priority/],
		[{ ...ok, colour: 'red' }, /colour/],
		['not json', /body/],
	];
	for (const [body, re] of cases) {
		const r = await putRule(srv, 'app', 'keep', body);
		const msg = assertError(r, 400, 'invalid_argument', `PUT ${JSON.stringify(body)}`);
		assert.match(msg, re, `message for ${JSON.stringify(body)}`);
	}
	const bad = await putRule(srv, 'app', 'bad name', ok);
	assert.match(assertError(bad, 400, 'invalid_argument'), /rule/);

	// The 17th rule.
	for (let i = 1; i < 16; i++) assertStatus(await putRule(srv, 'app', `r${i}`, ok), 201, `rule ${i}`);
	const full = await putRule(srv, 'app', 'r16', ok);
	assert.match(assertError(full, 400, 'invalid_argument'), /16/);
	assertStatus(await putRule(srv, 'app', 'r1', { ...ok, priority: 2 }), 200, 'a replace is not a new rule');
	const after = await rules(srv, 'app');
	assert.equal(after.length, 16);
	assert.equal(JSON.stringify(after[0]), JSON.stringify(JSON.parse(before)[0]), 'the rule the bad writes named is unchanged');
	const total = (await request(srv, 'GET', cfgPath(NS, G, 'app', '/history'))).json.total;
	assert.equal(total, hist + 16, 'only the good writes made history');
});

test('history and audit entries for every rule change; percent kept exactly', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'main', { expect: 201 });
	assertStatus(await putRule(srv, 'app', 'r', { content: 'g1', message: 'm1', match: { percent: 12.5, labels: 'env' } }), 201);
	assertStatus(await putRule(srv, 'app', 'r', { content: 'g2', match: { percent: 5 } }), 200);
	assertStatus(await putRule(srv, 'app', 's', { content: 's', match: { percent: 0.01 } }), 201);
	assertStatus(await request(srv, 'DELETE', rulePath('app', 's') + qs({ message: 'no' })), 200);
	assertStatus(await request(srv, 'POST', rulePath('app', 'r', '/promote')), 200);
	const h = await request(srv, 'GET', cfgPath(NS, G, 'app', '/history'));
	assertStatus(h, 200);
	const items = h.json.items;
	assert.deepEqual(
		items.map((e) => [e.op, e.grayRule, e.grayMatch]),
		[
			['gray-promote', 'r', { percent: 5 }],
			['gray-abort', 's', { percent: 0.01 }],
			['gray-publish', 's', { percent: 0.01 }],
			['gray-publish', 'r', { percent: 5 }],
			['gray-publish', 'r', { labels: 'env', percent: 12.5 }],
			['publish', undefined, undefined],
		]
	);
	assert.equal(items[4].message, 'm1');
	assert.equal(items[4].md5, md5('g1'));
	const one = await request(srv, 'GET', cfgPath(NS, G, 'app', `/history/${items[4].version}`));
	assert.equal(one.json.content, 'g1');
	assert.equal(one.json.grayRule, 'r');

	const a = await request(srv, 'GET', '/api/v1/audit' + qs({ namespace: NS, size: 100 }));
	assertStatus(a, 200);
	const gray = a.json.items.filter((e) => e.action.startsWith('gray-')).map((e) => [e.action, e.target]);
	assert.deepEqual(gray.sort(), [
		['gray-abort', `${G}/app/gray/s`],
		['gray-promote', `${G}/app/gray/r`],
		['gray-publish', `${G}/app/gray/r`],
		['gray-publish', `${G}/app/gray/r`],
		['gray-publish', `${G}/app/gray/s`],
	]);
});

test('roles: a reader lists and gets rules but may not change them; an editor may', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'app', 'main', { expect: 201 });
	assertStatus(await putRule(srv, 'app', 'r', { content: 'g', match: { percent: 50 } }), 201);
	const tokens = {};
	for (const [name, role] of [
		['rita', 'reader'],
		['eddie', 'editor'],
	]) {
		assertStatus(await request(srv, 'POST', '/api/v1/users', { body: { name, password: PW } }), 201);
		assertStatus(await request(srv, 'PUT', `/api/v1/namespaces/${NS}/grants/${name}`, { body: { role } }), 200);
		const l = await request(srv, 'POST', '/api/v1/auth/login', { body: { username: name, password: PW }, anonymous: true });
		tokens[role] = { Authorization: `Bearer ${l.json.token}` };
	}
	const rd = tokens.reader;
	assertStatus(await request(srv, 'GET', cfgPath(NS, G, 'app', '/gray'), { headers: rd }), 200);
	assertStatus(await request(srv, 'GET', rulePath('app', 'r'), { headers: rd }), 200);
	assertError(await putRule(srv, 'app', 'r2', { content: 'x', match: { percent: 1 } }, rd), 403, 'forbidden');
	assertError(await request(srv, 'DELETE', rulePath('app', 'r'), { headers: rd }), 403, 'forbidden');
	assertError(await request(srv, 'POST', rulePath('app', 'r', '/promote'), { headers: rd }), 403, 'forbidden');
	assert.equal((await rules(srv, 'app')).length, 1, 'nothing changed');
	const ed = await putRule(srv, 'app', 'r2', { content: 'x', match: { percent: 1 } }, tokens.editor);
	assertStatus(ed, 201);
	assert.equal((await request(srv, 'GET', rulePath('app', 'r2'))).json.author, 'eddie');
	assert.equal((await rules(srv, 'app')).length, 2);
});

test('large rule content is validated off the worker, like a large publish', async (t) => {
	const srv = await withServer(t);
	await put(srv, NS, G, 'big', '{"a":1}', { query: { format: 'json' }, expect: 201 });
	const good = JSON.stringify({ pad: 'x'.repeat(20000) });
	const r = await putRule(srv, 'big', 'r', { content: good, match: { labels: 'env=canary' } });
	assertStatus(r, 201);
	assert.equal(r.json.md5, md5(good));
	const bad = await putRule(srv, 'big', 'r', { content: good.slice(0, -1), match: { labels: 'env=canary' } });
	assert.match(assertError(bad, 400, 'invalid_argument'), /content/);
	assert.equal((await getAs(srv, 'big', { labels: 'env=canary' })).text, good, 'the bad write changed nothing');
});
