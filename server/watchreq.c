/*
 * watchreq.c: long polls over HTTP. A watch request that finds the client's
 * copy current is registered in the watch hub and its connection suspended,
 * both under s->mu; the hub's callback (run by the watch thread after a
 * change or at a deadline, or by shutdown, all under s->mu) resumes it
 * exactly once, and libmicrohttpd then calls the handler again, which
 * answers from the current state. Suspended connections never time out in
 * libmicrohttpd, so every waiter has a deadline; the watch thread here
 * expires them.
 *
 * Changes reach the watch thread from the store's change feed
 * (srv_on_change, on the store's writer thread): each change that can alter
 * an answer queues a notice, and the last change of a commit wakes the watch
 * thread, which then wakes the watchers of every noticed config in one pass.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hc_log.h"
#include "door.h"
#include "srv_internal.h"
#include "xmalloc.h"

void srv_watch_free_items(srv_req *r)
{
	wb_items_free(r->items, r->nitems);
	r->items = NULL;
	r->nitems = 0;
}

/* Wakes the watch thread out of its epoll_wait. Any thread. */
static void wake_watch_thread(srv *s)
{
	uint64_t one = 1;
	ssize_t n = write(s->watch_evfd, &one, sizeof(one));

	(void)n; /* a full counter means it is awake already */
}

/* What one held watch costs its client, for --max-client-watch-memory: the
 * connection's memory, the request and its items, the hub's waiter. */
static size_t watch_cost(const srv_req *r)
{
	size_t i, c = (r->dc ? door_conn_pool(r->dc) : r->s->cfg.conn_memory) + sizeof(*r) + 64 +
		      r->nitems * 40;

	for (i = 0; i < r->nitems; i++) {
		size_t k;
		c += sizeof(r->items[i]) + r->items[i].key.len + 1;
		for (k = 0; k < r->items[i].nknown; k++) /* a pattern's known copies */
			c += sizeof(r->items[i].known[k]) + strlen(r->items[i].known[k].name) + 1;
	}
	return c;
}

static size_t held_bytes(srv *s, const char *ip)
{
	return (size_t)(uintptr_t)hmap_get(s->held_bytes, ip, strlen(ip));
}

static void held_bytes_add(srv *s, const char *ip, size_t add, int sign)
{
	size_t n = strlen(ip), v = held_bytes(s, ip);

	v = sign > 0 ? v + add : v - add;
	s->held_total = sign > 0 ? s->held_total + add : s->held_total - add;
	if (v)
		hmap_put(s->held_bytes, ip, n, (void *)(uintptr_t)v);
	else
		hmap_del(s->held_bytes, ip, n);
}

/* Forgets a held request's socket and cost. Caller holds s->mu. */
static void unhold(srv_req *r)
{
	srv *s = r->s;

	if (r->held_fd >= 0 && hmap_get(s->held_fd, &r->held_fd, sizeof(r->held_fd)) == r)
		hmap_del(s->held_fd, &r->held_fd, sizeof(r->held_fd));
	r->held_fd = -1;
	if (r->held_cost)
		held_bytes_add(s, r->ip, r->held_cost, -1);
	r->held_cost = 0;
}

void srv_watch_unhold(srv_req *r)
{
	unhold(r);
}

/* Runs under s->mu, on whichever thread fired the waiter. */
static void on_watch_event(void *cls, watch_event ev)
{
	srv_req *r = cls;

	r->waiter = NULL;
	r->woken = 1;
	r->ev = ev;
	unhold(r);
	/* Counted before the client can see its answer. */
	if (ev == WATCH_EXPIRED)
		metrics_expired(r->s->m, 1);
	else if (ev == WATCH_CHANGED)
		metrics_wakeups(r->s->m, 1);
	MHD_resume_connection(r->conn);
}

int srv_watch_may_hold(srv_req *r, uint64_t now_ms)
{
	int ended = r->woken && r->ev != WATCH_CHANGED;

	r->woken = 0;
	return !ended && !atomic_load(&r->s->stopping) && r->deadline_ms > now_ms;
}

/* Watches the held connection's socket for its client's hang-up (one shot:
 * re-armed at the next hold). The registration may stay after the watch is
 * answered; the socket's close removes it, and an event for a socket no
 * longer held is ignored. */
