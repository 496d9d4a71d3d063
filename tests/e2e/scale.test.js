'use strict';
// 1,000 clients hold a watch on one config at the same time, each on its own
// socket; one PUT must wake every one of them with the new content.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { withServer, put, cfgPath, md5, waitHeld, metric, track } = require('./lib');

const WATCHERS = 1000;
const G = 'DEFAULT_GROUP';

/* One GET on its own socket; resolves {status, headers, body} or rejects. */
function rawGet(agent, url, headers) {
	return new Promise((resolve, reject) => {
		const req = http.get(url, { agent, headers }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () =>
				resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
			);
			res.on('error', reject);
		});
		req.on('error', reject);
	});
}

test(`${WATCHERS} concurrent watchers on one config all get the new content after one PUT`, { timeout: 240000 }, async (t) => {
	const srv = await withServer(t);
	await put(srv, 'public', G, 'hot', 'generation 1', { expect: 201 });
	const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
	t.after(() => agent.destroy());

	const url = `${srv.url}${cfgPath('public', G, 'hot')}?wait=120s`;
	const watches = [];
	for (let i = 0; i < WATCHERS; i++) {
		const w = track(
			rawGet(agent, url, {
				'If-None-Match': `"${md5('generation 1')}"`,
				Authorization: `Bearer ${srv.token}`,
				'X-Hotconf-Instance': `client-${i}`,
			})
		);
		// Surface an early failure (e.g. connection refused) without waiting for all.
		w.promise.catch(() => {});
		watches.push(w);
	}

	try {
		await waitHeld(srv, WATCHERS, 120000);
	} catch (err) {
		const errs = [];
		for (const w of watches.filter((x) => x.settled))
			await w.promise.then(
				(r) => errs.push(`status ${r.status}`),
				(e) => errs.push(e.code || e.message)
			);
		const counts = {};
		for (const e of errs) counts[e] = (counts[e] || 0) + 1;
		err.message += `; the client saw ${errs.length} watches end early: ${JSON.stringify(counts)}`;
		// Which server-side sockets still hold unread request bytes (a head
		// nobody read) and how many are open at all.
		try {
			const out = require('node:child_process').execFileSync('ss', ['-tnH', 'state', 'established', `( sport = :${srv.port} )`], {
				encoding: 'utf8',
			});
			const lines = out.trim().split('\n').filter(Boolean);
			const unread = lines.filter((l) => Number(l.trim().split(/\s+/)[0]) > 0);
			err.message += `; ${lines.length} server sockets, ${unread.length} with unread bytes: ${unread.slice(0, 5).join(' | ')}`;
		} catch (e) {
			err.message += `; ss failed: ${e.message}`;
		}
		throw err;
	}
	const early = watches.filter((w) => w.settled).length;
	assert.equal(early, 0, `${early} of ${WATCHERS} watches were answered before any change`);
	const wakeupsBefore = (await metric(srv, 'hotconf_watch_wakeups_total')) || 0;

	const content = 'generation 2: ' + 'z'.repeat(2000);
	const pr = await put(srv, 'public', G, 'hot', content, { expect: 200 });

	const results = await Promise.allSettled(watches.map((w) => w.promise));
	const failures = [];
	results.forEach((r, i) => {
		if (r.status === 'rejected') failures.push(`#${i}: ${r.reason && r.reason.message}`);
		else if (r.value.status !== 200) failures.push(`#${i}: status ${r.value.status} ${r.value.body.slice(0, 200)}`);
		else if (r.value.body !== content) failures.push(`#${i}: wrong body (${r.value.body.length} bytes)`);
		else if (r.value.headers.etag !== `"${md5(content)}"`) failures.push(`#${i}: ETag ${r.value.headers.etag}`);
		else if (r.value.headers['x-hotconf-version'] !== String(pr.json.version))
			failures.push(`#${i}: version ${r.value.headers['x-hotconf-version']}`);
	});
	assert.equal(
		failures.length,
		0,
		`${failures.length} of ${WATCHERS} watchers did not get the new content:\n${failures.slice(0, 20).join('\n')}`
	);
	await waitHeld(srv, 0);
	const wakeupsAfter = await metric(srv, 'hotconf_watch_wakeups_total');
	assert.ok(
		wakeupsAfter >= wakeupsBefore + 1,
		`hotconf_watch_wakeups_total should move after waking watchers (${wakeupsBefore} -> ${wakeupsAfter})`
	);
});
