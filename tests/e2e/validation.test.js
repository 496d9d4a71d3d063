'use strict';
// Content validation as a publisher sees it: json and yaml nested deeper than
// 512 levels are refused with a 400 that says so and where (several shapes, up
// to ~120 KB), nesting within the limit is stored, a server validating several
// deep publishes at once still answers /healthz, and json with invalid UTF-8
// or a raw control character in a string is refused with its line and column.

const test = require('node:test');
const assert = require('node:assert/strict');
const { withServer, request, put, get, assertStatus, assertError, waitFor, describe } = require('./lib');

const G = 'DEFAULT_GROUP';
const LIMIT = 512;

/* Documents nested `depth` levels, and where level LIMIT + 1 opens
 * (1-based line and column) when they are deeper than the limit. */
const shapes = {
	'json arrays': (d) => ({ format: 'json', body: '['.repeat(d) + '1' + ']'.repeat(d), line: 1, col: LIMIT + 1 }),
	'json objects': (d) => ({
		format: 'json',
		body: '{"a":'.repeat(d) + 'true' + '}'.repeat(d),
		line: 1,
		col: 5 * LIMIT + 1,
	}),
	'json indented, one level per line': (d) => {
		let body = '';
		for (let i = 0; i < d; i++) body += ' '.repeat(i) + (i % 2 ? '{"k":\n' : '[\n');
		body += '0';
		for (let i = d; i-- > 0; ) body += i % 2 ? '}' : ']';
		return { format: 'json', body, line: LIMIT + 1, col: LIMIT + 1 };
	},
	'yaml flow sequences': (d) => ({ format: 'yaml', body: '['.repeat(d) + ']'.repeat(d), line: 1, col: LIMIT + 1 }),
	'yaml flow mappings': (d) => ({
		format: 'yaml',
		body: '{a: '.repeat(d) + 'v' + '}'.repeat(d) + '\n',
		line: 1,
		col: 4 * LIMIT + 1,
	}),
	'yaml block mappings, one level per line': (d) => {
		let body = '';
		for (let i = 0; i < d; i++) body += ' '.repeat(i) + 'a:\n';
		body += ' '.repeat(d) + 'v\n';
		return { format: 'yaml', body, line: LIMIT + 1, col: LIMIT + 1 };
	},
	'yaml compact block sequences': (d) => ({ format: 'yaml', body: '- '.repeat(d) + 'x\n', line: 1, col: 2 * LIMIT + 1 }),
	'yaml explicit keys': (d) => ({ format: 'yaml', body: '? '.repeat(d) + 'x\n', line: 1, col: 2 * LIMIT + 1 }),
};

function depthMessage(s) {
	return `invalid ${s.format} at line ${s.line}, column ${s.col}: nesting deeper than ${LIMIT} levels`;
}

test('content: nesting past 512 levels is 400 with the depth and where; 512 is stored', async (t) => {
	const srv = await withServer(t);
	let n = 0;
	for (const [name, make] of Object.entries(shapes)) {
		// One level per line costs bytes with the square of the depth: ~135 KB at 520.
		const most = name.includes('per line') ? LIMIT + 8 : 2000;
		for (const depth of [LIMIT - 1, LIMIT, LIMIT + 1, LIMIT + 2, most]) {
			const s = make(depth);
			const id = `deep-${n++}`;
			const what = `${name}, ${depth} levels (${s.body.length} bytes)`;
			const r = await put(srv, 'public', G, id, s.body, { query: { format: s.format }, expect: depth > LIMIT ? 400 : 201 });
			if (depth > LIMIT) {
				assert.equal(assertError(r, 400, 'invalid_argument', what), depthMessage(s), what);
				assertError(await get(srv, 'public', G, id), 404, 'not_found', `${what}: nothing stored`);
			} else {
				const g = await get(srv, 'public', G, id);
				assertStatus(g, 200, what);
				assert.equal(g.text, s.body, `${what}: stored as sent`);
			}
		}
	}
});

