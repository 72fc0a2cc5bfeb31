-- Initial data model.
-- Emails and group names are stored lower-case (CHECK constraints), so every comparison is
-- case-insensitive without the citext extension. The old stack's three tables keep their names:
-- user_group_membership and group_tenant_mapping are tables, user_admin_status is a view.

CREATE TABLE tenants (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE servers (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
  tenant_id   text NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
  url         text NOT NULL,
  transport   text NOT NULL DEFAULT 'streamable-http' CHECK (transport IN ('streamable-http', 'sse')),
  -- secret headers injected upstream; never returned by any API
  headers     jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(headers) = 'object'),
  enabled     boolean NOT NULL DEFAULT true,
  description text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX servers_tenant_idx ON servers (tenant_id);

CREATE TABLE groups (
  name        text PRIMARY KEY CHECK (name = lower(name) AND name ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
  description text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  email         text PRIMARY KEY CHECK (email = lower(email) AND position('@' in email) > 1),
  display_name  text NOT NULL DEFAULT '',
  is_admin      boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz
);

CREATE TABLE user_group_membership (
  user_email  text NOT NULL REFERENCES users(email) ON DELETE CASCADE,
  group_name  text NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
  PRIMARY KEY (user_email, group_name)
);
CREATE INDEX user_group_membership_group_idx ON user_group_membership (group_name);

CREATE TABLE group_tenant_mapping (
  group_name  text NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
  tenant_id   text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  PRIMARY KEY (group_name, tenant_id)
);
CREATE INDEX group_tenant_mapping_tenant_idx ON group_tenant_mapping (tenant_id);

CREATE VIEW user_admin_status AS SELECT email AS user_email, is_admin FROM users;

-- Per-group tool rules on a server. When a group has any 'allow' rule for a server, only the
-- matching tools of that server are visible through that group; 'deny' rules always remove.
-- tool is a name or a glob with '*'.
CREATE TABLE group_tool_rules (
  group_name  text NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
  server_id   text NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  tool        text NOT NULL CHECK (length(tool) BETWEEN 1 AND 128),
  effect      text NOT NULL CHECK (effect IN ('allow', 'deny')),
  PRIMARY KEY (group_name, server_id, tool, effect)
);

CREATE TABLE api_keys (
  id            text PRIMARY KEY,
  user_email    text NOT NULL REFERENCES users(email) ON DELETE CASCADE,
  name          text NOT NULL,
  prefix        text NOT NULL,
  -- SHA-256 of the whole key, hex; the key itself is never stored
  key_hash      text NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  expires_at    timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_email);

CREATE TABLE audit_log (
  id           bigserial PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  kind         text NOT NULL CHECK (kind IN ('tool_call', 'admin_change', 'auth')),
  actor        text NOT NULL,
  action       text NOT NULL,
  target       text NOT NULL DEFAULT '',
  server_id    text,
  tool         text,
  outcome      text NOT NULL DEFAULT 'ok',
  duration_ms  integer,
  detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_kind_at_idx ON audit_log (kind, at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at DESC);

-- One row; its version goes up on every change that can alter who may use what, so caches
-- can check one number instead of re-reading the grants.
CREATE TABLE catalog_state (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  version    bigint NOT NULL DEFAULT 1,
  changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO catalog_state DEFAULT VALUES;

CREATE FUNCTION bump_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE catalog_state SET version = version + 1, changed_at = now();
  RETURN NULL;
END $$;

CREATE TRIGGER tenants_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER servers_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON servers
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER groups_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON groups
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER users_bump AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF is_admin ON users
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER membership_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_group_membership
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER mapping_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON group_tenant_mapping
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER tool_rules_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON group_tool_rules
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER api_keys_bump AFTER UPDATE OF revoked_at OR DELETE OR TRUNCATE ON api_keys
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
