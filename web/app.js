// app.js: the console's shell: session, namespace, hash routes, and the
// config pages (list, editor, history). Other pages live in their modules
// (gray.js, listeners.js, changes.js, admin.js); each exports
// render(main, ctx) and calls only the public API through api.js.

import { api, ApiError, configPath, seg, setCsrf, setUnauthenticatedHandler } from './api.js';
import { h, clear, fmtTime, ago, toast, errorBox, loading, dialog, field, busy, table } from './ui.js';
import { sideBySide } from './diff.js';
import * as gray from './gray.js';
import * as listeners from './listeners.js';
import * as changes from './changes.js';
import * as admin from './admin.js';

const FORMATS = ['yaml', 'json', 'properties', 'xml', 'text'];
const WRITE_ROLES = ['editor', 'approver', 'owner'];

// What every page may read: who is logged in, the namespaces, the current one.
const ctx = {
  me: null,
  namespaces: [],
  ns: localStorage.getItem('hotconf.ns') || 'public',
  go: (hash) => {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  role(ns) {
    if (!this.me) return null;
    if (this.me.admin) return 'admin';
    return (this.me.roles || {})[ns] || null;
  },
  // A namespace fed from a git source takes no write from here (the server says 409).
  canWrite(ns) {
    const r = this.role(ns);
    return !this.source(ns) && (r === 'admin' || WRITE_ROLES.includes(r));
  },
  source(ns) {
    const n = this.namespace(ns);
    return (n && n.source) || null;
  },
  canOwn(ns) {
    const r = this.role(ns);
    return r === 'admin' || r === 'owner';
  },
  namespace(id) {
    return this.namespaces.find((n) => n.id === id) || null;
  },
  reviewRequired(ns) {
    const n = this.namespace(ns);
    return n && n.review ? n.review.required || 0 : 0;
  },
  async reloadNamespaces() {
    const r = await api('GET', '/api/v1/namespaces');
    this.namespaces = r.namespaces || [];
    fillNamespaces();
  },
  setNs(ns) {
    this.ns = ns;
    localStorage.setItem('hotconf.ns', ns);
    document.getElementById('ns-select').value = ns;
  },
};

const main = document.getElementById('main');
let leave = null; // the current page's cleanup (timers, editors)

export function editorMode(format) {
  switch (format) {
    case 'yaml':
      return 'yaml';
    case 'json':
      return { name: 'javascript', json: true };
    case 'properties':
      return 'properties';
    case 'xml':
      return 'xml';
    default:
      return null;
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query || '') };
}

function fillNamespaces() {
  const sel = document.getElementById('ns-select');
  clear(sel, ctx.namespaces.map((n) => h('option', { value: n.id }, n.name && n.name !== n.id ? `${n.id} (${n.name})` : n.id)));
  if (!ctx.namespace(ctx.ns) && ctx.namespaces.length) ctx.ns = ctx.namespaces[0].id;
  sel.value = ctx.ns;
}

function showShell(on) {
  document.getElementById('top').hidden = !on;
  if (on && ctx.me) {
    const who = document.getElementById('who-name');
    who.textContent = ctx.me.admin ? `${ctx.me.name} (admin)` : ctx.me.name;
  }
}

function markNav(name) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function loadMe() {
  const me = await api('GET', '/api/v1/auth/me', { noRedirect: true });
  ctx.me = me;
  if (me.csrf) setCsrf(me.csrf);
  await ctx.reloadNamespaces();
  return me;
}

let redirecting = false;
setUnauthenticatedHandler(() => {
  if (redirecting) return;
  const { parts } = parseHash();
  if (parts[0] === 'login') return;
  redirecting = true;
  ctx.me = null;
  setCsrf('');
  toast('Your session has ended. Log in again to go on.', 'error');
  const next = location.hash || '#/configs';
  location.hash = `#/login?next=${encodeURIComponent(next)}`;
  setTimeout(() => (redirecting = false), 0);
});

