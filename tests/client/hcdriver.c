/*
 * hcdriver.c: drives libhotconf for the e2e tests (tests/e2e/client.test.js).
 * It prints every event as one JSON line on stdout and takes commands, one a
 * line, on stdin, so a test can act and then wait for what it expects.
 *
 *   hcdriver [--servers URLS] [--cache DIR] [--token T] [--instance ID]
 *            [--labels L] [--wait MS] [--timeout MS] [--backoff-base MS] [--backoff-max MS]
 *            [--reject DATAID]... get NS/GROUP/DATAID
 *   hcdriver [same flags] watch NS/GROUP/DATAID... NS/GROUP/ NS//
 *
 * Events: {"event":"get","rc":0,"error":"...",<config>}, {"event":"started"},
 * {"event":"change",<config>,"result":"applied"|"rejected"},
 * {"event":"stopped"}, {"event":"added","rc":0}, {"event":"exit"}.
 * A config is "namespace","group","dataId","content","md5","version",
 * "format","gray","deleted","fromCache","more". A key ending in '/' is a
 * pattern (hotconf_watch_group): NS/GROUP/ one group, NS// the namespace.
 * Commands on stdin in watch mode:
 * "get NS/GROUP/DATAID", "add NS/GROUP/DATAID", "stop", "start", "quit"
 * (also at end of input). Change callbacks run on the library's thread, so
 * stdout is written under a mutex, one whole line at a time.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hotconf.h"

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *rejects[16];
static int nrejects;

static void emit(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	pthread_mutex_lock(&out_mu);
	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
	free(s);
	cJSON_Delete(o);
}

static cJSON *event(const char *name)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "event", name);
	return o;
}

static void add_config(cJSON *o, const hotconf_config *cfg)
{
	char *content = malloc(cfg->len + 1);

	/* The tests publish text; a NUL would end the JSON string early. */
	memcpy(content, cfg->content, cfg->len + 1);
	cJSON_AddStringToObject(o, "namespace", cfg->ns);
	cJSON_AddStringToObject(o, "group", cfg->group);
	cJSON_AddStringToObject(o, "dataId", cfg->data_id);
	cJSON_AddStringToObject(o, "content", content);
	cJSON_AddStringToObject(o, "md5", cfg->md5);
	cJSON_AddNumberToObject(o, "version", (double)cfg->version);
	cJSON_AddStringToObject(o, "format", cfg->format);
	if (cfg->gray)
		cJSON_AddStringToObject(o, "gray", cfg->gray);
	else
		cJSON_AddNullToObject(o, "gray");
	cJSON_AddBoolToObject(o, "deleted", cfg->deleted);
	cJSON_AddBoolToObject(o, "fromCache", cfg->from_cache);
	cJSON_AddBoolToObject(o, "more", cfg->more);
	free(content);
}

static void log_line(void *ud, const char *line)
{
	(void)ud;
	fprintf(stderr, "hcdriver: %s\n", line);
}

/* Splits "ns/group/dataId" into parts (pointers into buf[]); 0 or -1. */
static int split_key(const char *key, char *buf, size_t n, char **ns, char **group, char **id)
{
	char *a, *b;

	snprintf(buf, n, "%s", key);
	a = strchr(buf, '/');
	b = a ? strchr(a + 1, '/') : NULL;
	if (!b)
		return -1;
	*a = *b = '\0';
	*ns = buf;
	*group = a + 1;
	*id = b + 1;
	return 0;
}

static void do_get(hotconf_client *c, const char *key)
{
	char buf[512], *ns, *group, *id;
	hotconf_config *cfg = NULL;
	cJSON *o = event("get");
	int rc = split_key(key, buf, sizeof(buf), &ns, &group, &id)
		     ? HOTCONF_EINVAL
		     : hotconf_get(c, ns, group, id, &cfg);

	cJSON_AddNumberToObject(o, "rc", rc);
	cJSON_AddStringToObject(o, "error", hotconf_strerror(rc));
	if (cfg)
		add_config(o, cfg);
	hotconf_config_free(cfg);
	emit(o);
}

