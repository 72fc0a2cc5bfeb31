/**
 * The admin API's request and response shapes. These zod schemas validate requests, type the
 * handlers and generate the OpenAPI document (openapi.ts): one source for all three.
 */
import { z } from "zod";
import { Identity } from "../../../shared/identity";
import { CredentialsInput } from "../../../shared/credentials";
import { GroupName, HeaderMap, Slug, UpstreamUrl } from "../../../shared/schemas";

export const ReviewMode = z.enum(["auto", "hold", "findings"]);

/** What the OpenAPI document says about every date in a query. */
const DATE_HINT =
  "ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z or with an offset 2026-01-31T09:30:00%2B02:00 (+ written %2B in a URL); without a zone: UTC; a bare date 2026-01-31 is its midnight UTC";
const DATE_META = { type: "string", format: "date-time", examples: ["2026-01-31T00:00:00Z"] };
const LIMIT_HINT = "how many rows, 1-1000 (default 100)";
const ToolPattern = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .regex(/^[^\s]+$/, "must be a tool name or a glob with *, without spaces");

export const TenantBody = z
  .object({ name: z.string().trim().min(1, "must not be empty").max(200) })
  .meta({ id: "TenantInput", description: "A tenant: the unit groups are granted." });

export const ServerBody = z
  .object({
    tenant: Slug.describe("id of the tenant the server belongs to"),
    url: UpstreamUrl.describe("the upstream MCP endpoint (Streamable HTTP or SSE)"),
    headers: HeaderMap.optional().describe(
      "secret headers injected upstream; write-only. Omitted: the stored headers are kept; {}: cleared",
    ),
    enabled: z.boolean().default(true),
    transport: z.enum(["streamable-http", "sse"]).default("streamable-http"),
    description: z.string().max(500).default(""),
    credentials: CredentialsInput.optional().describe(
      "how requests are authorised upstream: shared (the headers above, default), per-user-token (each user's pasted token) or per-user-oauth (each user's OAuth tokens, obtained and refreshed by the gateway). Omitted: the stored settings are kept. The OAuth clientSecret is write-only",
    ),
    review: ReviewMode.optional().describe(
      "reviewed definitions: auto (tools as the upstream lists them), hold (users see each tool only in a definition an admin approved), findings (like hold, but a definition without poisoning findings is approved automatically). Omitted: the stored mode is kept (a new server: auto)",
    ),
  })
  .meta({ id: "ServerInput" });

/** The tool name rules of an override: what Open WebUI takes as a function name. */
const ToolName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 characters of [A-Za-z0-9_-]");

export const OverrideBody = z
  .object({
    name: ToolName.nullish().describe(
      "the name users see instead of the upstream's (null/omitted: the upstream's); on /mcp it is prefixed `<server>__` and must still fit 64 characters",
    ),
    description: z
      .string()
      .max(4000)
      .nullish()
      .describe("the description users see instead of the upstream's (null/omitted: the upstream's)"),
    hidden: z
      .boolean()
      .default(false)
      .describe("hide the tool from every user (calls fail like calls to an unknown tool)"),
  })
  .meta({ id: "ToolOverrideInput" });

/** A tool's upstream name in a path: 1-128 characters without control characters. */
export const UpstreamToolName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\u0000-\u001f\u007f]+$/, "must not contain control characters");

/** `?tool=`: a tool named in the query string, so every valid name works (the edge refuses an encoded `/` in a path). */
export const ToolQuery = z.object({
  tool: UpstreamToolName.describe(
    "the tool's upstream name, percent-encoded in the query string; any valid name, `/` included",
  ),
});

export const ChangeId = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const VirtualServerBody = z
  .object({
    description: z.string().max(500).default(""),
    groups: z
      .array(GroupName)
      .max(500)
      .describe("groups granted the virtual server (admins always are); a user also needs access to each real tool"),
    tools: z
      .array(
        z.object({
          server: Slug.describe("the real server"),
          tool: z.string().min(1).max(128).describe("the real tool's upstream name"),
          name: ToolName.nullish().describe(
            "the name on the virtual endpoint (omitted: the tool's name as its server shows it)",
          ),
          description: z
            .string()
            .max(4000)
            .nullish()
            .describe("the description on the virtual endpoint (omitted: the tool's)"),
        }),
      )
      .max(500),
  })
  .meta({ id: "VirtualServerInput" });

