/*
 * test_watch.c: unit tests for watch/, the hub of held long polls.
 *
 * Times are fake: deadlines and now_ms are plain numbers, so nothing sleeps.
 * Each waiter's cls points at a record that counts its callbacks, which is how
 * the tests check libuv's rule (exactly one callback per successful add, none
 * after cancel). Run under ASan to catch use-after-free in the re-entrant
 * paths and leaks in watch_hub_free(). Single-threaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "listeners.h"
#include "watch.h"

typedef struct rec {
	int fired;	   /* callbacks received */
	watch_event ev;	   /* the last one's event */
	uint64_t deadline; /* what watch_add() was given */
	int order;	   /* position among all callbacks (see fire_seq) */
} rec;

static int fire_seq;

static void on_fire(void *cls, watch_event ev)
{
	rec *r = cls;

	r->fired++;
	r->ev = ev;
	r->order = fire_seq++;
}

static watch_waiter *add1(watch_hub *hub, const char *key, uint64_t deadline, rec *r)
{
	watch_waiter *w = NULL;
	hc_err err;

	r->deadline = deadline;
	err = watch_add(hub, &key, 1, deadline, on_fire, r, &w);
	CHECK_EQ_INT(err, HC_OK);
	CHECK(w != NULL);
	return w;
}

#define NKEYS 100
#define NWAITERS 10000

static void test_notify_fires_only_its_key(void)
{
	static rec recs[NWAITERS];
	watch_hub *hub = watch_hub_new();
	char keys[NKEYS][32];
	size_t i;

	memset(recs, 0, sizeof(recs));
	for (i = 0; i < NKEYS; i++)
		snprintf(keys[i], sizeof(keys[i]), "public/DEFAULT_GROUP/app-%zu", i);
	for (i = 0; i < NWAITERS; i++)
		add1(hub, keys[i % NKEYS], 1000 + i, &recs[i]);
	CHECK_EQ_INT(watch_count(hub), NWAITERS);
	CHECK_EQ_INT(watch_key_count(hub, keys[0]), NWAITERS / NKEYS);
	CHECK_EQ_INT(watch_key_count(hub, "public/DEFAULT_GROUP/nobody"), 0);

	CHECK_EQ_INT(watch_notify(hub, keys[0]), NWAITERS / NKEYS);
	for (i = 0; i < NWAITERS; i++) {
		if (i % NKEYS == 0) {
			CHECK_EQ_INT(recs[i].fired, 1);
			CHECK_EQ_INT(recs[i].ev, WATCH_CHANGED);
		} else {
			CHECK_EQ_INT(recs[i].fired, 0);
		}
	}
	CHECK_EQ_INT(watch_count(hub), NWAITERS - NWAITERS / NKEYS);
	CHECK_EQ_INT(watch_key_count(hub, keys[0]), 0);
	for (i = 0; i < NKEYS; i++)
		if (i != 0)
			CHECK_EQ_INT(watch_key_count(hub, keys[i]), NWAITERS / NKEYS);
	/* The key's waiters are gone, so a second notify finds nobody. */
	CHECK_EQ_INT(watch_notify(hub, keys[0]), 0);
	CHECK_EQ_INT(watch_notify(hub, "public/DEFAULT_GROUP/nobody"), 0);
	/* Waiter 0 had the earliest deadline and left the heap with its key. */
	CHECK_EQ_INT(watch_next_deadline(hub), 1001);

	CHECK_EQ_INT(watch_close_all(hub), NWAITERS - NWAITERS / NKEYS);
	for (i = 0; i < NWAITERS; i++) {
		CHECK_EQ_INT(recs[i].fired, 1);
		CHECK_EQ_INT(recs[i].ev, i % NKEYS == 0 ? WATCH_CHANGED : WATCH_CLOSED);
	}
	CHECK_EQ_INT(watch_count(hub), 0);
	watch_hub_free(hub);
}

static void test_multi_key_fires_once(void)
{
	watch_hub *hub = watch_hub_new();
	const char *abc[] = {"a", "b", "c"};
	rec ra = {0}, rb = {0}, rc = {0};

	CHECK_EQ_INT(watch_add(hub, abc, 3, 100, on_fire, &ra, NULL), HC_OK);
	add1(hub, "b", 200, &rb);
	add1(hub, "c", WATCH_NO_DEADLINE, &rc);
	CHECK_EQ_INT(watch_key_count(hub, "a"), 1);
	CHECK_EQ_INT(watch_key_count(hub, "b"), 2);
	CHECK_EQ_INT(watch_key_count(hub, "c"), 2);
	CHECK_EQ_INT(watch_count(hub), 3);

	CHECK_EQ_INT(watch_notify(hub, "a"), 1);
	CHECK_EQ_INT(ra.fired, 1);
	CHECK_EQ_INT(ra.ev, WATCH_CHANGED);
	/* Gone from its other keys and from the heap too. */
	CHECK_EQ_INT(watch_key_count(hub, "a"), 0);
	CHECK_EQ_INT(watch_key_count(hub, "b"), 1);
	CHECK_EQ_INT(watch_key_count(hub, "c"), 1);
	CHECK_EQ_INT(watch_count(hub), 2);
	CHECK_EQ_INT(watch_next_deadline(hub), 200);

	CHECK_EQ_INT(watch_notify(hub, "b"), 1);
	CHECK_EQ_INT(watch_notify(hub, "c"), 1);
	CHECK_EQ_INT(ra.fired, 1);
	CHECK_EQ_INT(rb.fired, 1);
	CHECK_EQ_INT(rc.fired, 1);
	CHECK_EQ_INT(watch_count(hub), 0);
	CHECK_EQ_INT(watch_next_deadline(hub), WATCH_NO_DEADLINE);
	watch_hub_free(hub);
}

static void test_duplicate_keys(void)
{
	watch_hub *hub = watch_hub_new();
	const char *keys[] = {"k", "k", "j", "k", "j"};
	rec r1 = {0}, r2 = {0};

	CHECK_EQ_INT(watch_add(hub, keys, 5, 10, on_fire, &r1, NULL), HC_OK);
	CHECK_EQ_INT(watch_key_count(hub, "k"), 1);
	CHECK_EQ_INT(watch_key_count(hub, "j"), 1);
	CHECK_EQ_INT(watch_notify(hub, "k"), 1);
	CHECK_EQ_INT(r1.fired, 1);
	CHECK_EQ_INT(watch_key_count(hub, "j"), 0);
	CHECK_EQ_INT(watch_count(hub), 0);

	/* Duplicates are spotted only within one waiter: two waiters share a key. */
	CHECK_EQ_INT(watch_add(hub, keys, 2, 10, on_fire, &r2, NULL), HC_OK);
	add1(hub, "k", 20, &r1);
	CHECK_EQ_INT(watch_key_count(hub, "k"), 2);
	CHECK_EQ_INT(watch_expire(hub, 10), 1);
	CHECK_EQ_INT(r2.fired, 1);
	CHECK_EQ_INT(r2.ev, WATCH_EXPIRED);
	CHECK_EQ_INT(watch_key_count(hub, "k"), 1);
	CHECK_EQ_INT(watch_notify(hub, "k"), 1);
	CHECK_EQ_INT(r1.fired, 2);
	CHECK_EQ_INT(watch_count(hub), 0);
	watch_hub_free(hub);
}

