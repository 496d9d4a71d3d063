// admin.js: the admin pages: namespaces (with their grants, review rule and
// anonymous reads), users, service tokens and the audit log. Every call goes through api.js to
// the public API; the server decides what is allowed, the page only hides
// what the user could not use and shows the API's words when it refuses.
//
// render(main, ctx, parts, query): parts = [] | ['namespaces'] | ['users'] |
// ['tokens'] | ['audit']; query = URLSearchParams of the hash.

import { api, seg } from './api.js';
import { h, clear, fmtTime, ago, toast, errorBox, loading, dialog, field, busy, table } from './ui.js';

const GRANT_ROLES = ['reader', 'editor', 'approver', 'owner'];
const TOKEN_ROLES = ['reader', 'editor'];
const AUDIT_ACTIONS = [
  'login', 'login-failed', 'login-throttled', 'logout', 'password-change',
  'user-create', 'user-delete', 'grant', 'revoke-grant',
  'namespace-create', 'namespace-delete', 'namespace-review', 'namespace-anonymous-read',
  'token-create', 'token-revoke',
  'publish', 'delete', 'rollback',
  'change-create', 'change-edit', 'change-submit', 'change-approve', 'change-reject',
  'change-cancel', 'change-publish', 'change-force-publish', 'change-fail',
];
const AUDIT_SIZES = [20, 50, 100, 200];

// ---- who may see what ----

function isAdmin(ctx) {
  return !!(ctx.me && ctx.me.admin);
}

function ownsAny(ctx) {
  return isAdmin(ctx) || Object.values((ctx.me && ctx.me.roles) || {}).includes('owner');
}

function sections(ctx) {
  const s = [['namespaces', 'Namespaces']];
  if (isAdmin(ctx)) s.push(['users', 'Users']);
  s.push(['tokens', 'Service tokens']);
  if (ownsAny(ctx)) s.push(['audit', 'Audit log']);
  return s;
}

// ---- small helpers ----

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// The networks a namespace is open to for credential-less reads ([] = closed).
function anonCidrs(n) {
  return (n.anonymousRead && n.anonymousRead.cidrs) || [];
}

