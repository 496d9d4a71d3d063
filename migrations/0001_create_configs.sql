-- 0001: namespaces, current configs, their history, and the server revision.
-- Applied once, in its own transaction; never edit: add 0002_... instead.

CREATE TABLE namespaces (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	created_ms  INTEGER NOT NULL
);

INSERT INTO namespaces (id, name, description, created_ms)
VALUES ('public', 'public', 'The default namespace',
        CAST(strftime('%s', 'now') AS INTEGER) * 1000);

-- One row per live config: its current version. A delete removes the row;
-- the history keeps every version, so versions continue after a re-create.
CREATE TABLE configs (
	namespace   TEXT NOT NULL REFERENCES namespaces (id),
	grp         TEXT NOT NULL,
	data_id     TEXT NOT NULL,
	content     BLOB NOT NULL,
	md5         TEXT NOT NULL,
	format      TEXT NOT NULL,
	version     INTEGER NOT NULL,
	revision    INTEGER NOT NULL,
	created_ms  INTEGER NOT NULL,
	updated_ms  INTEGER NOT NULL,
	author      TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (namespace, grp, data_id)
);

-- Every change: op is 'publish', 'delete' or 'rollback'.
CREATE TABLE history (
	id         INTEGER PRIMARY KEY,
	namespace  TEXT NOT NULL,
	grp        TEXT NOT NULL,
	data_id    TEXT NOT NULL,
	version    INTEGER NOT NULL,
	revision   INTEGER NOT NULL,
	op         TEXT NOT NULL,
	content    BLOB NOT NULL,
	md5        TEXT NOT NULL,
	format     TEXT NOT NULL,
	author     TEXT NOT NULL DEFAULT '',
	message    TEXT NOT NULL DEFAULT '',
	source_ip  TEXT NOT NULL DEFAULT '',
	created_ms INTEGER NOT NULL,
	UNIQUE (namespace, grp, data_id, version)
);

CREATE INDEX history_created ON history (created_ms);

-- Single-row counters; 'revision' counts every change ever committed.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);

INSERT INTO meta (key, value) VALUES ('revision', 0);
