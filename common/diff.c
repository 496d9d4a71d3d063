/*
 * diff.c: see diff.h. Lines are compared with Myers' O((N+M)D) algorithm
 * ("An O(ND) Difference Algorithm and Its Variations", 1986) after the
 * common head and tail are set aside; past DIFF_MAX_D edits it stops looking
 * for the shortest script and replaces the middle whole, so memory stays
 * bounded (about DIFF_MAX_D^2 longs). Moved here from the CLI's `hotconf
 * diff` so that the server's change requests show the same diffs.
 */
#include "diff.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

typedef struct line {
	const char *p;
	size_t n;   /* without the newline */
	int no_eol; /* the file's last line, with no newline after it */
	unsigned hash;
} line;

typedef struct lines {
	line *v;
	size_t n;
} lines;

enum op_kind { OP_EQ, OP_DEL, OP_INS };

typedef struct op {
	enum op_kind kind;
	size_t a, b; /* line index in a (EQ, DEL) and in b (EQ, INS) */
} op;

typedef struct ops {
	op *v;
	size_t n, alloc;
} ops;

static void split(const char *s, size_t n, lines *out)
{
	size_t i = 0, alloc = 16;

	out->v = xmalloc(alloc * sizeof(*out->v));
	out->n = 0;
	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (s + i)) : n - i, k;
		line *l;
		if (out->n == alloc) {
			alloc *= 2;
			out->v = xrealloc(out->v, alloc * sizeof(*out->v));
		}
		l = &out->v[out->n++];
		l->p = s + i;
		l->n = len;
		l->no_eol = !nl;
		l->hash = 2166136261u;
		for (k = 0; k < len; k++)
			l->hash = (l->hash ^ (unsigned char)l->p[k]) * 16777619u;
		i += len + (nl ? 1 : 0);
	}
}

static int same(const line *x, const line *y)
{
	return x->hash == y->hash && x->n == y->n && x->no_eol == y->no_eol &&
	       !memcmp(x->p, y->p, x->n);
}

static void push(ops *o, enum op_kind kind, size_t a, size_t b)
{
	if (o->n == o->alloc) {
		o->alloc = o->alloc ? o->alloc * 2 : 64;
		o->v = xrealloc(o->v, o->alloc * sizeof(*o->v));
	}
	o->v[o->n].kind = kind;
	o->v[o->n].a = a;
	o->v[o->n].b = b;
	o->n++;
}

/*
 * The shortest edit script from a[a0..a0+n) to b[b0..b0+m), appended to o in
 * order; -1 (nothing appended) when it needs more than DIFF_MAX_D edits. trace
 * keeps V as it was before each round d, over k in [-d-1, d+1].
 */
