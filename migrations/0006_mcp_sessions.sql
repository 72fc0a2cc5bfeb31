-- MCP gateway sessions that survive restarts and replicas. The downstream session itself lives
-- in its encrypted Mcp-Session-Id; Postgres keeps only what cannot travel in it: the upstream
-- session each downstream session opened lazily per server, and the sessions a client ended.

CREATE TABLE mcp_upstream_sessions (
  -- the random id inside the downstream token
  session_id           text NOT NULL,
  server_id            text NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  -- owner, so an upstream session is never shared between users
  email                text NOT NULL,
  -- the upstream's Mcp-Session-Id (null when the upstream is stateless)
  upstream_session_id  text,
  -- the version the upstream answered at initialize
  protocol_version     text NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (session_id, server_id)
);
CREATE INDEX mcp_upstream_sessions_created_idx ON mcp_upstream_sessions (created_at);

CREATE TABLE mcp_ended_sessions (
  session_id  text PRIMARY KEY,
  email       text NOT NULL,
  ended_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mcp_ended_sessions_ended_idx ON mcp_ended_sessions (ended_at);