export const ReviewsQuery = z.object({
  state: z
    .enum(["pending", "approved", "rejected", "superseded"])
    .optional()
    .describe(
      "pending (awaiting a decision), approved, rejected, superseded (replaced by a newer listing before a decision); omitted: all",
    ),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe(LIMIT_HINT),
});

export const ToolRulesBody = z
  .object({
    allow: z
      .array(ToolPattern)
      .max(200)
      .default([])
      .describe("when non-empty, only these tools (globs with *) of the server are visible through the group"),
    deny: z.array(ToolPattern).max(200).default([]).describe("tools (globs with *) never visible through the group"),
  })
  .meta({ id: "ToolRules" });

export const GroupBody = z
  .object({
    tenants: z.array(Slug).max(500).describe("tenants the group grants"),
    tools: z.record(Slug, ToolRulesBody).default({}).describe("per server id: tool rules"),
    description: z.string().max(500).default(""),
  })
  .meta({ id: "GroupInput" });

export const UserBody = z
  .object({
    groups: z
      .array(GroupName)
      .max(500)
      .describe("the admin-managed groups; memberships from the identity provider (idpGroups) are left alone"),
    admin: z.boolean().default(false),
    name: z.string().trim().max(200).optional().describe("display name; omitted keeps the stored one"),
  })
  .meta({ id: "UserInput" });

export const KeyBody = z
  .object({
    name: z.string().trim().min(1, "must not be empty").max(100).default("api key"),
    expiresInDays: z.number().int().min(1).max(3650).optional(),
  })
  .meta({ id: "KeyInput" });

const IsoDate = z.iso.datetime();

/**
 * A date in a query (`since`, `until`): what `Date` parses (ISO 8601 recommended), within the
 * years 1-9999 that Postgres and every client can represent; anything else is a 400 naming the
 * field, never a Postgres error (22008/22009: `-010000-01-01T00:00:00Z` parses in JavaScript).
 */
const QueryDate = z.coerce
  .date({ error: "must be a date-time such as 2026-01-31T00:00:00Z" })
  .refine(
    (d) => d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999,
    "must be a date-time between the years 1 and 9999, such as 2026-01-31T00:00:00Z",
  );

export const AuditQuery = z.object({
  kind: z
    .enum(["tool_call", "admin_change", "auth"])
    .optional()
    .describe(
      "tool_call (MCP tool calls, denied ones included), admin_change (changes through the API or UI), auth (sign-ins, sign-outs, refused credentials, per-user connections); omitted: all",
    ),
  actor: z
    .string()
    .max(254)
    .optional()
    .describe("who acted: an email (case-insensitive, exact), or (unknown) for refused credentials"),
  server: Slug.optional().describe("a server id: its tool calls and the admin changes of it"),
  action: z
    .string()
    .max(100)
    .optional()
    .describe(
      "exact action, e.g. tenant.create, server.update, key.revoke, tools/call, login, logout, credential.refused",
    ),
  since: QueryDate.optional().meta(DATE_META).describe(`from this instant, inclusive: ${DATE_HINT}`),
  until: QueryDate.optional().meta(DATE_META).describe(`before this instant, exclusive: ${DATE_HINT}`),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe(LIMIT_HINT),
  before: z.coerce
    .number()
    .int()
    .min(1)
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .describe("paging: only rows with an id below this (give the last entry's id for the next page)"),
});

export const ChangesQuery = z.object({
  server: Slug.optional().describe("a server id; omitted: every server"),
  since: QueryDate.optional().meta(DATE_META).describe(`from this instant, inclusive: ${DATE_HINT}`),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe(LIMIT_HINT),
});

export const UsageQuery = z.object({
  since: QueryDate.optional()
    .meta(DATE_META)
    .describe(`window start, inclusive (default: 24 hours before until): ${DATE_HINT}`),
  until: QueryDate.optional()
    .meta(DATE_META)
    .describe(`window end, exclusive (default: now); must be after since: ${DATE_HINT}`),
  bucket: z
    .enum(["minute", "hour", "day"])
    .default("hour")
    .describe("the series' time step, buckets start on whole UTC minutes, hours or days (default hour)"),
  user: z.string().max(254).optional().describe("an email (case-insensitive)"),
  tenant: Slug.optional().describe("a tenant id (calls of servers it owns)"),
  server: Slug.optional().describe("a server id: its calls, denied names of the form <server>__<tool> included"),
  tool: z.string().max(128).optional().describe("the tool's name on its server (echo, not everything__echo)"),
});

