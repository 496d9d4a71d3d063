/*
 * schedule.c: the scheduler, which publishes change requests scheduled for
 * a time (POST .../changes/{id}/publish {"at"}).
 *
 * The schedule is the store's: a request's state and scheduled_ms, so it
 * survives a restart, and the publish (store_cr_publish with scheduled set)
 * checks inside its transaction that the request is still scheduled and
 * marks it published, or failed with the reason when a base changed or an
 * item no longer validates, in the same COMMIT. A request therefore
 * publishes at most once, however often this thread (or a restarted
 * server) finds it due; a cancelled one is no longer scheduled, so never.
 *
 * Threading: one thread, a ticker (ticker.h): it asks the store for what is
 * due, at most SCHEDULE_TICK_MS apart or sooner when the next request is
 * due sooner, and at once when a request is scheduled or cancelled
 * (srv_schedule_poke). It calls the store's synchronous writes.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hc_log.h"
#include "srv_internal.h"
#include "ticker.h"

#define SCHEDULE_TICK_MS 1000
#define SCHEDULE_BATCH 16

/* Publishes one due request as the user who scheduled it. */
static void publish_due(srv *s, const store_cr *due)
{
	sbuf why = SBUF_INIT(1024);
	srv_cr_pub *pp = NULL;
	store_cr_move m;
	store_result res;
	char detail[STORE_DETAIL_MAX];
	hc_err err = srv_cr_prepare(s, due->ns, due->id, &pp, &why);

	memset(&res, 0, sizeof(res));
	if (!err) {
		pp->p.expect_rev = -1;
		pp->p.scheduled = 1;
		pp->p.actor = due->published_by;
		pp->p.role = "scheduler";
		pp->p.now_ms = clock_wall_ms();
		err = store_cr_publish(s->st, &pp->p, &res);
		hc_log("scheduled change request %s/%" PRId64 ": %s%s%s", due->ns, due->id,
		       err ? hc_err_code(err) : "published", err ? ": " : "",
		       err ? res.detail : "");
	} else if (err != HC_ERR_NOT_FOUND) {
		/* It cannot even be built (a rule's plan no longer passes): it will
		 * not publish, so it must not stay scheduled. */
		memset(&m, 0, sizeof(m));
		m.action = STORE_CR_CANCEL;
		m.expect_rev = -1;
		m.text = why.buf;
		m.actor = "scheduler";
		m.role = "scheduler";
		m.now_ms = clock_wall_ms();
		hc_log("scheduled change request %s/%" PRId64 " cancelled: %s", due->ns, due->id,
		       why.buf);
		store_cr_move_to(s->st, due->ns, due->id, &m, NULL, detail, sizeof(detail));
	}
	srv_cr_pub_free(pp);
	sbuf_release(&why);
}

static int64_t schedule_pass(void *ctx)
{
	srv *s = ctx;
	store_cr *v = NULL;
	size_t n = 0, i;
	int64_t next = 0;

	if (store_cr_due(s->st, clock_wall_ms(), SCHEDULE_BATCH, &v, &n, &next))
		return 0;
	for (i = 0; i < n; i++)
		publish_due(s, &v[i]);
	store_crs_free(v, n);
	return n == SCHEDULE_BATCH ? clock_wall_ms() : next; /* more due: at once */
}

hc_err srv_schedule_start(srv *s)
{
	return ticker_start("scheduler", schedule_pass, s, SCHEDULE_TICK_MS, &s->schedule);
}

void srv_schedule_stop(srv *s)
{
	ticker_stop(s->schedule);
	s->schedule = NULL;
}

void srv_schedule_poke(srv *s)
{
	ticker_poke(s->schedule);
}