#define NEXP 1000

static void test_expire_in_deadline_order(void)
{
	static rec recs[NEXP];
	static uint64_t by_order[NEXP];
	watch_hub *hub = watch_hub_new();
	uint64_t now, last_now = 0, min;
	size_t i, fired_total = 0, n;

	memset(recs, 0, sizeof(recs));
	fire_seq = 0;
	CHECK_EQ_INT(watch_next_deadline(hub), WATCH_NO_DEADLINE);
	CHECK_EQ_INT(watch_expire(hub, 12345), 0);
	/* Deadlines 100..599 in a scrambled order, each twice; every tenth waiter
	 * has none. */
	for (i = 0; i < NEXP; i++) {
		uint64_t d = 100 + (i * 7919) % (NEXP / 2);
		add1(hub, i % 2 ? "odd" : "even", i % 10 == 3 ? WATCH_NO_DEADLINE : d, &recs[i]);
	}
	CHECK_EQ_INT(watch_next_deadline(hub), 100);
	CHECK_EQ_INT(watch_expire(hub, 99), 0);

	for (now = 99; now <= 650; now += 1 + now % 7) {
		n = watch_expire(hub, now);
		fired_total += n;
		min = WATCH_NO_DEADLINE;
		for (i = 0; i < NEXP; i++) {
			if (recs[i].fired) {
				/* Nothing early, nothing left behind by an earlier step. */
				CHECK(recs[i].deadline <= now);
				if (recs[i].deadline <= last_now)
					CHECK(recs[i].order < (int)(fired_total - n));
			} else {
				CHECK(recs[i].deadline > now);
				if (recs[i].deadline < min)
					min = recs[i].deadline;
			}
		}
		CHECK_EQ_INT(watch_next_deadline(hub), min);
		last_now = now;
	}
	/* Earliest first: in firing order the deadlines never go down. */
	for (i = 0; i < NEXP; i++) {
		if (recs[i].fired) {
			CHECK_EQ_INT(recs[i].ev, WATCH_EXPIRED);
			by_order[recs[i].order] = recs[i].deadline;
		}
	}
	for (i = 1; i < fired_total; i++)
		CHECK(by_order[i - 1] <= by_order[i]);
	CHECK_EQ_INT(fired_total, NEXP - NEXP / 10);
	/* WATCH_NO_DEADLINE means never, even at the end of time. */
	CHECK_EQ_INT(watch_expire(hub, WATCH_NO_DEADLINE - 1), 0);
	CHECK_EQ_INT(watch_expire(hub, WATCH_NO_DEADLINE), 0);
	CHECK_EQ_INT(watch_count(hub), NEXP / 10);
	CHECK_EQ_INT(watch_next_deadline(hub), WATCH_NO_DEADLINE);
	CHECK_EQ_INT(watch_notify(hub, "odd"), NEXP / 10);
	CHECK_EQ_INT(watch_notify(hub, "even"), 0); /* i % 10 == 3 is always odd */
	CHECK_EQ_INT(watch_count(hub), 0);
	watch_hub_free(hub);
}

static void test_expire_order_is_strict(void)
{
	watch_hub *hub = watch_hub_new();
	const uint64_t ds[] = {50, 10, 40, 10, 30, 20, 0, 60};
	rec r[8];
	size_t i, j;

	memset(r, 0, sizeof(r));
	fire_seq = 0;
	for (i = 0; i < 8; i++)
		add1(hub, "k", ds[i], &r[i]);
	CHECK_EQ_INT(watch_expire(hub, 1000), 8);
	for (i = 0; i < 8; i++)
		for (j = 0; j < 8; j++)
			if (ds[i] < ds[j])
				CHECK(r[i].order < r[j].order);
	watch_hub_free(hub);
}

static void test_cancel_never_calls_back(void)
{
	watch_hub *hub = watch_hub_new();
	const char *two[] = {"x", "y"};
	rec r[6];
	watch_waiter *w[6];
	size_t i;

	memset(r, 0, sizeof(r));
	for (i = 0; i < 5; i++)
		w[i] = add1(hub, i % 2 ? "x" : "y", 10 * (i + 1), &r[i]);
	CHECK_EQ_INT(watch_add(hub, two, 2, WATCH_NO_DEADLINE, on_fire, &r[5], &w[5]), HC_OK);
	CHECK_EQ_INT(watch_key_count(hub, "x"), 3);
	watch_cancel(hub, w[0]); /* the heap's top */
	watch_cancel(hub, w[3]);
	watch_cancel(hub, w[5]); /* on two keys, no deadline */
	watch_cancel(hub, NULL);
	watch_cancel(NULL, NULL);
	CHECK_EQ_INT(watch_count(hub), 3);
	CHECK_EQ_INT(watch_key_count(hub, "x"), 1);
	CHECK_EQ_INT(watch_key_count(hub, "y"), 2);
	CHECK_EQ_INT(watch_next_deadline(hub), 20);
	CHECK_EQ_INT(watch_expire(hub, 1000), 3);
	CHECK_EQ_INT(watch_notify(hub, "x"), 0);
	CHECK_EQ_INT(watch_notify(hub, "y"), 0);
	CHECK_EQ_INT(watch_close_all(hub), 0);
	for (i = 0; i < 6; i++)
		CHECK_EQ_INT(r[i].fired, i == 0 || i == 3 || i == 5 ? 0 : 1);
	watch_hub_free(hub);
}

/* State for callbacks that call back into the hub. */
typedef struct reentry {
	watch_hub *hub;
	const char *key;      /* where re-added waiters go */
	uint64_t deadline;    /* and their deadline */
	int readds_left;      /* how many more re-adds to do */
	watch_waiter *victim; /* cancelled by the callback, if set */
	int fired;
	uint64_t next_seen; /* watch_next_deadline() after its last re-add */
	size_t count_seen;  /* watch_count() as its last callback began */
} reentry;

static void on_fire_readd(void *cls, watch_event ev)
{
	reentry *re = cls;

	(void)ev;
	re->fired++;
	re->count_seen = watch_count(re->hub);
	if (re->victim) {
		watch_cancel(re->hub, re->victim);
		re->victim = NULL;
	}
	if (re->readds_left > 0) {
		re->readds_left--;
		CHECK_EQ_INT(watch_add(re->hub, &re->key, 1, re->deadline, on_fire_readd, re, NULL),
			     HC_OK);
		re->next_seen = watch_next_deadline(re->hub);
	}
}