// "10.0.0.0/8, 192.168.1.20\n..." -> ['10.0.0.0/8', '192.168.1.20']: commas,
// newlines or spaces between entries (no address holds any), repeats dropped.
// Whether each is an address or a CIDR is the server's call.
function parseCidrs(text) {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

function codeList(items) {
  return items.map((c, i) => [i ? ', ' : '', h('code', {}, c)]);
}

// A place for a form's or a section's error, read out when it changes.
function msgBox() {
  return h('div', { 'aria-live': 'assertive' });
}

function showError(box, e) {
  clear(box, errorBox(e));
}

async function confirm(title, text, action) {
  return dialog(title, [h('p', {}, text)], [
    { label: 'Cancel', value: false },
    { label: action, value: true, class: 'danger' },
  ]);
}

// "2026-12-02T10:00" (a datetime-local input) <-> ISO in UTC.
function localToIso(v) {
  if (!v) return '';
  const d = new Date(v.length === 10 ? `${v}T00:00` : v);
  return isNaN(d) ? '' : d.toISOString().replace(/\.\d+Z$/, 'Z');
}

function isoToLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function hashWith(section, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return `#/admin/${section}${s ? `?${s}` : ''}`;
}

// ---- the page ----

export function render(main, ctx, parts, query) {
  const all = sections(ctx);
  const want = parts[0] || 'namespaces';
  const known = ['namespaces', 'users', 'tokens', 'audit'];
  const allowed = all.some(([id]) => id === want);
  const body = h('div', { class: 'admin-body' });
  const state = { alive: true };
  clear(
    main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Admin')),
    h('nav', { class: 'tabs', 'aria-label': 'Admin sections' }, all.map(([id, label]) => h('a', { href: `#/admin/${id}`, 'aria-current': id === want ? 'page' : null }, label))),
    body,
  );
  if (!known.includes(want)) {
    clear(body, h('p', {}, 'There is no such admin page. '), h('a', { href: '#/admin/namespaces' }, 'Go to the namespaces'));
    return () => (state.alive = false);
  }
  if (!allowed) {
    clear(
      body,
      h('div', { class: 'notice', role: 'alert' }, want === 'users' ? 'Only admins manage users.' : 'The audit log is for admins and namespace owners.'),
    );
    return () => (state.alive = false);
  }
  const pages = { namespaces: namespacesPage, users: usersPage, tokens: tokensPage, audit: auditPage };
  const redraw = () => {
    if (!state.alive) return Promise.resolve();
    return Promise.resolve(pages[want](body, ctx, query, state, redraw)).catch((e) => {
      if (state.alive) clear(body, errorBox(e));
    });
  };
  redraw();
  return () => (state.alive = false);
}

// ---- namespaces and grants ----

async function namespacesPage(body, ctx, query, state, redraw) {
  const admin = isAdmin(ctx);
  clear(body, h('h2', {}, 'Namespaces'), loading('Loading namespaces…'));
  try {
    await ctx.reloadNamespaces();
  } catch (e) {
    if (state.alive) clear(body, h('h2', {}, 'Namespaces'), errorBox(e));
    return;
  }
  if (!state.alive) return;
  const nss = ctx.namespaces;
  const grantsOf = query.get('grants') || '';
  const msg = msgBox();

  const after = async (text) => {
    toast(text);
    try {
      await ctx.reloadNamespaces();
    } catch (e) {
      toast(`Could not refresh the namespace list: ${e.message}`, 'error');
    }
    if (ctx.namespaces.length && !ctx.namespace(ctx.ns)) ctx.setNs(ctx.namespaces[0].id);
    await redraw();
  };

  const reviewBtn = (n) => {
    const b = h('button', { type: 'button', class: 'small', 'aria-label': `Set review rule of ${n.id}` }, 'Review…');
    b.addEventListener('click', async () => {
      const cur = (n.review && n.review.required) || 0;
      const num = h('input', { type: 'number', min: 0, max: 10, step: 1, value: String(cur), required: true });
      const ok = await dialog(`Review rule of ${n.id}`, [
        h('p', {}, 'How many others than its author must approve a change request before it may publish. 0 lets editors publish directly.'),
        field('Approvals required (0-10)', num, admin ? 'Lowering it is for admins; owners may raise it.' : 'As an owner you may raise it; lowering it is for admins.'),
      ], [
        { label: 'Cancel', value: false },
        { label: 'Save', value: true, class: 'primary' },
      ]);
      if (!ok) return;
      const v = Number(num.value);
      if (!Number.isInteger(v) || v < 0 || v > 10) {
        showError(msg, new Error(`The number of approvals must be a whole number from 0 to 10, not '${num.value}'.`));
        return;
      }
      await busy(b, async () => {
        try {
          await api('PUT', `/api/v1/namespaces/${seg(n.id)}`, { json: { review: { required: v } } });
        } catch (e) {
          showError(msg, e);
          return;
        }
        await after(v ? `Namespace ${n.id} now needs ${plural(v, 'approval')} per change.` : `Namespace ${n.id} no longer needs review.`);
      });
    });
    return b;
  };

  // Opening a namespace to callers nobody can name is for admins only (the
  // server says so too). Edit, confirm, PUT; a list the server refuses (400)
  // brings the dialog back with its words and the list as typed.
  const anonBtn = (n) => {
    const b = h('button', { type: 'button', class: 'small', 'aria-label': `Set anonymous reads of ${n.id}` }, 'Anonymous reads…');
    b.addEventListener('click', async () => {
      clear(msg);
      const cur = anonCidrs(n);
      let draft = cur.join('\n');
      let refused = null;
      for (;;) {
        const got = await anonDialog(n, draft, refused);
        if (!got) return;
        const want = got.close ? [] : parseCidrs(got.text);
        if (want.join(',') === cur.join(',')) {
          toast(want.length ? `Namespace ${n.id} is already open to exactly these networks.` : `Namespace ${n.id} is already closed to anonymous reads.`);
          return;
        }
        if (!(await confirmAnon(n, cur, want))) return;
        refused = await busy(b, async () => {
          try {
            await api('PUT', `/api/v1/namespaces/${seg(n.id)}`, { json: { anonymousRead: { cidrs: want } } });
          } catch (e) {
            return e;
          }
          await after(want.length
            ? `Namespace ${n.id} is open to anonymous reads from ${want.join(', ')}.`
            : `Namespace ${n.id} is closed to anonymous reads: every read needs a credential again.`);
          return null;
        });
        if (!refused) return;
        if (refused.status !== 400) {
          showError(msg, refused);
          return;
        }
        const m = /cidrs\[(\d+)\]/.exec(refused.message);
        if (m && want[Number(m[1])] !== undefined) refused.message += ` ('${want[Number(m[1])]}')`;
        draft = want.join('\n'); // as sent, so the index in the message fits
      }
    });
    return b;
  };

  const deleteBtn = (n) => {
    const b = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete namespace ${n.id}` }, 'Delete…');
    b.addEventListener('click', async () => {
      const ok = await confirm(`Delete namespace ${n.id}?`, n.configCount
        ? `It still holds ${plural(n.configCount, 'config')}: the server refuses to delete a namespace that holds configs. Delete them first.`
        : 'Its grants go with it. This cannot be undone.', 'Delete');
      if (!ok) return;
      await busy(b, async () => {
        try {
          await api('DELETE', `/api/v1/namespaces/${seg(n.id)}`);
        } catch (e) {
          showError(msg, e);
          toast(`Namespace ${n.id} was not deleted: ${e.message}`, 'error');
          return;
        }
        await after(`Deleted namespace ${n.id}.`);
      });
    });
    return b;
  };

  const rows = nss.map((n) => {
    const own = ctx.canOwn(n.id);
    const req = (n.review && n.review.required) || 0;
    const anon = anonCidrs(n);
    return h(
      'tr',
      { dataset: { ns: n.id }, class: anon.length ? 'anon-open' : null },
      h('td', {}, h('code', {}, n.id)),
      h('td', {}, n.name || ''),
      h('td', {}, n.description || ''),
      h('td', { class: 'num' }, String(n.configCount ?? 0)),
      h('td', {}, req ? h('span', { class: 'badge warn' }, `${plural(req, 'approval')}`) : h('span', { class: 'muted' }, 'no')),
      h(
        'td',
        { dataset: { anonymous: anon.length ? 'open' : 'closed' } },
        anon.length
          ? [h('span', { class: 'badge bad', title: 'Reads and watches from these networks need no credential' }, 'open, no credential'), ' from ', codeList(anon)]
          : h('span', { class: 'muted' }, 'closed'),
      ),
      h(
        'td',
        {},
        h(
          'div',
          { class: 'row' },
          own ? h('a', { class: 'button small', href: hashWith('namespaces', { grants: n.id }), 'aria-label': `Grants of ${n.id}`, 'aria-current': grantsOf === n.id ? 'true' : null }, 'Grants') : null,
          own ? reviewBtn(n) : null,
          admin ? anonBtn(n) : null,
          admin && n.id !== 'public' ? deleteBtn(n) : null,
        ),
      ),
    );
  });

  const open = nss.filter((n) => anonCidrs(n).length);
  const parts = [
    h('h2', {}, 'Namespaces'),
    open.length
      ? h(
          'div',
          { class: 'notice anon', role: 'note' },
          h('strong', {}, 'Open to reads without a credential: '),
          codeList(open.map((n) => n.id)),
          `. Any client at the networks shown under Anonymous reads may read and watch ${open.length === 1 ? 'its' : 'their'} configs without naming itself.`,
        )
      : null,
    msg,
    table(['ID', 'Name', 'Description', 'Configs', 'Review required', 'Anonymous reads', 'Actions'], rows, { empty: 'No namespaces you may see.' }),
  ];
  if (admin) parts.push(createNamespaceForm(msg, after));
  else parts.push(h('p', { class: 'muted' }, 'Only admins create and delete namespaces and open them to anonymous reads.'));
  const grantsHost = h('div', {});
  if (grantsOf) parts.splice(1, 0, grantsHost);
  clear(body, parts);
  if (grantsOf) await grantsPanel(grantsHost, ctx, grantsOf, state);
}

// The anonymous-read editor: resolves to {text} (save), {text, close: true}
// or null (cancel). refused: the server's refusal of the last try, if any.
async function anonDialog(n, draft, refused) {
  const cur = anonCidrs(n);
  const area = h('textarea', { name: 'anonymous-cidrs', rows: 5, spellcheck: 'false', autocomplete: 'off', placeholder: '10.0.0.0/8\n192.168.1.20', value: draft });
  const buttons = [{ label: 'Cancel', value: false }];
  if (cur.length) buttons.push({ label: 'Close to anonymous reads', value: 'close', class: 'danger' });
  buttons.push({ label: 'Save', value: 'save', class: 'primary' });
  const v = await dialog(`Anonymous reads of ${n.id}`, [
    h(
      'div',
      { class: 'notice' },
      h('strong', {}, 'A security setting. '),
      `Any client at these networks may read and watch every config in ${n.id} without a credential, so nobody can tell who read what. `,
      'Writes, history and lists still need one. Open it only for clients that cannot send a credential, to the narrowest networks you can.',
    ),
    h('p', {}, cur.length ? ['Now open to: ', codeList(cur), '.'] : 'Now closed: every read needs a credential.'),
    field('Networks', area, 'Addresses or CIDRs (10.0.0.0/8, 192.168.1.20, fd00::/8), one per line or separated by commas; at most 64. Empty closes it.'),
    refused ? errorBox(refused) : null,
  ], buttons);
  if (!v) return null;
  return v === 'close' ? { text: area.value, close: true } : { text: area.value };
}

async function confirmAnon(n, cur, want) {
  if (!want.length) {
    return dialog(`Close ${n.id} to anonymous reads?`, [
      h('p', {}, 'Clients at ', codeList(cur), ` then need a credential to read ${n.id}: their reads get 401 and their held watches end at once.`),
    ], [
      { label: 'Cancel', value: false },
      { label: 'Close to anonymous reads', value: true, class: 'danger' },
    ]);
  }
  const gone = cur.filter((c) => !want.includes(c));
  return dialog(cur.length ? `Change ${n.id}'s anonymous reads?` : `Open ${n.id} to anonymous reads?`, [
    h('p', {}, `Any client at these networks may then read and watch every config in ${n.id} without a credential:`),
    h('ul', {}, want.map((c) => h('li', {}, h('code', {}, c)))),
    gone.length ? h('p', {}, 'No longer open to: ', codeList(gone), ' (their anonymous watches end).') : null,
  ], [
    { label: 'Cancel', value: false },
    { label: 'Open to anonymous reads', value: true, class: 'danger' },
  ]);
}

