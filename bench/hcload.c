/*
 * hcload.c: the command line of hcload, the load generator behind
 * bench/run.sh. It parses flags, refuses any target outside 127.0.0.0/8,
 * raises its own open-file limit, runs one scenario (watchers.c, publish.c,
 * gray.c, reports.c, nacos.c) and prints human lines plus one
 * machine-readable line per result:
 *
 *   RESULT scenario=park-10k target=hotconf metric=wake_last_ms value=12.3 unit=ms better=low
 *
 * Exit status: 0 when the scenario worked, 1 on a functional failure (a
 * watcher not parked or never woken, a wrong wake, a failed request), 2 on a
 * usage error. A slow run is reported, never failed. Single-threaded.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "clock.h"
#include "hcload.h"
#include "md5.h"

static void usage(FILE *to)
{
	fprintf(
	    to,
	    "usage: hcload COMMAND --target hotconf|etcd --addr 127.0.0.1:PORT [flags]\n"
	    "\n"
	    "commands:\n"
	    "  park       open --watchers on --keys (watcher i on key i%%keys), wait until all\n"
	    "             are parked, sample the server's RSS and idle CPU; with --publish,\n"
	    "             publish key 0 once and time every watcher's answer\n"
	    "  reconnect  --watchers connect and send their watch at once; time until all\n"
	    "             are parked\n"
	    "  soak       --watchers re-arm after every wake while --rate publishes/s go to\n"
	    "             the keys for --seconds; check every watcher ends at the final\n"
	    "             version and the RSS drift (hotconf only)\n"
	    "  publish    durable publishes of --size bytes from --concurrency clients,\n"
	    "             --count in all or for --seconds\n"
	    "  gray       --watchers instances (own ids and labels) on config PREFIX0 and\n"
	    "             --ref-watchers on PREFIX1; per --rounds: publish PREFIX1 (the\n"
	    "             reference), a 10%% gray rule on PREFIX0, its abort, the rule again\n"
	    "             and its promote, each answering exactly the predicted instances\n"
	    "  reports    --watchers instances hold a many-config watch on PREFIX0; per\n"
	    "             --rounds two publishes, re-armed plainly (the reference) and with\n"
	    "             \"status\":\"applied\"; each timed until all are held again, and\n"
	    "             the reports checked in /metrics and the listeners view\n"
	    "  nacos      per --rounds, --watchers Nacos v1 listeners (POST\n"
	    "             /nacos/v1/cs/configs/listener) on PREFIX0, then as many native\n"
	    "             watches (GET ?wait=), each kind on fresh connections, woken by one\n"
	    "             publish and timed to its last answer, the order alternating;\n"
	    "             server RSS per listener in the first phase (hotconf only)\n"
	    "  pattern    as nacos, with pattern watches of PREFIX0's group (POST\n"
	    "             /api/v1/watch with {\"namespace\",\"group\",\"known\"}) in place of\n"
	    "             the Nacos listeners (hotconf only)\n"
	    "  seed       publish keys PREFIX0..PREFIX(keys-1) with --size bytes each\n"
	    "  ping       wait until the server answers (hotconf /healthz, etcd /version)\n"
	    "\n"
	    "flags:\n"
	    "  --target hotconf|etcd  the server's API (hotconf)\n"
	    "  --addr HOST:PORT       the server; 127.0.0.0/8 only\n"
	    "  --pid PID              the server's pid, for RSS and CPU from /proc\n"
	    "  --token T              hotconf: send Authorization: Bearer T\n"
	    "  --name NAME            scenario name in RESULT lines (the command)\n"
	    "  --watchers N           long polls to hold (1000; soak, gray, reports, nacos\n"
	    "                         10000)\n"
	    "  --ref-watchers N       gray: watchers of the reference config (watchers/10)\n"
	    "  --rounds N             gray, reports, nacos: rounds (5)\n"
	    "  --first nacos|pattern|native\n"
	    "                         nacos, pattern: the kind of the first phase (not native)\n"
	    "  --keys M               keys they watch (1; soak 10)\n"
	    "  --publish              park: publish key 0 once all are parked\n"
	    "  --count N              publish: requests in all (default: --seconds)\n"
	    "  --seconds S            publish: run time (5); soak: run time (600)\n"
	    "  --concurrency C        publish: clients, one request in flight each (1)\n"
	    "  --size BYTES           published content size (1024)\n"
	    "  --etcd-api v2|v3       publish: etcd's v2 keys API or the v3 gateway (v2)\n"
	    "  --per-source N         connections per source address 127.0.0.2.. (10000)\n"
	    "  --window N             park: watches sent but not yet parked (2000)\n"
	    "  --idle-seconds S       park: idle CPU sample length (3)\n"
	    "  --timeout S            hard limit of every phase (60)\n"
	    "  --grace-ms MS          park: wait this long after the last wake for wrong\n"
	    "                         wakes (300)\n"
	    "  --rate R               soak: publishes per second (1)\n"
	    "  --wait DURATION        hotconf long-poll wait (120s; the server caps it)\n"
	    "  --prefix P             key names P0, P1, ... (k; publish: pub; gray: gray;\n"
	    "                         reports: rep; nacos: nc)\n"
	    "  --quiet                print RESULT lines only\n");
}

uint64_t hl_now_us(void)
{
	return clock_mono_us();
}

const char *hl_target_name(hl_target t)
{
	return t == HL_HOTCONF ? "hotconf" : "etcd";
}

void hl_say(const hl_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	printf("hcload %s %s: ", o->name, hl_target_name(o->target));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void hl_result(const hl_opts *o, const char *metric, double value, const char *unit,
	       const char *better)
{
	printf("RESULT scenario=%s target=%s metric=%s value=%.3f unit=%s better=%s\n", o->name,
	       hl_target_name(o->target), metric, value, unit, better);
	fflush(stdout);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void hl_sort_u64(uint64_t *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t hl_pct(const uint64_t *v, size_t n, double p)
{
	size_t rank;

	if (!n)
		return 0;
	/* Nearest rank: the smallest value with at least p% at or below it. */
	rank = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

