/*
 * archive: a namespace's configs as one zip, in memory (libzip), for
 * `GET .../export` and `POST .../import`.
 *
 * hotconf's export layout ("hotconf-export/1"):
 *   manifest.json   {"format": "hotconf-export/1", "namespace": ns,
 *                    "configs": [{"group", "dataId", "format", "description",
 *                                 "version", "md5"}, ...]}
 *   group/dataId    each config's content, exactly as stored
 * The manifest comes first; every file has one manifest entry and the other
 * way round; md5 is the lowercase hex md5 of the file's bytes.
 *
 * Nacos' export zips, as Nacos' own code writes and reads them (alibaba/nacos:
 * config/.../controller/ConfigController.java exportConfig and exportConfigV2,
 * config/.../utils/ZipUtils.java, config/.../constant/Constants.java,
 * config/.../model/ConfigMetadata.java, ZipConfigDataReaderV1.java), written
 * with java.util.zip.ZipOutputStream (deflate, data descriptors, no
 * directory entries):
 *   group/dataId    each config's content, no other paths
 *   .metadata.yml   export v2 (exportV2=true, Nacos 1.4+/2.x): SnakeYAML
 *                   dumpAsMap of {metadata: [{appName, configTags, dataId,
 *                   desc, group, type}]}, null fields left out; each listed
 *                   item needs dataId, group and type. hotconf takes type
 *                   (json, yaml, properties, xml, text as is; html, toml and
 *                   anything else as "text") and desc.
 *   .meta.yml       export v1 (export=true): not YAML despite the name, but
 *                   lines "group.dataId.app=appName\r\n" (the last '.' of
 *                   dataId written as '~'), only for configs with an appName,
 *                   and the file is absent when none has one. It carries no
 *                   format or description, and hotconf has no appName, so it
 *                   is checked for shape and otherwise ignored.
 * (None of the Nacos versions read writes a bare ".meta" file, so none is
 * recognised: a top-level ".meta" is refused like any other stray file.)
 * Where Nacos skips what it cannot place ("unrecognized" items), hotconf
 * refuses the archive: an import lands whole or not at all.
 *
 * Hostile or broken archives are HC_ERR_INVALID with a sentence naming the
 * entry, and nothing is returned: see arch_read().
 *
 * No shared state: any thread, one handle per thread.
 */
#ifndef HC_ARCHIVE_H
#define HC_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_err.h"
#include "sbuf.h"

#define ARCH_FORMAT "hotconf-export/1"
#define ARCH_MANIFEST "manifest.json"

/* ---- writing ---- */

typedef struct arch_writer arch_writer;

/* A new, empty zip in memory; the caller owns it (arch_writer_free). */
arch_writer *arch_writer_new(void);
/* Adds a file (deflated when that makes it smaller, with a fixed 1980-01-01
 * time so the same input gives the same bytes). The writer copies data.
 * HC_ERR_INVALID: path is empty or already added. */
hc_err arch_add(arch_writer *w, const char *path, const void *data, size_t len);
/* Appends the finished zip to *zip_out (HC_ERR_TOO_BIG past its max, leaving
 * it unchanged). The writer is spent afterwards, whatever the result: only
 * arch_writer_free() may follow. */
hc_err arch_finish(arch_writer *w, sbuf *zip_out);
/* NULL is a no-op. */
void arch_writer_free(arch_writer *w);

/* One config to export; all pointers are borrowed for the call. */
typedef struct arch_export_item {
	const char *group, *data_id;
	const char *format;	 /* text, json, yaml, properties or xml */
	const char *description; /* NULL is written as "" */
	int64_t version;
	const char *content;
	size_t len;
} arch_export_item;

/* Appends hotconf's export of namespace ns (manifest.json, then group/dataId
 * for each item, in order) to *zip_out. HC_ERR_INVALID: a name that is not a
 * valid hotconf name, an unknown format, the same group/dataId twice. */
hc_err arch_export(const arch_export_item *items, size_t n, const char *ns, sbuf *zip_out);

/* ---- reading ---- */

typedef struct arch_limits {
	size_t max_entries;	/* zip entries, metadata and directories included */
	size_t max_entry_bytes; /* uncompressed bytes of one entry */
	size_t max_total_bytes; /* uncompressed bytes of all entries */
	unsigned max_ratio;	/* uncompressed / compressed bytes of one entry over
				 * ARCH_RATIO_FLOOR bytes (small files compress
				 * unpredictably) */
} arch_limits;

#define ARCH_RATIO_FLOOR (64u << 10)
#define ARCH_LIMITS_DEFAULT                                                                        \
	{                                                                                          \
		10000, 10u << 20, 100u << 20, 200                                                  \
	}

typedef enum arch_layout {
	ARCH_HOTCONF = 1, /* manifest.json */
	ARCH_NACOS_V1,	  /* group/dataId files, maybe .meta.yml */
	ARCH_NACOS_V2,	  /* group/dataId files and .metadata.yml */
} arch_layout;

/* One config found in an archive; every string is NUL-terminated and owned
 * by the arch_entries that holds it. */
typedef struct arch_entry {
	char *group, *data_id;
	char *content; /* may hold NULs; len bytes */
	size_t len;
	char *format;	   /* NULL when the archive does not say (Nacos v1) */
	char *description; /* NULL when the archive does not say */
	int64_t version;   /* hotconf: the version exported; 0 otherwise */
} arch_entry;

typedef struct arch_entries {
	arch_entry *v; /* in the archive's order */
	size_t n;
	arch_layout layout;
	char *ns; /* hotconf: the manifest's namespace; NULL otherwise */
} arch_entries;

/* Sets e empty. */
void arch_entries_init(arch_entries *e);
/* Frees everything e holds; e is left empty. */
void arch_entries_release(arch_entries *e);

/* Reads every config in zip[0..len) into *out (which must be empty: init'ed
 * or released) under the caps in *lim. HC_ERR_INVALID, with a sentence in
 * *why and *out left empty, for: not a zip, a truncated or corrupt one (also
 * a CRC mismatch), more entries than lim->max_entries, an entry or the total
 * over the byte caps (checked on the declared sizes and again while
 * inflating, so a header that lies cannot get past), a compression ratio
 * over lim->max_ratio, encrypted entries, compression other than store and
 * deflate, symbolic links; entry names that are not valid UTF-8, absolute,
 * with backslashes, empty segments or "."/"..", that are not exactly
 * group/dataId of valid hotconf names (or a directory "group/", which is
 * skipped, or a metadata file at the top), or that appear twice; a manifest
 * or metadata that does not parse or does not match the files one to one;
 * an md5 mismatch; both hotconf and Nacos metadata; no configs at all
 * without a manifest. */
hc_err arch_read(const void *zip, size_t len, const arch_limits *lim, arch_entries *out, sbuf *why);

#endif
