-- A curated catalog (issue 15): reviewed tool definitions and per-tool overrides.
--
-- servers.review: 'auto' (default: users see what the upstream lists, today's behaviour), 'hold'
-- (users see a tool only in a definition an admin approved), 'findings' (like hold, but a new or
-- changed definition without poisoning findings is approved automatically).
--
-- approved_tools: the definition users are served under hold, pinned by the same content hash
-- server_items uses; a call is forwarded only while the upstream still lists that hash.
-- tool_reviews: what waits for an admin (one pending row per tool, or one for the whole set on
-- the first listing of a server under hold), with the poisoning findings, and its decision.
-- tool_overrides: rename / new description / hidden, per (server, upstream tool name).

ALTER TABLE servers ADD COLUMN review text NOT NULL DEFAULT 'auto' CHECK (review IN ('auto', 'hold', 'findings'));

CREATE TABLE approved_tools (
  server_id    text NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  name         text NOT NULL,
  definition   jsonb NOT NULL,
  hash         text NOT NULL,
  approved_at  timestamptz NOT NULL DEFAULT now(),
  approved_by  text NOT NULL,
  PRIMARY KEY (server_id, name)
);

CREATE TABLE tool_reviews (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  server_id   text NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  -- 'set': the first listing under hold (after = every tool definition); 'tool': one tool
  scope       text NOT NULL CHECK (scope IN ('set', 'tool')),
  -- the tool's upstream name ('' for a set)
  name        text NOT NULL DEFAULT '',
  change      text NOT NULL CHECK (change IN ('initial', 'added', 'changed')),
  -- the approved definition it would replace (null: none)
  before      jsonb,
  -- the definition as the upstream lists it (a set: an array of definitions)
  after       jsonb NOT NULL,
  -- content hash of `after` (a set: of its names and hashes)
  hash        text NOT NULL,
  findings    jsonb NOT NULL DEFAULT '[]'::jsonb,
  state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected', 'superseded')),
  decided_at  timestamptz,
  decided_by  text
);
CREATE UNIQUE INDEX tool_reviews_one_pending ON tool_reviews (server_id, scope, name) WHERE state = 'pending';
CREATE INDEX tool_reviews_server_idx ON tool_reviews (server_id, state, at DESC);

CREATE TABLE tool_overrides (
  server_id    text NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  tool         text NOT NULL CHECK (length(tool) BETWEEN 1 AND 128),
  -- the name users see instead (null: the upstream's)
  name         text CHECK (name ~ '^[A-Za-z0-9_-]{1,64}$'),
  -- the description users see instead (null: the upstream's)
  description  text CHECK (length(description) <= 4000),
  hidden       boolean NOT NULL DEFAULT false,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (server_id, tool)
);
CREATE UNIQUE INDEX tool_overrides_name_idx ON tool_overrides (server_id, name) WHERE name IS NOT NULL;

-- What users are served changes with approvals and overrides: caches must see it.
CREATE TRIGGER approved_tools_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON approved_tools
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER tool_overrides_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tool_overrides
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();

-- Virtual servers: `/mcp/<id>` shows a chosen list of (server, tool) pairs, each with an optional
-- new name and description, granted to groups directly. Calls go to the real upstream under the
-- real name, and only for users who could use the real tool (the catalog checks that per user).
-- An id is never also a server id (the admin API refuses both directions).
CREATE TABLE virtual_servers (
  id           text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
  description  text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE virtual_server_groups (
  virtual_id  text NOT NULL REFERENCES virtual_servers(id) ON DELETE CASCADE,
  group_name  text NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
  PRIMARY KEY (virtual_id, group_name)
);

CREATE TABLE virtual_tools (
  virtual_id   text NOT NULL REFERENCES virtual_servers(id) ON DELETE CASCADE,
  position     integer NOT NULL,
  server_id    text NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  -- the real tool's upstream name
  tool         text NOT NULL CHECK (length(tool) BETWEEN 1 AND 128),
  name         text CHECK (name ~ '^[A-Za-z0-9_-]{1,64}$'),
  description  text CHECK (length(description) <= 4000),
  PRIMARY KEY (virtual_id, position),
  UNIQUE (virtual_id, server_id, tool)
);

CREATE TRIGGER virtual_servers_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON virtual_servers
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER virtual_server_groups_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON virtual_server_groups
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
CREATE TRIGGER virtual_tools_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON virtual_tools
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();