double hl_median_ms(uint64_t *v, size_t n)
{
	if (!n)
		return -1;
	hl_sort_u64(v, n);
	if (n % 2)
		return v[n / 2] / 1000.0;
	return (v[n / 2 - 1] + v[n / 2]) / 2000.0;
}

long hl_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 10000000 ? 10000000
								      : (long)rl.rlim_cur;
}

void hl_key_name(const hl_opts *o, long i, char out[64])
{
	snprintf(out, 64, "%.40s%ld", o->prefix, i);
}

int hl_seed(const hl_opts *o, hl_net *net, hl_conn *c, long nkeys, char (*md5s)[33])
{
	sbuf content = SBUF_INIT(SBUF_NOMAX), req = SBUF_INIT(SBUF_NOMAX);
	int rc = 0, status;
	long i;

	for (i = 0; i < nkeys; i++) {
		char key[64];

		hl_key_name(o, i, key);
		sbuf_reset(&content);
		sbuf_reset(&req);
		hl_content(&content, (size_t)o->size, "seed", (uint64_t)i);
		hl_req_put(o, &req, key, content.buf, content.len);
		status = hl_roundtrip(net, c, req.buf, req.len, (int)(o->timeout * 1000));
		if (status != 200 && status != 201) {
			fprintf(stderr, "hcload: publishing %s failed (status %d): %.200s\n", key,
				status, c->body.buf);
			rc = -1;
			break;
		}
		if (md5s)
			md5_hex(content.buf, content.len, md5s[i]);
	}
	sbuf_release(&content);
	sbuf_release(&req);
	return rc;
}

int hl_seed_cmd(const hl_opts *o)
{
	hl_net *net = hl_net_new(o);
	hl_conn c;
	int rc;

	if (!net)
		return 1;
	hl_conn_init(&c);
	c.keep_body = 1;
	rc = hl_seed(o, net, &c, o->keys, NULL) ? 1 : 0;
	if (!rc)
		hl_say(o, "published %ld keys of %ld bytes", o->keys, o->size);
	hl_conn_release(net, &c);
	hl_net_free(net);
	return rc;
}

