-- A per-user pool of parked upstream sessions (session-era upstreams). Open WebUI opens a new MCP
-- session every chat turn; rather than opening a new upstream session for each (initialize and
-- notifications/initialized to every upstream), the gateway parks an idle upstream session when its
-- downstream session ends and hands it to the same user's next session. Nothing is shared between
-- users: the pool key digests the user, the server, its URL and credentials version, and the
-- client's protocol version, capabilities and info the session was opened with.

-- what an upstream session was opened with, and whether it may be parked at all
ALTER TABLE mcp_upstream_sessions
  -- digest of (user, server, URL, credentials version, client version/capabilities/info); null: never parked
  ADD COLUMN pool_key text,
  -- the version of the server's credentials the session was opened with ('' = none)
  ADD COLUMN credentials_version text NOT NULL DEFAULT '',
  -- false once a request went through it that leaves state in the upstream session
  -- (resources/subscribe, logging/setLevel, tasks, a server-to-client request, ...)
  ADD COLUMN reusable boolean NOT NULL DEFAULT true;

CREATE TABLE mcp_parked_sessions (
  id                   bigserial PRIMARY KEY,
  pool_key             text NOT NULL,
  server_id            text NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  -- owner (the pool key digests it too)
  email                text NOT NULL,
  upstream_session_id  text NOT NULL,
  protocol_version     text NOT NULL,
  credentials_version  text NOT NULL,
  parked_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mcp_parked_sessions_key_idx ON mcp_parked_sessions (pool_key, parked_at DESC);
CREATE INDEX mcp_parked_sessions_parked_idx ON mcp_parked_sessions (parked_at);
