'use strict';
// The web console in a real Chromium: what a user does there, checked
// through the public API as well as on the page. Each flow fails on any page
// error, console error or unexpected failed request (browser.js).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { withServer, request, cfgPath, waitFor, md5 } = require('./lib');
const { openConsole } = require('./browser');

const G = 'DEFAULT_GROUP';

async function apiLogin(srv, username, password) {
	const r = await request(srv, 'POST', '/api/v1/auth/login', { body: { username, password }, anonymous: true });
	return r;
}

async function history(srv, ns, dataId) {
	const r = await request(srv, 'GET', cfgPath(ns, G, dataId, '/history'));
	assert.equal(r.status, 200, r.text);
	return r.json.items;
}

test('the console files: content types, ETag, strict CSP, no framing, JSON 404 for the rest', async (t) => {
	const srv = await withServer(t);
	const root = await request(srv, 'GET', '/', { anonymous: true });
	assert.equal(root.status, 200);
	assert.match(root.headers.get('content-type'), /^text\/html/);
	const csp = root.headers.get('content-security-policy');
	assert.match(csp, /script-src 'self'/);
	assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
	assert.match(csp, /frame-ancestors 'none'/);
	assert.equal(root.headers.get('x-frame-options'), 'DENY');
	assert.equal(root.headers.get('referrer-policy'), 'no-referrer');
	assert.doesNotMatch(root.text, /<script>|<script(?![^>]*\bsrc=)[^>]*>|\son\w+=/i, 'no inline script or handler');
	const js = await request(srv, 'GET', '/app.js', { anonymous: true });
	assert.match(js.headers.get('content-type'), /^text\/javascript/);
	const etag = js.headers.get('etag');
	assert.equal(etag, `"${md5(js.text)}"`);
	const again = await request(srv, 'GET', '/app.js', { anonymous: true, headers: { 'If-None-Match': etag } });
	assert.equal(again.status, 304);
	const css = await request(srv, 'GET', '/vendor/codemirror-5.65.20/codemirror.css', { anonymous: true });
	assert.match(css.headers.get('content-type'), /^text\/css/);
	for (const p of ['/nope.js', '/api/v1/nope']) {
		const r = await request(srv, 'GET', p, { anonymous: true });
		assert.equal(r.status, 404, p);
		assert.equal(r.json.error.code, 'not_found', p);
	}
	const wrong = await request(srv, 'DELETE', '/api/v1/auth/me');
	assert.equal(wrong.status, 405, 'an API path keeps its 405');
	// The vendored editor is the npm package at the pinned version, unchanged.
	const pkg = path.join(__dirname, 'node_modules', 'codemirror');
	assert.equal(JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'))).version, '5.65.20');
	const served = await request(srv, 'GET', '/vendor/codemirror-5.65.20/codemirror.js', { anonymous: true });
	assert.equal(served.text, fs.readFileSync(path.join(pkg, 'lib', 'codemirror.js'), 'utf8'));
	const lic = await request(srv, 'GET', '/vendor/codemirror-5.65.20/LICENSE', { anonymous: true });
	assert.match(lic.text, /MIT/);
});

test('first login with the made-up password asks for a new one; the old one stops working', async (t) => {
	const srv = await withServer(t, { login: false, env: { HOTCONF_ADMIN_PASSWORD: '' } });
	const initial = fs.readFileSync(path.join(srv.dataDir, 'initial-admin-password'), 'utf8').trim();
	const b = await openConsole(t, srv);
	const { page } = b;
	b.expect(401, '/api/v1/auth/me'); // nobody is logged in yet
	await page.goto('/');
	await page.getByRole('button', { name: 'Log in' }).waitFor();
	await b.screenshot('login');
	// With the keyboard alone: the user field has the focus.
	await page.keyboard.type('admin');
	await page.keyboard.press('Tab');
	await page.keyboard.type(initial);
	await page.keyboard.press('Enter');
	await page.getByText('This is the password hotconf made up').waitFor();
	assert.match(page.url(), /#\/account\?initial=1/);
	// Every other page sends the admin back here until the password is changed.
	await page.goto('/#/configs');
	await page.getByText('This is the password hotconf made up').waitFor();
	await page.getByLabel('Current password').fill(initial);
	await page.getByLabel('New password', { exact: true }).fill('a-new-admin-password');
	await page.getByLabel('New password, again').fill('a-new-admin-password');
	await page.getByRole('button', { name: 'Change password' }).click();
	await page.getByRole('heading', { name: /Configs in/ }).waitFor();
	b.checkClean();
	assert.equal((await apiLogin(srv, 'admin', 'a-new-admin-password')).status, 200);
	assert.equal((await apiLogin(srv, 'admin', initial)).status, 401);
	assert.ok(!fs.existsSync(path.join(srv.dataDir, 'initial-admin-password')), 'the password file is gone');
	// Log out: the session ends and the login page is back.
	await page.getByRole('button', { name: 'Log out' }).click();
	await page.getByRole('button', { name: 'Log in' }).waitFor();
	b.checkClean();
});

test('a YAML config: create, an invalid edit marked at its line, v2, diff v1 and v2, roll back to v1', async (t) => {
	const srv = await withServer(t);
	const b = await openConsole(t, srv);
	const { page } = b;
	b.expect(401, '/api/v1/auth/me');
	await page.goto('/');
	await b.login('admin', srv.adminPassword);
	await page.getByRole('heading', { name: /Configs in/ }).waitFor();

	const v1 = 'server:\n  port: 8080\nfeature: false\n';
	await page.getByRole('link', { name: 'New config' }).click();
	// The editor page first: until it replaces the list, 'dataId' would also
	// match the list's search box ("Search by dataId or group").
	await page.getByRole('heading', { name: 'New config' }).waitFor();
	await page.getByLabel('dataId', { exact: true }).fill('app.yaml');
	await b.setEditor(v1);
	await page.getByRole('button', { name: 'Publish…' }).click();
	const dlg = page.getByRole('dialog');
	await dlg.getByText('+3 −0 lines').waitFor();
	await dlg.getByLabel('Message').fill('first version');
	await dlg.getByRole('button', { name: 'Publish' }).click();
	await page.getByText('Published version 1.').waitFor();
	let r = await request(srv, 'GET', cfgPath('public', G, 'app.yaml'));
	assert.equal(r.status, 200);
	assert.equal(r.text, v1);
	assert.equal(r.headers.get('x-hotconf-format'), 'yaml');
	assert.equal((await history(srv, 'public', 'app.yaml'))[0].message, 'first version');

	// An invalid edit: the server's error is shown at its line, nothing is stored.
	await page.locator('.CodeMirror').waitFor();
	await b.setEditor('server:\n  port: [8080\nfeature: true\n');
	b.expect(400, cfgPath('public', G, 'app.yaml'));
	await page.locator('.CodeMirror textarea').focus();
	await page.keyboard.press('Control+S'); // from the editor, after the diff
	await page.getByRole('dialog').getByRole('button', { name: 'Publish' }).click();
	const err = page.locator('.validation');
	await err.waitFor();
	const line = Number(await err.getAttribute('data-line'));
	assert.match(await err.textContent(), new RegExp(`line ${line}\\b`), 'the message names the marked line');
	assert.ok(line >= 2 && line <= 4, `marked line ${line}`);
	const marked = await page.evaluate(() => {
		const cm = document.querySelector('.CodeMirror').CodeMirror;
		const out = [];
		for (let i = 0; i < cm.lineCount(); i++) {
			const info = cm.lineInfo(i);
			if ((info.bgClass || '').includes('cm-error-line')) out.push(i + 1);
		}
		return out;
	});
	assert.deepEqual(marked, [line], 'the editor marks that line');
	await b.screenshot('editor-error');
	assert.equal((await request(srv, 'GET', cfgPath('public', G, 'app.yaml'))).headers.get('x-hotconf-version'), '1');

	const v2 = 'server:\n  port: 9090\nfeature: true\n';
	await b.setEditor(v2);
	assert.equal(await page.locator('.validation').count(), 0, 'an edit clears the mark');
	await page.getByRole('button', { name: 'Publish…' }).click();
	await page.getByRole('dialog').getByText('+2 −2 lines').waitFor();
	await page.getByRole('dialog').getByLabel('Message').fill('port 9090');
	await page.getByRole('dialog').getByRole('button', { name: 'Publish' }).click();
	await page.getByText('Published version 2.').waitFor();
	r = await request(srv, 'GET', cfgPath('public', G, 'app.yaml'));
	assert.equal(r.text, v2);
	await b.screenshot('editor');

	// History: v1 against v2, side by side.
	await page.getByRole('link', { name: 'History' }).click();
	await page.getByLabel('Compare from version').selectOption('1');
	await page.getByLabel('Compare to version').selectOption('2');
	await page.getByRole('button', { name: 'Compare' }).click();
	const table = page.getByRole('table', { name: 'diff of v1 and v2' });
	await table.waitFor();
	assert.deepEqual(await table.locator('td.del').allTextContents(), ['  port: 8080', 'feature: false']);
	assert.deepEqual(await table.locator('td.add').allTextContents(), ['  port: 9090', 'feature: true']);
	await b.screenshot('history');

	// Roll back to v1 after a confirmation that shows the diff.
	await page.locator('tr[data-version="1"]').getByRole('button', { name: 'Roll back…' }).click();
	const confirm = page.getByRole('dialog');
	await confirm.getByRole('table', { name: 'diff of v2 (current) and v1' }).waitFor();
	await confirm.getByLabel('Message').fill('back to v1');
	await confirm.getByRole('button', { name: 'Roll back to v1' }).click();
	await page.getByText("version 3 holds v1's content").waitFor();
	r = await request(srv, 'GET', cfgPath('public', G, 'app.yaml'));
	assert.equal(r.headers.get('x-hotconf-version'), '3');
	assert.equal(r.text, v1);
	const h = await history(srv, 'public', 'app.yaml');
	assert.deepEqual([h[0].version, h[0].op, h[0].message, h[0].author], [3, 'rollback', 'back to v1', 'admin']);

	// The list: search, and the columns a user scans.
	await page.getByRole('link', { name: 'Configs', exact: true }).click();
	await page.getByRole('link', { name: 'app.yaml' }).waitFor();
	const row = page.locator('table.grid tbody tr').first();
	assert.match(await row.textContent(), /app\.yaml.*DEFAULT_GROUP.*yaml.*3.*admin/);
	await page.getByLabel('Search by dataId or group').fill('nothing-like-it');
	await page.getByText('No config matches.').waitFor();
	await page.getByLabel('Search by dataId or group').fill('app');
	await page.getByRole('link', { name: 'app.yaml' }).waitFor();
	await b.screenshot('configs');
	b.checkClean();
});

/* Four instances read the config now: two labelled env=canary. */
async function fleet(srv, dataId) {
	for (let i = 1; i <= 4; i++) {
		const r = await request(srv, 'GET', cfgPath('public', G, dataId), {
			headers: { 'X-Hotconf-Instance': `pod-${i}`, 'X-Hotconf-Labels': i <= 2 ? 'env=canary' : 'env=prod' },
		});
		assert.equal(r.status, 200, r.text);
	}
}

async function consoleAsAdmin(t, srv) {
	const b = await openConsole(t, srv);
	b.expect(401, '/api/v1/auth/me');
	await b.page.goto('/');
	await b.login('admin', srv.adminPassword);
	await b.page.getByRole('heading', { name: /Configs in/ }).waitFor();
	return b;
}

test('a gray rule: preview how many listeners it matches, create it, watch listeners fall behind, promote it', async (t) => {
	const srv = await withServer(t);
	assert.equal((await request(srv, 'PUT', cfgPath('public', G, 'app.yaml', '?format=yaml'), { body: 'port: 1\n' })).status, 201);
	await fleet(srv, 'app.yaml');
	const b = await consoleAsAdmin(t, srv);
	const { page } = b;
	const base = `/#/config/public/${G}/app.yaml`;

	await page.goto(`${base}/listeners`);
	const summary = page.locator('[data-onlatest]');
	await page.getByText('4 of 4 on latest').waitFor();
	await page.getByRole('link', { name: 'Gray rules' }).click();
	await page.getByRole('button', { name: 'New gray rule' }).click();
	await page.getByLabel('Rule name').fill('canary');
	await page.getByLabel('Labels').fill('env=canary');
	await b.setEditor('port: 2\n');
	await page.getByRole('button', { name: 'Diff against main' }).click();
	await page.getByRole('table', { name: 'diff of main v1 and this rule' }).waitFor();
	await page.getByRole('button', { name: 'Preview listeners' }).click();
	const preview = page.locator('[data-matched]');
	await preview.waitFor();
	assert.deepEqual([await preview.getAttribute('data-matched'), await preview.getAttribute('data-listeners')], ['2', '4']);
	assert.match(await preview.textContent(), /Matches 2 of 4 current listeners/);
	await b.screenshot('gray-edit');
	await page.getByLabel('Message').fill('canary first');
	await page.getByRole('button', { name: 'Create rule' }).click();
	await page.locator('tr[data-rule="canary"]').waitFor();
	const rule = await request(srv, 'GET', cfgPath('public', G, 'app.yaml', '/gray/canary'));
	assert.equal(rule.status, 200);
	assert.deepEqual([rule.json.content, rule.json.match.labels, rule.json.message], ['port: 2\n', 'env=canary', 'canary first']);
	const pod1 = await request(srv, 'GET', cfgPath('public', G, 'app.yaml'), { headers: { 'X-Hotconf-Instance': 'pod-1', 'X-Hotconf-Labels': 'env=canary' } });
	assert.deepEqual([pod1.text, pod1.headers.get('x-hotconf-gray')], ['port: 2\n', 'canary']);

	// The listeners view, live: pod-2 has not re-read, so it is behind.
	await page.getByRole('link', { name: 'Listeners' }).click();
	await page.getByText('3 of 4 on latest').waitFor();
	assert.equal(await summary.getAttribute('data-total'), '4');
	await page.locator('tr[data-instance="pod-2"]').getByText('behind').waitFor();
	await request(srv, 'GET', cfgPath('public', G, 'app.yaml'), { headers: { 'X-Hotconf-Instance': 'pod-2', 'X-Hotconf-Labels': 'env=canary' } });
	await page.getByText('4 of 4 on latest').waitFor(); // without a reload
	await b.screenshot('listeners');

	await page.getByRole('link', { name: 'Gray rules' }).click();
	await page.getByRole('button', { name: 'Promote canary' }).click();
	await page.getByRole('dialog').getByRole('button', { name: 'Promote' }).click();
	await page.getByText('Promoted canary: main is now version').waitFor();
	const main = await request(srv, 'GET', cfgPath('public', G, 'app.yaml'));
	assert.equal(main.text, 'port: 2\n');
	assert.equal(main.headers.get('x-hotconf-gray'), null);
	assert.deepEqual((await request(srv, 'GET', cfgPath('public', G, 'app.yaml', '/gray'))).json.rules, []);
	b.checkClean();
});

test('a rollout: steered by hand (pause, advance, resume), and one that advances by itself to a promote', async (t) => {
	const srv = await withServer(t, { args: ['--rollout-min-interval', '1s'] });
	for (const d of ['steer.yaml', 'wave.yaml'])
		assert.equal((await request(srv, 'PUT', cfgPath('public', G, d, '?format=yaml'), { body: 'v: 1\n' })).status, 201);
	const b = await consoleAsAdmin(t, srv);
	const { page } = b;
	const newPlan = async (dataId, name, steps, interval, content) => {
		await page.goto(`/#/config/public/${G}/${dataId}/gray`);
		await page.getByRole('button', { name: 'New gray rule' }).click();
		await page.getByLabel('Rule name').fill(name);
		await page.getByLabel('Roll out in steps').check();
		await page.getByLabel('Steps (percent)').fill(steps);
		await page.getByLabel('Interval').fill(interval);
		await b.setEditor(content);
		await page.getByRole('button', { name: 'Create rule' }).click();
		await page.locator(`tr[data-rule="${name}"]`).waitFor();
	};
	const state = async (dataId, name) => (await request(srv, 'GET', cfgPath('public', G, dataId, `/gray/${name}`))).json.rollout;
	const shown = (name) => page.locator(`tr[data-rule="${name}"] .rollout`);

	await newPlan('steer.yaml', 'slow', '10, 50, 100', '60m', 'v: 2\n');
	await shown('slow').and(page.locator('[data-state="running"][data-step="1"]')).waitFor();
	await page.getByRole('button', { name: 'Pause slow' }).click();
	await shown('slow').and(page.locator('[data-state="paused"]')).waitFor();
	assert.deepEqual([(await state('steer.yaml', 'slow')).state, (await state('steer.yaml', 'slow')).step], ['paused', 1]);
	await page.getByRole('button', { name: 'Advance slow' }).click();
	await page.getByRole('dialog').getByRole('button', { name: 'Advance' }).click();
	await shown('slow').and(page.locator('[data-state="paused"][data-step="2"]')).waitFor();
	await page.getByRole('button', { name: 'Resume slow' }).click();
	await shown('slow').and(page.locator('[data-state="running"][data-step="2"]')).waitFor();
	const s = await state('steer.yaml', 'slow');
	assert.deepEqual([s.state, s.step, s.percent], ['running', 2, 50]);
	await b.screenshot('rollout');

	// Nobody listens to wave.yaml, so each step needs only its interval.
	await newPlan('wave.yaml', 'wave', '25, 50, 75, 100', '2s', 'v: 3\n');
	let maxStep = 0;
	await waitFor(
		async () => {
			const step = await page.evaluate(() => {
				const el = document.querySelector('tr[data-rule="wave"] .rollout');
				return el ? Number(el.dataset.step) : -1;
			});
			if (step > maxStep) maxStep = step;
			return step === -1 && maxStep > 1;
		},
		{ timeoutMs: 60000, intervalMs: 100, what: 'the page to show the rollout advance, then promote' }
	);
	assert.ok(maxStep >= 2, `the page showed step ${maxStep}`);
	assert.equal((await request(srv, 'GET', cfgPath('public', G, 'wave.yaml'))).text, 'v: 3\n', 'promoted after the last step');
	const ops = (await history(srv, 'public', 'wave.yaml')).map((e) => e.op);
	assert.ok(ops.filter((o) => o === 'gray-step').length >= 3, ops.join(','));
	assert.equal(ops[0], 'gray-promote');
	b.checkClean();
});

async function user(srv, name, password, role) {
	assert.equal((await request(srv, 'POST', '/api/v1/users', { body: { name, password } })).status, 201);
	if (role) assert.equal((await request(srv, 'PUT', `/api/v1/namespaces/public/grants/${name}`, { body: { role } })).status, 200);
}

test('a reader sees no publish controls, and a publish forced from the page gets 403', async (t) => {
	const srv = await withServer(t);
	assert.equal((await request(srv, 'PUT', cfgPath('public', G, 'app.yaml', '?format=yaml'), { body: 'a: 1\n' })).status, 201);
	await user(srv, 'rita', 'rita-password-1', 'reader');
	const b = await openConsole(t, srv);
	const { page } = b;
	b.expect(401, '/api/v1/auth/me');
	await page.goto('/');
	await b.login('rita', 'rita-password-1');
	await page.getByRole('link', { name: 'app.yaml' }).click();
	await page.getByText('You may read public but not publish in it.').waitFor();
	assert.equal(await page.locator('.CodeMirror').count(), 1, 'the content is shown');
	for (const name of ['Publish…', 'Delete…', 'Propose change…'])
		assert.equal(await page.getByRole('button', { name }).count(), 0, `no ${name} button`);
	await page.getByRole('link', { name: 'History' }).click();
	await page.locator('tr[data-version="1"]').waitFor();
	assert.equal(await page.getByRole('button', { name: 'Roll back…' }).count(), 0, 'no rollback');
	await page.getByRole('link', { name: 'Configs', exact: true }).click();
	await page.getByRole('heading', { name: /Configs in/ }).waitFor();
	assert.equal(await page.getByRole('link', { name: 'New config' }).count(), 0, 'no New config');
	await b.screenshot('reader');
	// The page hides the button; the server is what refuses.
	b.expect(403, cfgPath('public', G, 'app.yaml'));
	const forced = await page.evaluate(async (url) => {
		const r = await fetch(url, { method: 'PUT', body: 'a: 2\n', headers: { 'X-Hotconf-CSRF': sessionStorage.getItem('hotconf.csrf') } });
		return { status: r.status, body: await r.json() };
	}, cfgPath('public', G, 'app.yaml'));
	assert.equal(forced.status, 403);
	assert.equal(forced.body.error.code, 'forbidden');
	assert.equal((await request(srv, 'GET', cfgPath('public', G, 'app.yaml'))).text, 'a: 1\n', 'nothing changed');
	b.checkClean();
});

test('a namespace fed from git: the admin sees where it comes from and no publish controls; a forced publish gets 409', async (t) => {
	const repo = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'hotconf-console-git-'));
	t.after(() => fs.rmSync(repo, { recursive: true, force: true }));
	const git = (...a) => execFileSync('git', ['-C', repo, ...a], { env: { ...process.env, GIT_AUTHOR_NAME: 'Gus', GIT_AUTHOR_EMAIL: 'g@example.com', GIT_COMMITTER_NAME: 'Gus', GIT_COMMITTER_EMAIL: 'g@example.com' } });
	git('init', '-q', '-b', 'main');
	fs.mkdirSync(path.join(repo, 'team', G), { recursive: true });
	fs.writeFileSync(path.join(repo, 'team', G, 'app.yaml'), 'a: 1\n');
	git('add', '-A');
	git('commit', '-q', '-m', 'from git');
	const srv = await withServer(t, { args: ['--git-source', repo, '--git-interval', '100ms'] });
	await waitFor(async () => (await request(srv, 'GET', cfgPath('team', G, 'app.yaml'))).status === 200, { what: 'the git source to publish' });
	const b = await openConsole(t, srv);
	const { page } = b;
	b.expect(401, '/api/v1/auth/me');
	await page.goto('/');
	await b.login('admin', srv.adminPassword);
	await page.getByRole('combobox', { name: 'Namespace' }).selectOption('team');
	const notice = `Namespace team is fed from git ${repo} (ref main) and read-only here: change it there, and hotconf publishes the commit.`;
	await page.getByText(notice).waitFor();
	assert.equal(await page.getByRole('link', { name: 'New config' }).count(), 0, 'no New config');
	await page.getByRole('link', { name: 'app.yaml' }).click();
	await page.getByText(notice).waitFor();
	for (const name of ['Publish…', 'Delete…', 'Propose change…'])
		assert.equal(await page.getByRole('button', { name }).count(), 0, `no ${name} button`);
	b.expect(409, cfgPath('team', G, 'app.yaml'));
	const forced = await page.evaluate(async (url) => {
		const r = await fetch(url, { method: 'PUT', body: 'a: 2\n', headers: { 'X-Hotconf-CSRF': sessionStorage.getItem('hotconf.csrf') } });
		return { status: r.status, body: await r.json() };
	}, cfgPath('team', G, 'app.yaml'));
	assert.equal(forced.status, 409);
	assert.match(forced.body.error.message, /fed from git .* read-only here/);
	assert.equal((await request(srv, 'GET', cfgPath('team', G, 'app.yaml'))).text, 'a: 1\n', 'nothing changed');
	b.checkClean();
});