static void test_readd_during_notify(void)
{
	watch_hub *hub = watch_hub_new();
	reentry re = {.hub = hub, .key = "k", .deadline = 50, .readds_left = 1};
	const char *k = "k";
	rec others[3];
	size_t i;

	memset(others, 0, sizeof(others));
	add1(hub, "k", 40, &others[0]);
	CHECK_EQ_INT(watch_add(hub, &k, 1, 50, on_fire_readd, &re, NULL), HC_OK);
	add1(hub, "k", 60, &others[1]);
	re.victim = add1(hub, "k", 70, &others[2]);
	CHECK_EQ_INT(watch_key_count(hub, "k"), 4);

	/* The callback cancels others[2], still unfired on the detached list, and
	 * re-adds itself on "k": that new waiter must wait for the next notify. */
	CHECK_EQ_INT(watch_notify(hub, "k"), 3);
	CHECK_EQ_INT(re.fired, 1);
	/* Already gone when called back: only others[1] and others[2] were left. */
	CHECK_EQ_INT(re.count_seen, 2);
	CHECK_EQ_INT(others[0].fired, 1);
	CHECK_EQ_INT(others[1].fired, 1);
	CHECK_EQ_INT(others[2].fired, 0);
	CHECK_EQ_INT(watch_count(hub), 1);
	CHECK_EQ_INT(watch_key_count(hub, "k"), 1);
	CHECK_EQ_INT(watch_next_deadline(hub), 50);

	CHECK_EQ_INT(watch_notify(hub, "k"), 1);
	CHECK_EQ_INT(re.fired, 2);
	CHECK_EQ_INT(watch_count(hub), 0);
	for (i = 0; i < 3; i++)
		CHECK(others[i].fired <= 1);
	watch_hub_free(hub);
}

static void test_readd_during_expire(void)
{
	watch_hub *hub = watch_hub_new();
	/* Re-adds with a deadline already passed, which could loop forever if
	 * the same expire fired them. */
	reentry re = {.hub = hub, .key = "k", .deadline = 5, .readds_left = 3};
	const char *k = "k";
	rec later = {0};

	CHECK_EQ_INT(watch_add(hub, &k, 1, 10, on_fire_readd, &re, NULL), HC_OK);
	add1(hub, "k", 20, &later);
	CHECK_EQ_INT(watch_expire(hub, 20), 2);
	CHECK_EQ_INT(re.fired, 1);
	/* Seen from inside the callback, the parked waiter still counts. */
	CHECK_EQ_INT(re.next_seen, 5);
	CHECK_EQ_INT(later.fired, 1);
	CHECK_EQ_INT(watch_count(hub), 1);
	CHECK_EQ_INT(watch_next_deadline(hub), 5);
	/* The next call with the same now fires it (and it re-adds again). */
	CHECK_EQ_INT(watch_expire(hub, 20), 1);
	CHECK_EQ_INT(re.fired, 2);
	CHECK_EQ_INT(watch_count(hub), 1);
	/* A waiter re-added by an expire callback is still found by notify. */
	CHECK_EQ_INT(watch_key_count(hub, "k"), 1);
	CHECK_EQ_INT(watch_notify(hub, "k"), 1);
	CHECK_EQ_INT(re.fired, 3);
	CHECK_EQ_INT(watch_count(hub), 1);
	CHECK_EQ_INT(watch_close_all(hub), 1);
	CHECK_EQ_INT(re.fired, 4);
	CHECK_EQ_INT(re.readds_left, 0);
	CHECK_EQ_INT(watch_count(hub), 0);
	watch_hub_free(hub);
}

static void test_close_all(void)
{
	watch_hub *hub = watch_hub_new();
	/* A callback that adds during shutdown: its new waiter is closed too. */
	reentry re = {.hub = hub, .key = "z", .deadline = WATCH_NO_DEADLINE, .readds_left = 2};
	const char *ab[] = {"a", "b"};
	rec r[4];
	size_t i;

	memset(r, 0, sizeof(r));
	add1(hub, "a", 10, &r[0]);
	add1(hub, "b", WATCH_NO_DEADLINE, &r[1]);
	CHECK_EQ_INT(watch_add(hub, ab, 2, 5, on_fire, &r[2], NULL), HC_OK);
	add1(hub, "c", WATCH_NO_DEADLINE, &r[3]);
	CHECK_EQ_INT(watch_add(hub, ab, 1, 7, on_fire_readd, &re, NULL), HC_OK);
	CHECK_EQ_INT(watch_close_all(hub), 7);
	for (i = 0; i < 4; i++) {
		CHECK_EQ_INT(r[i].fired, 1);
		CHECK_EQ_INT(r[i].ev, WATCH_CLOSED);
	}
	CHECK_EQ_INT(re.fired, 3);
	CHECK_EQ_INT(watch_count(hub), 0);
	CHECK_EQ_INT(watch_key_count(hub, "a"), 0);
	CHECK_EQ_INT(watch_key_count(hub, "z"), 0);
	CHECK_EQ_INT(watch_next_deadline(hub), WATCH_NO_DEADLINE);
	CHECK_EQ_INT(watch_close_all(hub), 0);
	watch_hub_free(hub);
}

static void test_invalid_args(void)
{
	watch_hub *hub = watch_hub_new();
	const char *keys[] = {"a", NULL};
	watch_waiter *w = NULL, *held;
	rec r = {0}, ok = {0};

	held = w = add1(hub, "held", 10, &ok);
	CHECK_EQ_INT(watch_add(hub, keys, 0, 10, on_fire, &r, &w), HC_ERR_INVALID);
	CHECK(w == NULL); /* on failure *out is NULL */
	watch_cancel(hub, held);
	CHECK_EQ_INT(watch_add(hub, keys, 1, 10, NULL, &r, NULL), HC_ERR_INVALID);
	CHECK_EQ_INT(watch_add(hub, NULL, 1, 10, on_fire, &r, NULL), HC_ERR_INVALID);
	CHECK_EQ_INT(watch_add(hub, keys, 2, 10, on_fire, &r, NULL), HC_ERR_INVALID);
	CHECK_EQ_INT(watch_add(NULL, keys, 1, 10, on_fire, &r, NULL), HC_ERR_INVALID);
	CHECK_EQ_INT(watch_add(hub, keys, SIZE_MAX, 10, on_fire, &r, NULL), HC_ERR_INVALID);
	CHECK_EQ_INT(watch_count(hub), 0);
	CHECK_EQ_INT(watch_key_count(hub, "a"), 0);
	CHECK_EQ_INT(watch_notify(hub, "a"), 0);
	CHECK_EQ_INT(watch_expire(hub, WATCH_NO_DEADLINE), 0);
	CHECK_EQ_INT(watch_close_all(hub), 0);
	CHECK_EQ_INT(r.fired, 0);
	/* The empty string is a key like any other. */
	add1(hub, "", 10, &r);
	CHECK_EQ_INT(watch_key_count(hub, ""), 1);
	CHECK_EQ_INT(watch_notify(hub, ""), 1);
	CHECK_EQ_INT(r.fired, 1);
	watch_hub_free(hub);
	/* A NULL hub is empty, and freeing it is a no-op. */
	CHECK_EQ_INT(watch_notify(NULL, "a"), 0);
	CHECK_EQ_INT(watch_expire(NULL, 0), 0);
	CHECK_EQ_INT(watch_next_deadline(NULL), WATCH_NO_DEADLINE);
	CHECK_EQ_INT(watch_close_all(NULL), 0);
	CHECK_EQ_INT(watch_count(NULL), 0);
	CHECK_EQ_INT(watch_key_count(NULL, "a"), 0);
	watch_foreach(NULL, "a", NULL, NULL);
	watch_hub_free(NULL);
}

