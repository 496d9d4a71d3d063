/*
 * metrics.c: relaxed atomic counters (C11 <stdatomic.h>). Any thread.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "xmalloc.h"

#define STATUS_MIN 100
#define STATUS_MAX 599

/* Upper bounds in microseconds, Prometheus' default buckets. */
static const uint64_t bucket_us[] = {500,    1000,   2500,   5000,    10000,   25000,	50000,
				     100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct metrics {
	atomic_uint_fast64_t publishes;
	atomic_uint_fast64_t wakeups;
	atomic_uint_fast64_t expired;
	atomic_uint_fast64_t abandoned;
	atomic_uint_fast64_t prune_runs;
	atomic_uint_fast64_t pruned;
	atomic_uint_fast64_t reports[METRICS_REPORT_N];
	atomic_uint_fast64_t status[STATUS_MAX - STATUS_MIN + 1];
	atomic_uint_fast64_t bucket[NBUCKETS + 1]; /* last: +Inf */
	atomic_uint_fast64_t sum_us;
	atomic_uint_fast64_t count;
};

metrics *metrics_new(void)
{
	/* Zeroed memory is a valid initial state for lock-free atomics here. */
	return xcalloc(1, sizeof(metrics));
}

void metrics_free(metrics *m)
{
	free(m);
}

void metrics_publish(metrics *m)
{
	atomic_fetch_add_explicit(&m->publishes, 1, memory_order_relaxed);
}

void metrics_prune(metrics *m, uint64_t deleted)
{
	atomic_fetch_add_explicit(&m->pruned, deleted, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->prune_runs, 1, memory_order_relaxed);
}

void metrics_wakeups(metrics *m, uint64_t n)
{
	atomic_fetch_add_explicit(&m->wakeups, n, memory_order_relaxed);
}

void metrics_expired(metrics *m, uint64_t n)
{
	atomic_fetch_add_explicit(&m->expired, n, memory_order_relaxed);
}

void metrics_abandoned(metrics *m, uint64_t n)
{
	atomic_fetch_add_explicit(&m->abandoned, n, memory_order_relaxed);
}

void metrics_reports(metrics *m, metrics_report kind, uint64_t n)
{
	atomic_fetch_add_explicit(&m->reports[kind], n, memory_order_relaxed);
}

void metrics_response(metrics *m, unsigned status, uint64_t latency_us)
{
	size_t i;

	if (status >= STATUS_MIN && status <= STATUS_MAX)
		atomic_fetch_add_explicit(&m->status[status - STATUS_MIN], 1, memory_order_relaxed);
	if (latency_us == UINT64_MAX)
		return;
	for (i = 0; i < NBUCKETS && latency_us > bucket_us[i]; i++)
		;
	atomic_fetch_add_explicit(&m->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_us, latency_us, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *a)
{
	return (uint64_t)atomic_load_explicit(a, memory_order_relaxed);
}

void metrics_render(metrics *m, const metrics_gauges *g, sbuf *out)
{
	uint64_t cum = 0;
	size_t i;

	sbuf_addf(
	    out,
	    "# HELP hotconf_watches_held Long polls held right now.\n"
	    "# TYPE hotconf_watches_held gauge\nhotconf_watches_held %llu\n"
	    "# HELP hotconf_watch_held_bytes Memory the held watches take, by hotconf's "
	    "account.\n"
	    "# TYPE hotconf_watch_held_bytes gauge\nhotconf_watch_held_bytes %llu\n"
	    "# HELP hotconf_revision Changes committed since the store was created.\n"
	    "# TYPE hotconf_revision gauge\nhotconf_revision %lld\n"
	    "# HELP hotconf_request_body_bytes Request bodies held in memory.\n"
	    "# TYPE hotconf_request_body_bytes gauge\nhotconf_request_body_bytes %llu\n"
	    "# HELP hotconf_writes_queued Writes handed to the store, not yet answered.\n"
	    "# TYPE hotconf_writes_queued gauge\nhotconf_writes_queued %llu\n"
	    "# HELP hotconf_publishes_total Committed changes (publish, delete, rollback).\n"
	    "# TYPE hotconf_publishes_total counter\nhotconf_publishes_total %llu\n"
	    "# HELP hotconf_watch_wakeups_total Held watches woken by a change.\n"
	    "# TYPE hotconf_watch_wakeups_total counter\nhotconf_watch_wakeups_total %llu\n"
	    "# HELP hotconf_watch_expired_total Held watches that reached their deadline.\n"
	    "# TYPE hotconf_watch_expired_total counter\nhotconf_watch_expired_total %llu\n"
	    "# HELP hotconf_watch_abandoned_total Held watches whose clients hung up.\n"
	    "# TYPE hotconf_watch_abandoned_total counter\nhotconf_watch_abandoned_total "
	    "%llu\n"
	    "# HELP hotconf_prune_runs_total Finished history pruning passes.\n"
	    "# TYPE hotconf_prune_runs_total counter\nhotconf_prune_runs_total %llu\n"
	    "# HELP hotconf_history_pruned_total History entries removed by retention.\n"
	    "# TYPE hotconf_history_pruned_total counter\nhotconf_history_pruned_total %llu\n"
	    "# HELP hotconf_password_checks_total User passwords checked with argon2 "
	    "(a cached identity is not checked again).\n"
	    "# TYPE hotconf_password_checks_total counter\nhotconf_password_checks_total %llu\n"
	    "# HELP hotconf_http_responses_total HTTP responses by status.\n"
	    "# TYPE hotconf_http_responses_total counter\n",
	    (unsigned long long)g->held, (unsigned long long)g->held_bytes, (long long)g->revision,
	    (unsigned long long)g->body_bytes, (unsigned long long)g->writes_queued,
	    (unsigned long long)get(&m->publishes), (unsigned long long)get(&m->wakeups),
	    (unsigned long long)get(&m->expired), (unsigned long long)get(&m->abandoned),
	    (unsigned long long)get(&m->prune_runs), (unsigned long long)get(&m->pruned),
	    (unsigned long long)g->password_checks);
	for (i = 0; i <= STATUS_MAX - STATUS_MIN; i++) {
		uint64_t v = get(&m->status[i]);
		if (v)
			sbuf_addf(out, "hotconf_http_responses_total{status=\"%zu\"} %llu\n",
				  i + STATUS_MIN, (unsigned long long)v);
	}
	sbuf_addf(out,
		  "# HELP hotconf_reports_total Apply reports from instances: recorded, dropped "
		  "(carried by a watch, not verifiable) or refused (in a failed POST).\n"
		  "# TYPE hotconf_reports_total counter\n"
		  "hotconf_reports_total{result=\"recorded\"} %llu\n"
		  "hotconf_reports_total{result=\"dropped\"} %llu\n"
		  "hotconf_reports_total{result=\"refused\"} %llu\n",
		  (unsigned long long)get(&m->reports[METRICS_REPORT_RECORDED]),
		  (unsigned long long)get(&m->reports[METRICS_REPORT_DROPPED]),
		  (unsigned long long)get(&m->reports[METRICS_REPORT_REFUSED]));
	sbuf_addstr(out, "# HELP hotconf_http_request_duration_seconds Time to answer a request "
			 "that was not held as a watch.\n"
			 "# TYPE hotconf_http_request_duration_seconds histogram\n");
	for (i = 0; i < NBUCKETS; i++) {
		cum += get(&m->bucket[i]);
		sbuf_addf(out, "hotconf_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
			  (double)bucket_us[i] / 1e6, (unsigned long long)cum);
	}
	cum += get(&m->bucket[NBUCKETS]);
	sbuf_addf(out,
		  "hotconf_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		  "hotconf_http_request_duration_seconds_sum %.6f\n"
		  "hotconf_http_request_duration_seconds_count %llu\n",
		  (unsigned long long)cum, (double)get(&m->sum_us) / 1e6,
		  (unsigned long long)get(&m->count));
}
