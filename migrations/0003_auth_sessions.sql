-- Browser login state kept by the auth worker (issue 4).
-- auth_used_states: each OIDC login `state` may complete once (a replayed callback fails), on
-- every replica. auth_revoked_sessions: sessions ended by /auth/logout before their cookie
-- expired (the session itself lives in an encrypted cookie). Rows are dropped after expiry.

CREATE TABLE auth_used_states (
  state_hash  text PRIMARY KEY,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX auth_used_states_expiry_idx ON auth_used_states (expires_at);

CREATE TABLE auth_revoked_sessions (
  sid         text PRIMARY KEY,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX auth_revoked_sessions_expiry_idx ON auth_revoked_sessions (expires_at);
