-- 0002: accounts, grants, credentials (console sessions and service tokens)
-- and the audit log. Applied once, in its own transaction; never edit.

-- A person. pw_hash is argon2id in libsodium's crypto_pwhash_str form.
CREATE TABLE users (
	name       TEXT PRIMARY KEY,
	pw_hash    TEXT NOT NULL,
	admin      INTEGER NOT NULL DEFAULT 0,
	created_ms INTEGER NOT NULL,
	changed_ms INTEGER NOT NULL
);

-- A user's role in one namespace: reader, editor, approver or owner.
CREATE TABLE grants (
	namespace  TEXT NOT NULL,
	user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	role       TEXT NOT NULL,
	created_ms INTEGER NOT NULL,
	PRIMARY KEY (namespace, user)
);

-- A secret that authenticates: kind 'session' (a login; name is the user)
-- or 'token' (a service token; name is its name, user who made it, role and
-- namespaces what it may do). Only the secret's SHA-256 is kept.
CREATE TABLE credentials (
	id          TEXT PRIMARY KEY,
	kind        TEXT NOT NULL,
	hash        TEXT NOT NULL UNIQUE,
	name        TEXT NOT NULL,
	user        TEXT NOT NULL DEFAULT '',
	role        TEXT NOT NULL DEFAULT '',
	namespaces  TEXT NOT NULL DEFAULT '',
	csrf        TEXT NOT NULL DEFAULT '',
	created_ms  INTEGER NOT NULL,
	expires_ms  INTEGER NOT NULL,
	revoked_ms  INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX credentials_user ON credentials (user);

-- Who did what: every write, login, failed login, and change to users,
-- grants and tokens.
CREATE TABLE audit (
	id        INTEGER PRIMARY KEY,
	at_ms     INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	role      TEXT NOT NULL DEFAULT '',
	action    TEXT NOT NULL,
	namespace TEXT NOT NULL DEFAULT '',
	target    TEXT NOT NULL DEFAULT '',
	old_md5   TEXT NOT NULL DEFAULT '',
	new_md5   TEXT NOT NULL DEFAULT '',
	source_ip TEXT NOT NULL DEFAULT '',
	detail    TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_at ON audit (at_ms);