/* Counts, in ctx's array of 4 recs, the cls values that point into it. */
static void count_cls(void *ctx, void *cls)
{
	rec *recs = ctx, *r = cls;
	size_t i;

	for (i = 0; i < 4; i++)
		if (r == &recs[i])
			recs[i].order++;
}

static void test_foreach(void)
{
	watch_hub *hub = watch_hub_new();
	const char *kk[] = {"k", "k"};
	rec r[4];

	memset(r, 0, sizeof(r));
	add1(hub, "k", 10, &r[0]);
	add1(hub, "other", 10, &r[1]);
	CHECK_EQ_INT(watch_add(hub, kk, 2, 10, on_fire, &r[2], NULL), HC_OK);
	add1(hub, "k", WATCH_NO_DEADLINE, &r[3]);
	watch_foreach(hub, "k", count_cls, r);
	CHECK_EQ_INT(r[0].order, 1);
	CHECK_EQ_INT(r[1].order, 0);
	CHECK_EQ_INT(r[2].order, 1); /* a duplicate key is visited once */
	CHECK_EQ_INT(r[3].order, 1);
	watch_foreach(hub, "nobody", count_cls, r);
	watch_foreach(hub, "other", count_cls, r);
	CHECK_EQ_INT(r[1].order, 1);
	CHECK_EQ_INT(r[0].fired + r[1].fired + r[2].fired + r[3].fired, 0);
	watch_hub_free(hub);
}

static void test_free_with_waiters_held(void)
{
	watch_hub *hub = watch_hub_new();
	reentry re = {.hub = hub, .key = "n", .deadline = 0, .readds_left = 1};
	const char *keys[] = {"a", "b", "c"};
	rec r = {0};
	size_t i;

	for (i = 0; i < 1000; i++)
		CHECK_EQ_INT(watch_add(hub, keys + i % 3, 3 - i % 3, i % 5 ? i : WATCH_NO_DEADLINE,
				       on_fire, &r, NULL),
			     HC_OK);
	/* Plus one that an expire callback added (it went through the nursery). */
	CHECK_EQ_INT(watch_add(hub, keys, 1, 0, on_fire_readd, &re, NULL), HC_OK);
	CHECK_EQ_INT(watch_expire(hub, 0), 1);
	CHECK_EQ_INT(watch_count(hub), 1001);
	watch_hub_free(hub); /* freed without callbacks; ASan reports any leak */
	CHECK_EQ_INT(r.fired, 0);
	CHECK_EQ_INT(re.fired, 1);
}

/*
 * Stress: random interleavings of add, notify, expire and cancel, with
 * callbacks that sometimes add or cancel. Every add must end in exactly one
 * callback, or in a cancel and none.
 */
#define SKEYS 50
#define SMAX 200000

typedef struct srec {
	int fired;
	int cancelled;
	size_t live_idx; /* position in live[] while held */
	uint64_t deadline;
	watch_waiter *w;
} srec;

static struct {
	watch_hub *hub;
	srec recs[SMAX];
	size_t nrecs;
	srec *live[SMAX];
	size_t nlive;
	uint64_t rng;
	uint64_t now;
	watch_event expect; /* the event the operation in progress fires */
	char keys[SKEYS][16];
	int bad_event, early;
} st;

static uint64_t rnd(void)
{
	/* xorshift64: deterministic, so a failure replays. */
	st.rng ^= st.rng << 13;
	st.rng ^= st.rng >> 7;
	st.rng ^= st.rng << 17;
	return st.rng;
}

static void live_drop(srec *r)
{
	srec *last = st.live[--st.nlive];

	st.live[r->live_idx] = last;
	last->live_idx = r->live_idx;
}

static void stress_add(void);

static void on_stress(void *cls, watch_event ev)
{
	srec *r = cls;

	r->fired++;
	if (ev != st.expect)
		st.bad_event++;
	if (ev == WATCH_EXPIRED && r->deadline > st.now)
		st.early++;
	live_drop(r);
	/* Callbacks call back in, as server/ may: add (maybe on the same key),
	 * or cancel another waiter that may be on the list being fired. */
	switch (rnd() % 8) {
	case 0:
		stress_add();
		break;
	case 1:
		if (st.nlive) {
			srec *v = st.live[rnd() % st.nlive];
			watch_cancel(st.hub, v->w);
			v->cancelled++;
			live_drop(v);
		}
		break;
	default:
		break;
	}
}

static void stress_add(void)
{
	const char *keys[4];
	size_t nkeys = 1 + rnd() % 4, i;
	srec *r;

	if (st.nrecs == SMAX)
		return;
	r = &st.recs[st.nrecs++];
	for (i = 0; i < nkeys; i++)
		keys[i] = st.keys[rnd() % SKEYS];
	r->deadline = rnd() % 16 == 0 ? WATCH_NO_DEADLINE : st.now + rnd() % 1000;
	CHECK_EQ_INT(watch_add(st.hub, keys, nkeys, r->deadline, on_stress, r, &r->w), HC_OK);
	r->live_idx = st.nlive;
	st.live[st.nlive++] = r;
}

static uint64_t live_min_deadline(void)
{
	uint64_t min = WATCH_NO_DEADLINE;
	size_t i;

	for (i = 0; i < st.nlive; i++)
		if (st.live[i]->deadline < min)
			min = st.live[i]->deadline;
	return min;
}

static void test_stress_exactly_once(void)
{
	size_t op, i, n, total_fired = 0;

	memset(&st, 0, sizeof(st));
	st.hub = watch_hub_new();
	st.rng = 0x9e3779b97f4a7c15ULL;
	for (i = 0; i < SKEYS; i++)
		snprintf(st.keys[i], sizeof(st.keys[i]), "g/k%zu", i);

	for (op = 0; op < 100000; op++) {
		uint64_t pick = rnd() % 100;
		if (pick < 50) {
			stress_add();
		} else if (pick < 70) {
			st.expect = WATCH_CHANGED;
			n = watch_notify(st.hub, st.keys[rnd() % SKEYS]);
			total_fired += n;
		} else if (pick < 85) {
			st.now += rnd() % 100;
			st.expect = WATCH_EXPIRED;
			total_fired += watch_expire(st.hub, st.now);
		} else if (pick < 99) {
			if (st.nlive) {
				srec *v = st.live[rnd() % st.nlive];
				watch_cancel(st.hub, v->w);
				v->cancelled++;
				live_drop(v);
			}
		} else {
			st.expect = WATCH_CLOSED;
			total_fired += watch_close_all(st.hub);
			CHECK_EQ_INT(st.nlive, 0);
		}
		if (watch_count(st.hub) != st.nlive) {
			CHECK_EQ_INT(watch_count(st.hub), st.nlive);
			break;
		}
		if (op % 64 == 0 && watch_next_deadline(st.hub) != live_min_deadline()) {
			CHECK_EQ_INT(watch_next_deadline(st.hub), live_min_deadline());
			break;
		}
	}
	st.expect = WATCH_CLOSED;
	total_fired += watch_close_all(st.hub);
	CHECK_EQ_INT(watch_count(st.hub), 0);
	CHECK_EQ_INT(st.nlive, 0);
	CHECK_EQ_INT(st.bad_event, 0);
	CHECK_EQ_INT(st.early, 0);
	n = 0;
	for (i = 0; i < st.nrecs; i++) {
		if (st.recs[i].fired + st.recs[i].cancelled != 1) {
			CHECK_EQ_INT(st.recs[i].fired + st.recs[i].cancelled, 1);
			break;
		}
		n += (size_t)st.recs[i].fired;
	}
	/* The return values count exactly the callbacks made. */
	CHECK_EQ_INT(total_fired, n);
	fprintf(stderr, "     stress: %zu adds, %zu callbacks\n", st.nrecs, n);
	watch_hub_free(st.hub);
}

