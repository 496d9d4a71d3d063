'use strict';
// Authentication and authorization as shipped (auth on): the matrix of every
// route x every kind of caller, first start, sessions and CSRF, service
// tokens and their revocation, login throttling, the audit log, and HTTPS
// with a certificate made here with openssl.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const {
	withServer,
	waitFor,
	request,
	cfgPath,
	qs,
	md5,
	assertStatus,
	assertError,
	describe,
	waitHeld,
	hotconfBin,
} = require('./lib');

const NS = 'team';
const OTHER = 'other';
const G = 'g';
const PW = 'correct-horse-battery';

async function ok(srv, method, p, body, status) {
	const r = await request(srv, method, p, { body });
	assertStatus(r, status, `${method} ${p} (setup)`);
	return r;
}

async function login(srv, username, password, headers = {}) {
	return request(srv, 'POST', '/api/v1/auth/login', { body: { username, password }, anonymous: true, headers });
}

async function makeUser(srv, name, role, ns = NS) {
	await ok(srv, 'POST', '/api/v1/users', { name, password: PW }, 201);
	if (role) await ok(srv, 'PUT', `/api/v1/namespaces/${ns}/grants/${name}`, { role }, 200);
}

async function makeToken(srv, name, role, namespaces, expiresIn) {
	const r = await ok(srv, 'POST', '/api/v1/tokens', { name, role, namespaces, expiresIn }, 201);
	assert.match(r.json.token, /^\S{40,}$/, 'a token secret is returned once');
	return r.json;
}

/* Bearer headers for a secret. */
const bearer = (t) => ({ Authorization: `Bearer ${t}` });

/*
 * The callers of the matrix. Each has the headers it sends; "session" ones
 * are users logged in for this test (their own sessions, so the logout row
 * ends only them).
 */
async function principals(srv) {
	const p = {};
	p.anonymous = { headers: {}, anonymous: true };
	for (const [name, role] of [
		['rita', 'reader'],
		['eddie', 'editor'],
		['alma', 'approver'],
		['olga', 'owner'],
	]) {
		await makeUser(srv, name, role);
		const r = await login(srv, name, PW);
		assertStatus(r, 200, `login ${name}`);
		p[role] = { headers: bearer(r.json.token), user: name };
	}
	const a = await login(srv, 'admin', srv.adminPassword);
	assertStatus(a, 200, 'admin login');
	p.admin = { headers: bearer(a.json.token), user: 'admin' };
	p.otherToken = { headers: bearer((await makeToken(srv, 'other-ci', 'editor', [OTHER])).token) };
	const expiring = await makeToken(srv, 'short', 'editor', [NS], '1s');
	const revoked = await makeToken(srv, 'gone', 'editor', [NS]);
	await ok(srv, 'DELETE', `/api/v1/tokens/${revoked.id}`, undefined, 200);
	p.revokedToken = { headers: bearer(revoked.token) };
	p.expiredToken = { headers: bearer(expiring.token) };
	await waitFor(
		async () => (await request(srv, 'GET', '/api/v1/auth/me', { headers: p.expiredToken.headers })).status === 401,
		{ what: 'the 1 s token to expire' }
	);
	p.wrongSecret = { headers: bearer('hct_' + 'A'.repeat(43)) };
	p.wrongPassword = {
		headers: { Authorization: 'Basic ' + Buffer.from(`admin:not-${srv.adminPassword}`).toString('base64') },
	};
	p.nacosAgent = { headers: { 'User-Agent': 'Nacos-Server' }, anonymous: true };
	return p;
}

const GRAY_RULE = { content: 'v: 2\n', match: { labels: 'env=canary' } };
const NOBODY = ['anonymous', 'expiredToken', 'revokedToken', 'wrongSecret', 'wrongPassword', 'nacosAgent'];
const SOMEBODY = ['reader', 'editor', 'approver', 'owner', 'admin', 'otherToken'];

/* Expected statuses: `ok` for those named in `who`, 403 for the other
 * authenticated callers, 401 for the rest (unless open). */
function cells(okStatus, who, { open = false, overrides = {} } = {}) {
	const out = {};
	for (const n of SOMEBODY) out[n] = who.includes(n) ? okStatus : 403;
	for (const n of NOBODY) out[n] = open ? okStatus : 401;
	return { ...out, ...overrides };
}
const EVERYONE = SOMEBODY;
const READ = ['reader', 'editor', 'approver', 'owner', 'admin'];
const WRITE = ['editor', 'approver', 'owner', 'admin'];
const APPROVE = ['approver', 'owner', 'admin'];
const OWN = ['owner', 'admin'];
const ADMIN = ['admin'];

/*
 * One row per route of `hotconf routes`: how to call it as caller `who`
 * (setup makes what a successful call consumes) and the status each caller
 * gets.
 */
