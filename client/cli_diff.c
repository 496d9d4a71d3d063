/*
 * cli_diff.c: `hotconf diff NS/GROUP/DATAID V1 [V2]`: a unified diff (three
 * lines of context) between two versions of a config, or a version and the
 * current content, coloured on a terminal. Lines are compared with Myers'
 * O((N+M)D) algorithm ("An O(ND) Difference Algorithm and Its Variations",
 * 1986) after the common head and tail are set aside; past MAX_D edits it
 * stops looking for the shortest script and replaces the middle whole, so
 * memory stays bounded (about MAX_D^2 ints). Single-threaded.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "xmalloc.h"

#define CONTEXT 3
#define MAX_D 2000

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
 * order; -1 (nothing appended) when it needs more than MAX_D edits. trace
 * keeps V as it was before each round d, over k in [-d-1, d+1].
 */
static int myers(const lines *a, size_t a0, long n, const lines *b, size_t b0, long m, ops *o)
{
	long max = n + m < MAX_D ? n + m : MAX_D, d, k, x, y, found = -1;
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

typedef struct colors {
	const char *meta, *frag, *del, *ins, *reset;
} colors;

static void emit_line(sbuf *out, const colors *c, char sign, const line *l)
{
	const char *on = sign == '-' ? c->del : sign == '+' ? c->ins : "";

	sbuf_addf(out, "%s%c", on, sign);
	sbuf_add(out, l->p, l->n);
	sbuf_addf(out, "%s\n", *on ? c->reset : "");
	if (l->no_eol)
		sbuf_addstr(out, "\\ No newline at end of file\n");
}

/* Writes the hunks of o (a script from a to b) in unified form. */
static void unified(const lines *a, const lines *b, const ops *o, const colors *c, sbuf *out)
{
	size_t i = 0, j;

	while (i < o->n) {
		size_t first, last, start, end, an = 0, bn = 0, as, bs;
		while (i < o->n && o->v[i].kind == OP_EQ)
			i++;
		if (i == o->n)
			break;
		first = last = i;
		/* Take in later changes no more than 2 * CONTEXT equal lines away. */
		for (j = i + 1; j < o->n; j++) {
			if (o->v[j].kind == OP_EQ)
				continue;
			if (j - last - 1 > 2 * CONTEXT)
				break;
			last = j;
		}
		start = first >= CONTEXT ? first - CONTEXT : 0;
		end = last + 1 + CONTEXT < o->n ? last + 1 + CONTEXT : o->n;
		for (j = start; j < end; j++) {
			an += o->v[j].kind != OP_INS;
			bn += o->v[j].kind != OP_DEL;
		}
		as = o->v[start].a + (an ? 1 : 0);
		bs = o->v[start].b + (bn ? 1 : 0);
		sbuf_addf(out, "%s@@ -%zu", c->frag, as);
		if (an != 1)
			sbuf_addf(out, ",%zu", an);
		sbuf_addf(out, " +%zu", bs);
		if (bn != 1)
			sbuf_addf(out, ",%zu", bn);
		sbuf_addf(out, " @@%s\n", c->reset);
		for (j = start; j < end; j++) {
			const op *p = &o->v[j];
			if (p->kind == OP_EQ)
				emit_line(out, c, ' ', &a->v[p->a]);
			else if (p->kind == OP_DEL)
				emit_line(out, c, '-', &a->v[p->a]);
			else
				emit_line(out, c, '+', &b->v[p->b]);
		}
		i = end;
	}
}

static int b64_val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Decodes standard base64 into out, stopping at '=' or a bad byte. */
static void b64_decode(const char *s, sbuf *out)
{
	unsigned acc = 0;
	int bits = 0, v;

	for (; *s && (v = b64_val((unsigned char)*s)) >= 0; s++) {
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			sbuf_addch(out, (char)((acc >> bits) & 0xff));
		}
	}
}

/* The content of one version (history entry) into out. */
static int fetch_version(cli_ctx *ctx, const char *cfg_path, long long v, sbuf *out)
{
	sbuf p = SBUF_INIT(SBUF_NOMAX);
	hcl_resp r = {0};
	hcl_req rq = {0};
	cJSON *doc, *content;
	int rc;

	sbuf_addf(&p, "%s/history/%lld", cfg_path, v);
	rq.method = "GET";
	rq.path = p.buf;
	rc = cli_call(ctx, &rq, &r);
	if (!rc) {
		doc = cJSON_ParseWithLength(hcl_buf_str(&r.body), r.body.len);
		content = cJSON_GetObjectItemCaseSensitive(doc, "content");
		if (cJSON_IsString(content))
			sbuf_addstr(out, content->valuestring);
		else
			b64_decode(cli_jstr(doc, "contentBase64"), out);
		cJSON_Delete(doc);
	}
	hcl_resp_release(&r);
	sbuf_release(&p);
	return rc;
}

