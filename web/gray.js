// gray.js: a config's gray rules: list them with their rollouts' progress
// (refreshed live), create or edit one (match, priority, content with a diff
// against main, a rollout plan) after previewing how many current listeners
// it matches, and pause, resume, advance, promote or abort.

import { api, configPath, seg } from './api.js';
import { h, clear, fmtTime, ago, toast, errorBox, loading, dialog, field, busy, table } from './ui.js';
import { sideBySide } from './diff.js';

const REFRESH_MS = 1500;
const FORMATS = ['yaml', 'json', 'properties', 'xml', 'text'];

function matchText(m) {
  if (!m) return '';
  const parts = [];
  if (m.ips && m.ips.length) parts.push(`ips ${m.ips.join(', ')}`);
  if (m.labels) parts.push(`labels ${m.labels}`);
  if (m.percent !== undefined && m.percent !== null) parts.push(`${m.percent}%`);
  return parts.join(' · ');
}

function rolloutView(ro) {
  if (!ro) return h('span', { class: 'muted' }, 'none');
  const steps = ro.steps.map((p, i) => h('span', { class: i + 1 < ro.step ? 'done' : i + 1 === ro.step ? 'now' : '' }, `${p}%`));
  return h(
    'div',
    { class: 'rollout', dataset: { state: ro.state, step: String(ro.step) } },
    h('div', {}, h('span', { class: `badge state-${ro.state}` }, ro.state), ` step ${ro.step} of ${ro.steps.length} · ${ro.percent}%`),
    h('div', { class: 'steps', 'aria-label': 'Steps' }, steps),
    h('div', { class: 'muted' }, `${ro.members} in the rule · ${ro.applied} applied · ${ro.rejected} rejected`, ro.state === 'running' && ro.nextAt ? ` · next step ${fmtTime(ro.nextAt)}` : ''),
    ro.reason ? h('div', { class: 'error' }, ro.reason) : null,
  );
}

