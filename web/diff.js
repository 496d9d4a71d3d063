// diff.js: line diffs for the console (Myers' O(ND) algorithm), shown side
// by side: old on the left, new on the right, changed lines paired.

import { h } from './ui.js';

function lines(text) {
  if (!text) return [];
  const out = text.split('\n');
  if (out[out.length - 1] === '') out.pop();
  return out;
}

// The edit script from a to b: [{op: ' '|'-'|'+', a: line?, b: line?}].
export function diffLines(aText, bText) {
  const a = lines(aText);
  const b = lines(bText);
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace = [];
  let found = false;
  for (let d = 0; d <= max && !found; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) {
        found = true;
        break;
      }
    }
  }
  // Walk back through the saved frontiers.
  const ops = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0 && (x > 0 || y > 0); d--) {
    const vv = trace[d];
    const k = x - y;
    const down = k === -d || (k !== d && vv[off + k - 1] < vv[off + k + 1]);
    const pk = down ? k + 1 : k - 1;
    const px = d === 0 ? 0 : vv[off + pk];
    const py = px - pk;
    while (x > px && y > py) ops.push({ op: ' ', a: a[--x], b: b[--y] });
    if (d > 0) {
      if (down) ops.push({ op: '+', b: b[--y] });
      else ops.push({ op: '-', a: a[--x] });
    }
  }
  while (x > 0 && y > 0) ops.push({ op: ' ', a: a[--x], b: b[--y] });
  return ops.reverse();
}

export function diffStats(ops) {
  let add = 0;
  let del = 0;
  for (const o of ops) {
    if (o.op === '+') add++;
    else if (o.op === '-') del++;
  }
  return { add, del };
}

// Rows of a side-by-side view: runs of '-' and '+' are paired line by line.
function pairRows(ops) {
  const rows = [];
  let la = 0;
  let lb = 0;
  for (let i = 0; i < ops.length; ) {
    if (ops[i].op === ' ') {
      rows.push({ kind: 'same', la: ++la, a: ops[i].a, lb: ++lb, b: ops[i].b });
      i++;
      continue;
    }
    const dels = [];
    const adds = [];
    while (i < ops.length && ops[i].op !== ' ') {
      if (ops[i].op === '-') dels.push(ops[i].a);
      else adds.push(ops[i].b);
      i++;
    }
    for (let j = 0; j < Math.max(dels.length, adds.length); j++) {
      const r = { kind: 'change' };
      if (j < dels.length) Object.assign(r, { la: ++la, a: dels[j] });
      if (j < adds.length) Object.assign(r, { lb: ++lb, b: adds[j] });
      rows.push(r);
    }
  }
  return rows;
}

// A side-by-side diff table; unchanged runs longer than 2*context lines
// are folded.
export function sideBySide(aText, bText, { aLabel = 'before', bLabel = 'after', context = 3 } = {}) {
  const ops = diffLines(aText, bText);
  const rows = pairRows(ops);
  const st = diffStats(ops);
  const keep = rows.map(() => false);
  rows.forEach((r, i) => {
    if (r.kind !== 'same') for (let j = Math.max(0, i - context); j <= Math.min(rows.length - 1, i + context); j++) keep[j] = true;
  });
  const body = [];
  let skipped = 0;
  const flush = () => {
    if (skipped) body.push(h('tr', { class: 'fold' }, h('td', { colspan: 4 }, `… ${skipped} unchanged line${skipped > 1 ? 's' : ''}`)));
    skipped = 0;
  };
  rows.forEach((r, i) => {
    if (!keep[i]) {
      skipped++;
      return;
    }
    flush();
    const aCls = r.kind === 'same' ? '' : r.a !== undefined ? 'del' : 'none';
    const bCls = r.kind === 'same' ? '' : r.b !== undefined ? 'add' : 'none';
    body.push(
      h(
        'tr',
        {},
        h('td', { class: 'ln' }, r.la || ''),
        h('td', { class: `code ${aCls}` }, r.a ?? ''),
        h('td', { class: 'ln' }, r.lb || ''),
        h('td', { class: `code ${bCls}` }, r.b ?? ''),
      ),
    );
  });
  flush();
  const same = st.add === 0 && st.del === 0;
  return h(
    'div',
    { class: 'diff' },
    h('div', { class: 'diff-stats' }, same ? 'No differences.' : `+${st.add} −${st.del} lines`),
    h(
      'table',
      { class: 'diff-table', 'aria-label': `diff of ${aLabel} and ${bLabel}` },
      h('thead', {}, h('tr', {}, h('th', { colspan: 2, scope: 'colgroup' }, aLabel), h('th', { colspan: 2, scope: 'colgroup' }, bLabel))),
      h('tbody', {}, body),
    ),
  );
}
