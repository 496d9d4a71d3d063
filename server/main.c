/*
 * main.c: the hotconf command line. `hotconf serve [flags]` starts the server
 * and runs until SIGTERM or SIGINT, then stops it cleanly and exits 0. Every
 * other command (get, put, watch, ...) is the client's: client/cli.c.
 * Single-threaded until srv_start; signals are blocked in every thread and
 * taken here with sigwait.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gitmirror.h"
#include "hc_cli.h"
#include "hc_log.h"
#include "srv.h"
#include "srv_internal.h"

#define HOTCONF_VERSION "0.1.0"

static void usage(FILE *to)
{
	fprintf(
	    to,
	    "usage: hotconf serve [--listen HOST:PORT] [--data DIR] [--port-file FILE]\n"
	    "                     [--max-content BYTES] [--max-wait DURATION]\n"
	    "                     [--retention-days D] [--retention-versions N]\n"
	    "                     [--audit-retention-days D]\n"
	    "                     [--prune-interval DURATION] [--trusted-proxy CIDR]...\n"
	    "                     [--threads N] [--conn-memory BYTES] [--watch-conn-memory BYTES]\n"
	    "                     [--read-deadline DURATION]\n"
	    "                     [--max-client-connections N] [--max-client-watch-memory BYTES]\n"
	    "                     [--init] [--auth=off] [--metrics-public] [--session-ttl "
	    "DURATION]\n"
	    "                     [--tls-cert FILE --tls-key FILE]\n"
	    "                     [--max-listeners N] [--listener-grace DURATION]\n"
	    "                     [--max-pattern-configs N]\n"
	    "                     [--rollout-min-interval DURATION] [--git-mirror DIR]\n"
	    "                     [--git-source URL|PATH [--git-ref REF] [--git-path DIR]\n"
	    "                      [--git-interval DURATION]]\n"
	    "       hotconf restore --from-git DIR [--data DIR]\n"
	    "       hotconf version\n"
	    "\n"
	    "  --listen              address to serve on (127.0.0.1:8848; port 0 picks one)\n"
	    "  --data                data directory, holds hotconf.db (./hotconf-data)\n"
	    "  --port-file           write the bound port here once serving\n"
	    "  --max-content         largest config content in bytes (1048576)\n"
	    "  --max-wait            longest long poll, e.g. 120s or 2m (120s)\n"
	    "  --retention-days      keep history younger than this (30)\n"
	    "  --audit-retention-days keep audit entries younger than this (365)\n"
	    "  --retention-versions  always keep this many newest versions per config (50)\n"
	    "  --prune-interval      how often old history is pruned (10m)\n"
	    "  --trusted-proxy       believe X-Forwarded-For from peers in this range\n"
	    "  --threads             HTTP worker threads (4)\n"
	    "  --conn-memory         memory per connection in bytes (20480; heads up to 8 KiB)\n"
	    "  --watch-conn-memory   ...per connection that opens with a long poll of a head up\n"
	    "                        to this less 1 KiB: they park, so they get less (4096)\n"
	    "  --read-deadline       a request head must arrive whole within this (30s)\n"
	    "  --max-client-connections  connections one client address may hold\n"
	    "                        (all but the last 256 of the connection limit)\n"
	    "  --max-client-watch-memory  bytes of waiting watches per client address (256 MiB)\n"
	    "  --init                create a new database even where one was before\n"
	    "  --auth=off            no accounts: everything open (local experiments only)\n"
	    "  --metrics-public      GET /metrics without a credential\n"
	    "  --session-ttl         how long a console login lasts (720m)\n"
	    "  --tls-cert, --tls-key serve HTTPS with this PEM certificate and key\n"
	    "  --max-listeners       instances x configs the listeners view remembers, the\n"
	    "                        least recently seen forgotten first; 0: none (100000)\n"
	    "  --listener-grace      an instance not seen for its wait and this is gone (60s)\n"
	    "  --max-pattern-configs the most configs a pattern watch (a group or namespace)\n"
	    "                        may cover; more is 413 (1000)\n"
	    "  --rollout-min-interval the shortest step interval a rollout plan may ask (1s;\n"
	    "                        tests set it lower)\n"
	    "  --git-mirror          commit every change to this bare git repository (made if\n"
	    "                        missing); restore --from-git rebuilds a new data dir from it\n"
	    "  --git-source          publish the namespaces in this repository's tree (a URL\n"
	    "                        libgit2 fetches, or a local path); they are read-only here\n"
	    "  --git-ref             the branch (or full ref) to follow (main)\n"
	    "  --git-path            the folder of the tree that holds the namespaces (the root)\n"
	    "  --git-interval        how often the source is fetched (30s)\n"
	    "  --test-faults         for tests only: POST /api/v1/debug/faults fails the store\n");
}

/* Parses a positive integer flag value within [min, max]. */
static int int_flag(const char *name, const char *v, int64_t min, int64_t max, int64_t *out)
{
	if (val_int(v, out) || *out < min || *out > max) {
		fprintf(stderr, "hotconf: %s '%s' is invalid: use an integer from %lld to %lld\n",
			name, v, (long long)min, (long long)max);
		return -1;
	}
	return 0;
}

