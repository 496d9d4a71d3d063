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
 * The door also runs the HTTP workers: one thread per libmicrohttpd daemon,
 * each started by the caller without a thread of its own (MHD_USE_EPOLL,
 * not MHD_USE_EPOLL_INTERNAL_THREAD; door.c says why), and each connection
 * is handed to a worker, which adds it to its daemon.
 *
 * Threading: one thread of its own (accept, heads, sweeps) and the workers,
 * which run every libmicrohttpd callback. door_conn_* are called from the
 * workers; they take the door's lock. MHD_resume_connection (door.c wraps
 * libmicrohttpd's to wake the connection's worker) may be called from any
 * thread.
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

/* Starts a worker for each of the n daemons of d and of watch_d (NULL:
 * none), then the door thread accepting on listen_fd, handing connections
 * to the workers of d, or of watch_d when their first request is a small
 * long poll. From the call on, the door owns listen_fd and the daemons
 * (also on failure; the arrays stay the caller's). */
hc_err door_start(const door_config *cfg, int listen_fd, struct MHD_Daemon *const *d,
		  struct MHD_Daemon *const *watch_d, unsigned n, door **out);
/* Stops accepting and closes the listening socket and every connection not
 * yet handed over. Connections libmicrohttpd serves are untouched. */
void door_stop(door *dr);
/* After door_stop, once no connection is suspended: stops the workers, then
 * every daemon (MHD_stop_daemon closes what they still serve). NULL is a
 * no-op. */
void door_http_stop(door *dr);
/* Frees the door after door_http_stop. NULL is a no-op. */
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