async function route() {
  if (leave) {
    const l = leave;
    leave = null;
    l();
  }
  const { parts, query } = parseHash();
  const page = parts[0] || 'configs';
  if (page !== 'login' && !ctx.me) {
    try {
      await loadMe();
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) {
        clear(main, errorBox(e));
        return;
      }
      location.replace(`#/login?next=${encodeURIComponent(location.hash || '#/configs')}`);
      return;
    }
  }
  if (page !== 'login' && ctx.me && ctx.me.initialPassword && page !== 'account') {
    location.replace('#/account?initial=1');
    return;
  }
  showShell(page !== 'login');
  const pages = {
    login: () => loginPage(query),
    account: () => accountPage(query),
    configs: () => configsPage(query),
    new: () => editorPage(null, query),
    config: () => configPage(parts.slice(1), query),
    changes: () => changes.render(main, ctx, parts.slice(1), query),
    admin: () => admin.render(main, ctx, parts.slice(1), query),
  };
  const nav = { configs: 'configs', new: 'configs', config: 'configs', changes: 'changes', admin: 'admin' };
  markNav(nav[page] || '');
  const fn = pages[page];
  if (!fn) {
    clear(main, h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. '), h('a', { href: '#/configs' }, 'Go to the configs'));
    return;
  }
  try {
    const cleanup = await fn();
    if (typeof cleanup === 'function') leave = cleanup;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) clear(main, errorBox(e));
  }
}

// ---- login and account ----

function loginPage(query) {
  showShell(false);
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h(
    'form',
    { class: 'card login', 'aria-label': 'Log in' },
    h('h1', {}, 'hotconf'),
    h('p', { class: 'muted' }, 'Log in to publish, compare and roll back configs.'),
    field('User', user),
    field('Password', pass),
    err,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(err);
    submit.disabled = true;
    try {
      const r = await api('POST', '/api/v1/auth/login', { json: { username: user.value, password: pass.value }, noRedirect: true });
      setCsrf(r.csrf);
      await loadMe();
      const next = query.get('next');
      ctx.go(ctx.me.initialPassword ? '#/account?initial=1' : next && next.startsWith('#/') && !next.startsWith('#/login') ? next : '#/configs');
    } catch (ex) {
      clear(err, errorBox(ex));
      pass.select();
    } finally {
      submit.disabled = false;
    }
  });
  clear(main, form);
  user.focus();
}

