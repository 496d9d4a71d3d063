/*
 * reload.c: a service that hot-reloads one setting of a YAML config.
 *
 *   hotconf-reload-example http://127.0.0.1:8848 public DEFAULT_GROUP app.yaml port
 *
 * prints "port = 8080" at start and again each time a publish changes the
 * config, until SIGINT or SIGTERM. A change whose YAML does not parse, or
 * lacks the setting, is rejected (the server hears why, with apply reports)
 * and the old value stays in force. The callback runs on libhotconf's watch
 * thread; the main thread only waits for a stop signal.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "hotconf.h"

typedef struct setting {
	const char *key;
	char value[256];
} setting;

/* Finds key in the top-level mapping of a YAML document; 0 when found. */
static int yaml_lookup(const char *doc, size_t len, const char *key, char *out, size_t n)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, want_value = 0, is_key = 1, found = -1, done = 0;

	if (!yaml_parser_initialize(&p))
		return -1;
	yaml_parser_set_input_string(&p, (const unsigned char *)doc, len);
	while (!done && found) {
		if (!yaml_parser_parse(&p, &ev)) {
			found = -1;
			break;
		}
		switch (ev.type) {
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth == 1)
				is_key = !is_key; /* a nested value takes a value slot */
			depth++;
			want_value = 0;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			break;
		case YAML_SCALAR_EVENT:
			if (depth != 1)
				break;
			if (want_value) {
				snprintf(out, n, "%.*s", (int)ev.data.scalar.length,
					 (const char *)ev.data.scalar.value);
				found = 0;
			} else if (is_key) {
				want_value = !strcmp((const char *)ev.data.scalar.value, key);
			}
			is_key = !is_key;
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return found;
}

static int on_change(hotconf_client *c, const hotconf_config *cfg, void *ud, char *msg,
		     size_t msg_size)
{
	setting *s = ud;
	char v[256];

	(void)c;
	if (cfg->deleted) {
		printf("%s/%s/%s was deleted; keeping %s = %s\n", cfg->ns, cfg->group, cfg->data_id,
		       s->key, s->value);
		fflush(stdout);
		return HOTCONF_APPLIED;
	}
	if (yaml_lookup(cfg->content, cfg->len, s->key, v, sizeof(v))) {
		snprintf(msg, msg_size, "no top-level '%s' in valid YAML", s->key);
		fprintf(stderr, "rejected version %lld: %s\n", (long long)cfg->version, msg);
		return 1;
	}
	snprintf(s->value, sizeof(s->value), "%s", v);
	printf("%s = %s (version %lld%s)\n", s->key, s->value, (long long)cfg->version,
	       cfg->from_cache ? ", from the snapshot" : "");
	fflush(stdout);
	return HOTCONF_APPLIED;
}

static void log_line(void *ud, const char *line)
{
	(void)ud;
	fprintf(stderr, "libhotconf: %s\n", line);
}

int main(int argc, char **argv)
{
	setting s = {0};
	hotconf_options o;
	hotconf_client *c;
	sigset_t sigs;
	int sig;

	if (argc != 6) {
		fprintf(stderr, "usage: %s SERVERS NAMESPACE GROUP DATAID KEY\n", argv[0]);
		return 2;
	}
	s.key = argv[5];
	hotconf_options_init(&o);
	o.servers = argv[1];
	o.cache_dir = getenv("HOTCONF_CACHE_DIR");
	o.log = log_line;
	c = hotconf_new(&o);
	if (!c)
		return 1;
	/* Stop signals go to sigwait below, in no other thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (hotconf_watch_add(c, argv[2], argv[3], argv[4], on_change, &s) || hotconf_start(c)) {
		fprintf(stderr, "cannot watch %s/%s/%s\n", argv[2], argv[3], argv[4]);
		hotconf_free(c);
		return 1;
	}
	sigwait(&sigs, &sig);
	hotconf_free(c);
	return 0;
}
