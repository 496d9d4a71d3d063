// listeners.js: which instances hold which version or rule of a config and
// whether they applied it: "n of m on latest", refreshed live.

import { api, configPath } from './api.js';
import { h, clear, fmtTime, ago, errorBox, loading, table } from './ui.js';

const REFRESH_MS = 2000;
const PAGE = 100;

function counts(obj, prefix) {
  const e = Object.entries(obj || {});
  if (!e.length) return null;
  return e.map(([k, n]) => `${prefix}${k}: ${n}`).join(' · ');
}

export async function render(body, c) {
  const base = `${configPath(c.ns, c.group, c.dataId)}/listeners`;
  const which = h('select', { 'aria-label': 'Show' }, h('option', { value: '' }, 'all instances'), h('option', { value: 'false' }, 'not on latest'), h('option', { value: 'true' }, 'on latest'));
  const live = h('input', { type: 'checkbox', checked: true });
  const summary = h('div', { 'aria-live': 'polite' });
  const list = h('div', {}, loading());
  const stamp = h('span', { class: 'muted' });
  let page = 1;
  const pager = h('div', { class: 'actions' });
  clear(
    body,
    h('div', { class: 'filters' }, which, h('label', {}, live, ' Refresh live'), stamp),
    summary,
    list,
    pager,
  );
  let timer = null;
  let stopped = false;

  async function refresh() {
    clearTimeout(timer);
    let r;
    try {
      r = await api('GET', base, { query: { latest: which.value, page, size: PAGE } });
    } catch (e) {
      if (e.status === 404) {
        clear(summary, h('p', {}, 'Nobody listens to this config right now.'));
        clear(list);
      } else clear(list, errorBox(e));
      schedule();
      return;
    }
    const s = r.summary;
    clear(
      summary,
      h(
        'div',
        { class: 'card', dataset: { total: String(s.total), onlatest: String(s.onLatest) } },
        h('h2', { class: 'latest' }, `${s.onLatest} of ${s.total} on latest`),
        h('div', {}, `${s.watching} watching · ${s.applied} applied · ${s.rejected} rejected`),
        h('div', { class: 'muted' }, [counts(s.byVersion, 'v'), counts(s.byRule, 'rule ')].filter(Boolean).join(' · ')),
      ),
    );
    clear(
      list,
      table(
        ['Instance', 'IP', 'Labels', 'Holds', 'Latest', 'Watching', 'Applied', 'Last seen'],
        r.instances.map((i) =>
          h(
            'tr',
            { dataset: { instance: i.instance } },
            h('td', {}, i.instance || h('span', { class: 'muted' }, '(by address)')),
            h('td', {}, i.ip),
            h('td', {}, i.labels),
            h('td', {}, i.gray ? `rule ${i.gray}` : i.version ? `v${i.version}` : 'unknown', h('div', { class: 'muted' }, h('code', {}, (i.md5 || '').slice(0, 8)))),
            h('td', {}, i.latest ? h('span', { class: 'badge ok' }, 'latest') : h('span', { class: 'badge warn' }, 'behind')),
            h('td', {}, i.watching ? 'yes' : 'no'),
            h('td', {}, i.applied ? h('span', { class: 'badge ok' }, 'applied') : i.rejected ? h('span', { class: 'badge bad', title: i.message }, 'rejected') : h('span', { class: 'muted' }, 'no report'), i.rejected && i.message ? h('div', { class: 'muted' }, i.message) : null),
            h('td', { title: fmtTime(i.lastSeen) }, ago(i.lastSeen)),
          ),
        ),
        { empty: 'No instance matches.' },
      ),
    );
    const pages = Math.max(1, Math.ceil(r.total / PAGE));
    const prev = h('button', { type: 'button', disabled: page <= 1 }, 'Previous');
    const next = h('button', { type: 'button', disabled: page >= pages }, 'Next');
    prev.addEventListener('click', () => {
      page--;
      refresh();
    });
    next.addEventListener('click', () => {
      page++;
      refresh();
    });
    clear(pager, pages > 1 ? [prev, h('span', {}, `page ${page} of ${pages}`), next] : null);
    stamp.textContent = `updated ${new Date().toLocaleTimeString()}`;
    schedule();
  }
  function schedule() {
    if (!stopped && live.checked) timer = setTimeout(refresh, REFRESH_MS);
  }
  which.addEventListener('change', () => {
    page = 1;
    refresh();
  });
  live.addEventListener('change', () => (live.checked ? refresh() : clearTimeout(timer)));
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