function rows(srv, who) {
	const CH = `/api/v1/namespaces/${NS}/changes`;
	const edit = { title: 'matrix', items: [{ op: 'publish', group: G, dataId: 'app', content: 'a: 3\n' }] };
	/* A new change request: by caller `as` when it may draft one, else by the admin. */
	const draft = async (as) => {
		const h = as && who[as] ? who[as].headers : {};
		let r = await request(srv, 'POST', CH, { body: edit, headers: h, anonymous: !!(as && who[as]) });
		if (r.status !== 201) r = await request(srv, 'POST', CH, { body: edit });
		assertStatus(r, 201, 'draft a change request (setup)');
		return r.json.id;
	};
	/* One drafted and submitted by the editor, for the reviewers. */
	const submitted = async () => {
		const id = await draft('editor');
		await ok(srv, 'POST', `${CH}/${id}/submit`, {}, 200);
		return id;
	};
	const mk = async (p) => {
		await ok(srv, 'PUT', cfgPath(NS, G, p), 'v: 1\n', 201);
		return p;
	};
	const mkRule = async (p) => {
		await mk(p);
		await ok(srv, 'PUT', cfgPath(NS, G, p, '/gray/r'), GRAY_RULE, 201);
		return p;
	};
	// A rule with a rollout plan, paused when asked (so that resume applies).
	const mkPlan = async (p, paused) => {
		await mk(p);
		await ok(srv, 'PUT', cfgPath(NS, G, p, '/gray/r'), { content: 'v: 2\n', rollout: { steps: [10, 50], interval: '60m' } }, 201);
		if (paused) await ok(srv, 'POST', cfgPath(NS, G, p, '/gray/r/pause'), undefined, 200);
		return p;
	};
	return [
		['GET /healthz', () => ['GET', '/healthz'], cells(200, EVERYONE, { open: true })],
		['GET /{*file}', () => ['GET', '/app.js'], cells(200, EVERYONE, { open: true })],
		['GET /metrics', () => ['GET', '/metrics'], cells(200, EVERYONE)],
		['GET /api/v1/namespaces', () => ['GET', '/api/v1/namespaces'], cells(200, EVERYONE)],
		[
			'POST /api/v1/namespaces',
			(who) => ['POST', '/api/v1/namespaces', { id: `made-${who}`, name: '', description: '' }],
			cells(201, ADMIN),
		],
		[
			'DELETE /api/v1/namespaces/{ns}',
			async (who) => {
				await ok(srv, 'POST', '/api/v1/namespaces', { id: `del-${who}`, name: '', description: '' }, 201);
				return ['DELETE', `/api/v1/namespaces/del-${who}`];
			},
			cells(200, ADMIN),
		],
		['GET /api/v1/configs', () => ['GET', '/api/v1/configs'], cells(200, EVERYONE)],
		['GET /api/v1/configs/{ns}/{group}/{dataId}', () => ['GET', cfgPath(NS, G, 'app')], cells(200, READ)],
		[
			'PUT /api/v1/configs/{ns}/{group}/{dataId}',
			(who) => ['PUT', cfgPath(NS, G, `put-${who}`), 'x: 1\n'],
			cells(201, WRITE),
		],
		[
			'DELETE /api/v1/configs/{ns}/{group}/{dataId}',
			async (who) => ['DELETE', cfgPath(NS, G, await mk(`del-${who}`))],
			cells(200, WRITE),
		],
		[
			'GET /api/v1/configs/{ns}/{group}/{dataId}/history',
			() => ['GET', cfgPath(NS, G, 'app', '/history')],
			cells(200, READ),
		],
		[
			'GET /api/v1/configs/{ns}/{group}/{dataId}/history/{version}',
			() => ['GET', cfgPath(NS, G, 'app', '/history/1')],
			cells(200, READ),
		],
		[
			'POST /api/v1/configs/{ns}/{group}/{dataId}/rollback',
			async (who) => {
				const p = await mk(`rb-${who}`);
				await ok(srv, 'PUT', cfgPath(NS, G, p), 'v: 2\n', 200);
				return ['POST', cfgPath(NS, G, p, '/rollback'), { version: 1 }];
			},
			cells(200, WRITE),
		],
		[
			'GET /api/v1/configs/{ns}/{group}/{dataId}/gray',
			() => ['GET', cfgPath(NS, G, 'app', '/gray')],
			cells(200, READ),
		],
		[
			'GET /api/v1/configs/{ns}/{group}/{dataId}/gray/{rule}',
			() => ['GET', cfgPath(NS, G, 'app', '/gray/r')],
			cells(200, READ),
		],
		[
			'PUT /api/v1/configs/{ns}/{group}/{dataId}/gray/{rule}',
			(who) => ['PUT', cfgPath(NS, G, 'app', `/gray/put-${who}`), GRAY_RULE],
			cells(201, WRITE),
		],
		[
			// A config of its own per caller: a config holds at most 16 rules.
			'DELETE /api/v1/configs/{ns}/{group}/{dataId}/gray/{rule}',
			async (who) => ['DELETE', cfgPath(NS, G, await mkRule(`gd-${who}`), '/gray/r')],
			cells(200, WRITE),
		],
		[
			'POST /api/v1/configs/{ns}/{group}/{dataId}/gray/{rule}/promote',
			async (who) => ['POST', cfgPath(NS, G, await mkRule(`gp-${who}`), '/gray/r/promote')],
			cells(200, WRITE),
		],
		[
			'POST /api/v1/configs/{ns}/{group}/{dataId}/gray/{rule}/pause',
			async (who) => ['POST', cfgPath(NS, G, await mkPlan(`rp-${who}`, false), '/gray/r/pause')],
			cells(200, WRITE),
		],
		[
			'POST /api/v1/configs/{ns}/{group}/{dataId}/gray/{rule}/resume',
			async (who) => ['POST', cfgPath(NS, G, await mkPlan(`rr-${who}`, true), '/gray/r/resume')],
			cells(200, WRITE),
		],
		[
			'POST /api/v1/configs/{ns}/{group}/{dataId}/gray/{rule}/advance',
			async (who) => ['POST', cfgPath(NS, G, await mkPlan(`ra-${who}`, false), '/gray/r/advance')],
			cells(200, WRITE),
		],
		[
			'GET /api/v1/configs/{ns}/{group}/{dataId}/gray/{rule}/preview',
			() => ['GET', cfgPath(NS, G, 'app', '/gray/r/preview')],
			cells(200, READ),
		],
		[
			'POST /api/v1/configs/{ns}/{group}/{dataId}/gray/{rule}/preview',
			() => ['POST', cfgPath(NS, G, 'app', '/gray/new/preview'), { match: { percent: 50 } }],
			cells(200, READ),
		],
		[
			'GET /api/v1/configs/{ns}/{group}/{dataId}/listeners',
			() => ['GET', cfgPath(NS, G, 'app', '/listeners')],
			cells(200, READ),
		],
		[
			// Every caller that read the config above is an instance by its address.
			'GET /api/v1/instances/{id}',
			() => ['GET', '/api/v1/instances/127.0.0.1'],
			cells(200, READ, { overrides: { otherToken: 404 } }),
		],
		[
			// What the caller's address was served: it read the config above.
			'POST /api/v1/reports',
			async () => {
				const g = await request(srv, 'GET', cfgPath(NS, G, 'app'));
				const m = g.headers.get('etag').replace(/"/g, '');
				return ['POST', '/api/v1/reports', { reports: [{ namespace: NS, group: G, dataId: 'app', md5: m, status: 'applied' }] }];
			},
			cells(200, READ),
		],
		[
			'POST /api/v1/watch',
			() => ['POST', '/api/v1/watch?wait=0', { configs: [{ namespace: NS, group: G, dataId: 'app', md5: 'x' }] }],
			cells(200, READ),
		],
		[
			'POST /api/v1/debug/faults',
			() => ['POST', '/api/v1/debug/faults', { hold: false }],
			cells(200, ADMIN),
		],
		[
			'POST /api/v1/auth/login',
			() => ['POST', '/api/v1/auth/login', { username: 'admin', password: srv.adminPassword }],
			cells(200, EVERYONE, { open: true }),
		],
		['GET /api/v1/auth/me', () => ['GET', '/api/v1/auth/me'], cells(200, EVERYONE)],
		['GET /api/v1/users', () => ['GET', '/api/v1/users'], cells(200, ADMIN)],
		[
			'POST /api/v1/users',
			(who) => ['POST', '/api/v1/users', { name: `made-${who}`, password: PW }],
			cells(201, ADMIN),
		],
		[
			'DELETE /api/v1/users/{name}',
			async (who) => {
				await makeUser(srv, `del-${who}`);
				return ['DELETE', `/api/v1/users/del-${who}`];
			},
			cells(200, ADMIN),
		],
		[
			// Someone else's password: only an admin (self is tested on its own).
			'PUT /api/v1/users/{name}/password',
			async (who) => {
				await makeUser(srv, `pw-${who}`);
				return ['PUT', `/api/v1/users/pw-${who}/password`, { password: 'another-long-one' }];
			},
			cells(200, ADMIN),
		],
		['GET /api/v1/namespaces/{ns}/grants', () => ['GET', `/api/v1/namespaces/${NS}/grants`], cells(200, OWN)],
		[
			'GET /api/v1/namespaces/{ns}/grants/{user}',
			() => ['GET', `/api/v1/namespaces/${NS}/grants/rita`],
			cells(200, OWN),
		],
		[
			'PUT /api/v1/namespaces/{ns}/grants/{user}',
			async (who) => {
				await makeUser(srv, `gr-${who}`);
				return ['PUT', `/api/v1/namespaces/${NS}/grants/gr-${who}`, { role: 'reader' }];
			},
			cells(200, OWN),
		],
		[
			'DELETE /api/v1/namespaces/{ns}/grants/{user}',
			async (who) => {
				await makeUser(srv, `gd-${who}`, 'reader');
				return ['DELETE', `/api/v1/namespaces/${NS}/grants/gd-${who}`];
			},
			cells(200, OWN),
		],
		['GET /api/v1/tokens', () => ['GET', '/api/v1/tokens'], cells(200, EVERYONE)],
		[
			// Tokens for namespaces one owns; a token cannot make tokens.
			'POST /api/v1/tokens',
			(who) => ['POST', '/api/v1/tokens', { name: `t-${who}`, role: 'reader', namespaces: [NS] }],
			cells(201, OWN),
		],
		[
			'DELETE /api/v1/tokens/{id}',
			async (who) => ['DELETE', `/api/v1/tokens/${(await makeToken(srv, `td-${who}`, 'reader', [NS])).id}`],
			cells(200, OWN),
		],
		['GET /api/v1/audit', () => ['GET', '/api/v1/audit'], cells(200, OWN)],
		[
			'PUT /api/v1/namespaces/{ns}',
			() => ['PUT', `/api/v1/namespaces/${NS}`, { review: { required: 0 } }],
			cells(200, OWN),
		],
		['GET /api/v1/namespaces/{ns}/export', () => ['GET', `/api/v1/namespaces/${NS}/export`], cells(200, READ)],
		// Not a zip: a caller who may import gets past the permission check to the 400.
		['POST /api/v1/namespaces/{ns}/import', () => ['POST', `/api/v1/namespaces/${NS}/import`, Buffer.from('not a zip')], cells(400, WRITE)],
		['GET /api/v1/namespaces/{ns}/changes', () => ['GET', CH], cells(200, READ)],
		['POST /api/v1/namespaces/{ns}/changes', () => ['POST', CH, edit], cells(201, WRITE)],
		['GET /api/v1/namespaces/{ns}/changes/{id}', async () => ['GET', `${CH}/${await draft()}`], cells(200, READ)],
		[
			// Only its author edits a draft: each caller drafts its own first.
			'PATCH /api/v1/namespaces/{ns}/changes/{id}',
			async (as) => ['PATCH', `${CH}/${await draft(as)}`, { title: 'edited' }],
			cells(200, WRITE),
		],
		['POST /api/v1/namespaces/{ns}/changes/{id}/submit', async () => ['POST', `${CH}/${await draft()}/submit`, {}], cells(200, WRITE)],
		['POST /api/v1/namespaces/{ns}/changes/{id}/approve', async () => ['POST', `${CH}/${await submitted()}/approve`, {}], cells(200, APPROVE)],
		[
			'POST /api/v1/namespaces/{ns}/changes/{id}/reject',
			async () => ['POST', `${CH}/${await submitted()}/reject`, { reason: 'no' }],
			cells(200, APPROVE),
		],
		['POST /api/v1/namespaces/{ns}/changes/{id}/publish', async () => ['POST', `${CH}/${await draft()}/publish`, {}], cells(200, WRITE)],
		['POST /api/v1/namespaces/{ns}/changes/{id}/cancel', async (as) => ['POST', `${CH}/${await draft(as)}/cancel`, {}], cells(200, WRITE)],
		[
			'POST /api/v1/namespaces/{ns}/changes/{id}/comments',
			async () => ['POST', `${CH}/${await draft()}/comments`, { text: 'hm' }],
			cells(200, READ),
		],
		// Apollo's config service (routes_apollo.c): NS is the appId, the
		// Apollo namespace "apollo" the config apollo.properties (cluster G).
		...(() => {
			const mkApollo = async () => {
				const r = await request(srv, 'PUT', cfgPath(NS, G, 'apollo.properties') + '?format=properties', { body: 'k=v\n' });
				assert.ok(r.status === 200 || r.status === 201, `apollo config (setup): ${describe(r)}`);
			};
			const poll = encodeURIComponent(JSON.stringify([{ namespaceName: 'apollo', notificationId: -1 }]));
			return [
				['GET /configs/{appId}/{cluster}/{namespace}', async () => (await mkApollo(), ['GET', `/configs/${NS}/${G}/apollo`]), cells(200, READ)],
				[
					'GET /configfiles/json/{appId}/{cluster}/{namespace}',
					async () => (await mkApollo(), ['GET', `/configfiles/json/${NS}/${G}/apollo`]),
					cells(200, READ),
				],
				[
					'GET /configfiles/{appId}/{cluster}/{namespace}',
					async () => (await mkApollo(), ['GET', `/configfiles/${NS}/${G}/apollo`]),
					cells(200, READ),
				],
				[
					'GET /notifications/v2',
					async () => (await mkApollo(), ['GET', `/notifications/v2?appId=${NS}&cluster=${G}&notifications=${poll}`]),
					cells(200, READ),
				],
			];
		})(),
		// Nacos' open API (routes_nacos.c): parameters in the query (Nacos
		// takes them there or in a form body); Nacos answers every refusal
		// 403, in its own (plain text or v2 envelope) shape.
		...(() => {
			const nc = (o) => '?' + new URLSearchParams({ tenant: NS, group: G, ...o }).toString();
			const deny = { overrides: Object.fromEntries(NOBODY.map((n) => [n, 403])) };
			const mkN = async (p) => (await ok(srv, 'PUT', cfgPath(NS, G, p), 'v: 1\n', 201), p);
			const newestId = async () => {
				const r = await request(srv, 'GET', '/nacos/v1/cs/history' + nc({ search: 'accurate', dataId: 'app' }));
				assertStatus(r, 200, 'nacos history (setup)');
				return r.json.pageItems[0].id;
			};
			return [
				['GET /nacos/v1/cs/configs', () => ['GET', '/nacos/v1/cs/configs' + nc({ dataId: 'app' })], cells(200, READ, deny)],
				['POST /nacos/v1/cs/configs', (w) => ['POST', '/nacos/v1/cs/configs' + nc({ dataId: `nc-${w}`, content: 'x' })], cells(200, WRITE, deny)],
				[
					'DELETE /nacos/v1/cs/configs',
					async (w) => ['DELETE', '/nacos/v1/cs/configs' + nc({ dataId: await mkN(`ncdel-${w}`) })],
					cells(200, WRITE, deny),
				],
				[
					'POST /nacos/v1/cs/configs/listener',
					() => ['POST', '/nacos/v1/cs/configs/listener' + nc({ 'Listening-Configs': `app\x02${G}\x02\x02${NS}\x01` })],
					cells(200, READ, deny),
				],
				['GET /nacos/v1/cs/configs/listener', () => ['GET', '/nacos/v1/cs/configs/listener' + nc({ dataId: 'app' })], cells(200, READ, deny)],
				['GET /nacos/v1/cs/history', () => ['GET', '/nacos/v1/cs/history' + nc({ search: 'accurate', dataId: 'app' })], cells(200, READ, deny)],
				[
					'GET /nacos/v1/cs/history/previous',
					async () => ['GET', '/nacos/v1/cs/history/previous' + nc({ dataId: 'app', id: await newestId() })],
					cells(200, READ, deny),
				],
				['GET /nacos/v1/cs/history/configs', () => ['GET', '/nacos/v1/cs/history/configs' + nc({})], cells(200, READ, deny)],
				// Open, as the native login: without username and password it is 400 for anyone.
				['POST /nacos/v1/auth/login', () => ['POST', '/nacos/v1/auth/login'], cells(400, EVERYONE, { open: true })],
				['GET /nacos/v2/cs/config', () => ['GET', '/nacos/v2/cs/config' + nc({ dataId: 'app', namespaceId: NS })], cells(200, READ, deny)],
				[
					'POST /nacos/v2/cs/config',
					(w) => ['POST', '/nacos/v2/cs/config' + nc({ dataId: `nc2-${w}`, namespaceId: NS, content: 'x' })],
					cells(200, WRITE, deny),
				],
				[
					'DELETE /nacos/v2/cs/config',
					async (w) => ['DELETE', '/nacos/v2/cs/config' + nc({ dataId: await mkN(`nc2del-${w}`), namespaceId: NS })],
					cells(200, WRITE, deny),
				],
			];
		})(),
		// Last: it ends the caller's session. A service token has no session.
		[
			'POST /api/v1/auth/logout',
			() => ['POST', '/api/v1/auth/logout'],
			cells(200, EVERYONE, { overrides: { otherToken: 400 } }),
		],
	];
}

function routeTable() {
	const out = execFileSync(hotconfBin(), ['routes'], { encoding: 'utf8' });
	return out
		.trim()
		.split('\n')
		.map((l) => JSON.parse(l));
}

test('authorization matrix: every route x every kind of caller, exact statuses', async (t) => {
	const srv = await withServer(t, { args: ['--test-faults'] });
	await ok(srv, 'POST', '/api/v1/namespaces', { id: NS, name: '', description: '' }, 201);
	await ok(srv, 'POST', '/api/v1/namespaces', { id: OTHER, name: '', description: '' }, 201);
	await ok(srv, 'PUT', cfgPath(NS, G, 'app'), 'a: 1\n', 201);
	await ok(srv, 'PUT', cfgPath(NS, G, 'app', '/gray/r'), GRAY_RULE, 201);
	const who = await principals(srv);
	const table = rows(srv, who);

	// The router's own table decides what must be covered.
	const routes = routeTable().map((r) => `${r.method} ${r.pattern}`);
	const covered = table.map(([k]) => k);
	assert.deepEqual(
		routes.filter((r) => !covered.includes(r)),
		[],
		'every route needs a row in this matrix (and a permission in server/router.c)'
	);
	assert.deepEqual(covered.filter((r) => !routes.includes(r)), [], 'rows for routes that do not exist');
	assert.equal(Object.keys(who).length, NOBODY.length + SOMEBODY.length);

	const wrong = [];
	for (const [route, call, want] of table) {
		for (const name of Object.keys(who)) {
			const [method, p, body] = await call(name);
			const r = await request(srv, method, p, { body, headers: who[name].headers, anonymous: true });
			if (r.status !== want[name]) wrong.push(`${route} as ${name}: want ${want[name]}, got ${describe(r)}`);
			else if (p.startsWith('/nacos/') && r.status === 403)
				// Nacos' clients read a refusal as plain text (v1) or its v2 envelope.
				assert.ok(r.text.length > 0 && !r.text.startsWith('{"error"'), `${route} as ${name}: Nacos-style refusal, got ${describe(r)}`);
			else if (r.status === 401 || r.status === 403)
				assertError(r, r.status, r.status === 401 ? 'unauthenticated' : 'forbidden', `${route} as ${name}`);
			if (r.status === 401)
				assert.match(r.headers.get('www-authenticate') || '', /^Bearer/, `${route} as ${name}: WWW-Authenticate`);
		}
	}
	assert.deepEqual(wrong, [], 'cells with the wrong status');
});

test('a refusal never tells whether the config exists', async (t) => {
	const srv = await withServer(t);
	await ok(srv, 'POST', '/api/v1/namespaces', { id: NS, name: '', description: '' }, 201);
	await ok(srv, 'POST', '/api/v1/namespaces', { id: OTHER, name: '', description: '' }, 201);
	await ok(srv, 'PUT', cfgPath(NS, G, 'real'), 'a: 1\n', 201);
	const tok = bearer((await makeToken(srv, 'elsewhere', 'reader', [OTHER])).token);
	for (const headers of [tok, {}]) {
		const anonymous = !headers.Authorization;
		for (const [m, suffix] of [
			['GET', ''],
			['GET', '/history'],
			['PUT', ''],
			['DELETE', ''],
		]) {
			const a = await request(srv, m, cfgPath(NS, G, 'real', suffix), { body: m === 'PUT' ? 'x' : undefined, headers, anonymous });
			const b = await request(srv, m, cfgPath(NS, G, 'missing', suffix), { body: m === 'PUT' ? 'x' : undefined, headers, anonymous });
			assert.ok(a.status === 401 || a.status === 403, describe(a));
			assert.deepEqual([b.status, b.text], [a.status, a.text], `${m} ${suffix}: same answer for a missing config`);
		}
	}
	assert.equal((await request(srv, 'GET', cfgPath(NS, G, 'real'))).text, 'a: 1\n', 'nothing was changed');
});

test('first start without HOTCONF_ADMIN_PASSWORD: a random password, printed once and kept 0600', async (t) => {
	const srv = await withServer(t, { login: false, env: { HOTCONF_ADMIN_PASSWORD: '' } });
	const file = path.join(srv.dataDir, 'initial-admin-password');
	const pw = fs.readFileSync(file, 'utf8').trim();
	assert.ok(pw.length >= 16, `a long random password, got ${JSON.stringify(pw)}`);
	assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'the password file is 0600');
	assert.equal(fs.statSync(srv.dataDir).mode & 0o777, 0o700, 'the data dir is 0700');
	assert.equal(fs.statSync(path.join(srv.dataDir, 'hotconf.db')).mode & 0o777, 0o600, 'the database is 0600');
	assert.equal(srv.stderr.split(pw).length - 1, 1, 'the password is printed once on stderr');

	assertStatus(await login(srv, 'admin', 'admin'), 401, 'no built-in password');
	assertStatus(await login(srv, 'admin', ''), 401, 'nor an empty one');
	srv.adminPassword = pw;
	await srv.login();

	// A restart neither prints it again nor makes a new one.
	const before = srv.stderr.length;
	await srv.restart();
	assert.ok(!srv.stderr.slice(before).includes(pw), 'not printed at the second start');
	assert.equal(fs.readFileSync(file, 'utf8').trim(), pw);

	// Changing one's own password needs the old one, and removes the file.
	const name = '/api/v1/users/admin/password';
	assertStatus(await request(srv, 'PUT', name, { body: { password: 'the-new-admin-pw' } }), 400, 'old password missing');
	assertStatus(
		await request(srv, 'PUT', name, { body: { password: 'the-new-admin-pw', oldPassword: 'not-it-at-all' } }),
		403,
		'wrong old password'
	);
	assert.ok(fs.existsSync(file), 'the file stays until the password changes');
	assert.equal((await request(srv, 'GET', '/api/v1/auth/me')).json.initialPassword, true, 'me says to change it');
	assertStatus(await request(srv, 'PUT', name, { body: { password: 'the-new-admin-pw', oldPassword: pw } }), 200);
	assert.equal((await request(srv, 'GET', '/api/v1/auth/me')).json.initialPassword, undefined, 'and then no longer');
	assert.ok(!fs.existsSync(file), 'the initial password file is removed once the password is changed');
	assertStatus(await login(srv, 'admin', pw), 401, 'the old password no longer works');
	assertStatus(await login(srv, 'admin', 'the-new-admin-pw'), 200);
});