function accountPage(query) {
  const me = ctx.me;
  const roles = Object.entries(me.roles || {});
  const old = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const pw = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const pw2 = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const msg = h('div', { 'aria-live': 'assertive' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const form = h(
    'form',
    { class: 'card narrow', 'aria-label': 'Change password' },
    h('h2', {}, 'Change password'),
    field('Current password', old),
    field('New password', pw, '8 characters or more'),
    field('New password, again', pw2),
    msg,
    save,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(msg);
    if (pw.value !== pw2.value) {
      clear(msg, errorBox(new Error('The two new passwords differ.')));
      return;
    }
    await busy(save, async () => {
      try {
        await api('PUT', `/api/v1/users/${seg(me.name)}/password`, { json: { oldPassword: old.value, password: pw.value } });
      } catch (ex) {
        clear(msg, errorBox(ex));
        return;
      }
      toast('Password changed.');
      old.value = pw.value = pw2.value = '';
      await loadMe();
      ctx.go('#/configs');
    });
  });
  clear(
    main,
    h('h1', {}, 'Account'),
    query.get('initial')
      ? h('div', { class: 'notice', role: 'alert' }, 'This is the password hotconf made up at its first start. Choose your own before going on.')
      : null,
    h(
      'section',
      { class: 'card narrow' },
      h('h2', {}, 'Who you are'),
      h('dl', { class: 'facts' }, h('dt', {}, 'User'), h('dd', { id: 'me-name' }, me.name), h('dt', {}, 'Admin'), h('dd', {}, me.admin ? 'yes' : 'no'), h('dt', {}, 'Session ends'), h('dd', {}, fmtTime(me.expiresAt))),
      table(['Namespace', 'Role'], roles.map(([ns, r]) => h('tr', {}, h('td', {}, ns), h('td', {}, r))), { empty: me.admin ? 'An admin may do anything in every namespace.' : 'No roles yet: ask an owner or an admin.' }),
    ),
    form,
  );
  (query.get('initial') ? old : null)?.focus();
}

// ---- config list ----

async function configsPage(query) {
  const ns = ctx.ns;
  const q = h('input', { type: 'search', placeholder: 'dataId or group', value: query.get('q') || '', 'aria-label': 'Search by dataId or group' });
  const groupSel = h('select', { 'aria-label': 'Group' }, h('option', { value: '' }, 'all groups'));
  const fmtSel = h('select', { 'aria-label': 'Format' }, h('option', { value: '' }, 'all formats'), FORMATS.map((f) => h('option', { value: f }, f)));
  const sortSel = h('select', { 'aria-label': 'Sort' }, h('option', { value: 'changed' }, 'last change first'), h('option', { value: 'name' }, 'by group and dataId'));
  const list = h('div', {}, loading());
  const review = ctx.reviewRequired(ns);
  clear(
    main,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Configs in ', h('code', {}, ns)),
      ctx.canWrite(ns) ? h('a', { class: 'button primary', href: '#/new' }, 'New config') : null,
    ),
    review ? h('div', { class: 'notice' }, `Namespace ${ns} is protected: every change goes through a change request approved by ${review} other${review > 1 ? 's' : ''}.`) : null,
    ctx.source(ns) ? h('div', { class: 'notice' }, `Namespace ${ns} is fed from ${ctx.source(ns)} and read-only here: change it there, and hotconf publishes the commit.`) : null,
    h('div', { class: 'filters', role: 'search' }, q, groupSel, fmtSel, sortSel),
    list,
  );
  let items = [];
  const draw = () => {
    const g = groupSel.value;
    const f = fmtSel.value;
    const needle = q.value.trim().toLowerCase();
    let rows = items.filter((c) => (!g || c.group === g) && (!f || c.format === f) && (!needle || c.dataId.toLowerCase().includes(needle) || c.group.toLowerCase().includes(needle)));
    if (sortSel.value === 'changed') rows.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0));
    else rows.sort((a, b) => (a.group + '/' + a.dataId).localeCompare(b.group + '/' + b.dataId));
    clear(
      list,
      h('p', { class: 'muted' }, `${rows.length} of ${items.length} config${items.length === 1 ? '' : 's'}`),
      table(
        ['dataId', 'Group', 'Format', 'Version', 'Author', 'Last change'],
        rows.map((c) =>
          h(
            'tr',
            {},
            h('td', {}, h('a', { href: `#/config/${seg(ns, c.group, c.dataId)}` }, c.dataId)),
            h('td', {}, c.group),
            h('td', {}, h('span', { class: `badge fmt-${c.format}` }, c.format)),
            h('td', { class: 'num' }, c.version),
            h('td', {}, c.author),
            h('td', { title: fmtTime(c.updatedAt) }, ago(c.updatedAt)),
          ),
        ),
        { empty: items.length ? 'No config matches.' : 'No configs in this namespace yet.' },
      ),
    );
  };
  try {
    for (let page = 1; page <= 20; page++) {
      const r = await api('GET', '/api/v1/configs', { query: { namespace: ns, page, size: 500 } });
      items = items.concat(r.items);
      if (items.length >= r.total || !r.items.length) break;
    }
  } catch (e) {
    clear(list, errorBox(e));
    return;
  }
  const groups = [...new Set(items.map((c) => c.group))].sort();
  groupSel.append(...groups.map((g) => h('option', { value: g }, g)));
  if (query.get('group')) groupSel.value = query.get('group');
  for (const el of [groupSel, fmtSel, sortSel]) el.addEventListener('change', draw);
  q.addEventListener('input', draw);
  draw();
}

// ---- one config ----

// The main (not gray) state of a config: metadata from the list, content
// from its history entry, so the console never counts as a listener and
// never sees a gray rule's content as the config's.
export async function loadConfig(ns, group, dataId) {
  const r = await api('GET', '/api/v1/configs', { query: { namespace: ns, q: dataId, size: 500 } });
  const meta = r.items.find((c) => c.group === group && c.dataId === dataId);
  if (!meta) return null;
  const entry = await api('GET', `${configPath(ns, group, dataId)}/history/${meta.version}`);
  return { meta, content: entry.content ?? '', entry };
}