function createNamespaceForm(pageMsg, after) {
  const id = h('input', { type: 'text', name: 'ns-id', required: true, maxlength: 128, placeholder: 'staging', autocomplete: 'off' });
  const name = h('input', { type: 'text', name: 'ns-name', maxlength: 256, placeholder: 'Staging', autocomplete: 'off' });
  const desc = h('input', { type: 'text', name: 'ns-description', maxlength: 1024, autocomplete: 'off' });
  const msg = msgBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create namespace');
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'new-ns-h' },
    h('h2', { id: 'new-ns-h' }, 'New namespace'),
    h('div', { class: 'row' }, field('ID', id, '1-128 of A-Z a-z 0-9 . _ : -'), field('Name', name), field('Description', desc)),
    msg,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(msg);
    const v = id.value.trim();
    if (!v) {
      showError(msg, new Error('Give the namespace an ID.'));
      id.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        await api('POST', '/api/v1/namespaces', { json: { id: v, name: name.value.trim() || v, description: desc.value.trim() } });
      } catch (ex) {
        showError(msg, ex);
        return;
      }
      clear(pageMsg);
      await after(`Created namespace ${v}.`);
    });
  });
  return form;
}

async function grantsPanel(host, ctx, ns, state) {
  const heading = h('h2', { id: 'grants-h' }, 'Grants in ', h('code', {}, ns));
  const close = h('a', { href: '#/admin/namespaces', class: 'button small' }, 'Close');
  const card = h('section', { class: 'card', 'aria-labelledby': 'grants-h' });
  clear(host, card);
  clear(card, h('div', { class: 'page-head' }, heading, close), loading('Loading grants…'));
  if (!ctx.namespace(ns)) {
    clear(card, h('div', { class: 'page-head' }, heading, close), errorBox(new Error(`There is no namespace '${ns}' (or you may not see it).`)));
    return;
  }
  let grants;
  let users = [];
  try {
    const r = await api('GET', `/api/v1/namespaces/${seg(ns)}/grants`);
    grants = r.grants || [];
    if (isAdmin(ctx)) {
      try {
        users = ((await api('GET', '/api/v1/users')).users || []).map((u) => u.name);
      } catch (_) {
        users = []; // only suggestions: the grant still works by name
      }
    }
  } catch (e) {
    if (state.alive) clear(card, h('div', { class: 'page-head' }, heading, close), errorBox(e));
    return;
  }
  if (!state.alive) return;
  const msg = msgBox();
  const reload = async () => {
    try {
      await ctx.reloadNamespaces();
    } catch (_) {
      /* the grants are what changed; the list refresh is a courtesy */
    }
    if (state.alive) await grantsPanel(host, ctx, ns, state);
  };
  const roleSelect = (value, label) => {
    const s = h('select', { 'aria-label': label }, GRANT_ROLES.map((r) => h('option', { value: r }, r)));
    s.value = value || 'reader';
    return s;
  };
  const put = async (user, role, btn) =>
    busy(btn, async () => {
      clear(msg);
      try {
        await api('PUT', `/api/v1/namespaces/${seg(ns, 'grants', user)}`, { json: { role } });
      } catch (e) {
        showError(msg, e);
        return false;
      }
      toast(`${user} is now ${role} in ${ns}.`);
      await reload();
      return true;
    });
  const rows = grants.map((g) => {
    const sel = roleSelect(g.role, `Role of ${g.user}`);
    const save = h('button', { type: 'button', class: 'small', disabled: true }, 'Save');
    sel.addEventListener('change', () => (save.disabled = sel.value === g.role));
    save.addEventListener('click', () => put(g.user, sel.value, save));
    const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Remove ${g.user}'s grant` }, 'Remove…');
    del.addEventListener('click', async () => {
      const ok = await confirm(`Remove ${g.user} from ${ns}?`, `${g.user} loses the ${g.role} role in ${ns} at once (their watches there end too).`, 'Remove');
      if (!ok) return;
      await busy(del, async () => {
        clear(msg);
        try {
          await api('DELETE', `/api/v1/namespaces/${seg(ns, 'grants', g.user)}`);
        } catch (e) {
          showError(msg, e);
          return;
        }
        toast(`Removed ${g.user}'s grant in ${ns}.`);
        await reload();
      });
    });
    return h('tr', { dataset: { user: g.user } }, h('td', {}, g.user), h('td', {}, h('div', { class: 'row' }, sel, save)), h('td', {}, del));
  });
  const listId = `users-${Math.random().toString(36).slice(2, 8)}`;
  const user = h('input', { type: 'text', name: 'grant-user', required: true, autocomplete: 'off', list: users.length ? listId : null });
  const role = roleSelect('reader', 'Role');
  const add = h('button', { type: 'submit', class: 'primary' }, 'Grant');
  const form = h(
    'form',
    { 'aria-label': `Grant a role in ${ns}` },
    h('h3', {}, 'Add or change a grant'),
    users.length ? h('datalist', { id: listId }, users.map((u) => h('option', { value: u }))) : null,
    h('div', { class: 'row' }, field('User', user), field('Role', role, 'approver: an editor who may approve others’ change requests'), h('div', { class: 'field' }, add)),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const u = user.value.trim();
    if (!u) {
      showError(msg, new Error('Name the user to grant a role to.'));
      user.focus();
      return;
    }
    await put(u, role.value, add);
  });
  clear(
    card,
    h('div', { class: 'page-head' }, heading, close),
    msg,
    table(['User', 'Role', ''], rows, { empty: 'No one has a role here yet (admins may do anything everywhere).' }),
    form,
  );
}