static void watch_socket(srv_req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct epoll_event ev;
	int fd = ci ? ci->connect_fd : -1;

	r->held_fd = -1;
	if (fd < 0)
		return;
	ev.events = EPOLLRDHUP | EPOLLONESHOT;
	ev.data.fd = fd;
	if (epoll_ctl(r->s->watch_ep, EPOLL_CTL_MOD, fd, &ev) &&
	    (errno != ENOENT || epoll_ctl(r->s->watch_ep, EPOLL_CTL_ADD, fd, &ev)))
		return; /* unwatched: the deadline still ends it */
	r->held_fd = fd;
	hmap_put(r->s->held_fd, &fd, sizeof(fd), r);
}

/* Caller holds s->mu. Returns 1 when the request is now held, 0 when it
 * cannot be, -1 when its client holds too much in watches already. */
int srv_watch_hold(srv_req *r)
{
	srv *s = r->s;
	const char *stack_keys[1];
	const char **keys;
	size_t i, cost = watch_cost(r);
	hc_err err;

	if (s->cfg.max_client_watch_memory &&
	    held_bytes(s, r->ip) + cost > s->cfg.max_client_watch_memory)
		return -1;
	keys = r->nitems == 1 ? stack_keys : xmalloc(r->nitems * sizeof(*keys));
	for (i = 0; i < r->nitems; i++)
		keys[i] = r->items[i].key.s;
	err = watch_add(s->hub, keys, r->nitems, r->deadline_ms, on_watch_event, r, &r->waiter);
	if (keys != stack_keys)
		free(keys);
	if (err)
		return 0;
	/* A notice for a change this request's check already saw must not
	 * wake it (it would only re-check and park again). */
	watch_set_seq(r->waiter, (uint64_t)r->seen_rev);
	/* Parsed now, so a rule change decides for this watch without calling
	 * back here (watch_notify_gray); r->inst outlives the waiter. A single
	 * watch compares by ETag when it sends one (client_current), else by
	 * ?version=, which follows the main version only. */
	watch_set_instance(r->waiter, srv_instance(r),
			   r->nitems == 1 && r->want_version >= 0 &&
			       !srv_header(r, "If-None-Match"));
	/* Suspend under the same lock the callback runs under, so a resume can
	 * never come before the suspend. */
	MHD_suspend_connection(r->conn);
	r->was_held = 1;
	r->held_cost = cost;
	held_bytes_add(s, r->ip, cost, 1);
	watch_socket(r);
	pthread_mutex_lock(&s->notice_mu);
	if (r->deadline_ms < s->timer_at) {
		s->timer_at = r->deadline_ms;
		wake_watch_thread(s);
	}
	pthread_mutex_unlock(&s->notice_mu);
	return 1;
}

/* A growing list of held requests, collected under s->mu. */
typedef struct held_list {
	srv_req **v;
	size_t n, cap;
} held_list;

static void held_list_add(held_list *l, srv_req *r)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = r;
}

typedef struct wake_match {
	const char *cred_id, *user;
	int anonymous; /* match the watches held without a credential instead */
	held_list found;
} wake_match;

static void match_held(void *ctx, const void *k, size_t kl, void *val)
{
	wake_match *m = ctx;
	srv_req *r = val;

	(void)k;
	(void)kl;
	if (!r->waiter || (m->anonymous && r->id))
		return;
	if (m->anonymous) {
		held_list_add(&m->found, r);
		return;
	}
	if (!r->id)
		return;
	if ((m->cred_id && strcmp(r->id->cred_id, m->cred_id)) ||
	    (m->user && strcmp(r->id->user, m->user) && strcmp(r->id->name, m->user)))
		return;
	held_list_add(&m->found, r);
}

/* Wakes one held watch outside a notify pass: it checks again on its next
 * call. Under s->mu. */
static void wake_held(srv *s, srv_req *r)
{
	watch_cancel(s->hub, r->waiter);
	r->waiter = NULL;
	r->woken = 1;
	r->ev = WATCH_CHANGED;
	unhold(r);
	MHD_resume_connection(r->conn);
}

/* Resumes the held watches that match: srv_authorize, on their next call,
 * answers them (401 for a revoked credential, 403 for a lost grant). */
