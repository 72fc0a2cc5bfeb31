-- Per-user request counters of the edge's rate limit, shared by every replica: one row per
-- subject (a user's email) and fixed one-minute window. Replicas add their local counts in
-- batches (see shared/middleware/rate-limit) and read back the global count. Rows of windows
-- older than a few minutes are deleted by the same batches.
CREATE UNLOGGED TABLE rate_limit_counters (
  subject       text NOT NULL,
  window_start  timestamptz NOT NULL,
  count         integer NOT NULL CHECK (count >= 0),
  PRIMARY KEY (subject, window_start)
);

CREATE INDEX rate_limit_counters_window ON rate_limit_counters (window_start);
