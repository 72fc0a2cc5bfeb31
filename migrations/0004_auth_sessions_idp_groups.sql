-- Group memberships that come from the identity provider's groups claim (issue 4).
-- The auth worker adds a membership with source 'idp' when the IdP names a group the gateway
-- knows, and removes it when the IdP stops naming it; memberships set by an admin ('admin') are
-- never touched by it. So IdP groups grant tenants exactly like groups set in the admin.
ALTER TABLE user_group_membership
  ADD COLUMN source text NOT NULL DEFAULT 'admin' CHECK (source IN ('admin', 'idp'));