static void wake_matching(srv *s, const char *cred_id, const char *user, int anonymous)
{
	wake_match m = {cred_id, user, anonymous, {NULL, 0, 0}};
	size_t i;

	pthread_mutex_lock(&s->mu);
	hmap_foreach(s->held_fd, match_held, &m);
	for (i = 0; i < m.found.n; i++)
		wake_held(s, m.found.v[i]);
	pthread_mutex_unlock(&s->mu);
	free(m.found.v);
}

void srv_wake_credential(srv *s, const char *cred_id)
{
	wake_matching(s, cred_id, NULL, 0);
}

void srv_wake_user(srv *s, const char *user)
{
	wake_matching(s, NULL, user, 0);
}

void srv_wake_anonymous(srv *s)
{
	wake_matching(s, NULL, NULL, 1);
}

enum MHD_Result srv_watch_refuse(srv_req *r)
{
	size_t held;

	pthread_mutex_lock(&r->s->mu);
	held = held_bytes(r->s, r->ip);
	pthread_mutex_unlock(&r->s->mu);
	return srv_reply_err(r, HC_ERR_RATE_LIMIT,
			     "%s holds %zu bytes in waiting watches; one more would pass the limit "
			     "of %zu (--max-client-watch-memory)",
			     r->ip, held, r->s->cfg.max_client_watch_memory);
}

/* A config to wake the watchers of, queued for the watch thread. */
struct srv_notice {
	struct srv_notice *next;
	int64_t revision; /* of the change: waiters that saw it are passed over */
	/* When either snapshot holds gray rules, both (references; cur NULL
	 * after a delete): only the watchers whose answer differs are woken. */
	store_config *prev, *cur;
	int gray; /* a rule change: the main version stayed */
	char key[];
};

static void notice_free(struct srv_notice *n)
{
	store_config_unref(n->prev);
	store_config_unref(n->cur);
	free(n);
}

void srv_on_change(void *ctx, const store_change *ch)
{
	srv *s = ctx;
	struct srv_notice *n = NULL;

	/* A metadata-only change leaves every watcher's answer as it was: it
	 * wakes nobody, rather than every watcher re-checking and re-parking.
	 * A change to a config with gray rules (before or after) carries both
	 * snapshots, so the watch thread wakes only the watchers whose
	 * effective content differs between them (run_gray_notice). */
	if (ch->kind != STORE_CHANGE_META) {
		metrics_publish(s->m);
		n = xcalloc(1, sizeof(*n) + ch->key->len + 1);
		n->revision = ch->revision;
		memcpy(n->key, ch->key->s, ch->key->len + 1);
		if ((ch->previous && ch->previous->gray) || (ch->config && ch->config->gray)) {
			n->prev =
			    ch->previous ? store_config_ref((store_config *)ch->previous) : NULL;
			n->cur = ch->config ? store_config_ref(ch->config) : NULL;
			n->gray = ch->kind == STORE_CHANGE_GRAY;
		}
	}
	if (!n)
		return;
	/* The index already holds the whole commit, so a watch that arrives
	 * before the notice is handled sees it anyway. */
	pthread_mutex_lock(&s->notice_mu);
	*s->notices_tail = n;
	s->notices_tail = &n->next;
	pthread_mutex_unlock(&s->notice_mu);
}

void srv_on_commit_done(void *ctx)
{
	srv *s = ctx;

	/* The watch thread resumes the watchers, once per commit and after its
	 * writers were answered, so no writer waits behind thousands of
	 * resumes, and all of a commit's watchers are woken in one pass. */
	pthread_mutex_lock(&s->notice_mu);
	if (s->notices)
		wake_watch_thread(s);
	pthread_mutex_unlock(&s->notice_mu);
}

/* What watch_notify_gray compares, from a snapshot (NULL: absent). md5s
 * has room for GRAY_MAX_RULES; a set loaded over the cap gets a heap array,
 * returned for the caller to free (NULL otherwise). */
static const char **gray_state(const store_config *c, watch_state *st, const char **md5s)
{
	const store_gray_set *g = c ? c->gray : NULL;
	const char **heap = NULL;
	size_t i;

	memset(st, 0, sizeof(*st));
	st->exists = c != NULL;
	st->md5 = c ? c->md5 : "";
	if (!g)
		return NULL;
	if (g->n > GRAY_MAX_RULES)
		md5s = heap = xmalloc(g->n * sizeof(*md5s));
	for (i = 0; i < g->n; i++)
		md5s[i] = g->rules[i]->md5;
	st->n = g->n;
	st->set = g;
	st->rules = g->compiled;
	st->priority = g->priority;
	st->md5s = md5s;
	return heap;
}

