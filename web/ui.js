// ui.js: small DOM helpers shared by the console's pages.
//
// h('button', {class: 'primary', onclick: fn}, 'Save') builds an element;
// attributes starting with "on" become listeners, `dataset`/`style` objects
// are merged, false/null children are skipped, strings become text (never
// HTML: nothing here parses markup).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function ago(iso) {
  if (!iso) return '';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 0) return `in ${span(-s)}`;
  return `${span(s)} ago`;
}

function span(s) {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

// A message in the page's status area (role=status, read by screen readers).
export function toast(text, kind = 'ok') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 10000 : 4000);
}

// An error box in place, with the API's words.
export function errorBox(err) {
  const where = err && err.code ? ` (${err.status} ${err.code})` : '';
  return h('div', { class: 'error', role: 'alert' }, `${err.message || err}${where}`);
}

export function loading(text = 'Loading…') {
  return h('div', { class: 'loading', role: 'status', 'aria-live': 'polite' }, text);
}

// A modal dialog; resolves to the value its buttons give (false on Escape).
// buttons: [{label, value, class}]; body: nodes.
export function dialog(title, body, buttons) {
  return new Promise((resolve) => {
    const d = h('dialog', { class: 'modal', 'aria-label': title });
    const done = (v) => {
      d.close();
      d.remove();
      resolve(v);
    };
    d.append(
      h('h2', {}, title),
      h('div', { class: 'modal-body' }, body),
      h(
        'div',
        { class: 'modal-buttons' },
        buttons.map((b) => h('button', { class: b.class || '', type: 'button', onclick: () => done(b.value) }, b.label)),
      ),
    );
    d.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(d);
    d.showModal();
    const first = d.querySelector('.modal-body input, .modal-body textarea, button.primary');
    if (first) first.focus();
  });
}

// A labelled form field: returns [wrapper, input].
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', {}, hint) : null);
}

// Runs fn with the button disabled and a busy label; reports a failure.
export async function busy(button, fn) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } catch (e) {
    toast(e.message || String(e), 'error');
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}

export function table(headers, rows, opts = {}) {
  return h(
    'table',
    { class: opts.class || 'grid' },
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, opts.empty || 'Nothing here yet.'))),
  );
}
