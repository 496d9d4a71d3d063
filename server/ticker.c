/*
 * ticker.c: see ticker.h. The condition variable runs on CLOCK_MONOTONIC,
 * so a wall-clock step never makes the thread sleep too long; the pass's
 * wall-clock target only sets how long to wait.
 */
#include "ticker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "hc_log.h"
#include "xmalloc.h"

struct ticker {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC */
	int poked, stop;
	ticker_pass_fn pass;
	void *ctx;
	int64_t tick_ms;
};

static void *ticker_main(void *arg)
{
	ticker *t = arg;
	int64_t next, wait;
	struct timespec ts;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		t->poked = 0;
		pthread_mutex_unlock(&t->mu);
		next = t->pass(t->ctx);
		pthread_mutex_lock(&t->mu);
		if (t->poked || t->stop)
			continue;
		wait = next ? next - clock_wall_ms() : t->tick_ms;
		if (wait <= 0)
			continue;
		if (wait > t->tick_ms)
			wait = t->tick_ms;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait / 1000);
		ts.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!t->poked && !t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

hc_err ticker_start(const char *what, ticker_pass_fn pass, void *ctx, int64_t tick_ms, ticker **out)
{
	ticker *t = xcalloc(1, sizeof(*t));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	t->pass = pass;
	t->ctx = ctx;
	t->tick_ms = tick_ms;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&t->th, NULL, ticker_main, t);
	if (rc) {
		hc_log("cannot start the %s thread: %s", what, strerror(rc));
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return HC_ERR_INTERNAL;
	}
	*out = t;
	return HC_OK;
}

void ticker_poke(ticker *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->poked = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

void ticker_stop(ticker *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->th, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