/* A change to a config with gray rules: wakes only the watchers whose
 * answer changes (the others never see it, and are not counted). A watch by
 * ?version=N follows the main version, which a rule change leaves alone.
 * Under s->mu. */
static void run_gray_notice(srv *s, const struct srv_notice *n, const char *key)
{
	const char *md5a[GRAY_MAX_RULES], *md5b[GRAY_MAX_RULES], **ha, **hb;
	watch_state a, b;

	ha = gray_state(n->prev, &a, md5a);
	hb = gray_state(n->cur, &b, md5b);
	watch_notify_gray(s->hub, key, (uint64_t)n->revision, &a, &b, n->gray);
	free(ha);
	free(hb);
}

/* Wakes the watchers of one key for notice n. Under s->mu. */
static void run_notice(srv *s, const struct srv_notice *n, const char *key)
{
	if (n->prev || n->cur)
		run_gray_notice(s, n, key);
	else /* each waiter counts itself */
		watch_notify_seq(s->hub, key, (uint64_t)n->revision);
}

/* Wakes the watchers of every notice in the list and frees it. */
static void run_notices(srv *s, struct srv_notice *n)
{
	struct srv_notice *next;

	if (!n)
		return;
	pthread_mutex_lock(&s->mu);
	for (; n; n = next) {
		char group_scope[CFGKEY_MAX + 1], ns_scope[CFGKEY_MAX + 1];
		next = n->next;
		run_notice(s, n, n->key);
		/* And the pattern watches of its group and namespace. */
		if (cfgkey_scope_strings(n->key, strlen(n->key), group_scope, ns_scope)) {
			run_notice(s, n, group_scope);
			run_notice(s, n, ns_scope);
		}
		notice_free(n);
	}
	pthread_mutex_unlock(&s->mu);
}

/* 1 when the client of fd has gone: the stream ended or broke. */
static int peer_gone(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Ends the held watches whose clients hung up: their connections are
 * resumed and closed, unanswered, rather than kept to their deadline. */
static void drop_gone(srv *s, const int *fds, size_t n)
{
	uint64_t gone = 0;
	size_t i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < n; i++) {
		srv_req *r = hmap_get(s->held_fd, &fds[i], sizeof(fds[i]));
		struct epoll_event ev;
		if (!r || !r->waiter)
			continue; /* answered meanwhile, or not a held watch */
		if (!peer_gone(fds[i])) {
			/* A hang-up of the write side only, or data: keep watching. */
			ev.events = EPOLLRDHUP | EPOLLONESHOT;
			ev.data.fd = fds[i];
			epoll_ctl(s->watch_ep, EPOLL_CTL_MOD, fds[i], &ev);
			continue;
		}
		watch_cancel(s->hub, r->waiter);
		r->waiter = NULL;
		r->gone = 1;
		unhold(r);
		MHD_resume_connection(r->conn);
		gone++;
	}
	pthread_mutex_unlock(&s->mu);
	if (gone)
		metrics_abandoned(s->m, gone);
}

#define WATCH_EVENTS 64

/*
 * The watch thread: wakes watchers on notices, expires them at their
 * deadlines, and ends those whose clients hung up. It sleeps in epoll_wait
 * on its eventfd (a notice, an earlier deadline, stop) and the held
 * sockets, until timer_at; a new hold lowers timer_at (under notice_mu) when
 * its deadline is earlier. timer_at is reset before each pass over the hub
 * and lowered to the hub's next deadline after it, so a hold made during the
 * pass is never missed.
 */