test('a session that ends sends the user to the login page, and back to where they were', async (t) => {
	const srv = await withServer(t);
	assert.equal((await request(srv, 'PUT', cfgPath('public', G, 'app.yaml', '?format=yaml'), { body: 'a: 1\n' })).status, 201);
	await user(srv, 'sam', 'sam-password-1', 'editor');
	const b = await openConsole(t, srv);
	const { page } = b;
	b.expect(401, '/api/v1/auth/me');
	await page.goto('/');
	await b.login('sam', 'sam-password-1');
	await page.getByRole('heading', { name: /Configs in/ }).waitFor();
	await page.goto(`/#/config/public/${G}/app.yaml/history`);
	await page.locator('tr[data-version="1"]').waitFor();
	// An admin resets sam's password: every session of sam's ends at once.
	assert.equal((await request(srv, 'PUT', '/api/v1/users/sam/password', { body: { password: 'sam-password-2' } })).status, 200);
	b.expect(401, '/api/v1/');
	await page.getByRole('link', { name: 'Content', exact: true }).click();
	await page.getByRole('button', { name: 'Log in' }).waitFor();
	await page.getByText('Your session has ended').waitFor();
	assert.match(decodeURIComponent(page.url()), /#\/login\?next=#\/config\/public\/DEFAULT_GROUP\/app\.yaml\/content/);
	await b.login('sam', 'sam-password-2');
	await page.getByRole('button', { name: 'Publish…' }).waitFor();
	assert.match(page.url(), /#\/config\/public\/DEFAULT_GROUP\/app\.yaml\/content$/);
	b.checkClean();
});

test('a service token made in the console works with fetch, for what its role allows', async (t) => {
	const srv = await withServer(t);
	assert.equal((await request(srv, 'PUT', cfgPath('public', G, 'app.yaml', '?format=yaml'), { body: 'a: 1\n' })).status, 201);
	const b = await consoleAsAdmin(t, srv);
	const { page } = b;
	await page.getByRole('link', { name: 'Admin', exact: true }).click();
	await page.getByRole('link', { name: 'Service tokens' }).click();
	const form = page.getByRole('form', { name: 'New service token' });
	await form.waitFor();
	await form.getByLabel('Name', { exact: true }).fill('web-prod');
	await form.getByLabel('Role').selectOption('reader');
	await form.getByRole('checkbox', { name: 'public' }).check();
	await form.getByRole('button', { name: 'Create token' }).click();
	const secret = (await page.getByTestId('token-secret').textContent()).trim();
	assert.ok(secret.length > 20, 'the secret is shown');
	await b.screenshot('tokens');
	const got = await fetch(srv.url + cfgPath('public', G, 'app.yaml'), { headers: { Authorization: `Bearer ${secret}` } });
	assert.equal(got.status, 200);
	assert.equal(await got.text(), 'a: 1\n');
	const put = await fetch(srv.url + cfgPath('public', G, 'app.yaml'), { method: 'PUT', body: 'a: 2\n', headers: { Authorization: `Bearer ${secret}` } });
	assert.equal(put.status, 403, 'a reader token may not publish');
	const listed = (await request(srv, 'GET', '/api/v1/tokens')).json.tokens;
	assert.deepEqual(listed.map((x) => [x.name, x.role]), [['web-prod', 'reader']]);
	assert.ok(!JSON.stringify(listed).includes(secret), 'the list never shows the secret');
	// Leaving the page and coming back: the secret is not shown again.
	await page.getByRole('link', { name: 'Configs', exact: true }).click();
	await page.getByRole('link', { name: 'Admin', exact: true }).click();
	await page.getByRole('link', { name: 'Service tokens' }).click();
	await page.getByRole('button', { name: 'Revoke token web-prod' }).waitFor();
	assert.equal(await page.getByTestId('token-secret').count(), 0);
	// The audit log, filtered by action, shows who made it.
	await page.getByRole('link', { name: 'Audit log' }).click();
	await page.getByLabel('Action').fill('token-create');
	await page.getByRole('button', { name: 'Apply filters' }).click();
	await page.waitForURL(/action=token-create/);
	// The filtered answer replaces the full list: wait for it, not for the first row.
	const rows = await waitFor(
		async () => {
			const t = await page.locator('table.grid tbody tr').allTextContents();
			return t.length === 1 && t[0].includes('token-create') ? t : null;
		},
		{ what: 'the audit log to show the one token-create entry' }
	);
	assert.match(rows[0], /admin/);
	b.checkClean();
});

test('a protected namespace: an edit becomes a change request, another user approves it, then it publishes', async (t) => {
	const srv = await withServer(t);
	assert.equal((await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'team', name: 'Team' } })).status, 201);
	assert.equal((await request(srv, 'PUT', cfgPath('team', G, 'app.yaml', '?format=yaml'), { body: 'port: 1\n' })).status, 201);
	assert.equal((await request(srv, 'PUT', '/api/v1/namespaces/team', { body: { review: { required: 1 } } })).status, 200);
	for (const [name, role] of [['ana', 'editor'], ['bo', 'approver']]) {
		assert.equal((await request(srv, 'POST', '/api/v1/users', { body: { name, password: `${name}-password-1` } })).status, 201);
		assert.equal((await request(srv, 'PUT', `/api/v1/namespaces/team/grants/${name}`, { body: { role } })).status, 200);
	}
	const b = await openConsole(t, srv);
	const { page } = b;
	b.expect(401, '/api/v1/auth/me');
	const as = async (name) => {
		if (await page.getByRole('button', { name: 'Log out' }).isVisible()) await page.getByRole('button', { name: 'Log out' }).click();
		await page.goto('/#/login');
		await b.login(name, `${name}-password-1`);
		await page.getByRole('heading', { name: /Configs in/ }).waitFor();
	};
	await as('ana');
	await page.goto(`/#/config/team/${G}/app.yaml`);
	await b.setEditor('port: 2\n');
	await page.getByRole('button', { name: 'Propose change…' }).click();
	await page.getByRole('dialog').getByLabel('Title (for a new request)').fill('port 2');
	await page.getByRole('dialog').getByRole('button', { name: 'Add to change request' }).click();
	await page.waitForURL(/#\/changes\/team\/1$/);
	await page.getByRole('button', { name: 'Submit for review' }).click();
	await waitFor(async () => (await request(srv, 'GET', '/api/v1/namespaces/team/changes/1')).json.state === 'open', { what: 'the request to be open' });
	assert.equal((await request(srv, 'GET', cfgPath('team', G, 'app.yaml'))).text, 'port: 1\n', 'nothing published yet');

	await as('bo');
	await page.goto('/#/changes/team/1');
	const diff = page.locator('.diff-table').first();
	await diff.waitFor();
	assert.deepEqual([await diff.locator('td.del').allTextContents(), await diff.locator('td.add').allTextContents()], [['port: 1'], ['port: 2']]);
	await b.screenshot('change-request');
	await page.getByRole('button', { name: 'Approve…' }).click();
	await page.getByRole('dialog').getByRole('button', { name: /^Approve/ }).click();
	await waitFor(async () => (await request(srv, 'GET', '/api/v1/namespaces/team/changes/1')).json.state === 'approved', { what: 'the approval' });

	await as('ana');
	await page.goto('/#/changes/team/1');
	await page.getByRole('button', { name: 'Publish now…' }).click();
	await page.getByRole('dialog').getByRole('button', { name: 'Publish now' }).click();
	await waitFor(async () => (await request(srv, 'GET', '/api/v1/namespaces/team/changes/1')).json.state === 'published', { what: 'the publish' });
	assert.equal((await request(srv, 'GET', cfgPath('team', G, 'app.yaml'))).text, 'port: 2\n');
	const h = await history(srv, 'team', 'app.yaml');
	assert.deepEqual([h[0].changeId, h[0].message, h[0].author], [1, 'port 2', 'ana']);
	b.checkClean();
});