/* A waiter that saw a change already is passed over by its notice, stays
 * on its key, and is fired by the next change; multi-key waiters too. */
static void test_notify_seq(void)
{
	watch_hub *hub = watch_hub_new();
	const char *ab[] = {"a", "b"};
	rec old = {0}, fresh = {0}, multi = {0}, unset = {0};
	watch_waiter *w;

	CHECK_EQ_INT(watch_add(hub, ab, 1, 100, on_fire, &old, &w), HC_OK);
	watch_set_seq(w, 4);
	CHECK_EQ_INT(watch_add(hub, ab, 1, 100, on_fire, &fresh, &w), HC_OK);
	watch_set_seq(w, 5);
	CHECK_EQ_INT(watch_add(hub, ab, 2, 100, on_fire, &multi, &w), HC_OK);
	watch_set_seq(w, 7);
	add1(hub, "a", 100, &unset); /* seq 0: woken by anything */
	CHECK_EQ_INT(watch_notify_seq(hub, "a", 5), 2);
	CHECK_EQ_INT(old.fired, 1);
	CHECK_EQ_INT(unset.fired, 1);
	CHECK_EQ_INT(fresh.fired, 0);
	CHECK_EQ_INT(multi.fired, 0);
	CHECK_EQ_INT(watch_key_count(hub, "a"), 2);
	CHECK_EQ_INT(watch_count(hub), 2);
	CHECK_EQ_INT(watch_notify_seq(hub, "a", 6), 1); /* fresh saw 5, not 6 */
	CHECK_EQ_INT(fresh.fired, 1);
	CHECK_EQ_INT(watch_notify_seq(hub, "b", 7), 0);
	CHECK_EQ_INT(watch_key_count(hub, "b"), 1);
	CHECK_EQ_INT(watch_notify(hub, "b"), 1); /* no number: everyone */
	CHECK_EQ_INT(multi.fired, 1);
	CHECK_EQ_INT(multi.ev, WATCH_CHANGED);
	CHECK_EQ_INT(watch_count(hub), 0);
	CHECK_EQ_INT(watch_key_count(hub, "a"), 0);
	watch_hub_free(hub);
}

/* ---- the listener registry (listeners.h) ---- */

typedef struct seen_list {
	int n;
	char ids[64][80];
	watch_listener l[64]; /* strings borrowed only during the callback: see ids */
	char md5[64][33], rule[64][32], labels[64][32];
} seen_list;

static void collect(void *ctx, const watch_listener *l)
{
	seen_list *s = ctx;

	if (s->n == 64)
		return;
	snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s|%s", l->instance, l->ip);
	snprintf(s->md5[s->n], sizeof(s->md5[0]), "%s", l->md5);
	snprintf(s->rule[s->n], sizeof(s->rule[0]), "%s", l->rule);
	snprintf(s->labels[s->n], sizeof(s->labels[0]), "%s", l->labels);
	s->l[s->n] = *l;
	s->n++;
}

static watch_listener lsn(const char *id, const char *ip, const char *md5, int64_t version,
			  const char *rule, int64_t seen, uint64_t hold)
{
	watch_listener l;

	memset(&l, 0, sizeof(l));
	l.instance = id;
	l.ip = ip;
	l.labels = "app=a";
	l.md5 = md5;
	l.version = version;
	l.rule = rule;
	l.seen_ms = seen;
	l.hold_ms = hold;
	return l;
}

static int find_id(const seen_list *s, const char *id)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->ids[i], id))
			return i;
	return -1;
}

static void test_reg_records_and_updates(void)
{
	watch_reg *reg = watch_reg_new(100, 1000);
	watch_listener l = lsn("i1", "10.0.0.1", "m1", 3, "", 1000, 0);
	seen_list s;
	int k;

	watch_reg_seen(reg, "ns/g/a", &l, 0);
	l = lsn("", "10.0.0.2", "m1", 3, "", 1000, 0); /* no id: known by its address */
	watch_reg_seen(reg, "ns/g/a", &l, 0);
	l = lsn("i1", "10.0.0.9", "g1", 3, "canary", 1500, 0); /* same id, new address */
	l.labels = "app=b";
	watch_reg_seen(reg, "ns/g/a", &l, 0);
	l = lsn("i1", "10.0.0.9", "m9", 9, "", 1500, 0); /* another config */
	watch_reg_seen(reg, "ns/g/b", &l, 0);
	CHECK_EQ_INT(watch_reg_count(reg), 3);

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(watch_reg_config(reg, "ns/g/a", 1600, collect, &s), 2);
	k = find_id(&s, "i1|10.0.0.9");
	REQUIRE(k >= 0);
	CHECK_EQ_STR(s.md5[k], "g1");
	CHECK_EQ_STR(s.rule[k], "canary");
	CHECK_EQ_STR(s.labels[k], "app=b");
	CHECK_EQ_INT(s.l[k].version, 3);
	CHECK_EQ_INT(s.l[k].seen_ms, 1500);
	k = find_id(&s, "|10.0.0.2");
	REQUIRE(k >= 0);
	CHECK_EQ_STR(s.md5[k], "m1");
	CHECK_EQ_STR(s.rule[k], "");

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(watch_reg_instance(reg, "i1", 1600, collect, &s), 2);
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(watch_reg_instance(reg, "10.0.0.2", 1600, collect, &s), 1);
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(watch_reg_config(reg, "ns/g/none", 1600, collect, &s), 0);
	watch_reg_free(reg);
}