// ---- users ----

async function usersPage(body, ctx, query, state, redraw) {
  clear(body, h('h2', {}, 'Users'), loading('Loading users…'));
  let users;
  try {
    users = (await api('GET', '/api/v1/users')).users || [];
  } catch (e) {
    if (state.alive) clear(body, h('h2', {}, 'Users'), errorBox(e));
    return;
  }
  if (!state.alive) return;
  const msg = msgBox();
  const rows = users.map((u) => {
    const roles = Object.entries(u.roles || {});
    const reset = h('button', { type: 'button', class: 'small', 'aria-label': `Reset the password of ${u.name}` }, 'Reset password…');
    reset.addEventListener('click', () => resetPassword(u.name, reset, msg, ctx));
    const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete user ${u.name}` }, 'Delete…');
    del.addEventListener('click', async () => {
      const self = u.name === ctx.me.name;
      const ok = await confirm(`Delete user ${u.name}?`, `${self ? 'This is you: you will be logged out. ' : ''}${u.name}'s sessions end and their grants go. Their tokens stop working.`, 'Delete');
      if (!ok) return;
      await busy(del, async () => {
        clear(msg);
        try {
          await api('DELETE', `/api/v1/users/${seg(u.name)}`);
        } catch (e) {
          showError(msg, e);
          toast(`${u.name} was not deleted: ${e.message}`, 'error');
          return;
        }
        toast(`Deleted user ${u.name}.`);
        await redraw();
      });
    });
    return h(
      'tr',
      { dataset: { user: u.name } },
      h('td', {}, u.name, u.name === ctx.me.name ? h('span', { class: 'muted' }, ' (you)') : null),
      h('td', {}, u.admin ? h('span', { class: 'badge ok' }, 'admin') : h('span', { class: 'muted' }, 'no')),
      h('td', {}, roles.length ? roles.map(([ns, r], i) => [i ? ', ' : '', h('code', {}, ns), `: ${r}`]) : h('span', { class: 'muted' }, u.admin ? 'all (admin)' : 'none')),
      h('td', { title: fmtTime(u.createdAt) }, fmtTime(u.createdAt)),
      h('td', {}, h('div', { class: 'row' }, reset, del)),
    );
  });

  const name = h('input', { type: 'text', name: 'new-user', required: true, maxlength: 128, autocomplete: 'off' });
  const pw = h('input', { type: 'password', name: 'new-password', required: true, minlength: 8, autocomplete: 'new-password' });
  const adm = h('input', { type: 'checkbox', name: 'new-admin' });
  const fmsg = msgBox();
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create user');
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'new-user-h' },
    h('h2', { id: 'new-user-h' }, 'New user'),
    h('div', { class: 'row' }, field('Name', name), field('Password', pw, '8 characters or more'), h('div', { class: 'field' }, h('label', {}, adm, ' Admin (may do anything)'))),
    fmsg,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(fmsg);
    const n = name.value.trim();
    if (!n || pw.value.length < 8) {
      showError(fmsg, new Error(!n ? 'Give the user a name.' : 'The password must be 8 characters or more.'));
      (!n ? name : pw).focus();
      return;
    }
    await busy(submit, async () => {
      try {
        await api('POST', '/api/v1/users', { json: { name: n, password: pw.value, admin: adm.checked } });
      } catch (ex) {
        showError(fmsg, ex);
        return;
      }
      toast(`Created user ${n}. Give them a role in a namespace from its Grants.`);
      await redraw();
    });
  });
  clear(
    body,
    h('h2', {}, 'Users'),
    msg,
    table(['Name', 'Admin', 'Roles', 'Created', 'Actions'], rows, { empty: 'No users.' }),
    form,
  );
}