export async function render(body, c, query) {
  const base = `${configPath(c.ns, c.group, c.dataId)}/gray`;
  const canWrite = c.ctx.canWrite(c.ns);
  const review = c.ctx.reviewRequired(c.ns);
  const list = h('div', {}, loading());
  const newBtn = canWrite ? h('button', { type: 'button', class: 'primary' }, 'New gray rule') : null;
  clear(
    body,
    h('p', { class: 'muted' }, 'A gray rule serves its own content to the instances it matches (by address, labels or a sticky percentage) before it goes to all. Promote it to make it the next main version; abort it to send everyone back to main.'),
    h('div', { class: 'actions' }, newBtn),
    list,
  );
  let timer = null;
  let stopped = false;

  const act = async (btn, rule, path, label, confirmText) => {
    if (confirmText) {
      const ok = await dialog(`${label} ${rule.name}?`, [h('p', {}, confirmText)], [
        { label: 'Cancel', value: false },
        { label, value: true, class: label === 'Abort' ? 'danger' : 'primary' },
      ]);
      if (!ok) return;
    }
    await busy(btn, async () => {
      const method = path === '' ? 'DELETE' : 'POST';
      const r = await api(method, `${base}/${seg(rule.name)}${path}`, { headers: { 'If-Match': `"${rule.md5}"` } });
      toast(path === '/promote' ? `Promoted ${rule.name}: main is now version ${r.version}.` : `${label}: done.`);
      await refresh();
    });
  };

  const promote = async (btn, rule) => {
    const detail = await api('GET', `${base}/${seg(rule.name)}`);
    if (review) {
      await c.propose({ op: 'gray-promote', group: c.group, dataId: c.dataId, rule: rule.name }, `Promote ${rule.name} of ${c.dataId}`);
      return;
    }
    const ok = await dialog(`Promote ${rule.name}?`, [h('p', {}, 'Its content becomes the next main version for every instance, and the rule goes.'), sideBySide(c.cfg.content, detail.content, { aLabel: `main v${c.cfg.meta.version}`, bLabel: rule.name })], [
      { label: 'Cancel', value: false },
      { label: 'Promote', value: true, class: 'primary' },
    ]);
    if (ok) await act(btn, rule, '/promote', 'Promote');
  };

  async function refresh() {
    let r;
    try {
      r = await api('GET', base);
    } catch (e) {
      clear(list, errorBox(e));
      return;
    }
    const rows = r.rules.map((rule) => {
      const ro = rule.rollout;
      const buttons = [];
      const b = (label, fn, cls = 'small') => {
        const el = h('button', { type: 'button', class: cls, 'aria-label': `${label} ${rule.name}` }, label);
        el.addEventListener('click', () => fn(el));
        buttons.push(el);
      };
      if (canWrite) {
        b('Edit', () => c.ctx.go(`#/config/${seg(c.ns, c.group, c.dataId)}/gray?edit=${encodeURIComponent(rule.name)}`));
        if (ro && ro.state === 'running') b('Pause', (el) => act(el, rule, '/pause', 'Pause'));
        if (ro && ro.state !== 'running') b('Resume', (el) => act(el, rule, '/resume', 'Resume'));
        if (ro && ro.state !== 'aborted') b('Advance', (el) => act(el, rule, '/advance', 'Advance', 'Take the next step now, without waiting for the interval or the reports (after the last step: promote).'));
        b('Promote', (el) => promote(el, rule).catch((e) => toast(e.message, 'error')));
        b('Abort', (el) => act(el, rule, '', 'Abort', 'Its instances get the main content again, and the rule is removed.'), 'small danger');
      }
      return h(
        'tr',
        { dataset: { rule: rule.name } },
        h('td', {}, h('strong', {}, rule.name), h('div', { class: 'muted' }, rule.message || '')),
        h('td', { class: 'num' }, rule.priority),
        h('td', {}, matchText(rule.match)),
        h('td', {}, rolloutView(ro)),
        h('td', {}, rule.author, h('div', { class: 'muted', title: fmtTime(rule.updatedAt) }, ago(rule.updatedAt))),
        h('td', {}, h('div', { class: 'actions' }, buttons)),
      );
    });
    clear(list, table(['Rule', 'Priority', 'Match', 'Rollout', 'Author', ''], rows, { empty: 'No gray rules: every instance gets the main version.' }));
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }

  if (newBtn) newBtn.addEventListener('click', () => c.ctx.go(`#/config/${seg(c.ns, c.group, c.dataId)}/gray?edit=`));
  if (query && query.has('edit') && canWrite) {
    await editRule(body, c, base, query.get('edit'));
    return undefined;
  }
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function splitList(s) {
  return s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

async function editRule(body, c, base, name) {
  const isNew = !name;
  let rule = null;
  if (!isNew) rule = await api('GET', `${base}/${seg(name)}`);
  const nameIn = h('input', { type: 'text', value: name || 'canary', required: true, disabled: !isNew });
  const prio = h('input', { type: 'number', value: rule ? rule.priority : 0, step: 1 });
  const ips = h('input', { type: 'text', value: rule && rule.match.ips ? rule.match.ips.join(', ') : '', placeholder: '10.0.0.7, 10.1.0.0/16' });
  const labels = h('input', { type: 'text', value: rule && rule.match.labels ? rule.match.labels : '', placeholder: 'env=canary,zone in (a,b),!legacy' });
  const hasPlan = !!(rule && rule.rollout);
  const percent = h('input', { type: 'number', min: 0, max: 100, step: 0.01, value: rule && rule.match.percent !== undefined && !hasPlan ? rule.match.percent : '' });
  const fmt = h('select', {}, FORMATS.map((f) => h('option', { value: f }, f)));
  fmt.value = rule ? rule.format : c.cfg.meta.format;
  const plan = h('input', { type: 'checkbox', checked: hasPlan });
  const steps = h('input', { type: 'text', value: hasPlan ? rule.rollout.steps.join(', ') : '5, 25, 50, 100' });
  const interval = h('input', { type: 'text', value: hasPlan ? `${Math.round(rule.rollout.intervalMs / 1000)}s` : '10m' });
  const maxRej = h('input', { type: 'text', value: hasPlan ? rule.rollout.maxRejected : '0' });
  const minRep = h('input', { type: 'number', min: 1, value: hasPlan ? rule.rollout.minReports : 1 });
  const message = h('input', { type: 'text', placeholder: 'Why this rule' });
  const host = h('div', { class: 'editor' });
  const diffBox = h('div', {});
  const previewBox = h('div', { 'aria-live': 'polite' });
  const errors = h('div', { 'aria-live': 'assertive' });
  const previewBtn = h('button', { type: 'button' }, 'Preview listeners');
  const diffBtn = h('button', { type: 'button' }, 'Diff against main');
  const save = h('button', { type: 'button', class: 'primary' }, c.ctx.reviewRequired(c.ns) ? 'Propose rule…' : isNew ? 'Create rule' : 'Save rule');
  const cancel = h('a', { class: 'button', href: `#/config/${seg(c.ns, c.group, c.dataId)}/gray` }, 'Cancel');
  const planBox = h('div', { class: 'row' }, field('Steps (percent)', steps), field('Interval', interval, 'e.g. 30s, 10m'), field('Max rejected', maxRej, 'a count, or a percent like 2%'), field('Min reports', minRep));
  planBox.hidden = !plan.checked;
  percent.disabled = plan.checked;
  plan.addEventListener('change', () => {
    planBox.hidden = !plan.checked;
    percent.disabled = plan.checked;
  });
  clear(
    body,
    h('h2', {}, isNew ? 'New gray rule' : `Edit gray rule ${name}`),
    h('div', { class: 'row' }, field('Rule name', nameIn), field('Priority', prio, 'higher wins'), field('Format', fmt)),
    h('fieldset', { class: 'card' }, h('legend', {}, 'Who gets it (all given must hold)'), h('div', { class: 'row' }, field('IPs or CIDRs', ips), field('Labels', labels), field('Percent', percent, 'sticky per instance'))),
    h('div', { class: 'card' }, h('label', {}, plan, ' Roll out in steps (the rollout sets the percent)'), planBox),
    field('Content', host),
    h('div', { class: 'actions' }, diffBtn, previewBtn),
    diffBox,
    previewBox,
    field('Message', message),
    errors,
    h('div', { class: 'actions' }, save, cancel),
  );
  /* global CodeMirror */
  const modes = { yaml: 'yaml', json: { name: 'javascript', json: true }, properties: 'properties', xml: 'xml' };
  const cm = CodeMirror(host, { value: rule ? rule.content : c.cfg.content, mode: modes[fmt.value] || null, lineNumbers: true, screenReaderLabel: 'Rule content', extraKeys: { Tab: false, 'Shift-Tab': false } });
  fmt.addEventListener('change', () => cm.setOption('mode', modes[fmt.value] || null));
  setTimeout(() => cm.refresh(), 0);

  let salt = null;
  const matchBody = () => {
    const m = {};
    const ipList = splitList(ips.value);
    if (ipList.length) m.ips = ipList;
    if (labels.value.trim()) m.labels = labels.value.trim();
    if (!plan.checked && percent.value !== '') m.percent = Number(percent.value);
    return m;
  };
  const ruleBody = () => {
    const b = { priority: Number(prio.value || 0), content: cm.getValue(), format: fmt.value, message: message.value };
    const m = matchBody();
    if (Object.keys(m).length || !plan.checked) b.match = m;
    if (plan.checked) {
      b.rollout = { steps: splitList(steps.value).map(Number), interval: interval.value.trim(), maxRejected: maxRej.value.trim(), minReports: Number(minRep.value || 1) };
    }
    return b;
  };
  const showDiff = () => clear(diffBox, sideBySide(c.cfg.content, cm.getValue(), { aLabel: `main v${c.cfg.meta.version}`, bLabel: 'this rule' }));
  diffBtn.addEventListener('click', showDiff);
  previewBtn.addEventListener('click', () =>
    busy(previewBtn, async () => {
      const b = ruleBody();
      const pbody = { match: b.match || {}, priority: b.priority };
      if (plan.checked) pbody.match = Object.assign({}, pbody.match, { percent: b.rollout.steps[0] });
      let p;
      try {
        p = await api('POST', `${base}/${seg(nameIn.value.trim() || 'preview')}/preview`, { json: pbody });
      } catch (e) {
        clear(previewBox, errorBox(e));
        return;
      }
      if (isNew) salt = p.salt;
      clear(
        previewBox,
        h('div', { class: 'notice', dataset: { matched: String(p.matched), served: String(p.served), listeners: String(p.listeners) } }, `Matches ${p.matched} of ${p.listeners} current listener${p.listeners === 1 ? '' : 's'}; would serve ${p.served} (other rules' priorities considered).`),
        table(
          ['Instance', 'IP', 'Labels', 'Served'],
          p.instances.map((i) => h('tr', {}, h('td', {}, i.instance || '(none)'), h('td', {}, i.ip), h('td', {}, i.labels), h('td', {}, i.served ? 'yes' : 'no'))),
          { empty: 'No current listener matches.' },
        ),
      );
    }),
  );
  save.addEventListener('click', () =>
    busy(save, async () => {
      clear(errors);
      const rn = nameIn.value.trim();
      const b = ruleBody();
      if (isNew && salt) b.salt = salt;
      if (c.ctx.reviewRequired(c.ns)) {
        const item = Object.assign({ op: 'gray-set', group: c.group, dataId: c.dataId, rule: rn }, b);
        delete item.message;
        delete item.salt;
        await c.propose(item, `Gray rule ${rn} of ${c.dataId}`);
        return;
      }
      try {
        await api('PUT', `${base}/${seg(rn)}`, { json: b, headers: isNew ? { 'If-None-Match': '*' } : { 'If-Match': `"${rule.md5}"` } });
      } catch (e) {
        clear(errors, errorBox(e));
        return;
      }
      toast(isNew ? `Gray rule ${rn} created.` : `Gray rule ${rn} saved.`);
      c.ctx.go(`#/config/${seg(c.ns, c.group, c.dataId)}/gray`);
    }),
  );
}