static int parse_version(const char *s, long long *v)
{
	char *end;

	if (!s || *s < '1' || *s > '9')
		return -1;
	*v = strtoll(s, &end, 10);
	return *end ? -1 : 0;
}

static int want_color(const char *when)
{
	const char *term = getenv("TERM"), *no = getenv("NO_COLOR");

	if (!when || !strcmp(when, "auto"))
		return isatty(STDOUT_FILENO) && !(no && *no) && !(term && !strcmp(term, "dumb"));
	return !strcmp(when, "always") ? 1 : 0;
}

int cli_cmd_diff(cli_ctx *ctx, int argc, char **argv)
{
	const char *when = NULL;
	const cli_opt opts[] = {
	    {"color", 0, "WHEN", "auto (on a terminal, unless NO_COLOR is set), always or never",
	     &when, NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	static const colors plain = {"", "", "", "", ""};
	static const colors ansi = {"\033[1m", "\033[36m", "\033[31m", "\033[32m", "\033[m"};
	char ns[HCL_NAME_MAX + 1], group[HCL_NAME_MAX + 1], id[HCL_NAME_MAX + 1];
	sbuf cp = SBUF_INIT(SBUF_NOMAX), a = SBUF_INIT(HCL_MAX_BODY), b = SBUF_INIT(HCL_MAX_BODY);
	sbuf out = SBUF_INIT(SBUF_NOMAX), to_label = SBUF_INIT(SBUF_NOMAX);
	lines la = {0}, lb = {0};
	ops o = {0};
	long long v1, v2 = 0;
	const colors *c;
	size_t i;
	int rc = cli_parse(ctx, argc, argv, opts);

	if (rc)
		return rc;
	if (when && strcmp(when, "auto") && strcmp(when, "always") && strcmp(when, "never"))
		return cli_usage(ctx, "--color is auto, always or never");
	if (ctx->npos < 2 || ctx->npos > 3)
		return cli_usage(ctx, "give NAMESPACE/GROUP/DATAID V1 [V2]");
	if ((rc = cli_key(ctx, ctx->pos[0], ns, group, id)))
		return rc;
	if (parse_version(ctx->pos[1], &v1) || (ctx->npos == 3 && parse_version(ctx->pos[2], &v2)))
		return cli_usage(ctx, "versions are positive integers");
	c = want_color(when) && !ctx->json ? &ansi : &plain;
	sbuf_addf(&cp, "/api/v1/configs/%s/%s/%s", ns, group, id);
	rc = fetch_version(ctx, cp.buf, v1, &a);
	if (!rc && v2) {
		rc = fetch_version(ctx, cp.buf, v2, &b);
		sbuf_addf(&to_label, "%s/%s/%s@%lld", ns, group, id, v2);
	} else if (!rc) {
		hcl_resp r = {0};
		hcl_req rq = {0};
		rq.method = "GET";
		rq.path = cp.buf;
		rc = cli_call(ctx, &rq, &r);
		if (!rc) {
			sbuf_add(&b, hcl_buf_str(&r.body), r.body.len);
			v2 = r.version;
			sbuf_addf(&to_label, "%s/%s/%s@%lld (current)", ns, group, id, v2);
		}
		hcl_resp_release(&r);
	}
	if (rc)
		goto out;
	split(a.buf, a.len, &la);
	split(b.buf, b.len, &lb);
	diff_lines(&la, &lb, &o);
	for (i = 0; i < o.n && o.v[i].kind == OP_EQ; i++)
		;
	if (i < o.n) {
		sbuf_addf(&out, "%s--- %s/%s/%s@%lld%s\n", c->meta, ns, group, id, v1, c->reset);
		sbuf_addf(&out, "%s+++ %s%s\n", c->meta, to_label.buf, c->reset);
		unified(&la, &lb, &o, c, &out);
	}
	if (ctx->json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "namespace", ns);
		cJSON_AddStringToObject(j, "group", group);
		cJSON_AddStringToObject(j, "dataId", id);
		cJSON_AddNumberToObject(j, "from", (double)v1);
		cJSON_AddNumberToObject(j, "to", (double)v2);
		cJSON_AddBoolToObject(j, "same", out.len == 0);
		cJSON_AddStringToObject(j, "diff", out.buf);
		cli_print_json(j);
	} else {
		fwrite(out.buf, 1, out.len, stdout);
	}
out:
	free(la.v);
	free(lb.v);
	free(o.v);
	sbuf_release(&cp);
	sbuf_release(&a);
	sbuf_release(&b);
	sbuf_release(&out);
	sbuf_release(&to_label);
	return rc;
}
