/*
 * checker.c: slow work off the threads that answer: validation of large
 * content, and argon2 (logins, new passwords).
 *
 * Validating a large JSON or YAML body costs milliseconds; on a
 * libmicrohttpd worker it would hold back every read and health check that
 * worker serves. A publish whose content is larger than SRV_INLINE_CHECK is
 * therefore suspended and queued here: the checker thread validates it and
 * either hands it to the store (whose completion resumes it, as for any
 * write) or records the error and resumes it at once. Small content is
 * validated where it arrives: that costs less than the hand-over.
 *
 * Threading: one thread; check_mu guards the queue and the stop flag and is
 * taken alone. A queued request's connection is suspended and counted in
 * s->writes, so srv_stop waits for it like for any write.
 */
#include <stdlib.h>
#include <string.h>

#include "hc_log.h"
#include "srv_internal.h"

/* Validates one request's content and passes it on. */
static void check_one(srv_req *r)
{
	srv *s = r->s;
	sbuf why = SBUF_INIT(STORE_DETAIL_MAX - 1);
	hc_err err = val_content(r->wr->checked_format, r->body.buf, r->body.len, &why);

	if (!err) {
		store_publish_async(s->st, &r->wr->w, srv_on_write_done, r);
	} else {
		store_result res;
		memset(&res, 0, sizeof(res));
		memcpy(res.detail, why.buf, why.len + 1);
		srv_on_write_done(r, err, &res);
	}
	sbuf_release(&why);
}

static void *check_main(void *arg)
{
	srv *s = arg;
	srv_req *r;

	pthread_mutex_lock(&s->check_mu);
	for (;;) {
		while (!s->check_head && !s->check_stop)
			pthread_cond_wait(&s->check_cond, &s->check_mu);
		r = s->check_head;
		if (!r)
			break; /* stopping, and nothing is left */
		s->check_head = r->check_next;
		if (!s->check_head)
			s->check_tail = &s->check_head;
		pthread_mutex_unlock(&s->check_mu);
		r->offload_fn(r);
		pthread_mutex_lock(&s->check_mu);
	}
	pthread_mutex_unlock(&s->check_mu);
	return NULL;
}

void srv_check_queue(srv_req *r)
{
	srv_offload(r, check_one);
}

void srv_offload(srv_req *r, void (*fn)(srv_req *r))
{
	srv *s = r->s;

	r->offload_fn = fn;
	r->check_next = NULL;
	pthread_mutex_lock(&s->check_mu);
	*s->check_tail = r;
	s->check_tail = &r->check_next;
	pthread_cond_signal(&s->check_cond);
	pthread_mutex_unlock(&s->check_mu);
}

hc_err srv_check_start(srv *s)
{
	int rc;

	pthread_mutex_init(&s->check_mu, NULL);
	pthread_cond_init(&s->check_cond, NULL);
	s->check_tail = &s->check_head;
	s->check_ok = 1;
	rc = pthread_create(&s->check_thread, NULL, check_main, s);
	if (rc) {
		hc_log("cannot start the checker thread: %s", strerror(rc));
		return HC_ERR_INTERNAL;
	}
	s->check_started = 1;
	return HC_OK;
}

void srv_check_stop(srv *s)
{
	if (s->check_started) {
		pthread_mutex_lock(&s->check_mu);
		s->check_stop = 1;
		pthread_cond_signal(&s->check_cond);
		pthread_mutex_unlock(&s->check_mu);
		pthread_join(s->check_thread, NULL);
		s->check_started = 0;
	}
	if (s->check_ok) {
		pthread_cond_destroy(&s->check_cond);
		pthread_mutex_destroy(&s->check_mu);
		s->check_ok = 0;
	}
}
