-- Catalog refresh support:
-- - server_items.position keeps the order the upstream listed its items in, so lists through the
--   gateway come back in the upstream's order;
-- - servers.updated_at moves (to the statement's clock time) whenever what the catalog lists
--   depends on changes (url, transport, headers, enabled), so the catalog worker sees that its
--   snapshot predates the change and refreshes the server on next use.

ALTER TABLE server_items ADD COLUMN position integer NOT NULL DEFAULT 0;

CREATE FUNCTION servers_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at = clock_timestamp();
  RETURN NEW;
END $$;

CREATE TRIGGER servers_touch BEFORE UPDATE ON servers FOR EACH ROW
  WHEN (OLD.url IS DISTINCT FROM NEW.url OR OLD.transport IS DISTINCT FROM NEW.transport
        OR OLD.headers IS DISTINCT FROM NEW.headers OR OLD.enabled IS DISTINCT FROM NEW.enabled)
  EXECUTE FUNCTION servers_touch_updated_at();