async function resetPassword(user, btn, msg, ctx) {
  const pw = h('input', { type: 'password', autocomplete: 'new-password', minlength: 8, required: true });
  const pw2 = h('input', { type: 'password', autocomplete: 'new-password', minlength: 8, required: true });
  const self = user === ctx.me.name;
  const ok = await dialog(`New password for ${user}`, [
    h('p', {}, self ? 'To change your own password use the Account page (it asks for the current one).' : `All of ${user}'s sessions end: they log in again with the new password.`),
    field('New password', pw, '8 characters or more'),
    field('New password, again', pw2),
  ], [
    { label: 'Cancel', value: false },
    { label: 'Set password', value: true, class: 'primary' },
  ]);
  if (!ok) return;
  clear(msg);
  if (pw.value !== pw2.value) {
    showError(msg, new Error('The two passwords differ: the password was not changed.'));
    return;
  }
  if (pw.value.length < 8) {
    showError(msg, new Error('The password must be 8 characters or more: it was not changed.'));
    return;
  }
  await busy(btn, async () => {
    try {
      await api('PUT', `/api/v1/users/${seg(user)}/password`, { json: { password: pw.value } });
    } catch (e) {
      showError(msg, e);
      return;
    }
    toast(`Password of ${user} changed.`);
  });
}