/* version -1: a watch told it of a change; what it holds is what it had. */
static void test_reg_unknown_version(void)
{
	watch_reg *reg = watch_reg_new(100, 1000);
	watch_listener l = lsn("i1", "10.0.0.1", "m1", 3, "canary", 1000, 0);
	seen_list s;

	watch_reg_seen(reg, "k", &l, 0);
	l = lsn("i1", "10.0.0.1", "m1", -1, NULL, 1100, 0); /* the same md5: kept */
	watch_reg_seen(reg, "k", &l, 0);
	memset(&s, 0, sizeof(s));
	watch_reg_config(reg, "k", 1200, collect, &s);
	REQUIRE(s.n == 1);
	CHECK_EQ_INT(s.l[0].version, 3);
	CHECK_EQ_STR(s.rule[0], "canary");
	l = lsn("i1", "10.0.0.1", "old", -1, NULL, 1200, 0); /* another md5: unknown */
	watch_reg_seen(reg, "k", &l, 0);
	memset(&s, 0, sizeof(s));
	watch_reg_config(reg, "k", 1300, collect, &s);
	REQUIRE(s.n == 1);
	CHECK_EQ_INT(s.l[0].version, 0);
	CHECK_EQ_STR(s.rule[0], "");
	CHECK_EQ_STR(s.md5[0], "old");
	watch_reg_free(reg);
}

/* Apply reports: on what it was served (or would be now), checked before
 * recorded, rate-limited per entry, repeats free. */
static void test_reg_reports(void)
{
	watch_reg *reg = watch_reg_new(100, 60000);
	watch_listener l = lsn("i1", "10.0.0.1", "m1", 3, "", 1000, 0);
	seen_list s;
	int i, limited = -1;

	watch_reg_seen(reg, "k", &l, 0);
	CHECK_EQ_INT(
	    watch_reg_report(reg, "k", "i2", "m1", NULL, WATCH_REPORT_APPLIED, NULL, 1000, 1),
	    WATCH_REPORT_UNKNOWN);
	CHECK_EQ_INT(
	    watch_reg_report(reg, "other", "i1", "m1", "m1", WATCH_REPORT_APPLIED, NULL, 1000, 1),
	    WATCH_REPORT_UNKNOWN);
	CHECK_EQ_INT(
	    watch_reg_report(reg, "k", "i1", "m2", NULL, WATCH_REPORT_APPLIED, NULL, 1000, 1),
	    WATCH_REPORT_NOT_SERVED);
	/* What it would be served now counts as served. */
	CHECK_EQ_INT(
	    watch_reg_report(reg, "k", "i1", "m2", "m2", WATCH_REPORT_REJECTED, "bad", 1000, 0),
	    WATCH_REPORT_OK);
	memset(&s, 0, sizeof(s));
	watch_reg_config(reg, "k", 1000, collect, &s);
	REQUIRE(s.n == 1);
	CHECK_EQ_INT(s.l[0].report, 0); /* apply 0 only checked */
	CHECK_EQ_INT(watch_reg_report(reg, "k", "i1", "m1", NULL, WATCH_REPORT_REJECTED, "bad port",
				      1000, 1),
		     WATCH_REPORT_OK);
	memset(&s, 0, sizeof(s));
	watch_reg_config(reg, "k", 1000, collect, &s);
	REQUIRE(s.n == 1);
	CHECK_EQ_INT(s.l[0].report, WATCH_REPORT_REJECTED);
	/* A claim of an md5 it was never served leaves the version unknown:
	 * then only the effective md5 may be reported on. */
	l = lsn("i1", "10.0.0.1", "zz", -1, NULL, 1000, 0);
	watch_reg_seen(reg, "k", &l, 0);
	CHECK_EQ_INT(
	    watch_reg_report(reg, "k", "i1", "zz", NULL, WATCH_REPORT_APPLIED, NULL, 1000, 1),
	    WATCH_REPORT_NOT_SERVED);
	l = lsn("i1", "10.0.0.1", "m1", 3, "", 1000, 0);
	watch_reg_seen(reg, "k", &l, 0);
	/* Flapping at one instant: the burst, then refused; a repeat is free. */
	for (i = 0; i < 2 * WATCH_REPORT_BURST && limited < 0; i++)
		if (watch_reg_report(reg, "k", "i1", "m1", NULL,
				     i % 2 ? WATCH_REPORT_REJECTED : WATCH_REPORT_APPLIED, NULL,
				     2000, 1) == WATCH_REPORT_LIMITED)
			limited = i;
	CHECK(limited > 0 && limited <= WATCH_REPORT_BURST);
	CHECK_EQ_INT(watch_reg_report(reg, "k", "i1", "m1", NULL,
				      limited % 2 ? WATCH_REPORT_APPLIED : WATCH_REPORT_REJECTED,
				      NULL, 2000, 1),
		     WATCH_REPORT_OK);
	/* A fifth of a second later there is room for one more change. */
	CHECK_EQ_INT(watch_reg_report(reg, "k", "i1", "m1", NULL,
				      limited % 2 ? WATCH_REPORT_REJECTED : WATCH_REPORT_APPLIED,
				      NULL, 2000 + 1000 / WATCH_REPORT_PER_SEC, 1),
		     WATCH_REPORT_OK);
	watch_reg_free(reg);
}