static int on_change(hotconf_client *c, const hotconf_config *cfg, void *ud, char *msg,
		     size_t msg_size)
{
	cJSON *o = event("change");
	int i, reject = 0;

	(void)c;
	(void)ud;
	for (i = 0; i < nrejects; i++)
		reject |= !strcmp(rejects[i], cfg->data_id);
	add_config(o, cfg);
	cJSON_AddStringToObject(o, "result", reject ? "rejected" : "applied");
	emit(o);
	if (reject)
		snprintf(msg, msg_size, "hcdriver rejects %s", cfg->data_id);
	return reject;
}

static int add_watch(hotconf_client *c, const char *key)
{
	char buf[512], *ns, *group, *id;

	if (split_key(key, buf, sizeof(buf), &ns, &group, &id))
		return HOTCONF_EINVAL;
	if (!*id)
		return hotconf_watch_group(c, ns, group, on_change, NULL);
	return hotconf_watch_add(c, ns, group, id, on_change, NULL);
}

static void simple(const char *name, int rc)
{
	cJSON *o = event(name);

	cJSON_AddNumberToObject(o, "rc", rc);
	emit(o);
}

static int watch_loop(hotconf_client *c, char **keys, int nkeys)
{
	char line[1024];
	int i;

	for (i = 0; i < nkeys; i++)
		if (add_watch(c, keys[i])) {
			fprintf(stderr, "hcdriver: cannot watch %s\n", keys[i]);
			return 2;
		}
	simple("started", hotconf_start(c));
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!strncmp(line, "get ", 4))
			do_get(c, line + 4);
		else if (!strncmp(line, "add ", 4))
			simple("added", add_watch(c, line + 4));
		else if (!strcmp(line, "stop"))
			simple("stopped", hotconf_stop(c));
		else if (!strcmp(line, "start"))
			simple("started", hotconf_start(c));
		else if (!strcmp(line, "quit"))
			break;
		else
			fprintf(stderr, "hcdriver: unknown command '%s'\n", line);
	}
	return 0;
}

int main(int argc, char **argv)
{
	hotconf_options o;
	hotconf_client *c;
	int i, rc = 2;

	hotconf_options_init(&o);
	o.log = log_line;
	o.servers = "http://127.0.0.1:8848";
	for (i = 1; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		const char *f = argv[i], *v = argv[i + 1];
		if (!strcmp(f, "--servers"))
			o.servers = v;
		else if (!strcmp(f, "--cache"))
			o.cache_dir = v;
		else if (!strcmp(f, "--token"))
			o.token = v;
		else if (!strcmp(f, "--instance"))
			o.instance = v;
		else if (!strcmp(f, "--labels"))
			o.labels = v;
		else if (!strcmp(f, "--wait"))
			o.wait_ms = atol(v);
		else if (!strcmp(f, "--timeout"))
			o.timeout_ms = atol(v);
		else if (!strcmp(f, "--backoff-max"))
			o.backoff_max_ms = atol(v);
		else if (!strcmp(f, "--backoff-base"))
			o.backoff_base_ms = atol(v);
		else if (!strcmp(f, "--reject") && nrejects < 16)
			rejects[nrejects++] = v;
		else {
			fprintf(stderr, "hcdriver: unknown flag %s\n", f);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: hcdriver [flags] get KEY | watch KEY...\n");
		return 2;
	}
	c = hotconf_new(&o);
	if (!c)
		return 2;
	if (!strcmp(argv[i], "get") && i + 1 < argc) {
		do_get(c, argv[i + 1]);
		rc = 0;
	} else if (!strcmp(argv[i], "watch") && i + 1 < argc) {
		rc = watch_loop(c, argv + i + 1, argc - i - 1);
	} else {
		fprintf(stderr, "hcdriver: unknown command %s\n", argv[i]);
	}
	hotconf_free(c);
	simple("exit", rc);
	return rc;
}