static int dur_flag(const char *name, const char *v, uint64_t *out)
{
	sbuf why = SBUF_INIT(256);
	int bad = val_duration(v, out, &why) != HC_OK || *out == 0;

	if (bad)
		fprintf(stderr, "hotconf: %s '%s' is invalid: use e.g. 500ms, 30s or 2m\n", name,
			v);
	sbuf_release(&why);
	return bad ? -1 : 0;
}

static int parse_flags(int argc, char **argv, srv_config *cfg)
{
	int i;
	int64_t n;

	for (i = 2; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(f, "--auth=off") || !strcmp(f, "--auth=on")) {
			cfg->auth_off = !strcmp(f, "--auth=off");
			continue;
		}
		if (!strcmp(f, "--metrics-public")) {
			cfg->metrics_public = 1;
			continue;
		}
		if (!strcmp(f, "--init")) {
			cfg->init = 1;
			continue;
		}
		if (!strcmp(f, "--test-faults")) {
			/* Tests only: lets POST /api/v1/debug/faults fail the store. */
			cfg->test_faults = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "hotconf: %s needs a value (see --help)\n", f);
			return -1;
		}
		i++;
		if (!strcmp(f, "--listen")) {
			cfg->listen = v;
		} else if (!strcmp(f, "--data")) {
			cfg->data_dir = v;
		} else if (!strcmp(f, "--port-file")) {
			cfg->port_file = v;
		} else if (!strcmp(f, "--max-content")) {
			if (int_flag(f, v, 1, 1LL << 30, &n))
				return -1;
			cfg->max_content = (size_t)n;
		} else if (!strcmp(f, "--max-wait")) {
			if (dur_flag(f, v, &cfg->max_wait_ms))
				return -1;
		} else if (!strcmp(f, "--retention-days")) {
			if (int_flag(f, v, 0, 36500, &cfg->retention_days))
				return -1;
		} else if (!strcmp(f, "--audit-retention-days")) {
			if (int_flag(f, v, 1, 36500, &cfg->audit_retention_days))
				return -1;
		} else if (!strcmp(f, "--retention-versions")) {
			if (int_flag(f, v, 1, 1000000, &cfg->retention_versions))
				return -1;
		} else if (!strcmp(f, "--prune-interval")) {
			if (dur_flag(f, v, &cfg->prune_interval_ms))
				return -1;
		} else if (!strcmp(f, "--threads")) {
			if (int_flag(f, v, 1, 64, &n))
				return -1;
			cfg->threads = (unsigned)n;
		} else if (!strcmp(f, "--conn-memory")) {
			if (int_flag(f, v, 2048, 1 << 20, &n))
				return -1;
			cfg->conn_memory = (size_t)n;
		} else if (!strcmp(f, "--watch-conn-memory")) {
			if (int_flag(f, v, 2048, 1 << 20, &n))
				return -1;
			cfg->watch_conn_memory = (size_t)n;
		} else if (!strcmp(f, "--read-deadline")) {
			if (dur_flag(f, v, &cfg->read_deadline_ms))
				return -1;
		} else if (!strcmp(f, "--max-client-connections")) {
			if (int_flag(f, v, 1, 1000000, &n))
				return -1;
			cfg->max_client_connections = (unsigned)n;
		} else if (!strcmp(f, "--max-client-watch-memory")) {
			if (int_flag(f, v, 0, INT64_MAX / 2, &n))
				return -1;
			cfg->max_client_watch_memory = (size_t)n;
		} else if (!strcmp(f, "--session-ttl")) {
			uint64_t ms;
			if (dur_flag(f, v, &ms))
				return -1;
			cfg->session_ttl_ms = (int64_t)ms;
		} else if (!strcmp(f, "--max-listeners")) {
			if (int_flag(f, v, 0, 100000000, &n))
				return -1;
			cfg->max_listeners = (size_t)n;
		} else if (!strcmp(f, "--max-pattern-configs")) {
			if (int_flag(f, v, 1, WB_MAX_ITEMS, &n))
				return -1;
			cfg->max_pattern_configs = (size_t)n;
		} else if (!strcmp(f, "--listener-grace")) {
			if (dur_flag(f, v, &cfg->listener_grace_ms))
				return -1;
		} else if (!strcmp(f, "--rollout-min-interval")) {
			if (dur_flag(f, v, &cfg->rollout_min_interval_ms))
				return -1;
		} else if (!strcmp(f, "--git-mirror")) {
			cfg->git_mirror = v;
		} else if (!strcmp(f, "--git-source")) {
			cfg->git_source = v;
		} else if (!strcmp(f, "--git-ref")) {
			cfg->git_ref = v;
		} else if (!strcmp(f, "--git-path")) {
			cfg->git_path = v;
		} else if (!strcmp(f, "--git-interval")) {
			if (dur_flag(f, v, &cfg->git_interval_ms))
				return -1;
			if (!cfg->git_interval_ms) {
				fprintf(stderr, "hotconf: --git-interval must be longer than 0\n");
				return -1;
			}
		} else if (!strcmp(f, "--tls-cert")) {
			cfg->tls_cert = v;
		} else if (!strcmp(f, "--tls-key")) {
			cfg->tls_key = v;
		} else if (!strcmp(f, "--trusted-proxy")) {
			if (cfg->ntrusted == SRV_MAX_TRUSTED ||
			    cidr_parse(v, &cfg->trusted[cfg->ntrusted])) {
				fprintf(stderr,
					"hotconf: --trusted-proxy '%s' is invalid: use a CIDR like "
					"10.0.0.0/8 (at most %d)\n",
					v, SRV_MAX_TRUSTED);
				return -1;
			}
			cfg->ntrusted++;
		} else {
			fprintf(stderr, "hotconf: unknown flag %s (see --help)\n", f);
			return -1;
		}
	}
	return 0;
}

