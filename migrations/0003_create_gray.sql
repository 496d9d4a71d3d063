-- 0003: gray release rules, and the history columns of gray entries.
-- Applied once, in its own transaction; never edit: add 0004_... instead.

-- One row per live gray rule of a config: which instances get content in
-- place of the config's main content. match_json is the match as the API
-- shows it (canonical JSON of the fields given); the match_* columns are the
-- fields it is compiled from (NULL: the field was left out; ips one per line).
-- salt seeds the percent buckets and never changes after the rule is created;
-- created_rev (the revision that created the rule) orders the rules, so the
-- older rule wins a priority tie; revision is that of the rule's last change.
CREATE TABLE gray_rules (
	namespace     TEXT NOT NULL,
	grp           TEXT NOT NULL,
	data_id       TEXT NOT NULL,
	name          TEXT NOT NULL,
	priority      INTEGER NOT NULL,
	content       BLOB NOT NULL,
	format        TEXT NOT NULL,
	md5           TEXT NOT NULL,
	match_json    TEXT NOT NULL,
	match_ips     TEXT,
	match_labels  TEXT,
	match_percent TEXT,
	salt          TEXT NOT NULL,
	created_rev   INTEGER NOT NULL,
	revision      INTEGER NOT NULL,
	created_ms    INTEGER NOT NULL,
	updated_ms    INTEGER NOT NULL,
	author        TEXT NOT NULL DEFAULT '',
	message       TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (namespace, grp, data_id, name)
);

-- History entries of gray changes (ops 'gray-publish', 'gray-promote' and
-- 'gray-abort') name their rule and its match; other entries keep ''.
ALTER TABLE history ADD COLUMN gray_rule TEXT NOT NULL DEFAULT '';
ALTER TABLE history ADD COLUMN gray_match TEXT NOT NULL DEFAULT '';