static int myers(const lines *a, size_t a0, long n, const lines *b, size_t b0, long m, ops *o)
{
	long max = n + m < DIFF_MAX_D ? n + m : DIFF_MAX_D, d, k, x, y, found = -1;
	long *v = xcalloc((size_t)(2 * max + 3), sizeof(long)), off = max + 1;
	long **trace = xcalloc((size_t)max + 1, sizeof(*trace));
	ops rev = {0};
	size_t i;

	for (d = 0; d <= max && found < 0; d++) {
		trace[d] = xmalloc((size_t)(2 * d + 3) * sizeof(long));
		memcpy(trace[d], v + off - d - 1, (size_t)(2 * d + 3) * sizeof(long));
		for (k = -d; k <= d; k += 2) {
			if (k == -d || (k != d && v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			y = x - k;
			while (x < n && y < m &&
			       same(&a->v[a0 + (size_t)x], &b->v[b0 + (size_t)y])) {
				x++;
				y++;
			}
			v[off + k] = x;
			if (x >= n && y >= m) {
				found = d;
				break;
			}
		}
	}
	if (found >= 0) {
		x = n;
		y = m;
		for (d = found; d >= 0; d--) {
			long *t = trace[d] + d + 1; /* t[k] for k in [-d-1, d+1] */
			long pk, px, py;
			k = x - y;
			pk = (k == -d || (k != d && t[k - 1] < t[k + 1])) ? k + 1 : k - 1;
			px = d ? t[pk] : 0;
			py = d ? px - pk : 0;
			while (x > px && y > py) {
				x--;
				y--;
				push(&rev, OP_EQ, a0 + (size_t)x, b0 + (size_t)y);
			}
			if (d == 0)
				break;
			if (x == px)
				push(&rev, OP_INS, a0 + (size_t)x, b0 + (size_t)--y);
			else
				push(&rev, OP_DEL, a0 + (size_t)--x, b0 + (size_t)y);
		}
		for (i = rev.n; i-- > 0;)
			push(o, rev.v[i].kind, rev.v[i].a, rev.v[i].b);
	}
	for (d = 0; d <= max; d++)
		free(trace[d]);
	free(trace);
	free(v);
	free(rev.v);
	return found >= 0 ? 0 : -1;
}

/* The edit script from a to b: head, Myers' middle (or a whole replacement), tail. */
static void diff_lines(const lines *a, const lines *b, ops *o)
{
	size_t head = 0, tail = 0, i;

	while (head < a->n && head < b->n && same(&a->v[head], &b->v[head]))
		head++;
	while (tail < a->n - head && tail < b->n - head &&
	       same(&a->v[a->n - 1 - tail], &b->v[b->n - 1 - tail]))
		tail++;
	for (i = 0; i < head; i++)
		push(o, OP_EQ, i, i);
	if (myers(a, head, (long)(a->n - head - tail), b, head, (long)(b->n - head - tail), o)) {
		for (i = head; i < a->n - tail; i++)
			push(o, OP_DEL, i, head);
		for (i = head; i < b->n - tail; i++)
			push(o, OP_INS, a->n - tail, i);
	}
	for (i = 0; i < tail; i++)
		push(o, OP_EQ, a->n - tail + i, b->n - tail + i);
}

/* Appends one line of a hunk; the first refused append's error, else HC_OK. */
static hc_err emit_line(sbuf *out, const diff_colors *c, char sign, const line *l)
{
	const char *on = sign == '-' ? c->del : sign == '+' ? c->ins : "";
	hc_err err = sbuf_addf(out, "%s%c", on, sign);

	if (!err)
		err = sbuf_add(out, l->p, l->n);
	if (!err)
		err = sbuf_addf(out, "%s\n", *on ? c->reset : "");
	if (!err && l->no_eol)
		err = sbuf_addstr(out, "\\ No newline at end of file\n");
	return err;
}

/* Appends the "@@ -as,an +bs,bn @@" line (a count of 1 left out). */
static hc_err emit_frag(sbuf *out, const diff_colors *c, size_t as, size_t an, size_t bs, size_t bn)
{
	hc_err err = sbuf_addf(out, "%s@@ -%zu", c->frag, as);

	if (!err && an != 1)
		err = sbuf_addf(out, ",%zu", an);
	if (!err)
		err = sbuf_addf(out, " +%zu", bs);
	if (!err && bn != 1)
		err = sbuf_addf(out, ",%zu", bn);
	if (!err)
		err = sbuf_addf(out, " @@%s\n", c->reset);
	return err;
}

/* Writes the hunks of o (a script from a to b) in unified form, stopping at
 * the first append out refuses. */
static void unified(const lines *a, const lines *b, const ops *o, const diff_colors *c, sbuf *out)
{
	size_t i = 0, j;
	hc_err err = HC_OK;

	while (i < o->n && !err) {
		size_t first, last, start, end, an = 0, bn = 0;
		while (i < o->n && o->v[i].kind == OP_EQ)
			i++;
		if (i == o->n)
			break;
		first = last = i;
		/* Take in later changes no more than 2 * DIFF_CONTEXT equal lines away. */
		for (j = i + 1; j < o->n; j++) {
			if (o->v[j].kind == OP_EQ)
				continue;
			if (j - last - 1 > 2 * DIFF_CONTEXT)
				break;
			last = j;
		}
		start = first >= DIFF_CONTEXT ? first - DIFF_CONTEXT : 0;
		end = last + 1 + DIFF_CONTEXT < o->n ? last + 1 + DIFF_CONTEXT : o->n;
		for (j = start; j < end; j++) {
			an += o->v[j].kind != OP_INS;
			bn += o->v[j].kind != OP_DEL;
		}
		err = emit_frag(out, c, o->v[start].a + (an ? 1 : 0), an,
				o->v[start].b + (bn ? 1 : 0), bn);
		for (j = start; j < end && !err; j++) {
			const op *p = &o->v[j];
			if (p->kind == OP_EQ)
				err = emit_line(out, c, ' ', &a->v[p->a]);
			else if (p->kind == OP_DEL)
				err = emit_line(out, c, '-', &a->v[p->a]);
			else
				err = emit_line(out, c, '+', &b->v[p->b]);
		}
		i = end;
	}
}

size_t diff_unified(const char *a, size_t na, const char *b, size_t nb, const diff_colors *c,
		    sbuf *out)
{
	static const diff_colors plain = {"", "", "", ""};
	lines la = {0}, lb = {0};
	ops o = {0};
	size_t i, changed = 0;

	split(a ? a : "", na, &la);
	split(b ? b : "", nb, &lb);
	diff_lines(&la, &lb, &o);
	for (i = 0; i < o.n; i++)
		changed += o.v[i].kind != OP_EQ;
	if (changed)
		unified(&la, &lb, &o, c ? c : &plain, out);
	free(la.v);
	free(lb.v);
	free(o.v);
	return changed;
}