function configHeader(ns, group, dataId, tab, meta) {
  const base = `#/config/${seg(ns, group, dataId)}`;
  const tabs = [
    ['content', 'Content'],
    ['history', 'History'],
    ['gray', 'Gray rules'],
    ['listeners', 'Listeners'],
  ];
  return h(
    'div',
    {},
    h('p', { class: 'crumbs' }, h('a', { href: '#/configs' }, ns), ' / ', group),
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, dataId),
      meta ? h('div', { class: 'meta' }, h('span', { class: `badge fmt-${meta.format}` }, meta.format), ` v${meta.version} · ${meta.author} · ${ago(meta.updatedAt)} · md5 `, h('code', {}, meta.md5.slice(0, 8))) : null,
    ),
    h('nav', { class: 'tabs', 'aria-label': 'Config' }, tabs.map(([id, label]) => h('a', { href: `${base}/${id}`, 'aria-current': id === tab ? 'page' : null }, label))),
  );
}

async function configPage(parts, query) {
  if (parts.length < 3) {
    ctx.go('#/configs');
    return undefined;
  }
  const [ns, group, dataId] = parts;
  const tab = parts[3] || 'content';
  if (ns !== ctx.ns && ctx.namespace(ns)) ctx.setNs(ns);
  clear(main, configHeader(ns, group, dataId, tab, null), loading());
  let cfg;
  try {
    cfg = await loadConfig(ns, group, dataId);
  } catch (e) {
    clear(main, configHeader(ns, group, dataId, tab, null), errorBox(e));
    return undefined;
  }
  const head = configHeader(ns, group, dataId, tab, cfg && cfg.meta);
  const body = h('div', {});
  clear(main, head, body);
  if (!cfg && tab !== 'history') {
    clear(body, h('p', {}, 'This config does not exist (it may have been deleted). '), h('a', { href: `#/config/${seg(ns, group, dataId)}/history` }, 'See its history'));
    return undefined;
  }
  const c = { ns, group, dataId, cfg, ctx, reload: () => route() };
  c.propose = (item, title) => proposeChange(c, item, title).catch((e) => toast(e.message, 'error'));
  if (tab === 'history') return historyTab(body, c);
  if (tab === 'gray') return gray.render(body, c, query);
  if (tab === 'listeners') return listeners.render(body, c, query);
  return editorTab(body, c);
}

// Marks the line a server validation message names ("... at line 3, column 1: ...").
function markError(cm, message, box) {
  const m = /line (\d+)/.exec(message);
  const line = m ? Math.min(Math.max(parseInt(m[1], 10) - 1, 0), cm.lineCount() - 1) : -1;
  clear(box);
  cm.clearGutter('cm-errors');
  for (let i = 0; i < cm.lineCount(); i++) cm.removeLineClass(i, 'background', 'cm-error-line');
  if (line >= 0) {
    cm.addLineClass(line, 'background', 'cm-error-line');
    cm.setGutterMarker(line, 'cm-errors', h('span', { class: 'cm-error-mark', title: message }, '●'));
    cm.scrollIntoView({ line, ch: 0 }, 80);
  }
  box.append(
    h(
      'div',
      { class: 'error validation', role: 'alert', dataset: { line: line >= 0 ? String(line + 1) : '' } },
      line >= 0 ? h('button', { type: 'button', class: 'link', onclick: () => { cm.focus(); cm.setCursor({ line, ch: 0 }); } }, `Line ${line + 1}`) : null,
      line >= 0 ? ': ' : '',
      message,
    ),
  );
}

function clearError(cm, box) {
  clear(box);
  cm.clearGutter('cm-errors');
  for (let i = 0; i < cm.lineCount(); i++) cm.removeLineClass(i, 'background', 'cm-error-line');
}

function makeEditor(host, content, format, readOnly) {
  /* global CodeMirror */
  const cm = CodeMirror(host, {
    value: content,
    mode: editorMode(format),
    lineNumbers: true,
    gutters: ['cm-errors', 'CodeMirror-linenumbers'],
    readOnly: readOnly ? 'nocursor' : false,
    indentWithTabs: false,
    tabSize: 2,
    extraKeys: { Tab: false, 'Shift-Tab': false },
    screenReaderLabel: 'Config content',
  });
  return cm;
}

