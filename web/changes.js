// changes.js: change requests. The list of a namespace's requests (with a
// form for a new one), and one request: its items with a side-by-side diff
// each, its review, the moves its state and the user allow (submit, approve,
// reject, cancel, comment, publish now or at a time, a forced publish for
// admins), the author's edits (title, description, items) and its events.
// Every move answers the request as it now stands; the page redraws from it.

import { api, configPath, seg } from './api.js';
import { h, clear, fmtTime, ago, toast, errorBox, loading, dialog, field, busy, table } from './ui.js';
import { sideBySide } from './diff.js';

const STATES = ['draft', 'open', 'approved', 'rejected', 'scheduled', 'published', 'failed', 'cancelled'];
const ENDED = ['published', 'failed', 'cancelled'];
const FORMATS = ['yaml', 'json', 'properties', 'xml', 'text'];
const APPROVE_ROLES = ['approver', 'owner', 'admin'];
const PAGE_SIZE = 50;

const changesPath = (ns) => `/api/v1/namespaces/${seg(ns)}/changes`;
const changeHash = (ns, id) => `#/changes/${seg(ns, String(id))}`;
const configHash = (ns, group, dataId) => `#/config/${seg(ns, group, dataId)}`;
const isGray = (op) => String(op).startsWith('gray-');
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// An item as GET …/changes/{id} answers it -> the body a POST or PATCH
// `items` entry accepts. It keeps baseMd5, so a re-sent item is still checked
// against the version it was written on (drop baseMd5 to re-base it on what is
// there now). A gray-set item carries its rule's priority, match and rollout
// as given (the GET answer has them at the item's top level), so it re-sends
// whole. The list answer has no content: pass the item of a GET by id.
export function itemBody(item) {
  const b = { op: item.op, group: item.group, dataId: item.dataId };
  if (isGray(item.op) && item.rule) b.rule = item.rule;
  if (item.op === 'publish' || item.op === 'gray-set') {
    if (typeof item.content !== 'string') throw new Error(`item ${item.group}/${item.dataId} has no content: read the request by its id first`);
    b.content = item.content;
    if (item.format) b.format = item.format;
  }
  if (item.op === 'gray-set') {
    for (const k of ['priority', 'match', 'rollout']) if (item[k] !== undefined && item[k] !== null) b[k] = item[k];
  }
  if (item.baseMd5) b.baseMd5 = item.baseMd5;
  return b;
}

export function render(main, ctx, parts, query) {
  if (parts.length >= 2) return detailPage(main, ctx, parts[0], parts[1], query);
  return listPage(main, ctx, query);
}

function stateBadge(state) {
  return h('span', { class: `badge state-${state}` }, state);
}

function when(iso) {
  return iso ? h('time', { datetime: iso, title: fmtTime(iso) }, `${fmtTime(iso)} (${ago(iso)})`) : '—';
}

// ---- the list ----

