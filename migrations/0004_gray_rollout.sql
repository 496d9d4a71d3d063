-- 0004: rollout plans on gray rules (issue 10), and the history column of
-- rollout entries.
-- Applied once, in its own transaction; never edit: add 0005_... instead.

-- A rule's plan and where it stands, all NULL for a rule without a plan.
-- rollout_steps: the percents in hundredths (0..10000), strictly increasing,
-- comma separated ("100,500,2500"); rollout_state: 'running', 'paused' or
-- 'aborted'; rollout_step: the index into rollout_steps of the current
-- percent (which match_percent and match_json also carry); rollout_step_ms:
-- the wall-clock ms when that step began or was resumed; rollout_next_ms:
-- rollout_step_ms + rollout_interval_ms; rollout_max_rejected_pct: 1 when
-- rollout_max_rejected is in hundredths of a percent, 0 when a count;
-- rollout_reason: why it was aborted ('' otherwise).
ALTER TABLE gray_rules ADD COLUMN rollout_steps TEXT;
ALTER TABLE gray_rules ADD COLUMN rollout_interval_ms INTEGER;
ALTER TABLE gray_rules ADD COLUMN rollout_max_rejected INTEGER;
ALTER TABLE gray_rules ADD COLUMN rollout_max_rejected_pct INTEGER;
ALTER TABLE gray_rules ADD COLUMN rollout_min_reports INTEGER;
ALTER TABLE gray_rules ADD COLUMN rollout_state TEXT;
ALTER TABLE gray_rules ADD COLUMN rollout_step INTEGER;
ALTER TABLE gray_rules ADD COLUMN rollout_step_ms INTEGER;
ALTER TABLE gray_rules ADD COLUMN rollout_next_ms INTEGER;
ALTER TABLE gray_rules ADD COLUMN rollout_reason TEXT;

-- Rollout entries (gray-step, gray-pause, gray-resume, gray-abort of a rule
-- with a plan, and gray-publish of one) hold the rollout after the change as
-- JSON; a gray-promote of a rollout holds its summary; other entries keep ''.
ALTER TABLE history ADD COLUMN rollout TEXT NOT NULL DEFAULT '';
