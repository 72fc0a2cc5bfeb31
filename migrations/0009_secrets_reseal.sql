-- Secrets at rest (shared/secrets.ts): servers.headers hold sealed values, and re-sealing them
-- under a new key (shared/repos/secrets.repo.ts#resealSecrets, at start) changes the stored
-- bytes but not what the upstream receives. That transaction sets `mcpgw.reseal`; then
-- servers.updated_at stays, so the catalog does not take it for a changed server and re-list it.

CREATE OR REPLACE FUNCTION servers_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('mcpgw.reseal', true) = 'on' THEN
    RETURN NEW;
  END IF;
  NEW.updated_at = clock_timestamp();
  RETURN NEW;
END $$;
