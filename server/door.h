/*
 * door: the front door. hotconf accepts connections itself, here, and hands
 * a connection to libmicrohttpd only once its first request head has
 * arrived whole, within the read deadline, and passed httphead's strict
 * check; everything else is answered here, in JSON, and closed. That is
 * where a client is refused when its address holds too many connections
 * (429) or the server is full (503), where a slow or silent client is
 * dropped (408) however it trickles its bytes, and where a head
 * libmicrohttpd would misread or answer in HTML is refused first.
 *
 * Connections libmicrohttpd serves stay known here (door_conn) until it
 * closes them: their address counts against the per-address cap, and the
 * sweeper closes one whose next request head has not arrived within the
 * read deadline after its last answer.
 *
 * Threading: one thread of its own (accept, heads, sweeps). door_conn_*
 * are called from libmicrohttpd's workers; they take the door's lock.
 */
#ifndef HC_DOOR_H
#define HC_DOOR_H

#include <microhttpd.h>
#include <stdint.h>

#include "hc_err.h"
#include "httphead.h"
#include "metrics.h"

typedef struct door door;
typedef struct door_conn door_conn;

typedef struct door_config {
	unsigned max_conns;	   /* connections open at once, pending or served */
	unsigned max_per_client;   /* of them from one address */
	uint64_t read_deadline_ms; /* for a request head to arrive whole */
	head_limits head;
	metrics *m;	   /* counts the answers given here */
	size_t watch_head; /* a long poll whose head is at most this goes to the
			    * watch daemon (when there is one) */
	int tls;	   /* HTTPS: the head is encrypted, so a connection is handed over at
			    * once and its first head is timed by the sweep instead */
} door_config;

/* Starts the door thread accepting on listen_fd (the door owns it from now
 * on) and handing connections to d, or to watch_d (NULL: none) when their
 * first request is a small long poll. */
hc_err door_start(const door_config *cfg, int listen_fd, struct MHD_Daemon *d,
		  struct MHD_Daemon *watch_d, door **out);
/* Stops accepting and closes the listening socket and every connection not
 * yet handed over. Connections libmicrohttpd serves are untouched. */
void door_stop(door *dr);
/* Frees the door once libmicrohttpd has stopped. NULL is a no-op. */
void door_free(door *dr);

/* libmicrohttpd started serving c (its NOTIFY_CONNECTION STARTED) with a
 * memory pool of pool bytes. */
door_conn *door_conn_started(door *dr, struct MHD_Connection *c, size_t pool);
/* The pool size door_conn_started was told. */
size_t door_conn_pool(const door_conn *dc);
/* libmicrohttpd closed it (NOTIFY_CONNECTION CLOSED); dc is freed. */
void door_conn_closed(door *dr, door_conn *dc);
/* A request's head has arrived: the connection is not reading a head. */
void door_conn_busy(door_conn *dc);
/* A request was answered at now_ms: the next head must come within the
 * read deadline. */
void door_conn_idle(door_conn *dc, uint64_t now_ms);

#endif