test('first start with HOTCONF_ADMIN_PASSWORD: that password, nothing written or printed', async (t) => {
	const srv = await withServer(t);
	assert.ok(!fs.existsSync(path.join(srv.dataDir, 'initial-admin-password')), 'no password file');
	assert.ok(!srv.stderr.includes(srv.adminPassword), 'the given password is not echoed');
	const me = await request(srv, 'GET', '/api/v1/auth/me');
	assertStatus(me, 200);
	assert.equal(me.json.name, 'admin');
	assert.equal(me.json.admin, true);
	// The variable only matters at the first start.
	srv.env = { HOTCONF_ADMIN_PASSWORD: 'a-different-password' };
	await srv.restart();
	assertStatus(await login(srv, 'admin', 'a-different-password'), 401);
});

test('--auth=off warns at every start and has no accounts', async (t) => {
	const srv = await withServer(t, { args: ['--auth=off'] });
	assert.match(srv.stderr, /auth.*off/i);
	assertStatus(await request(srv, 'GET', cfgPath('public', G, 'nothing')), 404, 'open: reads go through');
	assertError(await login(srv, 'admin', 'whatever-it-is'), 409, 'conflict');
	await srv.restart();
	assert.equal(srv.stderr.match(/WARNING[^\n]*auth/gi).length, 2, 'the warning at each start');
});