// Asks for a message after showing the diff; resolves to the message or false.
async function reviewDialog(title, before, after, labels, action) {
  const msg = h('input', { type: 'text', placeholder: 'What changed and why' });
  const ok = await dialog(
    title,
    [sideBySide(before, after, labels), field('Message', msg)],
    [
      { label: 'Cancel', value: false },
      { label: action, value: true, class: 'primary' },
    ],
  );
  return ok ? msg.value : false;
}

// Adds one edit to a draft change request (a new one or one of the user's
// drafts) and opens it: the path every edit takes in a protected namespace.
export async function proposeChange(c, item, defaultTitle) {
  let drafts = [];
  try {
    const r = await api('GET', `/api/v1/namespaces/${seg(c.ns)}/changes`, { query: { state: 'draft', size: 100 } });
    drafts = (r.items || []).filter((x) => x.author === ctx.me.name);
  } catch (_) {
    drafts = [];
  }
  const title = h('input', { type: 'text', value: defaultTitle });
  const pick = h('select', {}, h('option', { value: '' }, 'a new change request'), drafts.map((d) => h('option', { value: String(d.id) }, `#${d.id} ${d.title}`)));
  const ok = await dialog('Propose this change', [h('p', {}, `Namespace ${c.ns} needs review: this edit goes into a change request.`), field('Add to', pick), field('Title (for a new request)', title)], [
    { label: 'Cancel', value: false },
    { label: 'Add to change request', value: true, class: 'primary' },
  ]);
  if (!ok) return;
  const base = `/api/v1/namespaces/${seg(c.ns)}/changes`;
  let cr;
  if (pick.value) {
    const cur = await api('GET', `${base}/${pick.value}`);
    const keep = cur.items.filter((x) => !(x.group === item.group && x.dataId === item.dataId && (x.rule || '') === (item.rule || ''))).map(changes.itemBody);
    cr = await api('PATCH', `${base}/${pick.value}`, { json: { items: keep.concat([item]), rev: cur.rev } });
  } else {
    cr = await api('POST', base, { json: { title: title.value || defaultTitle, items: [item] } });
  }
  toast(`Added to change request #${cr.id}.`);
  ctx.go(`#/changes/${seg(c.ns, String(cr.id))}`);
}

function editorTab(body, c) {
  return editorPage(c, null, body);
}

