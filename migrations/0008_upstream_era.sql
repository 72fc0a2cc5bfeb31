-- The protocol era of each upstream, as the catalog last detected it (MCP 2026-07-28 versioning:
-- "cache the result ... re-probing if the cached assumption later fails"), kept with the
-- snapshot so the gateway knows how to talk to a server without probing it per request:
-- - era: 'modern' (2026-07-28 and later: stateless, server/discover) or 'legacy' (initialize);
-- - transport_detected: 'streamable-http', or 'sse' for the deprecated HTTP+SSE transport (legacy
--   only; found by falling back even when the row says streamable-http);
-- - supported_versions: the versions the server said it supports (server/discover), or the one
--   version its initialize answered;
-- - era_checked_at: when a probe (server/discover, then initialize, then HTTP+SSE) last decided it;
-- - cache_hints: ttlMs / cacheScope the server put on its discover and list results, per method.
-- A failed listing keeps the previous values, like the rest of the initialize data.

ALTER TABLE server_status
  ADD COLUMN era                text CHECK (era IN ('modern', 'legacy')),
  ADD COLUMN transport_detected text CHECK (transport_detected IN ('streamable-http', 'sse')),
  ADD COLUMN supported_versions jsonb CHECK (supported_versions IS NULL OR jsonb_typeof(supported_versions) = 'array'),
  ADD COLUMN era_checked_at     timestamptz,
  ADD COLUMN cache_hints        jsonb CHECK (cache_hints IS NULL OR jsonb_typeof(cache_hints) = 'object');