int hl_ping(const hl_opts *o)
{
	uint64_t until = hl_now_us() + (uint64_t)(o->timeout * 1e6);
	hl_net *net = hl_net_new(o);
	sbuf req = SBUF_INIT(SBUF_NOMAX);
	hl_conn c;
	int status = -1, tries;

	if (!net)
		return 1;
	hl_conn_init(&c);
	hl_req_get(o, &req, o->target == HL_HOTCONF ? "/healthz" : "/version");
	for (tries = 0; tries < 100000 && hl_now_us() < until; tries++) {
		struct timespec pause = {0, 50 * 1000000L};

		status = hl_roundtrip(net, &c, req.buf, req.len, 2000);
		if (status == 200)
			break;
		hl_conn_close(net, &c, 1);
		nanosleep(&pause, NULL);
	}
	if (status == 200)
		hl_say(o, "up");
	else
		fprintf(stderr, "hcload: %s at %s does not answer\n", hl_target_name(o->target),
			o->host);
	hl_conn_release(net, &c);
	hl_net_free(net);
	sbuf_release(&req);
	return status == 200 ? 0 : 1;
}

/* ---- flags ---- */

static int parse_addr(const char *v, hl_opts *o)
{
	const char *colon = strrchr(v, ':');
	char host[64];
	long port;
	char *end;

	if (!colon || colon == v || (size_t)(colon - v) >= sizeof(host))
		return -1;
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = '\0';
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	memset(&o->addr, 0, sizeof(o->addr));
	o->addr.sin_family = AF_INET;
	o->addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &o->addr.sin_addr) != 1)
		return -1;
	/* Load goes to this machine's loopback range and nowhere else. */
	if ((ntohl(o->addr.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "hcload: refusing %s: only 127.0.0.0/8 may be a target\n", v);
		return -1;
	}
	snprintf(o->host, sizeof(o->host), "%s:%ld", host, port);
	return 0;
}

static int num(const char *flag, const char *v, double min, double max, double *out)
{
	char *end;
	double d = strtod(v, &end);

	if (end == v || *end || d < min || d > max) {
		fprintf(stderr, "hcload: %s '%s' must be a number from %g to %g\n", flag, v, min,
			max);
		return -1;
	}
	*out = d;
	return 0;
}

static int lnum(const char *flag, const char *v, long min, long max, long *out)
{
	double d;

	if (num(flag, v, (double)min, (double)max, &d))
		return -1;
	*out = (long)d;
	return 0;
}

static void defaults(hl_opts *o, const char *cmd)
{
	int soak = !strcmp(cmd, "soak"), gray = !strcmp(cmd, "gray"), rep = !strcmp(cmd, "reports");
	int nacos = !strcmp(cmd, "nacos"), pattern = !strcmp(cmd, "pattern");

	memset(o, 0, sizeof(*o));
	o->cmd = o->name = cmd;
	o->watchers = soak || gray || rep || nacos || pattern ? 10000 : 1000;
	o->keys = soak ? 10 : 1;
	o->seconds = soak ? 600 : 5;
	o->concurrency = 1;
	o->size = 1024;
	o->per_source = 10000;
	o->window = 2000;
	o->idle_seconds = 3;
	o->timeout = 60;
	o->grace_ms = 300;
	o->rounds = 5;
	o->rate = 1;
	o->wait = "120s";
	o->prefix = !strcmp(cmd, "publish") ? "pub"
		    : gray		    ? "gray"
		    : rep		    ? "rep"
		    : nacos		    ? "nc"
		    : pattern		    ? "pt"
					    : "k";
}

