/**
 * Zod schemas shared by the workers and the tooling: identifiers, request bodies and database
 * rows. One schema validates, types and (in the admin worker) documents each shape.
 */
import { z } from "zod";
import { StoredCredentials } from "./credentials";

/** Server ids, tenant ids and group names: `[a-z0-9][a-z0-9-]{0,31}`. */
export const Slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "must match [a-z0-9][a-z0-9-]{0,31}");
export const TenantId = Slug;
export const ServerId = Slug;
/** Group names are case-insensitive: `MCP-Admin` is stored as `mcp-admin`. */
export const GroupName = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(Slug);
/**
 * Emails are case-insensitive and stored lower-case. Deliberately looser than RFC-strict
 * validators: local domains such as `admin@localhost` (the default bootstrap admin) are valid.
 */
export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(
    z
      .string()
      .max(254)
      .regex(/^[^\s@]+@[^\s@]+$/, "must be an email address"),
  );

/** The group that grants every server, kept from the old stack. */
export const ADMIN_GROUP = "mcp-admin";

/** Printable ASCII, 16-200 characters, no space at either end (HTTP trims those): every API key the gateway accepts. */
export const API_KEY_SHAPE = /^[\x21-\x7e][\x20-\x7e]{14,198}[\x21-\x7e]$/;

/** ADMIN_API_KEY as the operator gives it: accepted exactly as given when it fits {@link API_KEY_SHAPE}. */
export const AdminApiKey = z
  .string()
  .regex(
    API_KEY_SHAPE,
    "must be 16-200 printable ASCII characters (letters, digits, punctuation, inner spaces), without a space at either end",
  );

/** Header names and values as HTTP allows them. */
export const HeaderMap = z.record(
  z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be an HTTP header name"),
  z
    .string()
    .max(8192)
    .regex(/^[^\r\n\0]*$/, "must not contain line breaks"),
);

export const UpstreamUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), "must be an http(s) URL");

export const TenantRow = z.object({
  id: z.string(),
  name: z.string(),
  created_at: z.coerce.date(),
  updated_at: z.coerce.date(),
});
export type TenantRow = z.infer<typeof TenantRow>;

export const ServerRow = z.object({
  id: z.string(),
  tenant_id: z.string(),
  url: z.string(),
  transport: z.enum(["streamable-http", "sse"]),
  headers: z.record(z.string(), z.string()),
  /** Credential mode and settings (migration 0011, shared/credentials.ts); absent: shared. */
  credentials: StoredCredentials.optional(),
  enabled: z.boolean(),
  description: z.string(),
  /** Reviewed definitions (migration 0012): auto (also when absent), hold, findings. */
  review: z.enum(["auto", "hold", "findings"]).optional(),
  created_at: z.coerce.date(),
  updated_at: z.coerce.date(),
});
export type ServerRow = z.infer<typeof ServerRow>;

export const ToolRuleRow = z.object({
  group_name: z.string(),
  server_id: z.string(),
  tool: z.string(),
  effect: z.enum(["allow", "deny"]),
});
export type ToolRuleRow = z.infer<typeof ToolRuleRow>;

export const UserRow = z.object({
  email: z.string(),
  display_name: z.string(),
  is_admin: z.boolean(),
  created_at: z.coerce.date(),
  last_login_at: z.coerce.date().nullable(),
});
export type UserRow = z.infer<typeof UserRow>;

export const ApiKeyRow = z.object({
  id: z.string(),
  user_email: z.string(),
  name: z.string(),
  prefix: z.string(),
  created_at: z.coerce.date(),
  last_used_at: z.coerce.date().nullable(),
  revoked_at: z.coerce.date().nullable(),
  expires_at: z.coerce.date().nullable(),
});
export type ApiKeyRow = z.infer<typeof ApiKeyRow>;
