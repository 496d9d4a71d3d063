/*
 * format.c: see format.h. Static data; any thread.
 */
#include "format.h"

#include <stddef.h>
#include <string.h>

static const struct {
	const char *name;
	const char *mime;
} formats[] = {
    {"text", "text/plain; charset=utf-8"},
    {"json", "application/json"},
    {"yaml", "application/yaml"},
    {"properties", "text/plain; charset=utf-8"},
    {"xml", "application/xml"},
};

static int find(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(name, formats[i].name))
			return (int)i;
	return -1;
}

int fmt_ok(const char *name)
{
	return find(name) >= 0;
}

const char *fmt_mime(const char *name)
{
	int i = find(name);

	return i >= 0 ? formats[i].mime : "application/octet-stream";
}

const char *fmt_list(void)
{
	return "text, json, yaml, properties or xml";
}

static const struct {
	const char *suffix, *format;
} suffixes[] = {
    {".yaml", "yaml"}, {".yml", "yaml"}, {".json", "json"}, {".properties", "properties"},
    {".xml", "xml"},
};

const char *fmt_of_name(const char *name)
{
	size_t i, n = name ? strlen(name) : 0, m;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		m = strlen(suffixes[i].suffix);
		if (n > m && !strcmp(name + n - m, suffixes[i].suffix))
			return suffixes[i].format;
	}
	return "text";
}