// The editor, for a new config (c null) or an existing one.
function editorPage(c, query, into) {
  const isNew = !c;
  const ns = isNew ? ctx.ns : c.ns;
  const canWrite = ctx.canWrite(ns);
  const review = ctx.reviewRequired(ns);
  const current = isNew ? '' : c.cfg.content;
  const meta = isNew ? null : c.cfg.meta;
  const host = h('div', { class: 'editor' });
  const errors = h('div', { 'aria-live': 'assertive' });
  const fmt = h('select', { 'aria-label': 'Format' }, FORMATS.map((f) => h('option', { value: f }, f)));
  fmt.value = meta ? meta.format : (query && query.get('format')) || 'yaml';
  const group = h('input', { type: 'text', value: 'DEFAULT_GROUP', required: true });
  const dataId = h('input', { type: 'text', placeholder: 'app.yaml', required: true });
  const publish = h('button', { type: 'button', class: 'primary', disabled: !canWrite }, review ? 'Propose change…' : 'Publish…');
  const del = !isNew && canWrite ? h('button', { type: 'button', class: 'danger' }, review ? 'Propose delete…' : 'Delete…') : null;
  const dirty = h('span', { class: 'muted', 'aria-live': 'polite' });
  const target = into || main;
  clear(
    target,
    isNew ? h('div', {}, h('p', { class: 'crumbs' }, h('a', { href: '#/configs' }, ns)), h('h1', {}, 'New config')) : null,
    isNew ? h('div', { class: 'row' }, field('Group', group), field('dataId', dataId), field('Format', fmt)) : h('div', { class: 'row' }, field('Format', fmt)),
    canWrite ? null : h('div', { class: 'notice' }, ctx.source(ns) ? `Namespace ${ns} is fed from ${ctx.source(ns)} and read-only here: change it there, and hotconf publishes the commit.` : `You may read ${ns} but not publish in it.`),
    host,
    errors,
    canWrite ? h('div', { class: 'actions' }, publish, del, dirty, h('span', { class: 'muted hint' }, 'Ctrl+S or ⌘S publishes (after the diff)')) : null,
  );
  const cm = makeEditor(host, current, fmt.value, !canWrite);
  cm.on('change', () => {
    clearError(cm, errors);
    dirty.textContent = cm.getValue() === current ? '' : 'unsaved changes';
  });
  fmt.addEventListener('change', () => cm.setOption('mode', editorMode(fmt.value)));

  async function doPublish() {
    if (!canWrite) return;
    const draft = cm.getValue();
    const g = isNew ? group.value.trim() : c.group;
    const d = isNew ? dataId.value.trim() : c.dataId;
    if (!g || !d) {
      clear(errors, errorBox(new Error('Give the config a group and a dataId.')));
      return;
    }
    if (!isNew && draft === current && fmt.value === meta.format) {
      toast('Nothing to publish: the draft is the current version.');
      return;
    }
    if (review) {
      await proposeChange({ ns, group: g, dataId: d }, { op: 'publish', group: g, dataId: d, content: draft, format: fmt.value, baseMd5: meta ? meta.md5 : undefined }, `Edit ${g}/${d}`).catch((e) => toast(e.message, 'error'));
      return;
    }
    const message = await reviewDialog(isNew ? `Publish ${d}` : `Publish ${d} v${meta.version + 1}`, current, draft, { aLabel: isNew ? 'nothing yet' : `v${meta.version} (current)`, bLabel: 'your draft' }, 'Publish');
    if (message === false) {
      cm.focus();
      return;
    }
    await busy(publish, async () => {
      try {
        const r = await api('PUT', configPath(ns, g, d), {
          body: draft,
          query: { format: fmt.value, message },
          headers: isNew ? { 'If-None-Match': '*' } : { 'If-Match': `"${meta.md5}"` },
        });
        toast(r.changed ? `Published version ${r.version}.` : 'No change: that content is already published.');
        ctx.go(`#/config/${seg(ns, g, d)}/content?v=${r.version}`);
      } catch (e) {
        if (e.status === 400 && e.code === 'invalid_argument' && /line \d+/.test(e.message)) markError(cm, e.message, errors);
        else if (e.status === 412) clear(errors, errorBox(new Error(isNew ? 'That config exists already: open it to edit it.' : 'Someone published this config since you opened it. Reload to see their version, then edit again.')));
        else clear(errors, errorBox(e));
      }
    });
  }
  publish.addEventListener('click', doPublish);
  cm.setOption('extraKeys', Object.assign({}, cm.getOption('extraKeys'), { 'Ctrl-S': () => doPublish(), 'Cmd-S': () => doPublish() }));
  if (del)
    del.addEventListener('click', async () => {
      if (review) {
        await proposeChange(c, { op: 'delete', group: c.group, dataId: c.dataId, baseMd5: meta.md5 }, `Delete ${c.group}/${c.dataId}`).catch((e) => toast(e.message, 'error'));
        return;
      }
      const ok = await dialog(`Delete ${c.dataId}?`, [h('p', {}, `Services watching ${c.group}/${c.dataId} will be told it is gone. Its history stays: you can bring it back with a rollback.`)], [
        { label: 'Cancel', value: false },
        { label: 'Delete', value: true, class: 'danger' },
      ]);
      if (!ok) return;
      await busy(del, async () => {
        try {
          await api('DELETE', configPath(c.ns, c.group, c.dataId), { headers: { 'If-Match': `"${meta.md5}"` } });
          toast(`Deleted ${c.dataId}.`);
          ctx.go('#/configs');
        } catch (e) {
          clear(errors, errorBox(e));
        }
      });
    });
  setTimeout(() => (isNew ? dataId.focus() : cm.refresh()), 0);
  return () => cm.toTextArea && undefined;
}

// ---- history ----