static void *timer_main(void *arg)
{
	srv *s = arg;
	struct srv_notice *batch;
	struct epoll_event evs[WATCH_EVENTS];
	int fds[WATCH_EVENTS];
	uint64_t now, next, at;
	size_t nfds;
	int i, n, busy, stop;

	for (;;) {
		pthread_mutex_lock(&s->notice_mu);
		stop = s->timer_stop;
		batch = s->notices;
		s->notices = NULL;
		s->notices_tail = &s->notices;
		s->timer_at = UINT64_MAX;
		pthread_mutex_unlock(&s->notice_mu);
		if (stop)
			break;

		run_notices(s, batch);
		pthread_mutex_lock(&s->mu);
		watch_expire(s->hub, clock_mono_ms()); /* each counts itself */
		next = watch_next_deadline(s->hub);
		pthread_mutex_unlock(&s->mu);

		pthread_mutex_lock(&s->notice_mu);
		if (next < s->timer_at)
			s->timer_at = next;
		at = s->timer_at;
		busy = s->notices || s->timer_stop;
		pthread_mutex_unlock(&s->notice_mu);
		if (busy)
			continue;
		now = clock_mono_ms();
		/* Bounded, so the timeout fits an int when nothing is due. */
		n = epoll_wait(s->watch_ep, evs, WATCH_EVENTS,
			       at <= now	  ? 0
			       : at - now > 60000 ? 60000
						  : (int)(at - now));
		for (i = 0, nfds = 0; i < n; i++) {
			if (evs[i].data.fd == s->watch_evfd) {
				uint64_t v;
				ssize_t r = read(s->watch_evfd, &v, sizeof(v));
				(void)r;
			} else {
				fds[nfds++] = evs[i].data.fd;
			}
		}
		if (nfds)
			drop_gone(s, fds, nfds);
	}
	/* Stopping: the hub was closed already; notices left have no one to wake. */
	while (batch) {
		struct srv_notice *nx = batch->next;
		notice_free(batch);
		batch = nx;
	}
	return NULL;
}

hc_err srv_timer_start(srv *s)
{
	struct epoll_event ev;
	int rc;

	s->watch_ep = epoll_create1(EPOLL_CLOEXEC);
	s->watch_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.fd = s->watch_evfd;
	if (s->watch_ep < 0 || s->watch_evfd < 0 ||
	    epoll_ctl(s->watch_ep, EPOLL_CTL_ADD, s->watch_evfd, &ev)) {
		hc_log("cannot set up the watch thread's epoll: %s", strerror(errno));
		return HC_ERR_INTERNAL;
	}
	rc = pthread_create(&s->timer_thread, NULL, timer_main, s);
	if (rc) {
		hc_log("cannot start the watch thread: %s", strerror(rc));
		return HC_ERR_INTERNAL;
	}
	s->timer_started = 1;
	return HC_OK;
}

void srv_timer_stop(srv *s)
{
	if (s->timer_started) {
		pthread_mutex_lock(&s->notice_mu);
		s->timer_stop = 1;
		pthread_mutex_unlock(&s->notice_mu);
		wake_watch_thread(s);
		pthread_join(s->timer_thread, NULL);
		s->timer_started = 0;
	}
	if (s->watch_ep >= 0)
		close(s->watch_ep);
	if (s->watch_evfd >= 0)
		close(s->watch_evfd);
	s->watch_ep = s->watch_evfd = -1;
}

/* One config of a watch: appended when the md5 the client holds (held)
 * differs from the one the caller is served now (its effective content: a
 * gray rule's or main; "" when c is NULL, absent). */
static void collect_one(srv_req *r, const srv_watch_style *style, const srv_watch_item *it,
			size_t index, const cfgkey *key, store_config *c, const char *held,
			sbuf *out, size_t *n)
{
	store_effective e = {0};
	srv_watch_change ch = {it, index, key, "", 0, 0, NULL};

	if (c) {
		srv_effective(r, c, &e);
		ch.md5 = e.md5;
		ch.version = c->version;
		ch.revision = c->revision;
		ch.rule = e.rule ? e.rule->name : NULL;
	}
	if (strcmp(ch.md5, held))
		style->item(r, &ch, (*n)++, out);
}

/* 1 when cs (n configs of one namespace, sorted by group and dataId, as
 * store_get_scope gives them) holds group/data_id. */