async function listPage(main, ctx, query) {
  const ns = ctx.ns;
  const hash = location.hash;
  const state = STATES.includes(query.get('state')) ? query.get('state') : '';
  const page = Math.max(1, parseInt(query.get('page') || '1', 10) || 1);
  const stateSel = h('select', { 'aria-label': 'State' }, h('option', { value: '' }, 'all states'), STATES.map((s) => h('option', { value: s }, s)));
  stateSel.value = state;
  stateSel.addEventListener('change', () => ctx.go(stateSel.value ? `#/changes?state=${encodeURIComponent(stateSel.value)}` : '#/changes'));
  const formHost = h('div', {});
  const newBtn = ctx.canWrite(ns) ? h('button', { type: 'button', class: 'primary', 'aria-expanded': 'false' }, 'New change request') : null;
  const list = h('div', {}, loading());
  const review = ctx.reviewRequired(ns);
  clear(
    main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Change requests in ', h('code', {}, ns)), newBtn),
    review
      ? h('div', { class: 'notice' }, `Namespace ${ns} is protected: every change goes through a change request approved by ${plural(review, 'other')} than its author.`)
      : h('p', { class: 'muted' }, `A change request gathers edits of several configs and publishes them together, at once or at a time.`),
    formHost,
    h('div', { class: 'filters', role: 'search' }, field('State', stateSel)),
    list,
  );
  if (newBtn)
    newBtn.addEventListener('click', () => {
      if (formHost.firstChild) {
        clear(formHost);
        newBtn.setAttribute('aria-expanded', 'false');
        return;
      }
      newBtn.setAttribute('aria-expanded', 'true');
      formHost.append(newRequestForm(ctx, ns, () => {
        clear(formHost);
        newBtn.setAttribute('aria-expanded', 'false');
        newBtn.focus();
      }));
    });
  let r;
  try {
    r = await api('GET', changesPath(ns), { query: { state, page, size: PAGE_SIZE } });
  } catch (e) {
    if (location.hash === hash) clear(list, errorBox(e));
    return;
  }
  if (location.hash !== hash) return;
  const items = r.items || [];
  const total = r.total ?? items.length;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const pageHash = (p) => `#/changes?${new URLSearchParams(Object.assign(state ? { state } : {}, { page: String(p) })).toString()}`;
  clear(
    list,
    h('p', { class: 'muted', 'aria-live': 'polite' }, `${plural(total, 'change request')}${state ? ` ${state}` : ''}${pages > 1 ? ` · page ${page} of ${pages}` : ''}`),
    table(
      ['#', 'Title', 'State', 'Author', 'Approvals', 'Items', 'Updated'],
      items.map((c) =>
        h(
          'tr',
          { dataset: { id: String(c.id) } },
          h('td', { class: 'num' }, h('a', { href: changeHash(ns, c.id), 'aria-label': `Change request ${c.id}` }, `#${c.id}`)),
          h('td', {}, h('a', { href: changeHash(ns, c.id) }, c.title || '(no title)')),
          h('td', {}, stateBadge(c.state), c.scheduledAt && c.state === 'scheduled' ? h('span', { class: 'muted', title: fmtTime(c.scheduledAt) }, ` ${ago(c.scheduledAt)}`) : null),
          h('td', {}, c.author),
          h('td', { class: 'num' }, c.review && c.review.required ? `${c.review.approvals} / ${c.review.required}` : c.review && c.review.approvals ? `${c.review.approvals}` : '—'),
          h('td', { class: 'num' }, (c.items || []).length),
          h('td', { title: fmtTime(c.updatedAt) }, ago(c.updatedAt)),
        ),
      ),
      { empty: state ? `No ${state} change requests.` : 'No change requests in this namespace yet.' },
    ),
    pages > 1
      ? h(
          'nav',
          { class: 'actions', 'aria-label': 'Pages' },
          page > 1 ? h('a', { class: 'button', href: pageHash(page - 1) }, 'Newer') : null,
          page < pages ? h('a', { class: 'button', href: pageHash(page + 1) }, 'Older') : null,
        )
      : null,
  );
}

// One item of the form for new items: op, group, dataId, format, content.
function itemEditor(ctx, ns, index, onRemove) {
  const op = h('select', {}, h('option', { value: 'publish' }, 'publish'), h('option', { value: 'delete' }, 'delete'));
  const group = h('input', { type: 'text', value: 'DEFAULT_GROUP', required: true, autocomplete: 'off' });
  const dataId = h('input', { type: 'text', placeholder: 'app.yaml', required: true, autocomplete: 'off' });
  const format = h('select', {}, FORMATS.map((f) => h('option', { value: f }, f)));
  const content = h('textarea', { rows: 8, spellcheck: 'false' });
  const note = h('div', { 'aria-live': 'polite' });
  let base = ''; // the md5 the loaded content is of: the edit is based on it
  const load = h('button', { type: 'button', class: 'small' }, 'Load current content');
  const remove = h('button', { type: 'button', class: 'small danger' }, 'Remove this item');
  const legend = h('legend', {}, `Item ${index}`);
  const contentField = field('Content', content);
  const formatField = field('Format', format);
  // Out of the document for a delete (a [hidden] .field would still show).
  const contentHost = h('div', {});
  const formatHost = h('div', {});
  const syncOp = () => {
    const del = op.value === 'delete';
    if (del) {
      clear(contentHost);
      clear(formatHost);
    } else {
      if (contentField.parentNode !== contentHost) clear(contentHost, contentField);
      if (formatField.parentNode !== formatHost) clear(formatHost, formatField);
    }
  };
  op.addEventListener('change', syncOp);
  for (const el of [group, dataId]) el.addEventListener('input', () => (base = ''));
  load.addEventListener('click', () =>
    busy(load, async () => {
      clear(note);
      const g = group.value.trim();
      const d = dataId.value.trim();
      if (!g || !d) {
        clear(note, errorBox(new Error('Give a group and a dataId first.')));
        return;
      }
      const r = await api('GET', '/api/v1/configs', { query: { namespace: ns, q: d, size: 500 } });
      const meta = (r.items || []).find((c) => c.group === g && c.dataId === d);
      if (!meta) {
        base = '';
        clear(note, h('p', { class: 'muted' }, `${g}/${d} does not exist yet: publishing creates it.`));
        return;
      }
      const entry = await api('GET', `${configPath(ns, g, d)}/history/${meta.version}`);
      content.value = entry.content ?? '';
      format.value = FORMATS.includes(meta.format) ? meta.format : 'text';
      base = meta.md5;
      clear(note, h('p', { class: 'muted' }, `Loaded v${meta.version}; the edit is based on it.`));
    }),
  );
  remove.addEventListener('click', onRemove);
  syncOp();
  const el = h(
    'fieldset',
    { class: 'card' },
    legend,
    h('div', { class: 'row' }, field('Op', op), field('Group', group), field('dataId', dataId), formatHost, h('div', { class: 'field' }, load)),
    contentHost,
    note,
    h('div', { class: 'actions' }, remove),
  );
  return {
    el,
    setIndex(i) {
      legend.textContent = `Item ${i}`;
    },
    focus: () => dataId.focus(),
    body() {
      const b = { op: op.value, group: group.value.trim(), dataId: dataId.value.trim() };
      if (b.op === 'publish') {
        b.content = content.value;
        b.format = format.value;
      }
      if (base) b.baseMd5 = base;
      return b;
    },
  };
}