// ---- service tokens ----

function tokenState(t) {
  if (t.revoked) return h('span', { class: 'badge bad' }, 'revoked');
  if (t.expiresAt && new Date(t.expiresAt).getTime() <= Date.now()) return h('span', { class: 'badge warn' }, 'expired');
  return h('span', { class: 'badge ok' }, 'active');
}

function secretBox(t) {
  const code = h('code', { 'data-testid': 'token-secret', tabindex: '0', 'aria-label': 'Token secret' }, t.token);
  const status = h('span', { class: 'muted', 'aria-live': 'polite' });
  const copy = h('button', { type: 'button', class: 'primary' }, 'Copy');
  const select = () => {
    const r = document.createRange();
    r.selectNodeContents(code);
    const s = window.getSelection();
    s.removeAllRanges();
    s.addRange(r);
    code.focus();
  };
  copy.addEventListener('click', async () => {
    try {
      if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error('no clipboard');
      // A browser that asks the user may never answer: give up after 5 s.
      await Promise.race([
        navigator.clipboard.writeText(t.token),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5000)),
      ]);
      status.textContent = 'Copied.';
      toast('Token copied to the clipboard.');
    } catch (_) {
      select();
      status.textContent = 'Could not copy: the secret is selected, press Ctrl+C (⌘C) to copy it.';
    }
  });
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'secret-h', role: 'region' },
    h('h2', { id: 'secret-h' }, `Token ${t.name} created`),
    h('div', { class: 'notice', role: 'alert' }, 'Copy this secret now: it is shown only this once and cannot be shown again. Services send it as "Authorization: Bearer <secret>".'),
    h('div', { class: 'secret' }, code, copy, status),
    h('dl', { class: 'facts' }, h('dt', {}, 'ID'), h('dd', {}, h('code', {}, t.id)), h('dt', {}, 'Role'), h('dd', {}, t.role), h('dt', {}, 'Namespaces'), h('dd', {}, (t.namespaces || []).join(', ')), h('dt', {}, 'Expires'), h('dd', {}, fmtTime(t.expiresAt))),
  );
}

