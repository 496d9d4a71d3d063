/*
 * ticker: a thread that runs one pass function now, again at the wall-clock
 * time the pass asks for (at most tick_ms later), and at once when poked,
 * until it is stopped. The rollout thread and the change-request scheduler
 * are tickers.
 *
 * Threading: the ticker's own mutex guards only its poke and stop flags and
 * is taken alone; pass runs with no lock of the ticker held. poke and stop
 * from any thread but the ticker's own (stop joins it).
 */
#ifndef HC_TICKER_H
#define HC_TICKER_H

#include <stdint.h>

#include "hc_err.h"

typedef struct ticker ticker;

/* Returns the wall-clock ms of its next run (anything not ahead: at once,
 * unless it has not changed since; 0: in tick_ms). */
typedef int64_t (*ticker_pass_fn)(void *ctx);

/* Starts the thread (what names it in the log); *out NULL on failure. */
hc_err ticker_start(const char *what, ticker_pass_fn pass, void *ctx, int64_t tick_ms,
		    ticker **out);
/* Makes the thread run its pass again as soon as it can. NULL: no-op. */
void ticker_poke(ticker *t);
/* Stops and joins the thread and frees t. NULL: no-op. */
void ticker_stop(ticker *t);

#endif