// A list of item editors with "Add another config".
function itemList(ctx, ns, min) {
  const host = h('div', {});
  const eds = [];
  const renumber = () => eds.forEach((e, i) => e.setIndex(i + 1));
  const add = () => {
    const ed = itemEditor(ctx, ns, eds.length + 1, () => {
      if (eds.length <= min) {
        toast('A change request needs at least one item.', 'error');
        return;
      }
      eds.splice(eds.indexOf(ed), 1);
      ed.el.remove();
      renumber();
      addBtn.focus();
    });
    eds.push(ed);
    host.append(ed.el);
    return ed;
  };
  const addBtn = h('button', { type: 'button' }, 'Add another config');
  addBtn.addEventListener('click', () => add().focus());
  return { host, addBtn, add, bodies: () => eds.map((e) => e.body()), count: () => eds.length };
}

function newRequestForm(ctx, ns, close) {
  const title = h('input', { type: 'text', required: true, maxlength: 200, autocomplete: 'off' });
  const desc = h('textarea', { rows: 3 });
  const items = itemList(ctx, ns, 1);
  items.add();
  const err = h('div', { 'aria-live': 'assertive' });
  const create = h('button', { type: 'submit', class: 'primary' }, 'Create draft');
  const cancel = h('button', { type: 'button' }, 'Cancel');
  cancel.addEventListener('click', close);
  const form = h(
    'form',
    { class: 'card', 'aria-label': 'New change request' },
    h('h2', {}, 'New change request'),
    field('Title', title),
    field('Description', desc, 'What the change does and why (optional)'),
    h('h3', {}, 'Items'),
    items.host,
    h('div', { class: 'actions' }, items.addBtn),
    err,
    h('div', { class: 'actions' }, create, cancel),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(err);
    const bodies = items.bodies();
    const bad = bodies.findIndex((b) => !b.group || !b.dataId);
    if (!title.value.trim()) {
      clear(err, errorBox(new Error('Give the request a title.')));
      title.focus();
      return;
    }
    if (bad >= 0) {
      clear(err, errorBox(new Error(`Item ${bad + 1} needs a group and a dataId.`)));
      return;
    }
    await busy(create, async () => {
      try {
        const cr = await api('POST', changesPath(ns), { json: { title: title.value.trim(), description: desc.value, items: bodies } });
        toast(`Created change request #${cr.id}.`);
        ctx.go(changeHash(ns, cr.id));
      } catch (ex) {
        clear(err, errorBox(ex));
      }
    });
  });
  setTimeout(() => title.focus(), 0);
  return form;
}

// ---- one request ----