/* Live while watched, or for hold + grace after it was seen. */
static void test_reg_expiry(void)
{
	watch_reg *reg = watch_reg_new(100, 1000);
	watch_listener l = lsn("reader", "10.0.0.1", "m", 1, "", 0, 0);
	seen_list s;
	int i;

	watch_reg_seen(reg, "k", &l, 0);
	l = lsn("watcher", "10.0.0.2", "m", 1, "", 0, 30000);
	watch_reg_seen(reg, "k", &l, +1);
	l = lsn("waited", "10.0.0.3", "m", 1, "", 0, 5000);
	watch_reg_seen(reg, "k", &l, +1);
	watch_reg_unwatch(reg, "k", "waited"); /* its client left */

	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(watch_reg_config(reg, "k", 999, collect, &s), 3);
	CHECK_EQ_INT(s.l[find_id(&s, "watcher|10.0.0.2")].watching, 1);
	CHECK_EQ_INT(s.l[find_id(&s, "waited|10.0.0.3")].watching, 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(watch_reg_config(reg, "k", 1000, collect, &s), 2); /* reader gone */
	CHECK(find_id(&s, "reader|10.0.0.1") < 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(watch_reg_config(reg, "k", 6000, collect, &s), 1); /* hold + grace */
	CHECK(find_id(&s, "watcher|10.0.0.2") >= 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(watch_reg_config(reg, "k", 10000000, collect, &s), 1); /* still held */
	CHECK_EQ_INT(watch_reg_count(reg), 3);

	/* Traffic frees the expired ones. */
	for (i = 0; i < 4; i++) {
		char id[16];
		snprintf(id, sizeof(id), "n%d", i);
		l = lsn(id, "10.0.1.1", "m", 1, "", 10000000, 0);
		watch_reg_seen(reg, "other", &l, 0);
	}
	CHECK_EQ_INT(watch_reg_count(reg), 5); /* 4 new + the one still held */
	watch_reg_free(reg);
}

/* Bounded: the least recently seen goes first. */
static void test_reg_lru(void)
{
	watch_reg *reg = watch_reg_new(3, 1000000);
	watch_listener l;
	seen_list s;

	l = lsn("a", "10.0.0.1", "m", 1, "", 1, 0);
	watch_reg_seen(reg, "k", &l, 0);
	l = lsn("b", "10.0.0.1", "m", 1, "", 2, 0);
	watch_reg_seen(reg, "k", &l, 0);
	l = lsn("c", "10.0.0.1", "m", 1, "", 3, 0);
	watch_reg_seen(reg, "k", &l, 0);
	l = lsn("a", "10.0.0.1", "m", 1, "", 4, 0); /* a is recent again */
	watch_reg_seen(reg, "k", &l, 0);
	l = lsn("d", "10.0.0.1", "m", 1, "", 5, 0); /* evicts b */
	watch_reg_seen(reg, "k", &l, 0);
	CHECK_EQ_INT(watch_reg_count(reg), 3);
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(watch_reg_config(reg, "k", 6, collect, &s), 3);
	CHECK(find_id(&s, "a|10.0.0.1") >= 0);
	CHECK(find_id(&s, "b|10.0.0.1") < 0);
	CHECK(find_id(&s, "c|10.0.0.1") >= 0);
	CHECK(find_id(&s, "d|10.0.0.1") >= 0);
	/* An evicted entry's watch ending is harmless. */
	watch_reg_unwatch(reg, "k", "b");
	l = lsn("b", "10.0.0.1", "m", 1, "", 7, 0);
	watch_reg_seen(reg, "k", &l, -1); /* made again after eviction: count stays 0 */
	memset(&s, 0, sizeof(s));
	watch_reg_config(reg, "k", 8, collect, &s);
	CHECK_EQ_INT(s.l[find_id(&s, "b|10.0.0.1")].watching, 0);
	/* Many configs, many instances: each list stays right while entries come and go. */
	{
		int i, j;
		watch_reg_free(reg);
		reg = watch_reg_new(50, 10);
		for (i = 0; i < 1000; i++) {
			char id[16], key[16];
			snprintf(id, sizeof(id), "i%d", i % 37);
			snprintf(key, sizeof(key), "k%d", i % 7);
			l = lsn(id, "10.0.0.1", "m", 1, "", i, i % 3 ? 0 : 20);
			watch_reg_seen(reg, key, &l, 0);
			CHECK(watch_reg_count(reg) <= 50);
		}
		for (j = 0, i = 0; i < 7; i++) {
			char key[16];
			memset(&s, 0, sizeof(s));
			snprintf(key, sizeof(key), "k%d", i);
			j += (int)watch_reg_config(reg, key, 0, collect, &s);
		}
		CHECK_EQ_INT(j, watch_reg_count(reg));
	}
	watch_reg_free(reg);
}

/* ---- gray: watch_notify_gray fires only the waiters a change concerns ---- */

#define GRAY_N 200

typedef struct gray_fixture {
	watch_hub *hub;
	rec recs[GRAY_N + 3];
	gray_inst *inst[GRAY_N];
	gray_rule *shard1; /* labels shard=1: a quarter of the instances */
	watch_waiter *plain, *by_version, *seen;
} gray_fixture;

/* GRAY_N waiters on "cfg" from instances i0.. with shard=i%4, plus one with
 * no instance (recs[GRAY_N]), one by version (recs[GRAY_N + 1]) and one that
 * has seen change 10 (recs[GRAY_N + 2], instance shard 1). */
static void gray_setup(gray_fixture *f)
{
	sbuf why = SBUF_INIT(256);
	char id[16], labels[32];
	size_t i;

	memset(f, 0, sizeof(*f));
	f->hub = watch_hub_new();
	CHECK_EQ_INT(gray_rule_compile(NULL, 0, 0, "shard=1", NULL, NULL, &f->shard1, &why), HC_OK);
	for (i = 0; i < GRAY_N; i++) {
		snprintf(id, sizeof(id), "i%zu", i);
		snprintf(labels, sizeof(labels), "app=x,shard=%zu", i % 4);
		CHECK_EQ_INT(gray_inst_new(id, "10.0.0.1", labels, &f->inst[i], &why), HC_OK);
		watch_set_instance(add1(f->hub, "cfg", 1000, &f->recs[i]), f->inst[i], 0);
	}
	f->plain = add1(f->hub, "cfg", 1000, &f->recs[GRAY_N]);
	f->by_version = add1(f->hub, "cfg", 1000, &f->recs[GRAY_N + 1]);
	watch_set_instance(f->by_version, f->inst[1], 1);
	f->seen = add1(f->hub, "cfg", 1000, &f->recs[GRAY_N + 2]);
	watch_set_instance(f->seen, f->inst[5], 0);
	watch_set_seq(f->seen, 10);
	sbuf_release(&why);
}

static void gray_teardown(gray_fixture *f)
{
	size_t i;

	watch_close_all(f->hub);
	watch_hub_free(f->hub);
	for (i = 0; i < GRAY_N; i++)
		gray_inst_free(f->inst[i]);
	gray_rule_free(f->shard1);
}

static int gray_fired(const gray_fixture *f, size_t i)
{
	return f->recs[i].fired && f->recs[i].ev == WATCH_CHANGED;
}

/* A state of main md5 md5 and, when rule is not NULL, that one rule with
 * content md5 gmd5, in the rule set named set. */
static watch_state gray_st(const char *md5, const void *set, const gray_rule *const *rule,
			   const char *const *gmd5)
{
	static const int prio[1] = {10};
	watch_state v = {1, md5, set, rule, prio, gmd5, rule ? 1 : 0};

	return v;
}

static void test_gray_rule_created(void)
{
	gray_fixture f;
	const gray_rule *rules[1];
	const char *gmd5[1] = {"g1"};
	watch_state a, b;
	size_t i, fired;

	gray_setup(&f);
	rules[0] = f.shard1;
	a = gray_st("m1", NULL, NULL, NULL);
	b = gray_st("m1", "S1", rules, gmd5);
	fired = watch_notify_gray(f.hub, "cfg", 10, &a, &b, 1);
	/* Exactly the shard=1 instances, and none of the others. */
	for (i = 0; i < GRAY_N; i++)
		CHECK_EQ_INT(gray_fired(&f, i), i % 4 == 1);
	CHECK_EQ_INT(fired, GRAY_N / 4);
	CHECK_EQ_INT(f.recs[GRAY_N].fired, 0);	   /* no instance: main, unchanged */
	CHECK_EQ_INT(f.recs[GRAY_N + 1].fired, 0); /* by version: main stayed */
	CHECK_EQ_INT(f.recs[GRAY_N + 2].fired, 0); /* a member, but it saw change 10 */
	CHECK_EQ_INT(watch_key_count(f.hub, "cfg"), GRAY_N - GRAY_N / 4 + 3);
	gray_teardown(&f);
}

static void test_gray_same_md5_stays(void)
{
	gray_fixture f;
	const gray_rule *rules[1];
	const char *gmd5[1] = {"m1"};
	watch_state a, b;

	/* A rule whose content equals main's changes nobody's md5. */
	gray_setup(&f);
	rules[0] = f.shard1;
	a = gray_st("m1", NULL, NULL, NULL);
	b = gray_st("m1", "S1", rules, gmd5);
	CHECK_EQ_INT(watch_notify_gray(f.hub, "cfg", 11, &a, &b, 1), 0);
	CHECK_EQ_INT(watch_key_count(f.hub, "cfg"), GRAY_N + 3);
	CHECK_EQ_INT(f.recs[GRAY_N + 2].fired, 0);
	gray_teardown(&f);
}

static void test_gray_main_publish_under_rule(void)
{
	gray_fixture f;
	const gray_rule *rules[1];
	const char *gmd5[1] = {"g1"};
	watch_state a, b;
	size_t i, fired;

	/* The same set before and after: only main moved, so only the
	 * instances outside the rule (and the version watch) are answered. */
	gray_setup(&f);
	rules[0] = f.shard1;
	a = gray_st("m1", "S1", rules, gmd5);
	b = gray_st("m2", "S1", rules, gmd5);
	fired = watch_notify_gray(f.hub, "cfg", 11, &a, &b, 0);
	for (i = 0; i < GRAY_N; i++)
		CHECK_EQ_INT(gray_fired(&f, i), i % 4 != 1);
	CHECK(gray_fired(&f, GRAY_N));
	CHECK(gray_fired(&f, GRAY_N + 1));
	CHECK_EQ_INT(f.recs[GRAY_N + 2].fired, 0); /* a member: still g1 */
	CHECK_EQ_INT(fired, GRAY_N - GRAY_N / 4 + 2);
	gray_teardown(&f);
}

static void test_gray_promote_and_abort(void)
{
	gray_fixture f;
	const gray_rule *rules[1];
	const char *gmd5[1] = {"g1"};
	watch_state a, b;
	size_t i;

	/* Promote: main becomes the rule's content and the rule goes; the
	 * members already hold it. */
	gray_setup(&f);
	rules[0] = f.shard1;
	a = gray_st("m1", "S1", rules, gmd5);
	b = gray_st("g1", NULL, NULL, NULL);
	watch_notify_gray(f.hub, "cfg", 11, &a, &b, 0);
	for (i = 0; i < GRAY_N; i++)
		CHECK_EQ_INT(gray_fired(&f, i), i % 4 != 1);
	CHECK(gray_fired(&f, GRAY_N) && gray_fired(&f, GRAY_N + 1));
	CHECK_EQ_INT(f.recs[GRAY_N + 2].fired, 0);
	gray_teardown(&f);

	/* Abort: the rule goes and main stays; the members go back to it. */
	gray_setup(&f);
	rules[0] = f.shard1;
	a = gray_st("m1", "S1", rules, gmd5);
	b = gray_st("m1", NULL, NULL, NULL);
	watch_notify_gray(f.hub, "cfg", 11, &a, &b, 1);
	for (i = 0; i < GRAY_N; i++)
		CHECK_EQ_INT(gray_fired(&f, i), i % 4 == 1);
	CHECK(!f.recs[GRAY_N].fired && !f.recs[GRAY_N + 1].fired);
	CHECK(gray_fired(&f, GRAY_N + 2)); /* a member; it saw 10, not 11 */
	gray_teardown(&f);
}

static void test_gray_created_or_deleted(void)
{
	gray_fixture f;
	const gray_rule *rules[1];
	const char *gmd5[1] = {"g1"};
	watch_state a, b;

	/* The config goes: every waiter that has not seen it is answered. */
	gray_setup(&f);
	rules[0] = f.shard1;
	a = gray_st("m1", "S1", rules, gmd5);
	b = gray_st("", NULL, NULL, NULL);
	b.exists = 0;
	CHECK_EQ_INT(watch_notify_gray(f.hub, "cfg", 10, &a, &b, 0), GRAY_N + 2);
	CHECK_EQ_INT(watch_key_count(f.hub, "cfg"), 1);
	CHECK_EQ_INT(f.recs[GRAY_N + 2].fired, 0);
	gray_teardown(&f);
}

static void test_gray_many_keys_and_readd(void)
{
	watch_hub *hub = watch_hub_new();
	const char *keys[2] = {"other", "cfg"};
	const char *gmd5[1] = {"g1"};
	sbuf why = SBUF_INIT(256);
	gray_rule *r = NULL;
	gray_inst *in = NULL, *out = NULL;
	const gray_rule *rules[1];
	watch_waiter *w = NULL;
	rec multi = {0}, outside = {0};
	watch_state a, b;

	CHECK_EQ_INT(gray_rule_compile(NULL, 0, 0, "canary", NULL, NULL, &r, &why), HC_OK);
	CHECK_EQ_INT(gray_inst_new("a", "", "canary=1", &in, &why), HC_OK);
	CHECK_EQ_INT(gray_inst_new("b", "", "", &out, &why), HC_OK);
	rules[0] = r;
	/* A many-config waiter is answered once for the key it waits on. */
	CHECK_EQ_INT(watch_add(hub, keys, 2, 1000, on_fire, &multi, &w), HC_OK);
	watch_set_instance(w, in, 0);
	watch_set_instance(add1(hub, "cfg", 1000, &outside), out, 0);
	a = gray_st("m1", NULL, NULL, NULL);
	b = gray_st("m1", "S", rules, gmd5);
	CHECK_EQ_INT(watch_notify_gray(hub, "cfg", 3, &a, &b, 1), 1);
	CHECK_EQ_INT(multi.fired, 1);
	CHECK_EQ_INT(outside.fired, 0);
	CHECK_EQ_INT(watch_key_count(hub, "other"), 0); /* it left every key */
	CHECK_EQ_INT(watch_key_count(hub, "cfg"), 1);
	/* Missing states change nothing. */
	CHECK_EQ_INT(watch_notify_gray(hub, "cfg", 4, NULL, &b, 1), 0);
	CHECK_EQ_INT(watch_count(hub), 1);
	watch_close_all(hub);
	watch_hub_free(hub);
	gray_inst_free(in);
	gray_inst_free(out);
	gray_rule_free(r);
	sbuf_release(&why);
}

int main(void)
{
	RUN(test_notify_fires_only_its_key);
	RUN(test_multi_key_fires_once);
	RUN(test_notify_seq);
	RUN(test_duplicate_keys);
	RUN(test_expire_in_deadline_order);
	RUN(test_expire_order_is_strict);
	RUN(test_cancel_never_calls_back);
	RUN(test_readd_during_notify);
	RUN(test_readd_during_expire);
	RUN(test_close_all);
	RUN(test_invalid_args);
	RUN(test_foreach);
	RUN(test_free_with_waiters_held);
	RUN(test_stress_exactly_once);
	RUN(test_gray_rule_created);
	RUN(test_gray_same_md5_stays);
	RUN(test_gray_main_publish_under_rule);
	RUN(test_gray_promote_and_abort);
	RUN(test_gray_created_or_deleted);
	RUN(test_gray_many_keys_and_readd);
	RUN(test_reg_records_and_updates);
	RUN(test_reg_unknown_version);
	RUN(test_reg_reports);
	RUN(test_reg_expiry);
	RUN(test_reg_lru);
	return hc_test_report();
}
