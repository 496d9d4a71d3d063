-- 0005: change requests (issue 11): drafts of edits to several configs of
-- one namespace, reviewed and published together in one transaction, now or
-- at a time; and protected namespaces, whose every change goes through one.
-- Applied once, in its own transaction; never edit: add 0006_... instead.

-- review_required: how many approvals, by others than its author, a change
-- request in the namespace needs before it may publish; 0: the namespace is
-- not protected (direct writes are allowed, and requests are optional).
ALTER TABLE namespaces ADD COLUMN review_required INTEGER NOT NULL DEFAULT 0;

-- state: draft, open (submitted, in review), approved, rejected, scheduled,
-- published, failed or cancelled. rev counts the request's changes (an edit,
-- a submit, a review...), so a publish or an approval can say which version
-- of it was read. scheduled_ms: when a scheduled request is to publish (0:
-- not scheduled). reason: why it was rejected, cancelled or failed.
CREATE TABLE change_requests (
	id            INTEGER PRIMARY KEY,
	namespace     TEXT NOT NULL REFERENCES namespaces (id),
	title         TEXT NOT NULL,
	description   TEXT NOT NULL DEFAULT '',
	state         TEXT NOT NULL,
	rev           INTEGER NOT NULL DEFAULT 1,
	author        TEXT NOT NULL DEFAULT '',
	created_ms    INTEGER NOT NULL,
	updated_ms    INTEGER NOT NULL,
	scheduled_ms  INTEGER NOT NULL DEFAULT 0,
	published_ms  INTEGER NOT NULL DEFAULT 0,
	published_rev INTEGER NOT NULL DEFAULT 0,
	published_by  TEXT NOT NULL DEFAULT '',
	reason        TEXT NOT NULL DEFAULT ''
);

CREATE INDEX change_requests_ns ON change_requests (namespace, state, id);
CREATE INDEX change_requests_due ON change_requests (state, scheduled_ms);

-- The edits of a request, in order. op: publish, delete, gray-set,
-- gray-remove or gray-promote; rule: the gray rule's name ('' for publish and
-- delete); spec: a gray-set's rule without its content (priority, match,
-- rollout) as JSON; base_md5: the md5 the item was based on, the config's
-- (publish, delete) or the rule's (gray ops), '' when it did not exist;
-- md5: that of content.
CREATE TABLE change_items (
	change_id    INTEGER NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
	idx          INTEGER NOT NULL,
	op           TEXT NOT NULL,
	grp          TEXT NOT NULL,
	data_id      TEXT NOT NULL,
	rule         TEXT NOT NULL DEFAULT '',
	content      BLOB NOT NULL DEFAULT x'',
	format       TEXT NOT NULL DEFAULT '',
	spec         TEXT NOT NULL DEFAULT '',
	base_md5     TEXT NOT NULL DEFAULT '',
	base_version INTEGER NOT NULL DEFAULT 0,
	md5          TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (change_id, idx)
);

-- What happened to a request, in order: create, edit, submit, approve,
-- reject, comment, schedule, cancel, publish, fail; text: a comment, a
-- reason or a note.
CREATE TABLE change_events (
	id        INTEGER PRIMARY KEY,
	change_id INTEGER NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
	at_ms     INTEGER NOT NULL,
	actor     TEXT NOT NULL DEFAULT '',
	kind      TEXT NOT NULL,
	text      TEXT NOT NULL DEFAULT '',
	rev       INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX change_events_of ON change_events (change_id, id);

-- The history entries a request published carry its id (0: a direct write).
ALTER TABLE history ADD COLUMN change_id INTEGER NOT NULL DEFAULT 0;
