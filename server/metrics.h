/*
 * metrics: counters and a latency histogram, rendered in the Prometheus text
 * format. Every update is a relaxed atomic add, so any thread may record
 * without a lock; a render is a consistent-enough snapshot, not an atomic one.
 */
#ifndef HC_METRICS_H
#define HC_METRICS_H

#include <stdint.h>

#include "sbuf.h"

typedef struct metrics metrics;

/* Returns a zeroed set the caller owns; free with metrics_free (NULL ok). */
metrics *metrics_new(void);
void metrics_free(metrics *m);

void metrics_publish(metrics *m);
/* One finished pruning pass that deleted `deleted` history entries. */
void metrics_prune(metrics *m, uint64_t deleted);
void metrics_wakeups(metrics *m, uint64_t n);
/* n held watches reached their deadline (answered 304). */
void metrics_expired(metrics *m, uint64_t n);
/* n held watches ended because their clients hung up. */
void metrics_abandoned(metrics *m, uint64_t n);
/* Apply reports: recorded, dropped (a watch's that could not be verified)
 * or refused (a POST /api/v1/reports that failed whole). */
typedef enum metrics_report {
	METRICS_REPORT_RECORDED,
	METRICS_REPORT_DROPPED,
	METRICS_REPORT_REFUSED,
	METRICS_REPORT_N
} metrics_report;
void metrics_reports(metrics *m, metrics_report kind, uint64_t n);
/* One HTTP response with this status; latency_us is recorded in the
 * histogram unless the request was a held watch (pass UINT64_MAX). */
void metrics_response(metrics *m, unsigned status, uint64_t latency_us);
/* The gauges a render reads from the server at that moment. */
typedef struct metrics_gauges {
	uint64_t held;		  /* held watches */
	uint64_t held_bytes;	  /* what they cost, by the server's account */
	int64_t revision;	  /* the store's revision */
	uint64_t writes_queued;	  /* writes handed to the store and not yet answered */
	uint64_t body_bytes;	  /* request bodies in memory */
	uint64_t password_checks; /* argon2 verifications of user passwords, ever */
} metrics_gauges;

/* Appends the exposition text. */
void metrics_render(metrics *m, const metrics_gauges *g, sbuf *out);

#endif