function detailPage(main, ctx, ns, idText, query) {
  const id = String(idText);
  if (ns !== ctx.ns && ctx.namespace(ns)) ctx.setNs(ns);
  const base = `${changesPath(ns)}/${seg(id)}`;
  const hash = location.hash;
  const live = () => location.hash === hash && !gone;
  let gone = false;
  let timer = null;
  let shown = null; // the request as drawn
  const contentCache = new Map();
  clear(main, h('p', { class: 'crumbs' }, h('a', { href: '#/changes' }, `Change requests in ${ns}`)), h('h1', {}, `Change request #${id}`), loading());

  // The main content of a config at a version ('' when there is none).
  const mainContent = (group, dataId, version) => {
    if (!version) return Promise.resolve('');
    const key = `${group}\n${dataId}\n${version}`;
    if (!contentCache.has(key)) {
      const p = api('GET', `${configPath(ns, group, dataId)}/history/${version}`).then((e) => e.content ?? '');
      p.catch(() => contentCache.delete(key));
      contentCache.set(key, p);
    }
    return contentCache.get(key);
  };
  // A gray rule's content now, or null when there is no such rule.
  // (The list first: asking for a rule that is not there would log a 404.)
  const ruleContent = async (group, dataId, rule) => {
    const list = await api('GET', `${configPath(ns, group, dataId)}/gray`);
    if (!(list.rules || []).some((g) => g.name === rule)) return null;
    const g = await api('GET', `${configPath(ns, group, dataId)}/gray/${seg(rule)}`);
    return g.content ?? '';
  };

  // Before and after of one item, with labels, as the server's diff sees them.
  async function sides(cr, it) {
    const ended = ENDED.includes(cr.state);
    const cur = it.current || {};
    if (ended) {
      const before = it.op === 'publish' || it.op === 'delete' ? await mainContent(it.group, it.dataId, it.baseVersion) : '';
      const aLabel = it.baseVersion ? `v${it.baseVersion} (its base)` : 'nothing (a new config)';
      if (it.op === 'publish') return { before, after: it.content ?? '', aLabel, bLabel: 'this request' };
      if (it.op === 'delete') return { before, after: '', aLabel, bLabel: 'deleted' };
      if (it.op === 'gray-set') return { before: '', after: it.content ?? '', aLabel: 'before', bLabel: `rule ${it.rule}` };
      return null;
    }
    const mainText = cur.version ? await mainContent(it.group, it.dataId, cur.version) : '';
    const mainLabel = cur.version ? `v${cur.version} (current)` : 'nothing yet';
    switch (it.op) {
      case 'publish':
        return { before: mainText, after: it.content ?? '', aLabel: mainLabel, bLabel: 'this request' };
      case 'delete':
        return { before: mainText, after: '', aLabel: mainLabel, bLabel: 'deleted' };
      case 'gray-set': {
        const rule = cur.version ? await ruleContent(it.group, it.dataId, it.rule) : null;
        return rule === null
          ? { before: mainText, after: it.content ?? '', aLabel: `${mainLabel}, what its instances get now`, bLabel: `rule ${it.rule}` }
          : { before: rule, after: it.content ?? '', aLabel: `rule ${it.rule} (current)`, bLabel: `rule ${it.rule} (this request)` };
      }
      case 'gray-remove': {
        const rule = cur.version ? await ruleContent(it.group, it.dataId, it.rule) : null;
        return { before: rule ?? mainText, after: mainText, aLabel: rule === null ? mainLabel : `rule ${it.rule} (current)`, bLabel: `${mainLabel}, after the removal` };
      }
      case 'gray-promote': {
        const rule = cur.version ? await ruleContent(it.group, it.dataId, it.rule) : null;
        return { before: mainText, after: rule ?? mainText, aLabel: mainLabel, bLabel: rule === null ? 'no such rule' : `rule ${it.rule}, promoted` };
      }
      default:
        return null;
    }
  }

  function itemDiff(cr, it, host) {
    clear(host, loading('Loading the diff…'));
    sides(cr, it).then(
      (s) => {
        if (!live()) return;
        if (!s) clear(host, h('p', { class: 'muted' }, 'Nothing to compare.'));
        else clear(host, sideBySide(s.before, s.after, { aLabel: s.aLabel, bLabel: s.bLabel }));
      },
      (e) => {
        if (!live()) return;
        // Fall back on the server's unified diff (e.g. a pruned history entry).
        clear(host, errorBox(e), typeof it.diff === 'string' ? h('pre', { class: 'code', 'aria-label': `Unified diff of ${it.group}/${it.dataId}` }, it.diff || '(no differences)') : null);
      },
    );
  }

  // Runs one move; redraws from the answer, or shows the API's words.
  async function act(btn, method, path, json, okText, errHost) {
    await busy(btn, async () => {
      try {
        const r = await api(method, path ? `${base}/${path}` : base, { json });
        if (okText) toast(okText);
        if (live()) draw(r);
      } catch (e) {
        if (!live()) return;
        const box = errHost || document.getElementById('cr-errors');
        if (box) {
          clear(box, errorBox(e), e.status === 412 || e.status === 409 ? h('button', { type: 'button', class: 'small', onclick: () => reload() }, 'Read the request again') : null);
          box.scrollIntoView({ block: 'nearest' });
        } else toast(e.message, 'error');
      }
    });
  }

  // Asks for a text in a dialog; resolves to it (trimmed) or null on Cancel.
  async function ask(title, label, actionLabel, { required = false, intro = null, danger = false } = {}) {
    const input = h('textarea', { rows: 3 });
    let warn = null;
    for (let tries = 0; tries < 5; tries++) {
      const ok = await dialog(title, [intro ? h('p', {}, intro) : null, warn, field(label, input, required ? 'Required' : 'Optional')], [
        { label: 'Cancel', value: false },
        { label: actionLabel, value: true, class: danger ? 'danger' : 'primary' },
      ]);
      if (!ok) return null;
      if (!required || input.value.trim()) return input.value.trim();
      warn = h('div', { class: 'error', role: 'alert' }, `${label} is required.`);
    }
    return null;
  }

  async function confirm(title, text, actionLabel, danger) {
    return dialog(title, [h('p', {}, text)], [
      { label: 'Cancel', value: false },
      { label: actionLabel, value: true, class: danger ? 'danger' : 'primary' },
    ]);
  }

  function draw(cr) {
    shown = cr;
    const me = ctx.me ? ctx.me.name : '';
    const role = ctx.role(ns);
    const isAuthor = cr.author === me;
    const canWrite = ctx.canWrite(ns);
    const canApprove = APPROVE_ROLES.includes(role);
    const admin = !!(ctx.me && ctx.me.admin);
    const required = cr.review ? cr.review.required || 0 : 0;
    const approvals = cr.review ? cr.review.approvals || 0 : 0;
    const enough = approvals >= required;
    const s = cr.state;
    const editable = isAuthor && (s === 'draft' || s === 'rejected');
    const items = cr.items || [];
    const events = cr.events || [];
    const stale = items.filter((it) => it.stale);
    const approvers = [...new Set(events.filter((e) => e.kind === 'approve' && e.rev === cr.rev).map((e) => e.actor))];

    const errors = h('div', { id: 'cr-errors', 'aria-live': 'assertive' });

    // Facts.
    const facts = [
      ['State', stateBadge(s)],
      ['Author', cr.author],
      ['Rev', String(cr.rev)],
      ['Created', when(cr.createdAt)],
      ['Updated', when(cr.updatedAt)],
      cr.scheduledAt ? ['Scheduled for', when(cr.scheduledAt)] : null,
      cr.publishedAt ? ['Published', when(cr.publishedAt)] : null,
      cr.publishedBy ? [s === 'scheduled' ? 'Scheduled by' : 'Published by', cr.publishedBy] : null,
      cr.publishedRevision ? ['Published revision', String(cr.publishedRevision)] : null,
      cr.reason ? [s === 'failed' ? 'Why it failed' : s === 'rejected' ? 'Why rejected' : 'Reason', cr.reason] : null,
    ].filter(Boolean);
    const factsEl = h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    const descEl = cr.description ? h('div', { class: 'description' }, cr.description.split('\n').map((line) => h('p', {}, line))) : h('p', { class: 'muted' }, 'No description.');

    // Review.
    const reviewEl = h(
      'section',
      { class: 'card', 'aria-labelledby': 'cr-review-h' },
      h('h2', { id: 'cr-review-h' }, 'Review'),
      required
        ? h('p', {}, h('strong', {}, `${approvals} of ${required}`), ` approval${required === 1 ? '' : 's'} of rev ${cr.rev} `, ENDED.includes(s) ? null : enough ? h('span', { class: 'badge ok' }, 'enough to publish') : h('span', { class: 'badge warn' }, `${required - approvals} more needed`))
        : h('p', {}, `Namespace ${ns} does not require review${approvals ? `; ${plural(approvals, 'approval')} of rev ${cr.rev}` : ''}.`),
      approvers.length ? h('p', { class: 'muted' }, `Approved by ${approvers.join(', ')}.`) : null,
      required ? h('p', { class: 'muted' }, `Approvals count for one rev: an edit of the request asks for them again. The author (${cr.author}) cannot approve it.`) : null,
    );

    // Actions.
    const buttons = [];
    const button = (label, cls, fn) => {
      const b = h('button', { type: 'button', class: cls || '' }, label);
      b.addEventListener('click', () => fn(b));
      buttons.push(b);
      return b;
    };
    if (s === 'draft' && canWrite)
      button('Submit for review', 'primary', (b) => act(b, 'POST', 'submit', {}, `Submitted change request #${cr.id}.`));
    if (s === 'open' && canApprove && !isAuthor)
      button('Approve…', 'primary', async (b) => {
        const comment = await ask(`Approve change request #${cr.id}?`, 'Comment', `Approve rev ${cr.rev}`, { intro: `You approve rev ${cr.rev}, as shown on this page.` });
        if (comment === null) return;
        await act(b, 'POST', 'approve', comment ? { comment, rev: cr.rev } : { rev: cr.rev }, `Approved change request #${cr.id}.`);
      });
    if ((s === 'open' || s === 'approved') && canApprove && !isAuthor)
      button('Reject…', 'danger', async (b) => {
        const reason = await ask(`Reject change request #${cr.id}?`, 'Reason', 'Reject', { required: true, danger: true, intro: `${cr.author} may edit it and submit it again.` });
        if (reason === null) return;
        await act(b, 'POST', 'reject', { reason, rev: cr.rev }, `Rejected change request #${cr.id}.`);
      });
    const mayPublish = ['draft', 'open', 'approved', 'scheduled'].includes(s) && (!required || enough);
    let scheduleBox = null;
    if (canWrite && mayPublish) {
      button('Publish now…', 'primary', async (b) => {
        const ok = await confirm(`Publish change request #${cr.id}?`, `All ${plural(items.length, 'item')} publish together in one transaction, or none does.${stale.length ? ` ${plural(stale.length, 'item')} changed since: the publish will be refused.` : ''}`, 'Publish now');
        if (!ok) return;
        await act(b, 'POST', 'publish', { rev: cr.rev }, `Published change request #${cr.id}.`);
      });
      const at = h('input', { type: 'datetime-local', min: localInput(new Date(Date.now() + 60000)), step: 60 });
      const sched = h('button', { type: 'button' }, s === 'scheduled' ? 'Reschedule' : 'Schedule');
      sched.addEventListener('click', async () => {
        const d = at.value ? new Date(at.value) : null;
        if (!d || isNaN(d)) {
          clear(errors, errorBox(new Error('Choose a date and time to publish at.')));
          at.focus();
          return;
        }
        if (d.getTime() <= Date.now()) {
          clear(errors, errorBox(new Error('Choose a time in the future.')));
          at.focus();
          return;
        }
        const iso = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
        await act(sched, 'POST', 'publish', { at: iso, rev: cr.rev }, `Change request #${cr.id} publishes at ${fmtTime(iso)}.`);
      });
      scheduleBox = h('div', { class: 'row' }, field('Publish at (your local time)', at), h('div', { class: 'field' }, sched));
    }
    if (admin && ['draft', 'open', 'approved', 'scheduled'].includes(s) && required && !enough)
      button('Force publish…', 'danger', async (b) => {
        const ok = await confirm(`Force-publish change request #${cr.id}?`, `It has ${approvals} of the ${required} approvals ${ns} requires. A forced publish skips the review and is audited as such.`, 'Force publish', true);
        if (!ok) return;
        await act(b, 'POST', 'publish', { force: true, rev: cr.rev }, `Force-published change request #${cr.id}.`);
      });
    if (!ENDED.includes(s) && (isAuthor || canApprove))
      button(s === 'scheduled' ? 'Cancel the request…' : 'Cancel request…', 'danger', async (b) => {
        const reason = await ask(`Cancel change request #${cr.id}?`, 'Reason', 'Cancel the request', { danger: true, intro: 'A cancelled request cannot be submitted or published again.' });
        if (reason === null) return;
        await act(b, 'POST', 'cancel', reason ? { reason } : {}, `Cancelled change request #${cr.id}.`);
      });

    // The author's edit of a draft or rejected request.
    const editHost = h('div', {});
    if (editable)
      button('Edit…', '', (b) => {
        if (editHost.firstChild) {
          clear(editHost);
          b.setAttribute('aria-expanded', 'false');
          return;
        }
        b.setAttribute('aria-expanded', 'true');
        editHost.append(editForm(cr, () => {
          clear(editHost);
          b.setAttribute('aria-expanded', 'false');
          b.focus();
        }));
      });

    let hint = null;
    if (!buttons.length && !scheduleBox) {
      if (ENDED.includes(s)) hint = `This request is ${s}: nothing more can happen to it.`;
      else if (s === 'open' && isAuthor && required) hint = `Waiting for ${plural(required - approvals, 'more approval')} by an approver other than you.`;
      else hint = 'You may read and comment on this request.';
    } else if (s === 'open' && required && !enough && !canApprove) {
      hint = `It publishes once ${plural(required - approvals, 'more approval')} arrive${required - approvals === 1 ? 's' : ''}.`;
    } else if (s === 'rejected' && isAuthor) {
      hint = 'Edit it to make it a draft again, then submit it.';
    }
    const actionsEl = h(
      'section',
      { class: 'card', 'aria-labelledby': 'cr-actions-h' },
      h('h2', { id: 'cr-actions-h' }, 'Actions'),
      buttons.length ? h('div', { class: 'actions' }, buttons) : null,
      scheduleBox,
      hint ? h('p', { class: 'muted' }, hint) : null,
      errors,
      editHost,
    );

    // Items.
    const itemEls = items.map((it, i) => {
      const diffHost = h('div', {});
      const where = `${it.group}/${it.dataId}${it.rule ? ` rule ${it.rule}` : ''}`;
      const tools = [];
      if (editable && it.stale) {
        const rb = h('button', { type: 'button', class: 'small' }, 'Re-base on the current version');
        rb.addEventListener('click', async () => {
          const ok = await confirm(`Re-base ${where}?`, 'The item keeps its content but is then based on what is there now: publishing it replaces the change made since (shown in the diff).', 'Re-base');
          if (!ok) return;
          let body;
          try {
            body = items.map((x) => {
              const b = itemBody(x);
              if (x === it) delete b.baseMd5;
              return b;
            });
          } catch (e) {
            clear(errors, errorBox(e));
            return;
          }
          await act(rb, 'PATCH', '', { items: body, rev: cr.rev }, `Re-based ${where}.`);
        });
        tools.push(rb);
      }
      if (editable) {
        const rm = h('button', { type: 'button', class: 'small danger', 'aria-label': `Remove ${where} from the request` }, 'Remove from request…');
        rm.addEventListener('click', async () => {
          if (items.length < 2) {
            clear(errors, errorBox(new Error('This is the request\'s only item: cancel the request instead.')));
            return;
          }
          const ok = await confirm(`Remove ${where}?`, `The request then holds ${plural(items.length - 1, 'item')}.`, 'Remove', true);
          if (!ok) return;
          let body;
          try {
            body = items.filter((x) => x !== it).map(itemBody);
          } catch (e) {
            clear(errors, errorBox(e));
            return;
          }
          await act(rm, 'PATCH', '', { items: body, rev: cr.rev }, `Removed ${where}.`);
        });
        tools.push(rm);
      }
      const el = h(
        'section',
        { class: 'card cr-item', 'aria-labelledby': `cr-item-${i}`, dataset: { group: it.group, dataId: it.dataId, op: it.op } },
        h(
          'h3',
          { id: `cr-item-${i}` },
          h('span', { class: `badge op-${it.op}` }, it.op),
          ' ',
          h('a', { href: configHash(ns, it.group, it.dataId) }, `${it.group}/${it.dataId}`),
          it.rule ? [' rule ', h('code', {}, it.rule)] : null,
          it.format ? [' ', h('span', { class: `badge fmt-${it.format}` }, it.format)] : null,
        ),
        it.stale
          ? h('div', { class: 'notice', role: 'alert' }, `Stale: ${it.group}/${it.dataId}${it.rule ? ` rule ${it.rule}` : ''} changed since this item was written (based on ${it.baseVersion ? `v${it.baseVersion}` : 'no version'}, now ${it.current && it.current.version ? `v${it.current.version}` : 'gone'}). Publishing is refused until its author re-bases it.`)
          : null,
        h(
          'p',
          { class: 'muted' },
          `Based on ${it.baseVersion ? `v${it.baseVersion}` : 'nothing (a new config)'}`,
          it.baseMd5 ? [', md5 ', h('code', {}, it.baseMd5.slice(0, 8))] : null,
          it.op === 'gray-set' ? graySummary(it) : null,
        ),
        diffHost,
        tools.length ? h('div', { class: 'actions' }, tools) : null,
      );
      itemDiff(cr, it, diffHost);
      return el;
    });

    // Comment (readers too).
    let commentEl = null;
    if (role) {
      const text = h('textarea', { rows: 3, maxlength: 4000 });
      const send = h('button', { type: 'submit' }, 'Comment');
      const cErr = h('div', { 'aria-live': 'assertive' });
      commentEl = h('form', { class: 'card', 'aria-label': 'Comment' }, h('h2', {}, 'Comment'), field('Your comment', text), cErr, h('div', { class: 'actions' }, send));
      commentEl.addEventListener('submit', async (e) => {
        e.preventDefault();
        clear(cErr);
        if (!text.value.trim()) {
          clear(cErr, errorBox(new Error('Write a comment first.')));
          text.focus();
          return;
        }
        await act(send, 'POST', 'comments', { text: text.value.trim() }, 'Comment added.', cErr);
      });
    }

    // Events.
    const eventsEl = h(
      'section',
      { class: 'card', 'aria-labelledby': 'cr-events-h' },
      h('h2', { id: 'cr-events-h' }, 'Events'),
      table(
        ['Time', 'Who', 'What', 'Text', 'Rev'],
        events.map((e) =>
          h(
            'tr',
            { dataset: { kind: e.kind } },
            h('td', { title: fmtTime(e.at) }, fmtTime(e.at)),
            h('td', {}, e.actor),
            h('td', {}, h('span', { class: `badge ${eventClass(e.kind)}` }, e.kind)),
            h('td', {}, e.text || ''),
            h('td', { class: 'num' }, e.rev ? String(e.rev) : ''),
          ),
        ),
        { empty: 'No events.' },
      ),
    );

    clear(
      main,
      h('p', { class: 'crumbs' }, h('a', { href: '#/changes' }, `Change requests in ${ns}`)),
      h('div', { class: 'page-head' }, h('h1', {}, `#${cr.id} `, cr.title || '(no title)'), stateBadge(s)),
      stale.length && !ENDED.includes(s)
        ? h('div', { class: 'notice', role: 'alert' }, `${plural(stale.length, 'item')} changed since written: ${stale.map((x) => `${x.group}/${x.dataId}`).join(', ')}. The publish will be refused until the author re-bases ${stale.length === 1 ? 'it' : 'them'}.`)
        : null,
      h('div', { class: 'split' }, h('section', { class: 'card', 'aria-label': 'About this request' }, h('h2', {}, 'About'), factsEl, descEl), h('div', {}, reviewEl, actionsEl)),
      h('h2', {}, `Items (${items.length})`),
      itemEls.length ? itemEls : h('p', { class: 'muted' }, 'No items.'),
      commentEl,
      eventsEl,
    );
    schedulePoll(cr);
  }

  function editForm(cr, close) {
    const title = h('input', { type: 'text', value: cr.title, required: true, maxlength: 200 });
    const desc = h('textarea', { rows: 4 });
    desc.value = cr.description || '';
    const added = itemList(ctx, ns, 0);
    const err = h('div', { 'aria-live': 'assertive' });
    const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
    const cancel = h('button', { type: 'button' }, 'Cancel');
    cancel.addEventListener('click', close);
    added.addBtn.textContent = 'Add a config';
    const form = h(
      'form',
      { class: 'card', 'aria-label': 'Edit the request' },
      h('h3', {}, `Edit rev ${cr.rev}`),
      field('Title', title),
      field('Description', desc),
      h('h4', {}, 'New items'),
      added.host,
      h('div', { class: 'actions' }, added.addBtn),
      cr.state === 'rejected' ? h('p', { class: 'muted' }, 'Saving makes the request a draft again.') : null,
      err,
      h('div', { class: 'actions' }, save, cancel),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(err);
      if (!title.value.trim()) {
        clear(err, errorBox(new Error('Give the request a title.')));
        title.focus();
        return;
      }
      const json = { title: title.value.trim(), description: desc.value, rev: cr.rev };
      const extra = added.bodies();
      if (extra.some((b) => !b.group || !b.dataId)) {
        clear(err, errorBox(new Error('Each new item needs a group and a dataId.')));
        return;
      }
      if (extra.length) {
        try {
          json.items = cr.items.map(itemBody).concat(extra);
        } catch (ex) {
          clear(err, errorBox(ex));
          return;
        }
      }
      await act(save, 'PATCH', '', json, `Saved change request #${cr.id}.`, err);
    });
    setTimeout(() => title.focus(), 0);
    return form;
  }

  // While scheduled, look again now and then: the scheduler may publish it.
  function schedulePoll(cr) {
    if (timer) clearTimeout(timer);
    timer = null;
    if (cr.state !== 'scheduled' || gone) return;
    const due = cr.scheduledAt ? new Date(cr.scheduledAt).getTime() - Date.now() : 0;
    const wait = Math.min(Math.max(due + 2000, 5000), 60000);
    timer = setTimeout(async () => {
      timer = null;
      if (!live()) return;
      try {
        const r = await api('GET', base);
        if (!live()) return;
        if (r.state !== shown.state || r.rev !== shown.rev || r.updatedAt !== shown.updatedAt) draw(r);
        else schedulePoll(r);
      } catch (_) {
        schedulePoll(cr);
      }
    }, wait);
  }

  async function reload() {
    try {
      const r = await api('GET', base);
      if (live()) draw(r);
    } catch (e) {
      if (live()) clear(main, h('p', { class: 'crumbs' }, h('a', { href: '#/changes' }, `Change requests in ${ns}`)), h('h1', {}, `Change request #${id}`), errorBox(e));
    }
  }

  reload();
  return () => {
    gone = true;
    if (timer) clearTimeout(timer);
  };
}

function graySummary(it) {
  const parts = [];
  if (it.priority !== undefined) parts.push(`priority ${it.priority}`);
  const m = it.match || {};
  if (m.ips && m.ips.length) parts.push(`ips ${m.ips.join(', ')}`);
  if (m.labels) parts.push(`labels ${m.labels}`);
  if (m.percent !== undefined) parts.push(`${m.percent}% of instances`);
  if (it.rollout && it.rollout.steps) parts.push(`rollout ${it.rollout.steps.join('→')}%${it.rollout.interval ? ` every ${it.rollout.interval}` : ''}`);
  return parts.length ? ` · ${parts.join(' · ')}` : '';
}

function eventClass(kind) {
  if (kind === 'approve' || kind === 'publish') return 'ok';
  if (kind === 'reject' || kind === 'fail' || kind === 'cancel' || kind === 'force-publish') return 'bad';
  if (kind === 'schedule' || kind === 'submit') return 'warn';
  return '';
}

// A Date as a datetime-local input value (local time, minutes).
function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