/* `hotconf routes`: the route table as JSON lines, one per method, with who
 * may call each: for tests (the authorization matrix reads it, so an
 * endpoint without a row there fails it) and for operators. */
static int print_routes(void)
{
	static const char *const scopes[] = {
	    [SRV_SCOPE_OPEN] = "open",	   [SRV_SCOPE_METRICS] = "metrics",
	    [SRV_SCOPE_NS] = "namespace",  [SRV_SCOPE_NS_EACH] = "namespaces",
	    [SRV_SCOPE_GLOBAL] = "global", [SRV_SCOPE_SELF] = "self",
	    [SRV_SCOPE_PROTO] = "protocol"};
	static const char *const actions[] = {[SRV_ACT_READ] = "read",
					      [SRV_ACT_WRITE] = "write",
					      [SRV_ACT_APPROVE] = "approve",
					      [SRV_ACT_OWN] = "own",
					      [SRV_ACT_ADMIN] = "admin"};
	static const unsigned bits[] = {SRV_GET, SRV_POST, SRV_PUT, SRV_DELETE, SRV_PATCH};
	static const char *const names[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
	size_t n, i, b;
	const srv_route *t = srv_routes(&n);

	for (i = 0; i < n; i++)
		for (b = 0; b < sizeof(bits) / sizeof(bits[0]); b++)
			if (t[i].methods & bits[b])
				printf("{\"method\":\"%s\",\"pattern\":\"%s\",\"scope\":\"%s\","
				       "\"action\":\"%s\"}\n",
				       names[b], t[i].pattern, scopes[t[i].scope],
				       actions[t[i].action]);
	return 0;
}

/* `hotconf restore --from-git DIR [--data DIR]`: a new store from a git
 * mirror (gitmirror.h). Exit 0 restored, 1 failed, 2 usage, 4 the store is
 * not empty. */
static int restore_main(int argc, char **argv)
{
	const char *from = NULL, *data = "./hotconf-data";
	hc_err err;
	int i;

	for (i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--from-git"))
			from = argv[i + 1];
		else if (!strcmp(argv[i], "--data"))
			data = argv[i + 1];
		else
			break;
	}
	if (i != argc || !from) {
		fprintf(stderr, "usage: hotconf restore --from-git DIR [--data DIR]\n");
		return 2;
	}
	umask(077); /* as serve: the data dir is the owner's alone */
	err = gm_restore(from, data);
	return err == HC_ERR_CONFLICT ? 4 : err ? 1 : 0;
}

int main(int argc, char **argv)
{
	srv_config cfg;
	sigset_t sigs;
	srv *s = NULL;
	int sig = 0;
	hc_err err;

	if (argc >= 2 && !strcmp(argv[1], "version")) {
		printf("hotconf %s\n", HOTCONF_VERSION);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "routes"))
		return print_routes();
	if (argc >= 2 && !strcmp(argv[1], "restore"))
		return restore_main(argc, argv);
	if (argc < 2 || strcmp(argv[1], "serve"))
		return hc_cli_main(argc, argv); /* get, put, watch, ...: client/cli.c */
	srv_config_defaults(&cfg);
	if (parse_flags(argc, argv, &cfg))
		return 2;
	/* Block the stop signals before any thread starts, so every thread
	 * inherits the mask and only sigwait below receives them. A peer that
	 * hangs up mid-reply must not kill the server either. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* Every file hotconf makes holds secrets or their history: owner only. */
	umask(077);
	err = srv_start(&cfg, &s);
	if (err)
		return err == HC_ERR_INVALID ? 2 : 1; /* 2: the command line was wrong */
	sigwait(&sigs, &sig);
	hc_log("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	srv_stop(s);
	hc_log("stopped");
	return 0;
}