/** The usage page's ranges (`/admin/reports?range=`): span and bucket of each. */
export const REPORT_RANGES = {
  "1h": [3_600_000, "minute"],
  "24h": [86_400_000, "hour"],
  "7d": [7 * 86_400_000, "day"],
  "30d": [30 * 86_400_000, "day"],
} as const satisfies Record<string, readonly [number, "minute" | "hour" | "day"]>;
/** `range` as an own key of {@link REPORT_RANGES} only (never an inherited name such as `constructor`). */
export const ReportRange = z.enum(
  Object.keys(REPORT_RANGES) as [keyof typeof REPORT_RANGES, ...(keyof typeof REPORT_RANGES)[]],
  { error: `must be one of ${Object.keys(REPORT_RANGES).join(", ")}` },
);

export const AccessQuery = z.object({
  tool: z
    .string()
    .max(200)
    .optional()
    .describe("a tool name (echo) or a qualified one (everything__echo): adds the verdict for that tool"),
});

// ---- responses (documentation only: the handlers build these shapes from the repositories)

export const ErrorOut = z
  .object({ error: z.string(), message: z.string(), field: z.string().optional() })
  .meta({ id: "Error", description: "Every 4xx: error code, message, and for 400 the field at fault." });

/** GET /admin/api/whoami: the verified identity of the caller (any signed-in user, not only admins). */
export const WhoAmIOut = Identity.meta({ id: "Identity" });

export const TenantOut = z
  .object({ id: z.string(), name: z.string(), servers: z.array(z.string()), createdAt: IsoDate, updatedAt: IsoDate })
  .meta({ id: "Tenant" });

export const ServerOut = z
  .object({
    id: z.string(),
    tenant: z.string(),
    url: z.string(),
    transport: z.enum(["streamable-http", "sse"]),
    enabled: z.boolean(),
    description: z.string(),
    headerNames: z.array(z.string()).describe("names of the stored secret headers; values are never returned"),
    credentials: z
      .record(z.string(), z.unknown())
      .describe("the credential mode and its settings; the OAuth client secret only as hasClientSecret"),
    connections: z.number().int().optional().describe("per-user modes: how many users have connected their account"),
    review: ReviewMode,
    createdAt: IsoDate,
    updatedAt: IsoDate,
  })
  .meta({ id: "Server" });

export const GroupOut = z
  .object({
    name: z.string(),
    description: z.string(),
    tenants: z.array(z.string()),
    tools: z.record(z.string(), z.object({ allow: z.array(z.string()), deny: z.array(z.string()) })),
    members: z.array(z.string()),
    createdAt: IsoDate,
  })
  .meta({ id: "Group" });

export const KeyOut = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string(),
    createdAt: IsoDate,
    lastUsedAt: IsoDate.nullable(),
    revokedAt: IsoDate.nullable(),
    expiresAt: IsoDate.nullable(),
  })
  .meta({ id: "ApiKey" });

export const KeyCreatedOut = z
  .object({
    id: z.string(),
    key: z.string().describe("the API key; shown this once, only its hash is stored"),
    name: z.string(),
    expiresAt: IsoDate.nullable(),
  })
  .meta({ id: "ApiKeyCreated" });

export const UserOut = z
  .object({
    email: z.string(),
    name: z.string(),
    admin: z.boolean(),
    groups: z.array(z.string()).describe("every membership"),
    idpGroups: z.array(z.string()).describe("memberships the identity provider manages (synced at login)"),
    activeKeys: z.number(),
    keys: z.array(KeyOut).optional().describe("on GET of one user"),
    createdAt: IsoDate,
    lastLoginAt: IsoDate.nullable(),
  })
  .meta({ id: "User" });

const Grant = z.object({ group: z.string(), tenant: z.string() });