async function historyTab(body, c) {
  clear(body, loading());
  const base = configPath(c.ns, c.group, c.dataId);
  let entries = [];
  try {
    for (let page = 1; page <= 10; page++) {
      const r = await api('GET', `${base}/history`, { query: { page, size: 100 } });
      const got = r.items || r.history || [];
      entries = entries.concat(got);
      if (!got.length || entries.length >= (r.total ?? entries.length)) break;
    }
  } catch (e) {
    clear(body, errorBox(e));
    return;
  }
  const withContent = entries.filter((e) => e.op !== 'delete' && !String(e.op).startsWith('gray'));
  const cache = new Map();
  const content = async (v) => {
    if (!cache.has(v)) cache.set(v, api('GET', `${base}/history/${v}`).then((e) => e.content ?? ''));
    return cache.get(v);
  };
  const opt = (e) => h('option', { value: String(e.version) }, `v${e.version} · ${e.op} · ${e.author} · ${fmtTime(e.createdAt)}`);
  const selA = h('select', { 'aria-label': 'Compare from version' }, withContent.map(opt));
  const selB = h('select', { 'aria-label': 'Compare to version' }, withContent.map(opt));
  if (withContent.length > 1) selA.value = String(withContent[1].version);
  const out = h('div', { class: 'compare-out' });
  const compare = h('button', { type: 'button' }, 'Compare');
  compare.addEventListener('click', () =>
    busy(compare, async () => {
      const [a, b] = await Promise.all([content(selA.value), content(selB.value)]);
      clear(out, sideBySide(a, b, { aLabel: `v${selA.value}`, bLabel: `v${selB.value}` }));
    }),
  );
  const canWrite = ctx.canWrite(c.ns);
  const review = ctx.reviewRequired(c.ns);
  const rollback = async (e, btn) => {
    const cur = c.cfg ? c.cfg.content : '';
    const old = await content(e.version);
    if (review) {
      await proposeChange(c, { op: 'publish', group: c.group, dataId: c.dataId, content: old, format: e.format, baseMd5: c.cfg ? c.cfg.meta.md5 : undefined }, `Roll ${c.dataId} back to v${e.version}`).catch((x) => toast(x.message, 'error'));
      return;
    }
    const message = await reviewDialog(`Roll back to v${e.version}?`, cur, old, { aLabel: c.cfg ? `v${c.cfg.meta.version} (current)` : 'deleted', bLabel: `v${e.version}` }, `Roll back to v${e.version}`);
    if (message === false) return;
    await busy(btn, async () => {
      const r = await api('POST', `${base}/rollback`, { json: { version: e.version, message: message || `rollback to v${e.version}` } });
      toast(`Rolled back: version ${r.version} holds v${e.version}'s content.`);
      c.reload();
    });
  };
  clear(
    body,
    withContent.length > 1 ? h('div', { class: 'filters' }, h('span', {}, 'Compare'), selA, h('span', {}, 'with'), selB, compare) : null,
    out,
    table(
      ['Version', 'Op', 'Author', 'Message', 'Time', ''],
      entries.map((e) => {
        const btn = canWrite && e.op !== 'delete' && !String(e.op).startsWith('gray') && (!c.cfg || e.version !== c.cfg.meta.version) ? h('button', { type: 'button', class: 'small' }, 'Roll back…') : null;
        if (btn) btn.addEventListener('click', () => rollback(e, btn));
        return h(
          'tr',
          { dataset: { version: String(e.version) } },
          h('td', { class: 'num' }, `v${e.version}`),
          h('td', {}, h('span', { class: `badge op-${e.op}` }, e.op), e.grayRule ? ` ${e.grayRule}` : '', e.changeId ? h('a', { href: `#/changes/${seg(c.ns, String(e.changeId))}`, class: 'muted' }, ` #${e.changeId}`) : null),
          h('td', {}, e.author),
          h('td', {}, e.message || ''),
          h('td', { title: fmtTime(e.createdAt) }, fmtTime(e.createdAt)),
          h('td', {}, btn),
        );
      }),
      { empty: 'No history.' },
    ),
  );
}

// ---- boot ----

document.getElementById('ns-select').addEventListener('change', (e) => {
  ctx.setNs(e.target.value);
  const { parts } = parseHash();
  if (parts[0] === 'config' || parts[0] === 'new' || !parts[0]) ctx.go('#/configs');
  else route();
});
document.getElementById('logout').addEventListener('click', async () => {
  try {
    await api('POST', '/api/v1/auth/logout', { noRedirect: true });
  } catch (_) {
    /* the session is gone either way */
  }
  ctx.me = null;
  setCsrf('');
  ctx.go('#/login');
});
window.addEventListener('hashchange', route);
route();

export { ctx };