test('content: ~120 KB of nesting is refused at level 513, whatever follows', async (t) => {
	const srv = await withServer(t);
	const big = 120 * 1024;
	const cases = [
		{ format: 'json', body: '['.repeat(big), line: 1, col: LIMIT + 1 },
		{ format: 'json', body: '['.repeat(big / 2) + ']'.repeat(big / 2), line: 1, col: LIMIT + 1 },
		{ format: 'json', body: '{"a":'.repeat(big / 5), line: 1, col: 5 * LIMIT + 1 },
		{ format: 'yaml', body: '['.repeat(big), line: 1, col: LIMIT + 1 },
		{ format: 'yaml', body: '{a: '.repeat(big / 4), line: 1, col: 4 * LIMIT + 1 },
		{ format: 'yaml', body: '- '.repeat(big / 2) + 'x', line: 1, col: 2 * LIMIT + 1 },
		{ format: 'yaml', body: '[\n'.repeat(big / 2), line: LIMIT + 1, col: 1 },
	];
	for (const [i, s] of cases.entries()) {
		const what = `${s.format} ${JSON.stringify(s.body.slice(0, 8))}... (${s.body.length} bytes)`;
		const r = await put(srv, 'public', G, `big-${i}`, s.body, { query: { format: s.format }, expect: 400 });
		assert.equal(assertError(r, 400, 'invalid_argument', what), depthMessage(s), what);
	}
	// Within the limit, a large document is stored.
	const wide = '['.repeat(LIMIT - 12) + '1, '.repeat(40 * 1024) + '1' + ']'.repeat(LIMIT - 12);
	for (const format of ['json', 'yaml']) {
		await put(srv, 'public', G, `wide-${format}`, wide, { query: { format }, expect: 201 });
		assert.equal((await get(srv, 'public', G, `wide-${format}`)).text, wide);
	}
});

test('content: /healthz answers while deep yaml publishes are validated', async (t) => {
	const srv = await withServer(t);
	const big = 120 * 1024;
	const waves = [
		{ body: '['.repeat(big), expect: 400 },
		{ body: '{a: '.repeat(big / 4), expect: 400 },
		{ body: '- '.repeat(big / 2) + 'x', expect: 400 },
		// The most that is accepted: 500 levels, then ~120 KB of items at that depth.
		{ body: '['.repeat(500) + '1, '.repeat(40 * 1024) + '1' + ']'.repeat(500), expect: 201 },
	];
	for (const [w, wave] of waves.entries()) {
		const puts = [];
		for (let i = 0; i < 8; i++)
			puts.push(request(srv, 'PUT', `/api/v1/configs/public/${G}/w${w}-${i}?format=yaml`, { body: wave.body }));
		const h = await waitFor(
			async () => {
				const r = await request(srv, 'GET', '/healthz', { signal: AbortSignal.timeout(5000) });
				return r.status === 200 ? r : null;
			},
			{ timeoutMs: 15000, what: `GET /healthz to answer 200 while 8 yaml publishes (wave ${w}) are validated` }
		);
		assert.equal(h.json.status, 'ok');
		const results = await Promise.allSettled(puts);
		for (const [i, res] of results.entries()) {
			assert.equal(res.status, 'fulfilled', `wave ${w} PUT ${i}: ${res.reason}`);
			const r = res.value;
			if (wave.expect === 400)
				assert.match(
					assertError(r, 400, 'invalid_argument', `wave ${w} PUT ${i}`),
					/^invalid yaml at line 1, column \d+: nesting deeper than 512 levels$/
				);
			else assertStatus(r, 201, `wave ${w} PUT ${i}`);
		}
	}
});

test('content: json with invalid UTF-8 or a raw control character in a string is 400 at its place', async (t) => {
	const srv = await withServer(t);
	const b = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
	const cases = [
		// [body, message after "invalid json at "]
		[b('{\n  "name": "caf', [0xff], '"\n}'), 'line 2, column 15: invalid UTF-8'],
		[b('{"k": "\u00e9', [0xc0, 0xaf], '"}'), 'line 1, column 9: invalid UTF-8'],
		[b('["ok",\n "', [0xed, 0xa0, 0x80], '"]'), 'line 2, column 3: invalid UTF-8'],
		[b('["\u20ac', [0xe2, 0x82], '"]'), 'line 1, column 4: invalid UTF-8'],
		[b('{"a": "x', [0x00], 'y"}'), 'line 1, column 9: control character U+0000 in a string'],
		[b('{"a":\n\n  "tab\there"}'), 'line 3, column 7: control character U+0009 in a string'],
		[b('{"a": 1}', [0x00]), 'line 1, column 9: unexpected content after the value'],
	];
	for (const [i, [body, want]] of cases.entries()) {
		const what = `json ${JSON.stringify(body.toString('latin1'))}`;
		const r = await put(srv, 'public', G, `bad-${i}`, body, { query: { format: 'json' }, expect: 400 });
		assert.equal(assertError(r, 400, 'invalid_argument', what), `invalid json at ${want}`, what);
		assertError(await get(srv, 'public', G, `bad-${i}`), 404, 'not_found', `${what}: nothing stored`);
	}
	// The same characters, written properly, are stored.
	const good = b('{"name": "caf\u00e9 \u20ac \ud83d\ude00", "nul": "x\\u0000y", "tab": "a\\tb"}');
	await put(srv, 'public', G, 'good', good, { query: { format: 'json' }, expect: 201 });
	assert.ok((await get(srv, 'public', G, 'good')).buf.equals(good));
});
