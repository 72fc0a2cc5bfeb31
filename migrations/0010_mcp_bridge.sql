-- What the gateway's protocol bridge hands between requests (2026-07-28 MRTR <-> session-era
-- server-to-client requests), possibly on different replicas: a mailbox of JSON items per box,
-- read in insertion order, and a claim per box so a parked request's state is used once.
-- And the log level a session-era client set (logging/setLevel), which a modern upstream gets as
-- the per-request logLevel.

CREATE TABLE mcp_mailbox (
  id          bigserial PRIMARY KEY,
  box         text NOT NULL,
  item        jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mcp_mailbox_box_idx ON mcp_mailbox (box, id);
CREATE INDEX mcp_mailbox_created_idx ON mcp_mailbox (created_at);

CREATE TABLE mcp_mailbox_claims (
  box         text PRIMARY KEY,
  claimed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mcp_mailbox_claims_claimed_idx ON mcp_mailbox_claims (claimed_at);

CREATE TABLE mcp_session_levels (
  session_id  text PRIMARY KEY,
  log_level   text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mcp_session_levels_updated_idx ON mcp_session_levels (updated_at);