static int parse_flag(hl_opts *o, const char *f, const char *v)
{
	if (!strcmp(f, "--target")) {
		if (!strcmp(v, "hotconf"))
			o->target = HL_HOTCONF;
		else if (!strcmp(v, "etcd"))
			o->target = HL_ETCD;
		else
			return -1;
		return 0;
	}
	if (!strcmp(f, "--addr"))
		return parse_addr(v, o);
	if (!strcmp(f, "--first")) {
		if (strcmp(v, "nacos") && strcmp(v, "pattern") && strcmp(v, "native"))
			return -1;
		o->first_native = !strcmp(v, "native");
		return 0;
	}
	if (!strcmp(f, "--etcd-api")) {
		if (strcmp(v, "v2") && strcmp(v, "v3"))
			return -1;
		o->etcd_v3 = !strcmp(v, "v3");
		return 0;
	}
	if (!strcmp(f, "--name"))
		return (o->name = v), 0;
	if (!strcmp(f, "--token"))
		return strlen(v) > 160 ? -1
				       : (snprintf(o->authz, sizeof(o->authz),
						   "Authorization: Bearer %s\r\n", v),
					  0);
	if (!strcmp(f, "--wait"))
		return (o->wait = v), 0;
	if (!strcmp(f, "--prefix"))
		return strlen(v) > 40 ? -1 : ((o->prefix = v), 0);
	if (!strcmp(f, "--pid"))
		return lnum(f, v, 1, 1L << 30, &o->pid);
	if (!strcmp(f, "--watchers"))
		return lnum(f, v, 1, 1000000, &o->watchers);
	if (!strcmp(f, "--keys"))
		return lnum(f, v, 1, 100000, &o->keys);
	if (!strcmp(f, "--count"))
		return lnum(f, v, 0, 100000000, &o->count);
	if (!strcmp(f, "--concurrency"))
		return lnum(f, v, 1, 10000, &o->concurrency);
	if (!strcmp(f, "--size"))
		return lnum(f, v, 48, 4L << 20, &o->size);
	if (!strcmp(f, "--per-source"))
		return lnum(f, v, 1, 28000, &o->per_source);
	if (!strcmp(f, "--window"))
		return lnum(f, v, 1, 1000000, &o->window);
	if (!strcmp(f, "--ref-watchers"))
		return lnum(f, v, 1, 1000000, &o->refs);
	if (!strcmp(f, "--rounds"))
		return lnum(f, v, 1, 1000, &o->rounds);
	if (!strcmp(f, "--grace-ms"))
		return lnum(f, v, 0, 600000, &o->grace_ms);
	if (!strcmp(f, "--seconds"))
		return num(f, v, 0.1, 86400, &o->seconds);
	if (!strcmp(f, "--idle-seconds"))
		return num(f, v, 0, 600, &o->idle_seconds);
	if (!strcmp(f, "--timeout"))
		return num(f, v, 0.1, 3600, &o->timeout);
	if (!strcmp(f, "--rate"))
		return num(f, v, 0.01, 1000, &o->rate);
	fprintf(stderr, "hcload: unknown flag %s\n", f);
	return -1;
}

static int parse_flags(int argc, char **argv, hl_opts *o)
{
	int i, have_addr = 0;

	defaults(o, argv[1]);
	for (i = 2; i < argc; i++) {
		const char *f = argv[i];

		if (!strcmp(f, "--publish")) {
			o->publish = 1;
			continue;
		}
		if (!strcmp(f, "--quiet")) {
			o->quiet = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "hcload: %s needs a value\n", f);
			return -1;
		}
		if (parse_flag(o, f, argv[i + 1])) {
			fprintf(stderr, "hcload: bad value '%s' for %s (see --help)\n", argv[i + 1],
				f);
			return -1;
		}
		have_addr |= !strcmp(f, "--addr");
		i++;
	}
	if (!have_addr) {
		fprintf(stderr, "hcload: --addr 127.0.0.1:PORT is required\n");
		return -1;
	}
	if (o->keys > o->watchers && strcmp(o->cmd, "seed"))
		o->keys = o->watchers;
	if (!strcmp(o->cmd, "gray") && !o->refs)
		o->refs = o->watchers >= 10 ? o->watchers / 10 : 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const hl_opts *);
	} cmds[] = {{"park", hl_park},	     {"reconnect", hl_reconnect}, {"soak", hl_soak},
		    {"publish", hl_publish}, {"gray", hl_gray},		  {"reports", hl_reports},
		    {"nacos", hl_nacos},     {"pattern", hl_nacos},	  {"seed", hl_seed_cmd},
		    {"ping", hl_ping}};
	hl_opts o;
	long nofile;
	size_t i;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "selftest")) {
		int bad = hl_http_selftest();
		printf("hcload selftest: %s\n", bad ? "FAILED" : "passed");
		return bad;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		fprintf(stderr, "hcload: unknown command %s (see --help)\n", argv[1]);
		return 2;
	}
	if (parse_flags(argc, argv, &o))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	nofile = hl_raise_nofile();
	/* Watchers, plus the control and publish connections, epoll, stdio. */
	if (o.watchers + o.refs + 16 > nofile && strcmp(o.cmd, "publish") &&
	    strcmp(o.cmd, "seed")) {
		fprintf(stderr, "hcload: %ld watchers need more than the %ld open files allowed\n",
			o.watchers + o.refs, nofile);
		return 2;
	}
	if (o.concurrency + 16 > nofile) {
		fprintf(stderr, "hcload: %ld clients need more than the %ld open files allowed\n",
			o.concurrency, nofile);
		return 2;
	}
	return cmds[i].run(&o);
}
