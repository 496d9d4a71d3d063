-- 0007: what a git mirror (server/gitmirror.c) needs to write every change
-- and to replay it: a gray entry's rule priority, salt and rollout plan, and
-- an index to read history in revision order.
-- Applied once, in its own transaction; never edit: add 0008_... instead.

-- Gray entries (every op but publish, delete and rollback) record the rule
-- as it stood after the change: its priority, its salt (fixed for the rule's
-- life) and its rollout plan as JSON ({"steps":[500,2500,10000],
-- "intervalMs":600000,"maxRejected":200,"maxRejectedPct":1,"minReports":3},
-- steps in hundredths of a percent; '' without a plan). Entries written
-- before this migration keep 0 and ''.
ALTER TABLE history ADD COLUMN gray_priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE history ADD COLUMN gray_salt TEXT NOT NULL DEFAULT '';
ALTER TABLE history ADD COLUMN gray_plan TEXT NOT NULL DEFAULT '';

CREATE INDEX history_revision ON history (revision);