async function tokensPage(body, ctx, query, state, redraw, created) {
  clear(body, h('h2', {}, 'Service tokens'), created ? secretBox(created) : null, loading('Loading tokens…'));
  let tokens;
  try {
    tokens = (await api('GET', '/api/v1/tokens')).tokens || [];
  } catch (e) {
    if (state.alive) clear(body, h('h2', {}, 'Service tokens'), created ? secretBox(created) : null, errorBox(e));
    return;
  }
  if (!state.alive) return;
  const msg = msgBox();
  const again = (t) => tokensPage(body, ctx, query, state, redraw, t);
  const rows = tokens.map((t) => {
    let revoke = null;
    if (!t.revoked) {
      revoke = h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke token ${t.name}` }, 'Revoke…');
      revoke.addEventListener('click', async () => {
        const ok = await confirm(`Revoke token ${t.name}?`, `Every service using it (${t.role} in ${(t.namespaces || []).join(', ')}) is refused from its next request on, watches included. This cannot be undone.`, 'Revoke');
        if (!ok) return;
        await busy(revoke, async () => {
          clear(msg);
          try {
            await api('DELETE', `/api/v1/tokens/${seg(t.id)}`);
          } catch (e) {
            showError(msg, e);
            toast(`Token ${t.name} was not revoked: ${e.message}`, 'error');
            return;
          }
          toast(`Revoked token ${t.name}.`);
          await again(null);
        });
      });
    }
    return h(
      'tr',
      { dataset: { token: t.id } },
      h('td', {}, h('code', {}, t.id)),
      h('td', {}, t.name),
      h('td', {}, t.role),
      h('td', {}, (t.namespaces || []).map((n, i) => [i ? ', ' : '', h('code', {}, n)])),
      h('td', {}, t.createdBy || ''),
      h('td', { title: fmtTime(t.createdAt) }, ago(t.createdAt)),
      h('td', {}, fmtTime(t.expiresAt)),
      h('td', {}, tokenState(t)),
      h('td', {}, revoke),
    );
  });

  // The namespaces the user may name: all for an admin, the owned ones else.
  const mine = ctx.namespaces.filter((n) => ctx.canOwn(n.id));
  let form;
  if (!mine.length) {
    form = h('div', { class: 'notice' }, 'A service token reaches namespaces you own: ask an admin or an owner to make one for you.');
  } else {
    const name = h('input', { type: 'text', name: 'token-name', required: true, maxlength: 128, placeholder: 'web-prod', autocomplete: 'off' });
    const role = h('select', { name: 'token-role' }, TOKEN_ROLES.map((r) => h('option', { value: r }, r)));
    const ttl = h('input', { type: 'text', name: 'token-expires', value: '90d', required: true, size: 8 });
    const boxes = mine.map((n) => {
      const cb = h('input', { type: 'checkbox', value: n.id, name: 'token-ns', checked: mine.length === 1 || n.id === ctx.ns });
      return h('label', {}, cb, ' ', n.id);
    });
    const fmsg = msgBox();
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create token');
    form = h(
      'form',
      { class: 'card', 'aria-labelledby': 'new-token-h' },
      h('h2', { id: 'new-token-h' }, 'New service token'),
      h('div', { class: 'row' }, field('Name', name, 'who uses it, e.g. the service'), field('Role', role, 'reader: read and watch; editor: also publish'), field('Expires in', ttl, 'e.g. 12h, 30d, 90d')),
      h('fieldset', { class: 'field' }, h('legend', {}, 'Namespaces'), h('div', { class: 'filters' }, boxes)),
      fmsg,
      submit,
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(fmsg);
      const nss = [...form.querySelectorAll('input[name=token-ns]:checked')].map((c) => c.value);
      const n = name.value.trim();
      if (!n) {
        showError(fmsg, new Error('Give the token a name.'));
        name.focus();
        return;
      }
      if (!nss.length) {
        showError(fmsg, new Error('Pick at least one namespace the token may reach.'));
        return;
      }
      await busy(submit, async () => {
        let t;
        try {
          t = await api('POST', '/api/v1/tokens', { json: { name: n, role: role.value, namespaces: nss, expiresIn: ttl.value.trim() } });
        } catch (ex) {
          showError(fmsg, ex);
          return;
        }
        toast(`Created token ${t.name}: copy its secret now.`);
        await again(t);
        const s = body.querySelector('[data-testid=token-secret]');
        if (s) s.focus();
      });
    });
  }
  clear(
    body,
    h('h2', {}, 'Service tokens'),
    created ? secretBox(created) : null,
    msg,
    h('p', { class: 'muted' }, isAdmin(ctx) ? 'Every token (you are an admin).' : 'The tokens you made, and those reaching only namespaces you own.'),
    table(['ID', 'Name', 'Role', 'Namespaces', 'Created by', 'Created', 'Expires', 'State', ''], rows, { empty: 'No service tokens yet.' }),
    form,
  );
}

// ---- audit log ----

async function auditPage(body, ctx, query, state) {
  const size = AUDIT_SIZES.includes(Number(query.get('size'))) ? Number(query.get('size')) : 50;
  const page = Math.max(1, parseInt(query.get('page') || '1', 10) || 1);
  const f = {
    user: query.get('user') || '',
    action: query.get('action') || '',
    namespace: query.get('namespace') || '',
    since: query.get('since') || '',
  };
  const user = h('input', { type: 'text', name: 'audit-user', value: f.user, autocomplete: 'off', placeholder: 'actor' });
  const actionList = `audit-actions-${Math.random().toString(36).slice(2, 8)}`;
  const action = h('input', { type: 'text', name: 'audit-action', value: f.action, autocomplete: 'off', list: actionList, placeholder: 'e.g. grant' });
  const visible = isAdmin(ctx) ? ctx.namespaces : ctx.namespaces.filter((n) => ctx.canOwn(n.id));
  const nsSel = h('select', { name: 'audit-namespace' }, h('option', { value: '' }, isAdmin(ctx) ? 'all namespaces' : 'all I own'), visible.map((n) => h('option', { value: n.id }, n.id)));
  if (f.namespace && !visible.some((n) => n.id === f.namespace)) nsSel.append(h('option', { value: f.namespace }, f.namespace));
  nsSel.value = f.namespace;
  const since = h('input', { type: 'datetime-local', name: 'audit-since', value: isoToLocal(f.since) });
  const sizeSel = h('select', { name: 'audit-size' }, AUDIT_SIZES.map((s) => h('option', { value: String(s) }, `${s} a page`)));
  sizeSel.value = String(size);
  const apply = h('button', { type: 'submit', class: 'primary' }, 'Apply filters');
  const reset = h('a', { href: '#/admin/audit', class: 'button' }, 'Clear');
  const form = h(
    'form',
    { class: 'card', role: 'search', 'aria-label': 'Filter the audit log' },
    h(
      'div',
      { class: 'row' },
      field('User', user),
      field('Action', action),
      h('datalist', { id: actionList }, AUDIT_ACTIONS.map((a) => h('option', { value: a }))),
      field('In namespace', nsSel),
      field('Since (your local time)', since),
      field('Page size', sizeSel),
      h('div', { class: 'field' }, h('div', { class: 'actions' }, apply, reset)),
    ),
  );
  const fmsg = msgBox();
  const out = h('div', {}, loading('Loading the audit log…'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clear(fmsg);
    let iso = '';
    if (since.value) {
      iso = localToIso(since.value);
      if (!iso) {
        showError(fmsg, new Error(`'${since.value}' is not a date and time.`));
        return;
      }
    }
    ctx.go(hashWith('audit', { user: user.value.trim(), action: action.value.trim(), namespace: nsSel.value, since: iso, size: sizeSel.value, page: 1 }));
  });
  clear(body, h('h2', {}, 'Audit log'), form, fmsg, out);
  let r;
  try {
    r = await api('GET', '/api/v1/audit', { query: { user: f.user, action: f.action, namespace: f.namespace, since: f.since, page, size } });
  } catch (e) {
    if (state.alive) clear(out, errorBox(e));
    return;
  }
  if (!state.alive) return;
  const items = r.items || [];
  const total = r.total || 0;
  const pages = Math.max(1, Math.ceil(total / size));
  const go = (p) => ctx.go(hashWith('audit', { ...f, size, page: p }));
  const prev = h('button', { type: 'button', disabled: page <= 1, onclick: () => go(page - 1) }, '← Newer');
  const next = h('button', { type: 'button', disabled: page >= pages, onclick: () => go(page + 1) }, 'Older →');
  const filtered = Object.values(f).some((v) => v);
  const rows = items.map((a) =>
    h(
      'tr',
      { dataset: { id: String(a.id) } },
      h('td', { title: a.at }, fmtTime(a.at)),
      h('td', {}, a.actor),
      h('td', {}, a.role || ''),
      h('td', {}, h('span', { class: 'badge' }, a.action)),
      h('td', {}, a.namespace ? h('code', {}, a.namespace) : ''),
      h('td', {}, a.target || ''),
      h('td', {}, a.sourceIp || ''),
      h('td', {}, a.detail || '', a.oldMd5 || a.newMd5 ? h('div', { class: 'muted' }, `md5 ${(a.oldMd5 || '∅').slice(0, 8)} → ${(a.newMd5 || '∅').slice(0, 8)}`) : null),
    ),
  );
  clear(
    out,
    h('p', { class: 'muted', 'aria-live': 'polite' }, `${plural(total, 'entry').replace('entrys', 'entries')}${filtered ? ' match' : ''} · page ${Math.min(page, pages)} of ${pages}`),
    table(['At (UTC)', 'Actor', 'Role', 'Action', 'Namespace', 'Target', 'Source IP', 'Detail'], rows, { empty: filtered ? 'No entry matches these filters.' : 'The audit log is empty.' }),
    h('nav', { class: 'actions', 'aria-label': 'Audit pages' }, prev, h('span', {}, `Page ${Math.min(page, pages)} of ${pages}`), next),
  );
}