static int scope_has(store_config *const *cs, size_t n, const char *group, const char *data_id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(cs[mid]->group, group);
		if (!d)
			d = strcmp(cs[mid]->data_id, data_id);
		if (!d)
			return 1;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* A pattern's configs whose md5 differs from the one its client holds
 * (known), and those it holds that are gone. HC_ERR_TOO_BIG when the scope
 * covers more than --max-pattern-configs. */
static hc_err collect_pattern(srv_req *r, const srv_watch_style *style, size_t index, sbuf *out,
			      size_t *n)
{
	const srv_watch_item *it = &r->items[index];
	int in_group = cfgkey_group_len(&it->key) != 0;
	store_config **cs;
	size_t nc, i, k = 0;
	char name[2 * CFGKEY_NAME_MAX + 2];
	hc_err err;

	err = store_get_scope(r->s->st, &it->key, r->s->cfg.max_pattern_configs, &cs, &nc);
	if (err)
		return err;
	for (i = 0; i < nc; i++) {
		cfgkey key;
		if (in_group)
			snprintf(name, sizeof(name), "%s", cs[i]->data_id);
		else
			snprintf(name, sizeof(name), "%s/%s", cs[i]->group, cs[i]->data_id);
		if (!cfgkey_init(&key, cs[i]->ns, cs[i]->group, cs[i]->data_id)) {
			collect_one(r, style, it, index, &key, cs[i], wb_known_md5(it, name), out,
				    n);
			cfgkey_release(&key);
		}
	}
	/* What it holds and the scope no longer has: gone. */
	for (k = 0; k < it->nknown; k++) {
		const char *kn = it->known[k].name, *slash = strchr(kn, '/');
		char ns[CFGKEY_NAME_MAX + 1], group[CFGKEY_NAME_MAX + 1];
		cfgkey key;

		memcpy(ns, cfgkey_ns(&it->key), cfgkey_ns_len(&it->key));
		ns[cfgkey_ns_len(&it->key)] = '\0';
		if (in_group) {
			memcpy(group, cfgkey_group(&it->key), cfgkey_group_len(&it->key));
			group[cfgkey_group_len(&it->key)] = '\0';
		} else {
			snprintf(group, sizeof(group), "%.*s", (int)(slash - kn), kn);
		}
		if (scope_has(cs, nc, group, in_group ? kn : slash + 1))
			continue;
		if (!cfgkey_init(&key, ns, group, in_group ? kn : slash + 1)) {
			collect_one(r, style, it, index, &key, NULL, it->known[k].md5, out, n);
			cfgkey_release(&key);
		}
	}
	for (i = 0; i < nc; i++)
		store_config_unref(cs[i]);
	free(cs);
	return HC_OK;
}

/* Appends every entry whose md5 differs from the one the caller is served
 * now; *n gets how many. On failure (a pattern over its cap) *bad names
 * the item. */
static hc_err collect_changed(srv_req *r, const srv_watch_style *style, sbuf *out, size_t *n,
			      size_t *bad)
{
	const cfgkey *keys_small[8], **keys = keys_small;
	store_config *cs_small[8], **cs = cs_small;
	hc_err err = HC_OK;
	size_t i;

	*n = 0;
	if (r->nitems > 8) { /* most watches name a few configs: no allocation for them */
		keys = xmalloc(r->nitems * sizeof(*keys));
		cs = xmalloc(r->nitems * sizeof(*cs));
	}

	/* All at one instant: a commit that changed several of them (a change
	 * request) is answered whole, never half. A pattern's configs are read
	 * at an instant of their own. */
	for (i = 0; i < r->nitems; i++)
		keys[i] = &r->items[i].key;
	store_get_keys(r->s->st, keys, r->nitems, cs);
	for (i = 0; i < r->nitems; i++) {
		const srv_watch_item *it = &r->items[i];
		if (cfgkey_is_scope(&it->key)) {
			if (!err && (err = collect_pattern(r, style, i, out, n)))
				*bad = i;
		} else {
			collect_one(r, style, it, i, &it->key, cs[i], it->md5, out, n);
		}
		store_config_unref(cs[i]);
	}
	if (keys != keys_small) {
		free(keys);
		free(cs);
	}
	return err;
}

/* The native answer: {"changed":[{"namespace","group","dataId","md5","version"[,"gray"]}]}. */
static void native_item(srv_req *r, const srv_watch_change *ch, size_t n, sbuf *out)
{
	(void)r;
	sbuf_addstr(out, n ? ",{" : "{\"changed\":[{");
	cfgkey_json(ch->key, out);
	sbuf_addf(out, ",\"md5\":\"%s\",\"version\":%" PRId64, ch->md5, ch->version);
	if (ch->rule) {
		sbuf_addstr(out, ",\"gray\":");
		sbuf_add_json_str(out, ch->rule, strlen(ch->rule));
	}
	sbuf_addch(out, '}');
}

static enum MHD_Result native_changed(srv_req *r, sbuf *out, size_t n)
{
	(void)n;
	sbuf_addstr(out, "]}\n");
	return srv_reply(r, MHD_HTTP_OK, "application/json", out);
}

static enum MHD_Result native_timeout(srv_req *r)
{
	return srv_queue(r, MHD_HTTP_NOT_MODIFIED, srv_response(0, NULL, NULL, NULL));
}

static const srv_watch_style native_style = {
    .item = native_item, .changed = native_changed, .timeout = native_timeout};

enum MHD_Result srv_watch_run(srv_req *r, const srv_watch_style *style)
{
	srv *s = r->s;
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	enum MHD_Result ret;
	int held = 0, watching;
	size_t changed = 0, i, bad = 0;
	hc_err err;

	/* Every call: a grant taken away while held ends the watch. */
	for (i = 0; i < r->nitems; i++) {
		char ns[CFGKEY_NAME_MAX + 1];
		memcpy(ns, cfgkey_ns(&r->items[i].key), cfgkey_ns_len(&r->items[i].key));
		ns[cfgkey_ns_len(&r->items[i].key)] = '\0';
		if (!srv_allowed(r, ns, SRV_ACT_READ)) {
			ret =
			    style->forbidden
				? style->forbidden(r, ns, i)
				: srv_reply_err(r, HC_ERR_FORBIDDEN,
						"%s may not read in namespace '%s' (configs[%zu])",
						r->id ? r->id->name : "", ns, i);
			goto out;
		}
	}
	watching = r->deadline_ms != 0;
	err = collect_changed(r, style, &body, &changed, &bad);
	if (!err && !changed && watching) {
		/* As for a single watch: check again and hold under s->mu. */
		pthread_mutex_lock(&s->mu);
		r->seen_rev = store_revision(s->st); /* before the check; see srv_watch_hold */
		sbuf_reset(&body);
		err = collect_changed(r, style, &body, &changed, &bad);
		if (!err && !changed && srv_watch_may_hold(r, clock_mono_ms()))
			held = srv_watch_hold(r);
		pthread_mutex_unlock(&s->mu);
	}
	if (err) {
		ret = srv_reply_err(r, err,
				    "configs[%zu] covers more than %zu configs "
				    "(--max-pattern-configs): watch a group, or name the configs",
				    bad, s->cfg.max_pattern_configs);
		goto out;
	}
	if (held >= 0) { /* what it holds now (and whether it waits), for the listeners view */
		srv_listen_items(r, held > 0);
		srv_listen_item_reports(r);
	}
	if (held > 0)
		ret = MHD_YES;
	else if (held < 0)
		ret = srv_watch_refuse(r);
	else if (changed)
		ret = style->changed(r, &body, changed);
	else
		ret = style->timeout(r);
out:
	sbuf_release(&body);
	return ret;
}

enum MHD_Result srv_h_watch(srv_req *r)
{
	srv *s = r->s;
	sbuf why = SBUF_INIT(1024);
	const char *wait = srv_arg(r, "wait");
	enum MHD_Result ret;
	uint64_t wait_ms = 0;
	hc_err err;

	if (!r->watch_ready) {
		if ((err = srv_caller(r, &why)) ||
		    (wait && (err = val_duration(wait, &wait_ms, &why))) ||
		    (err = wb_parse(r->body.buf, r->body.len, &r->items, &r->nitems, &why))) {
			ret = srv_reply_why(r, err, &why);
			sbuf_release(&why);
			return ret;
		}
		if (wait_ms > s->cfg.max_wait_ms)
			wait_ms = s->cfg.max_wait_ms;
		r->wait_ms = wait_ms;
		r->deadline_ms = wait_ms ? val_deadline(clock_mono_ms(), wait_ms) : 0;
		r->watch_ready = 1;
		/* A held watch keeps only its items, never the body they came in. */
		srv_body_release(r);
	}
	sbuf_release(&why);
	return srv_watch_run(r, &native_style);
}