export const AccessOut = z
  .object({
    email: z.string(),
    known: z.boolean(),
    admin: z.boolean(),
    adminVia: z.string().nullable().describe("why the user is an admin: 'admin flag' or 'group mcp-admin'"),
    groups: z.array(z.string()),
    servers: z.array(
      z.object({
        id: z.string(),
        tenant: z.string(),
        grants: z.array(Grant),
        chains: z.array(z.string()).describe("user -> group -> tenant -> server"),
        tools: z.array(
          z.object({ name: z.string(), qualified: z.string(), via: z.array(Grant), chains: z.array(z.string()) }),
        ),
        hiddenTools: z.array(z.object({ name: z.string(), reason: z.string() })),
      }),
    ),
    hiddenServers: z.array(z.object({ id: z.string(), tenant: z.string(), reason: z.string() })),
    virtualServers: z
      .array(
        z.object({
          id: z.string(),
          granted: z.boolean(),
          reason: z.string(),
          tools: z.array(
            z.object({
              name: z.string(),
              server: z.string(),
              tool: z.string(),
              visible: z.boolean(),
              reason: z.string(),
            }),
          ),
        }),
      )
      .describe("virtual servers: granted or not, and each tool's verdict through its real server"),
    tool: z
      .object({
        query: z.string(),
        matches: z.array(
          z.object({
            server: z.string(),
            name: z.string(),
            visible: z.boolean(),
            reason: z.string(),
            chains: z.array(z.string()),
          }),
        ),
      })
      .optional()
      .describe("with ?tool=: why that tool is or is not visible"),
  })
  .meta({ id: "Access" });

export const AuditOut = z
  .object({
    entries: z.array(
      z.object({
        id: z.number(),
        at: IsoDate,
        kind: z.string(),
        actor: z.string(),
        action: z.string(),
        target: z.string(),
        server: z.string().nullable(),
        tool: z.string().nullable(),
        outcome: z.string(),
        durationMs: z.number().nullable(),
        detail: z.unknown(),
      }),
    ),
  })
  .meta({ id: "AuditLog" });

export const HealthOut = z
  .object({
    windowSeconds: z.number().describe("how far back `live` looks (s)"),
    servers: z.array(
      z.object({
        server: z.string(),
        tenant: z.string(),
        enabled: z.boolean(),
        ok: z.boolean().nullable().describe("null: not refreshed yet"),
        error: z.string().nullable(),
        toolCount: z.number(),
        latencyMs: z.number().nullable(),
        protocolVersion: z.string().nullable(),
        serverInfo: z.unknown(),
        refreshedAt: IsoDate.nullable(),
        lastOkAt: IsoDate.nullable(),
        live: z
          .object({
            calls: z.number().describe("tool calls answered in the window (refused ones not counted)"),
            errors: z.number(),
            rate: z.number().describe("calls per second"),
            errorRatio: z.number().nullable().describe("errors / calls; null without calls"),
            p50Ms: z.number().nullable(),
            p95Ms: z.number().nullable(),
          })
          .describe("tool calls of the last `windowSeconds`, every mcp replica's, from the audit log"),
      }),
    ),
  })
  .meta({ id: "Health" });

export const ChangesOut = z
  .object({
    changes: z.array(
      z.object({
        id: z.number(),
        at: IsoDate,
        server: z.string(),
        kind: z.string(),
        name: z.string(),
        change: z.enum(["added", "removed", "changed"]),
        before: z.unknown(),
        after: z.unknown(),
      }),
    ),
  })
  .meta({ id: "ItemChanges" });

export const VirtualServerOut = z
  .object({
    id: z.string(),
    description: z.string(),
    groups: z.array(z.string()),
    tools: z.array(
      z.object({
        server: z.string(),
        tool: z.string(),
        name: z.string().nullable(),
        description: z.string().nullable(),
      }),
    ),
    createdAt: IsoDate,
    updatedAt: IsoDate,
  })
  .meta({ id: "VirtualServer" });

const Finding = z.object({ check: z.string(), path: z.string(), excerpt: z.string() });
export const ReviewOut = z
  .object({
    id: z.number(),
    at: IsoDate,
    server: z.string(),
    kind: z
      .enum(["tool", "prompt", "resource", "resource_template"])
      .describe("what is reviewed: prompts, resources and resource templates are reviewed like tools"),
    scope: z
      .enum(["set", "tool", "item"])
      .describe(
        "set: the first listing of a kind under hold, approved as a whole; tool: one tool; item: one prompt, resource or template",
      ),
    name: z
      .string()
      .describe(
        "the upstream key: a tool's or prompt's name, a resource's uri, a template's uriTemplate (empty for a set)",
      ),
    change: z.enum(["initial", "added", "changed"]),
    before: z.unknown().describe("the approved definition it would replace (null: none)"),
    after: z.unknown().describe("the definition as listed (a set: every definition)"),
    hash: z
      .string()
      .describe("content hash of the definition: a call is forwarded only while the upstream lists the approved hash"),
    findings: z.array(Finding).describe("tool-poisoning findings"),
    state: z.enum(["pending", "approved", "rejected", "superseded"]),
    decidedAt: IsoDate.nullable(),
    decidedBy: z.string().nullable(),
  })
  .meta({ id: "ToolReview" });
