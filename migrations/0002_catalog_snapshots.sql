-- What each upstream offers, as last seen by the catalog worker, so initialize and the list
-- methods are answered without contacting every upstream; health per server; and the history of
-- changes to tool definitions (the admin "tool changes" view).

CREATE TABLE server_items (
  server_id   text NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('tool', 'prompt', 'resource', 'resource_template')),
  -- tool/prompt name, resource URI or URI template
  name        text NOT NULL,
  -- the item exactly as the upstream listed it
  definition  jsonb NOT NULL,
  -- SHA-256 of the canonical definition, to detect changes cheaply
  hash        text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (server_id, kind, name)
);

CREATE TABLE server_status (
  server_id         text PRIMARY KEY REFERENCES servers(id) ON DELETE CASCADE,
  ok                boolean NOT NULL,
  error             text,
  -- what the upstream answered at initialize
  protocol_version  text,
  server_info       jsonb,
  capabilities      jsonb,
  instructions      text,
  tool_count        integer NOT NULL DEFAULT 0,
  latency_ms        integer,
  refreshed_at      timestamptz NOT NULL DEFAULT now(),
  last_ok_at        timestamptz
);

CREATE TABLE item_changes (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  server_id   text NOT NULL,
  kind        text NOT NULL,
  name        text NOT NULL,
  change      text NOT NULL CHECK (change IN ('added', 'removed', 'changed')),
  before      jsonb,
  after       jsonb
);
CREATE INDEX item_changes_server_idx ON item_changes (server_id, at DESC);

-- Snapshots change what users see, so they bump the catalog version too.
CREATE TRIGGER server_items_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON server_items
  FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_version();

CREATE INDEX audit_log_tool_calls_idx ON audit_log (at DESC, server_id, tool) WHERE kind = 'tool_call';