/* The session cookie from a login answer. */
function cookieOf(r) {
	const sc = r.headers.get('set-cookie') || '';
	const m = /^(hotconf_session=[^;]+)/.exec(sc);
	assert.ok(m, `a session cookie: ${sc}`);
	return { cookie: m[1], attrs: sc };
}

test('sessions: cookie attributes, CSRF on cookie writes, logout ends the session at once', async (t) => {
	const srv = await withServer(t);
	const r = await login(srv, 'admin', srv.adminPassword);
	assertStatus(r, 200);
	assert.deepEqual(Object.keys(r.json).sort(), ['csrf', 'expiresAt', 'token', 'user']);
	assert.deepEqual([r.json.user.name, r.json.user.admin, r.json.user.roles], ['admin', true, {}]);
	assert.ok(Date.parse(r.json.expiresAt) > Date.now(), 'expiresAt is in the future');
	const { cookie, attrs } = cookieOf(r);
	for (const a of ['HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(attrs.includes(a), `${a} in ${attrs}`);
	assert.ok(!/Secure/.test(attrs), 'no Secure over plain HTTP');

	const c = { Cookie: cookie };
	assertStatus(await request(srv, 'GET', '/api/v1/auth/me', { headers: c }), 200, 'the cookie reads');
	assertError(await request(srv, 'PUT', cfgPath('public', G, 'c'), { body: 'a', headers: c }), 403, 'forbidden', 'no CSRF header');
	assertError(
		await request(srv, 'PUT', cfgPath('public', G, 'c'), { body: 'a', headers: { ...c, 'X-Hotconf-CSRF': 'guess' } }),
		403,
		'forbidden',
		'wrong CSRF'
	);
	assertStatus(await get(srv, cfgPath('public', G, 'c')), 404, 'nothing was written');
	assertStatus(
		await request(srv, 'PUT', cfgPath('public', G, 'c'), { body: 'a', headers: { ...c, 'X-Hotconf-CSRF': r.json.csrf } }),
		201
	);
	// A bearer token needs no CSRF header: no browser sends it on its own.
	assertStatus(await request(srv, 'PUT', cfgPath('public', G, 'c'), { body: 'b', headers: bearer(r.json.token) }), 200);

	const out = await request(srv, 'POST', '/api/v1/auth/logout', { headers: { ...c, 'X-Hotconf-CSRF': r.json.csrf } });
	assertStatus(out, 200);
	assert.match(out.headers.get('set-cookie') || '', /hotconf_session=;.*Max-Age=0/);
	assertError(await request(srv, 'GET', '/api/v1/auth/me', { headers: c }), 401, 'unauthenticated', 'cookie after logout');
	assertError(await request(srv, 'GET', '/api/v1/auth/me', { headers: bearer(r.json.token) }), 401, 'unauthenticated');
	assertStatus(await request(srv, 'GET', '/api/v1/auth/me'), 200, 'other sessions live on');
});

test('a password change ends the other sessions of that user; a reset by an admin ends them all', async (t) => {
	const srv = await withServer(t);
	await makeUser(srv, 'rita');
	const a = bearer((await login(srv, 'rita', PW)).json.token);
	const b = bearer((await login(srv, 'rita', PW)).json.token);
	assertStatus(await request(srv, 'GET', '/api/v1/auth/me', { headers: b }), 200);
	assertStatus(
		await request(srv, 'PUT', '/api/v1/users/rita/password', { body: { oldPassword: PW, password: 'second-password' }, headers: a }),
		200
	);
	assertStatus(await request(srv, 'GET', '/api/v1/auth/me', { headers: a }), 200, 'the session that changed it goes on');
	assertError(await request(srv, 'GET', '/api/v1/auth/me', { headers: b }), 401, 'unauthenticated', 'the other session ended');
	assertStatus(await login(srv, 'rita', 'second-password'), 200);
	assertStatus(await request(srv, 'PUT', '/api/v1/users/rita/password', { body: { password: 'third-password' } }), 200);
	assertError(await request(srv, 'GET', '/api/v1/auth/me', { headers: a }), 401, 'unauthenticated', 'an admin reset ends every session');
	assertStatus(await request(srv, 'GET', '/api/v1/auth/me'), 200, "the admin's own session is untouched");
});

function get(srv, p) {
	return request(srv, 'GET', p);
}

/* A login sent from a chosen local address (node:http can bind one). */
function loginFrom(srv, localAddress, username, password) {
	const body = JSON.stringify({ username, password });
	return new Promise((resolve, reject) => {
		const req = http.request(
			{
				host: '127.0.0.1',
				port: srv.port,
				method: 'POST',
				path: '/api/v1/auth/login',
				localAddress,
				headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
			},
			(res) => {
				const chunks = [];
				res.on('data', (d) => chunks.push(d));
				res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
			}
		);
		req.on('error', reject);
		req.end(body);
	});
}

test('login throttling: 5 failures for a user from one address -> 429, others unaffected', async (t) => {
	const srv = await withServer(t);
	await makeUser(srv, 'target');
	await makeUser(srv, 'bystander');
	for (let i = 0; i < 5; i++) {
		const r = await loginFrom(srv, '127.0.0.1', 'target', 'wrong-guess-' + i);
		assert.equal(r.status, 401, `failure ${i + 1}: ${r.text}`);
		assert.equal(JSON.parse(r.text).error.code, 'unauthenticated');
	}
	const locked = await loginFrom(srv, '127.0.0.1', 'target', PW);
	assert.equal(locked.status, 429, `the right password is refused while throttled: ${locked.text}`);
	assert.equal(JSON.parse(locked.text).error.code, 'too_many_requests');
	const retry = Number(locked.headers['retry-after']);
	assert.ok(retry > 0 && retry <= 300, `Retry-After in seconds, got ${locked.headers['retry-after']}`);
	assert.equal((await loginFrom(srv, '127.0.0.2', 'target', PW)).status, 200, 'another address still logs in');
	assert.equal((await loginFrom(srv, '127.0.0.1', 'bystander', PW)).status, 200, 'another user still logs in');

	// A flood of bad credentials from one address costs nobody else.
	const flood = [];
	for (let i = 0; i < 200; i++)
		flood.push(
			new Promise((resolve) => {
				const req = http.request(
					{ host: '127.0.0.1', port: srv.port, path: '/api/v1/auth/me', localAddress: '127.0.0.3', agent: false, headers: bearer('hcs_bad' + i) },
					(res) => {
						res.resume();
						res.on('end', () => resolve(res.statusCode));
					}
				);
				req.on('error', () => resolve('error'));
				req.end();
			})
		);
	assertStatus(await request(srv, 'GET', '/api/v1/auth/me'), 200, 'served during the flood');
	const statuses = await Promise.all(flood);
	assert.ok(statuses.every((s) => s === 401 || s === 429 || s === 'error'), `flood answers: ${[...new Set(statuses)]}`);
	assert.equal((await loginFrom(srv, '127.0.0.1', 'bystander', PW)).status, 200, 'served after the flood');
});

test('service tokens: role and namespaces, author, listing without secrets, revoke ends a held watch', async (t) => {
	const srv = await withServer(t);
	await ok(srv, 'POST', '/api/v1/namespaces', { id: NS, name: '', description: '' }, 201);
	await ok(srv, 'POST', '/api/v1/namespaces', { id: OTHER, name: '', description: '' }, 201);
	await ok(srv, 'PUT', cfgPath(NS, G, 'app'), 'a: 1\n', 201);
	await ok(srv, 'PUT', cfgPath(OTHER, G, 'app'), 'b: 1\n', 201);

	const pipe = await makeToken(srv, 'deploy-pipeline', 'editor', [NS], '90d');
	assert.equal(pipe.role, 'editor');
	assert.deepEqual(pipe.namespaces, [NS]);
	const days = (Date.parse(pipe.expiresAt) - Date.now()) / 86400000;
	assert.ok(days > 89 && days <= 90, `expiresIn 90d -> ${pipe.expiresAt}`);
	assertError(await request(srv, 'POST', '/api/v1/tokens', { body: { name: 'x', role: 'admin', namespaces: [NS] } }), 400, 'invalid_argument');
	assertError(await request(srv, 'POST', '/api/v1/tokens', { body: { name: 'x', namespaces: [NS], expiresIn: '5y' } }), 400, 'invalid_argument');

	const h = bearer(pipe.token);
	let r = await request(srv, 'PUT', cfgPath(NS, G, 'app'), {
		body: 'a: 2\n',
		headers: { ...h, 'X-Hotconf-Author': 'someone-else' },
	});
	assertStatus(r, 200);
	r = await request(srv, 'GET', cfgPath(NS, G, 'app', '/history'));
	assert.equal(r.json.items[0].author, 'deploy-pipeline', 'the author is the token name, not X-Hotconf-Author');
	assertStatus(await request(srv, 'PUT', cfgPath(OTHER, G, 'app'), { body: 'b: 2\n', headers: h }), 403);

	// The list never shows a secret; the config list shows only readable namespaces.
	r = await request(srv, 'GET', '/api/v1/tokens');
	assert.ok(!r.text.includes(pipe.token), 'no secret in the token list');
	assert.ok(r.json.tokens.some((x) => x.id === pipe.id && x.name === 'deploy-pipeline' && !('token' in x)));
	r = await request(srv, 'GET', '/api/v1/configs', { headers: h });
	assertStatus(r, 200);
	assert.deepEqual([...new Set(r.json.items.map((i) => i.namespace))], [NS], 'only readable namespaces are listed');
	r = await request(srv, 'GET', '/api/v1/namespaces', { headers: h });
	assert.deepEqual(r.json.namespaces.map((n) => n.id), [NS]);

	// A held watch of a token that is revoked is answered 401 at once.
	const watcher = await makeToken(srv, 'svc-watcher', 'reader', [NS]);
	const held = request(srv, 'POST', '/api/v1/watch?wait=60s', {
		body: { configs: [{ namespace: NS, group: G, dataId: 'app', md5: md5('a: 2\n') }] },
		headers: bearer(watcher.token),
	});
	await waitHeld(srv, 1);
	assertStatus(await request(srv, 'DELETE', `/api/v1/tokens/${watcher.id}`), 200);
	const w = await held;
	assertError(w, 401, 'unauthenticated', 'the held watch of a revoked token');
	await waitHeld(srv, 0);
	assertStatus(await request(srv, 'GET', cfgPath(NS, G, 'app'), { headers: bearer(watcher.token) }), 401);
	assertStatus(await request(srv, 'DELETE', `/api/v1/tokens/${watcher.id}`), 200, 'revoking twice is fine');
	assertError(await request(srv, 'DELETE', '/api/v1/tokens/tok_nosuch'), 404, 'not_found');

	// A grant taken away ends that user's held watch with 403.
	await makeUser(srv, 'wanda', 'reader');
	const s = (await login(srv, 'wanda', PW)).json.token;
	const cur = await request(srv, 'GET', cfgPath(NS, G, 'app'), { headers: bearer(s) });
	assertStatus(cur, 200);
	const held2 = request(srv, 'GET', cfgPath(NS, G, 'app') + qs({ wait: '60s' }), {
		headers: { ...bearer(s), 'If-None-Match': cur.headers.get('etag') },
	});
	await waitHeld(srv, 1);
	assertStatus(await request(srv, 'DELETE', `/api/v1/namespaces/${NS}/grants/wanda`), 200);
	assertError(await held2, 403, 'forbidden');
});

test('audit log: every kind of action, who, role, md5s, address; filters; owners see their namespaces', async (t) => {
	const srv = await withServer(t);
	await ok(srv, 'POST', '/api/v1/namespaces', { id: NS, name: '', description: '' }, 201);
	await makeUser(srv, 'olga', 'owner');
	await makeUser(srv, 'eddie', 'editor');
	assertStatus(await login(srv, 'eddie', 'not-the-password'), 401);
	const eddie = bearer((await login(srv, 'eddie', PW)).json.token);
	const v1 = await request(srv, 'PUT', cfgPath(NS, G, 'app'), { body: 'a: 1\n', headers: eddie });
	assertStatus(v1, 201);
	assertStatus(await request(srv, 'PUT', cfgPath(NS, G, 'app'), { body: 'a: 2\n', headers: eddie }), 200);
	assertStatus(await request(srv, 'POST', cfgPath(NS, G, 'app', '/rollback'), { body: { version: 1 }, headers: eddie }), 200);
	assertStatus(await request(srv, 'DELETE', cfgPath(NS, G, 'app'), { headers: eddie }), 200);
	const tok = await makeToken(srv, 'ci', 'reader', [NS]);
	assertStatus(await request(srv, 'DELETE', `/api/v1/tokens/${tok.id}`), 200);
	await makeUser(srv, 'temp');
	assertStatus(await request(srv, 'PUT', '/api/v1/users/temp/password', { body: { password: 'temp-new-password' } }), 200);
	assertStatus(await request(srv, 'DELETE', `/api/v1/namespaces/${NS}/grants/eddie`), 200);
	assertStatus(await request(srv, 'DELETE', '/api/v1/users/temp'), 200);
	assertStatus(await request(srv, 'POST', '/api/v1/auth/logout', { headers: eddie }), 200);

	const r = await request(srv, 'GET', '/api/v1/audit' + qs({ size: 200 }));
	assertStatus(r, 200);
	const actions = new Set(r.json.items.map((e) => e.action));
	for (const a of [
		'namespace-create',
		'user-create',
		'grant',
		'login',
		'login-failed',
		'publish',
		'rollback',
		'delete',
		'token-create',
		'token-revoke',
		'password-change',
		'revoke-grant',
		'user-delete',
		'logout',
	])
		assert.ok(actions.has(a), `an audit entry for ${a}; have ${[...actions]}`);
	const pub = r.json.items.filter((e) => e.action === 'publish' && e.target.endsWith('app'));
	assert.equal(pub.length, 2, 'two publishes');
	const first = pub.find((e) => e.oldMd5 === '');
	assert.ok(first, 'the first publish has no old md5');
	assert.equal(first.newMd5, md5('a: 1\n'));
	assert.equal(first.actor, 'eddie');
	assert.equal(first.role, 'editor');
	assert.equal(first.namespace, NS);
	assert.equal(first.sourceIp, '127.0.0.1');
	assert.ok(Date.parse(first.at) > 0);
	const failed = r.json.items.find((e) => e.action === 'login-failed');
	assert.equal(failed.actor, 'eddie');
	assert.equal(failed.sourceIp, '127.0.0.1');

	// Filters.
	let f = await request(srv, 'GET', '/api/v1/audit' + qs({ user: 'eddie', action: 'publish' }));
	assert.equal(f.json.total, 2);
	f = await request(srv, 'GET', '/api/v1/audit' + qs({ since: new Date(Date.now() + 60000).toISOString() }));
	assert.equal(f.json.total, 0, 'nothing after a time in the future');
	assertError(await request(srv, 'GET', '/api/v1/audit' + qs({ since: 'yesterday' })), 400, 'invalid_argument');

	// An owner sees the entries of the namespaces they own, and no others.
	const olga = bearer((await login(srv, 'olga', PW)).json.token);
	f = await request(srv, 'GET', '/api/v1/audit' + qs({ size: 200 }), { headers: olga });
	assertStatus(f, 200);
	assert.ok(f.json.items.length > 0);
	assert.ok(f.json.items.every((e) => e.namespace === NS), 'only their namespace');
	assert.ok(!f.json.items.some((e) => e.action === 'user-create'), 'no user management entries');
});

test('HTTPS with a certificate made by openssl: login, Secure cookie, reads; plain HTTP is refused', async (t) => {
	const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'hotconf-tls-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const cert = path.join(dir, 'cert.pem'),
		key = path.join(dir, 'key.pem');
	execFileSync('openssl', [
		'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
		'-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
	], { stdio: 'ignore' });
	const srv = await withServer(t, { args: ['--tls-cert', cert, '--tls-key', key], login: false });
	const ca = fs.readFileSync(cert);
	const call = (method, p, body, headers = {}) =>
		new Promise((resolve, reject) => {
			const data = body === undefined || typeof body === 'string' ? body : JSON.stringify(body);
			const req = https.request(
				{ host: '127.0.0.1', port: srv.port, method, path: p, ca, headers: { ...(typeof body === 'object' ? { 'Content-Type': 'application/json' } : {}), ...headers } },
				(res) => {
					const chunks = [];
					res.on('data', (d) => chunks.push(d));
					res.on('end', () => {
						const text = Buffer.concat(chunks).toString();
						let json;
						try {
							json = JSON.parse(text);
						} catch {}
						resolve({ status: res.statusCode, headers: res.headers, text, json });
					});
				}
			);
			req.on('error', reject);
			req.end(data);
		});
	const l = await call('POST', '/api/v1/auth/login', { username: 'admin', password: srv.adminPassword });
	assert.equal(l.status, 200, l.text);
	const sc = [].concat(l.headers['set-cookie'] || []).join('\n');
	assert.match(sc, /hotconf_session=.*; Secure/, 'the cookie is Secure under TLS');
	const h = bearer(l.json.token);
	assert.equal((await call('PUT', cfgPath('public', G, 'tls'), 'x: 1', h)).status, 201);
	const r = await call('GET', cfgPath('public', G, 'tls'), undefined, h);
	assert.equal(r.status, 200);
	assert.equal(r.text, 'x: 1');
	assert.equal((await call('GET', '/healthz')).status, 200);
	// A client that does not trust the certificate is stopped by TLS itself.
	await assert.rejects(
		() =>
			new Promise((resolve, reject) => {
				https.get({ host: '127.0.0.1', port: srv.port, path: '/healthz' }, resolve).on('error', reject);
			}),
		/self[- ]signed|certificate/i
	);
	// Plain HTTP to the TLS port gets no answer in the clear.
	const plain = await new Promise((resolve) => {
		const req = http.get({ host: '127.0.0.1', port: srv.port, path: '/healthz' }, (res) => resolve(res.statusCode));
		req.on('error', () => resolve('refused'));
		req.setTimeout(10000, () => req.destroy());
	});
	assert.notEqual(plain, 200, 'no plain-HTTP answer on the TLS port');
});

test('headers: 8 KiB of cookies and a bearer token are served; more is 431 in JSON', async (t) => {
	const srv = await withServer(t);
	const cookies = Array.from({ length: 14 }, (_, i) => `c${i}=${'x'.repeat(500)}`).join('; ');
	let r = await request(srv, 'GET', '/api/v1/auth/me', { headers: { ...bearer(srv.token), Cookie: cookies } });
	assertStatus(r, 200, `${cookies.length} bytes of cookies`);
	assert.equal(r.json.name, 'admin');
	r = await request(srv, 'GET', '/api/v1/auth/me', { headers: { ...bearer(srv.token), Cookie: cookies + 'y'.repeat(2000) } });
	assertError(r, 431, 'headers_too_large');
});
