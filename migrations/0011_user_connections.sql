-- Per-user upstream credentials (issue 14). A server's credential mode: `shared` (its secret
-- headers, as before), `per-user-token` (each user's own token, pasted) or `per-user-oauth` (each
-- user's own OAuth tokens, obtained and refreshed by the gateway). The settings are plain JSON
-- except the OAuth client secret, sealed like the headers (shared/secrets.ts).
ALTER TABLE servers ADD COLUMN credentials jsonb NOT NULL DEFAULT '{"mode": "shared"}'::jsonb
  CHECK (jsonb_typeof(credentials) = 'object' AND credentials->>'mode' IN ('shared', 'per-user-token', 'per-user-oauth'));

-- One user's credential for one server. Tokens are sealed for (user, server, field), so a value
-- copied to another row does not open; deleting the user or the server deletes the connection.
CREATE TABLE user_connections (
  user_email      text NOT NULL REFERENCES users(email) ON DELETE CASCADE,
  server_id       text NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  kind            text NOT NULL CHECK (kind IN ('token', 'oauth')),
  -- {"access": <sealed>, "refresh"?: <sealed>}; never returned by any API
  secrets         jsonb NOT NULL CHECK (jsonb_typeof(secrets) = 'object' AND secrets ? 'access'),
  -- where the refresh goes (found at connect time); null for pasted tokens
  token_endpoint  text,
  scope           text NOT NULL DEFAULT '',
  expires_at      timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  refreshed_at    timestamptz,
  PRIMARY KEY (user_email, server_id)
);
CREATE INDEX user_connections_server_idx ON user_connections (server_id);