test('anonymous reads: an admin opens a namespace to a network, a bad CIDR changes nothing, an owner only sees it, closing ends it', async (t) => {
	const srv = await withServer(t);
	assert.equal((await request(srv, 'POST', '/api/v1/namespaces', { body: { id: 'team', name: 'Team' } })).status, 201);
	assert.equal((await request(srv, 'PUT', cfgPath('team', G, 'app.yaml', '?format=yaml'), { body: 'a: 1\n' })).status, 201);
	assert.equal((await request(srv, 'POST', '/api/v1/users', { body: { name: 'olga', password: 'olga-password-1' } })).status, 201);
	assert.equal((await request(srv, 'PUT', '/api/v1/namespaces/team/grants/olga', { body: { role: 'owner' } })).status, 200);
	// What a client without a credential gets from here (127.0.0.1), and what the API shows.
	const anonRead = () => request(srv, 'GET', cfgPath('team', G, 'app.yaml'), { anonymous: true });
	const cidrs = async () => (await request(srv, 'GET', '/api/v1/namespaces')).json.namespaces.find((n) => n.id === 'team').anonymousRead.cidrs;
	assert.equal((await anonRead()).status, 401, 'closed by default');

	const b = await consoleAsAdmin(t, srv);
	const { page } = b;
	await page.goto('/#/admin/namespaces');
	const row = page.locator('tr[data-ns="team"]');
	await row.locator('td[data-anonymous="closed"]').waitFor();
	const edit = async (text) => {
		await page.getByRole('button', { name: 'Set anonymous reads of team' }).click();
		const dlg = page.getByRole('dialog', { name: 'Anonymous reads of team' });
		await dlg.getByLabel('Networks').fill(text);
		await dlg.getByRole('button', { name: 'Save' }).click();
		const sure = page.getByRole('dialog', { name: /anonymous reads\?$/ });
		await sure.getByRole('button', { name: 'Open to anonymous reads' }).click();
	};

	// Open it to 127.0.0.0/8: flagged on the row, and a credential-less read works.
	await edit('127.0.0.0/8');
	await row.locator('td[data-anonymous="open"]').getByText('127.0.0.0/8').waitFor();
	await page.getByRole('note').getByText('team').waitFor();
	await b.screenshot('anonymous-read');
	assert.deepEqual(await cidrs(), ['127.0.0.0/8']);
	const got = await anonRead();
	assert.deepEqual([got.status, got.text], [200, 'a: 1\n']);

	// A bad CIDR: the server's message in the dialog, the typed list kept, nothing changed.
	b.expect(400, '/api/v1/namespaces/team');
	await edit('127.0.0.0/8,\nnot-a-net');
	const dlg = page.getByRole('dialog', { name: 'Anonymous reads of team' });
	await dlg.getByRole('alert').filter({ hasText: 'anonymousRead.cidrs[1]: not an address or CIDR' }).waitFor();
	assert.match(await dlg.getByRole('alert').textContent(), /not-a-net/, 'the message names the entry');
	assert.equal(await dlg.getByLabel('Networks').inputValue(), '127.0.0.0/8\nnot-a-net');
	await dlg.getByRole('button', { name: 'Cancel' }).click();
	await dlg.waitFor({ state: 'detached' });
	assert.deepEqual(await cidrs(), ['127.0.0.0/8'], 'the bad list changed nothing');
	assert.equal((await anonRead()).status, 200);
	assert.deepEqual(await row.locator('td[data-anonymous="open"] code').allTextContents(), ['127.0.0.0/8']);
	b.checkClean('after the bad CIDR');

	// An owner sees it, flagged, but has no control for it (and the server would refuse).
	await page.getByRole('button', { name: 'Log out' }).click();
	await page.goto('/#/login');
	await b.login('olga', 'olga-password-1');
	await page.getByRole('heading', { name: /Configs in/ }).waitFor();
	await page.goto('/#/admin/namespaces');
	await row.locator('td[data-anonymous="open"]').getByText('127.0.0.0/8').waitFor();
	await row.getByRole('link', { name: 'Grants of team' }).waitFor(); // the owner's controls are there
	assert.equal(await page.getByRole('button', { name: 'Set anonymous reads of team' }).count(), 0, 'read-only for an owner');

	// The admin closes it: credential-less reads are refused again.
	await page.getByRole('button', { name: 'Log out' }).click();
	await page.goto('/#/login');
	await b.login('admin', srv.adminPassword);
	await page.getByRole('heading', { name: /Configs in/ }).waitFor();
	await page.goto('/#/admin/namespaces');
	await page.getByRole('button', { name: 'Set anonymous reads of team' }).click();
	await page.getByRole('dialog', { name: 'Anonymous reads of team' }).getByRole('button', { name: 'Close to anonymous reads' }).click();
	await page.getByRole('dialog', { name: 'Close team to anonymous reads?' }).getByRole('button', { name: 'Close to anonymous reads' }).click();
	await row.locator('td[data-anonymous="closed"]').waitFor();
	assert.equal(await page.getByRole('note').count(), 0, 'no namespace flagged open');
	assert.deepEqual(await cidrs(), []);
	assert.equal((await anonRead()).status, 401, 'closed again');
	const audit = (await request(srv, 'GET', '/api/v1/audit?action=namespace-anonymous-read')).json.items;
	assert.deepEqual(audit.map((a) => [a.actor, a.namespace]), [['admin', 'team'], ['admin', 'team']], 'opened and closed, the bad list not');
	b.checkClean();
});
