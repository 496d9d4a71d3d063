'use strict';
// The console in a real browser: Debian's Chromium driven by playwright-core
// (pinned in package.json). openConsole() starts one browser per test and
// watches everything the page does: a page error, a console error, a request
// that fails or an answer of 400 or more fails the test when it ends, unless
// the test said it expects that answer (expect(status, urlPart)). Screenshots
// go to $HOTCONF_ARTIFACTS (ctest sets it under the build directory).

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.HOTCONF_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.HOTCONF_ARTIFACTS || path.join(__dirname, '..', '..', 'build', 'artifacts');

async function openConsole(t, srv, { width = 1024, height = 768 } = {}) {
	const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
	const context = await browser.newContext({ viewport: { width, height }, baseURL: srv.url });
	const page = await context.newPage();
	const expected = []; // {status, part, used}
	const problems = [];
	const isExpected = (status, url) => {
		const e = expected.find((x) => x.status === status && url.includes(x.part));
		if (e) e.used++;
		return !!e;
	};
	page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
	page.on('console', (msg) => {
		if (msg.type() !== 'error') return;
		const text = msg.text();
		const m = /status of (\d+)/.exec(text);
		const url = (msg.location() && msg.location().url) || '';
		// Chromium logs each failed answer; those the test expects are fine.
		if (m && expected.some((x) => x.status === Number(m[1]) && url.includes(x.part))) return;
		problems.push(`console error: ${text} (${url})`);
	});
	page.on('requestfailed', (req) => problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure() && req.failure().errorText}`));
	page.on('response', (res) => {
		if (res.status() >= 400 && !isExpected(res.status(), res.url()))
			problems.push(`unexpected ${res.status()} for ${res.request().method()} ${res.url()}`);
	});
	const b = {
		browser,
		context,
		page,
		problems,
		// From now on an answer of status to a URL containing part is expected.
		expect(status, part) {
			expected.push({ status, part, used: 0 });
		},
		async login(user, password) {
			await page.getByLabel('User').fill(user);
			await page.getByLabel('Password').fill(password);
			await page.getByRole('button', { name: 'Log in' }).click();
		},
		async screenshot(name) {
			fs.mkdirSync(ARTIFACTS, { recursive: true });
			await page.screenshot({ path: path.join(ARTIFACTS, `console-${name}.png`), fullPage: true });
		},
		// Sets the code editor's content the way a paste would.
		async setEditor(text) {
			await page.locator('.CodeMirror').first().waitFor();
			await page.evaluate((v) => document.querySelector('.CodeMirror').CodeMirror.setValue(v), text);
		},
		// Fails when the page did anything wrong so far.
		checkClean(when = '') {
			assert.deepEqual(problems, [], `the console misbehaved${when ? ' ' + when : ''}`);
		},
	};
	t.after(async () => {
		// A flow that failed early says what the page did wrong first.
		if (problems.length) console.error(`console problems:\n  ${problems.join('\n  ')}`);
		await browser.close();
	});
	return b;
}

/* Runs fn(b) and, whatever happens, checks the page stayed clean. */
async function withConsole(t, srv, fn, opts) {
	const b = await openConsole(t, srv, opts);
	await fn(b);
	b.checkClean('during the flow');
}

module.exports = { openConsole, withConsole, ARTIFACTS };