export const OverrideOut = z
  .object({ tool: z.string(), name: z.string().nullable(), description: z.string().nullable(), hidden: z.boolean() })
  .meta({ id: "ToolOverride" });

const Stats = {
  calls: z.number(),
  errors: z.number(),
  denied: z.number(),
  errorRate: z.number(),
  p50Ms: z.number().nullable(),
  p95Ms: z.number().nullable(),
};
const Keyed = z.array(z.object({ key: z.string(), ...Stats }));
export const UsageOut = z
  .object({
    since: IsoDate,
    until: IsoDate,
    bucket: z.enum(["minute", "hour", "day"]),
    totals: z.object(Stats),
    series: z.array(z.object({ at: IsoDate, ...Stats })),
    by: z.object({ user: Keyed, tenant: Keyed, server: Keyed, tool: Keyed }),
  })
  .meta({ id: "UsageReport" });

/**
 * Emails in admin paths. Looser than shared `Email` (z.email wants a dotted domain) so that
 * addresses like the default bootstrap admin `admin@localhost` can be managed too.
 */
export const AdminEmail = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(
    z
      .string()
      .max(254)
      .regex(/^[^@\s\/]+@[^@\s\/]+$/, "must be an email address"),
  );

export { GroupName, Slug };

/**
 * The API's path parameters (`defineRoute`'s `params`), each with what the document says about it
 * (openapi.ts shows the schema and the description beside the route).
 */
export const PathParam = {
  tenant: Slug.describe("the tenant's id"),
  server: Slug.describe("the server's id"),
  virtualServer: Slug.describe("the virtual server's id (its MCP endpoint is /mcp/<id>)"),
  group: GroupName.describe(
    "the group's name: 1-32 characters of [a-z0-9-], the first a letter or digit; case-insensitive (stored lower-case)",
  ),
  email: AdminEmail.meta({
    description: "the user's e-mail address, case-insensitive; percent-encoded in the path (@ as %40)",
    examples: ["alice@example.com"],
  }),
  keyId: Slug.describe("the API key's id, as listed (not its secret)"),
  change: ChangeId.describe("the change's id, as listed by GET /admin/api/servers/{id}/changes"),
  tool: UpstreamToolName.describe(
    "the tool's name at the upstream, percent-encoded. A name that contains / or \\ or is . or .. cannot be addressed in a path (the edge refuses or normalises it): use `/admin/api/servers/{id}/override?tool=<name>`",
  ),
};

// ---- self-service (GET /admin/api/me, /admin/api/me/keys): any signed-in user, their own data only

export const MyAccessOut = z
  .object({
    email: z.string(),
    admin: z.boolean(),
    adminVia: z.string().nullable(),
    groups: z.array(z.string()),
    servers: z.array(
      z.object({
        id: z.string(),
        tenant: z.string(),
        mcpUrl: z.string().describe("this server alone: names as the upstream gives them"),
        chains: z.array(z.string()).describe("user -> group -> tenant -> server"),
        tools: z.array(
          z.object({
            name: z.string(),
            qualified: z.string().describe("the name at /mcp"),
            via: z.array(z.string()).describe("the groups that grant it (empty for an admin)"),
            chains: z.array(z.string()),
          }),
        ),
      }),
    ),
    virtualServers: z.array(
      z.object({
        id: z.string(),
        mcpUrl: z.string(),
        reason: z.string(),
        tools: z.array(z.object({ name: z.string(), server: z.string(), tool: z.string() })),
      }),
    ),
  })
  .describe("only what the caller may use: hidden servers and tools are not named")
  .meta({ id: "MyAccess" });

export const ConnectOut = z
  .object({
    mcpUrl: z.string().describe("the aggregate endpoint: every server you may use, tool names <server>__<tool>"),
    header: z.string(),
    headerValue: z.string(),
    docs: z.string(),
  })
  .meta({ id: "Connect" });

export const MeOut = z
  .object({
    identity: WhoAmIOut,
    canIssueKeys: z
      .boolean()
      .describe("false when the caller authenticated with an API key: an API key cannot issue further keys"),
    access: MyAccessOut,
    keys: z.array(KeyOut),
    connect: ConnectOut,
  })
  .meta({ id: "Me" });
