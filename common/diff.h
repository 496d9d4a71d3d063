/*
 * diff: a unified line diff (as `diff -u` writes it, without the ---/+++
 * header) for `hotconf diff` and the server's change requests. Lines are
 * compared with Myers' O((N+M)D) algorithm after the common head and tail are
 * set aside; past DIFF_MAX_D edits it stops looking for the shortest script
 * and replaces the middle whole, so memory stays bounded (about
 * DIFF_MAX_D^2 longs, plus a few words per input line). Pure functions; any
 * thread, as long as each out is used by one thread.
 */
#ifndef HC_DIFF_H
#define HC_DIFF_H

#include <stddef.h>

#include "sbuf.h"

#define DIFF_CONTEXT 3
#define DIFF_MAX_D 2000

/* Terminal colours for diff_unified; NULL for none. del and ins go before a
 * removed or added line, frag before each "@@" line; reset follows each of
 * them. The strings are borrowed for the call only; none may be NULL. */
typedef struct diff_colors {
	const char *del, *ins, *frag, *reset;
} diff_colors;

/*
 * Appends to out the hunks ("@@ -a,b +c,d @@" and lines) of a unified diff,
 * three lines of context, from a[na] to b[nb]; appends nothing when they are
 * equal. Returns the number of lines added plus removed (0: equal). Memory
 * stays bounded: past DIFF_MAX_D edits the middle (between the common head
 * and tail) is replaced whole rather than searched further.
 *
 * A count of 1 is left out of the header ("@@ -3 +3 @@"), and a last line
 * with no newline is followed by "\ No newline at end of file". a and b are
 * borrowed for the call and may be NULL when their length is 0. If out has a
 * cap and an append would pass it, writing stops there (out then ends in a
 * cut line or hunk) but the count returned is still the whole diff's.
 */
size_t diff_unified(const char *a, size_t na, const char *b, size_t nb, const diff_colors *c,
		    sbuf *out);

#endif
