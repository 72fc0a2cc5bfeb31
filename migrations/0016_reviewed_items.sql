-- Reviewed definitions cover every kind a server lists: prompts, resources and resource
-- templates are approved like tools (a prompt's or a resource's description reaches the model
-- as a tool's does). `kind` joins the keys; the rows already there are tools. A single prompt,
-- resource or template is reviewed with scope 'item' (tools keep 'tool'); a set review is per
-- kind: the first listing under hold of a kind with nothing approved yet.
--
-- The name of a resource is its uri, of a template its uriTemplate (as in server_items).

ALTER TABLE approved_tools ADD COLUMN kind text NOT NULL DEFAULT 'tool'
  CHECK (kind IN ('tool', 'prompt', 'resource', 'resource_template'));
ALTER TABLE approved_tools DROP CONSTRAINT approved_tools_pkey;
ALTER TABLE approved_tools ADD PRIMARY KEY (server_id, kind, name);

ALTER TABLE tool_reviews ADD COLUMN kind text NOT NULL DEFAULT 'tool'
  CHECK (kind IN ('tool', 'prompt', 'resource', 'resource_template'));
ALTER TABLE tool_reviews DROP CONSTRAINT tool_reviews_scope_check;
ALTER TABLE tool_reviews ADD CONSTRAINT tool_reviews_scope_check
  CHECK (scope IN ('set', 'tool', 'item') AND (scope <> 'tool' OR kind = 'tool') AND (scope <> 'item' OR kind <> 'tool'));
DROP INDEX tool_reviews_one_pending;
CREATE UNIQUE INDEX tool_reviews_one_pending ON tool_reviews (server_id, kind, scope, name) WHERE state = 'pending';
