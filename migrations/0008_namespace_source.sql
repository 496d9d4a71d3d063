-- 0008: a namespace may be fed from a git repository (hotconf serve
-- --git-source): its configs are the repository's files, and every write but
-- the sync's own is refused. The source in words ("git /srv/configs.git (ref
-- main, path configs/)"); '' (the default) for a namespace written through the API.
ALTER TABLE namespaces ADD COLUMN source TEXT NOT NULL DEFAULT '';
