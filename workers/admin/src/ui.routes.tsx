/**
 * The admin UI at /admin: server-rendered pages (Hono JSX) and their form posts. Every post
 * passes the Origin check and the CSRF token (csrf.ts), then goes through the same service
 * functions and zod schemas as the REST API, so the UI can do nothing the API could not.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { z } from "zod";
import { listApiKeys } from "../../../shared/repos/apikeys.repo";
import { listAudit } from "../../../shared/repos/audit.repo";
import { listTenants } from "../../../shared/repos/tenants.repo";
import { connectionCounts } from "../../../shared/repos/connections.repo";
import {
  getServer,
  listItemChanges,
  listServerHealth,
  listServers,
  toolNamesByServer,
  type Server,
} from "../../../shared/repos/servers.repo";
import { getGroup, listGroups } from "../../../shared/repos/groups.repo";
import { getAdminUser, listUsers } from "../../../shared/repos/admin-users.repo";
import { overviewCounts, usageReport } from "../../../shared/repos/reports.repo";
import * as S from "./api.schema";
import * as svc from "./admin.service";
import { explainAccess } from "./access.explain";
import {
  db,
  healthReport,
  askCatalogToRefresh,
  revokeConnections,
  revokeDropped,
  secretsRing,
  usageWindow,
} from "./api.routes";
import { ApiError, parseOr400 } from "./errors";
import type { AdminApp, AdminHono } from "./app";
import { GroupsPage, ServersPage, TenantsPage, UserPage, UsersPage, rulesText, type PageBase } from "./ui/pages.manage";
import { AccessPage, AuditPage, ChangesPage, HealthPage, OverviewPage, ReportsPage } from "./ui/pages.insight";
import { notFoundPage } from "./ui/pages.errors";
import { ReviewsPage, toolsText, VirtualServersPage } from "./ui/pages.curated";
import { listOverrides, listPendingReviews } from "../../../shared/repos/review.repo";
import { OverridesCard, toolRows, type OverrideDraft } from "./ui/pages.overrides";
import { listVirtualServers } from "../../../shared/repos/virtual.repo";
import { secureOrigin } from "./admin.middleware";
import { CONFIRM_FIELD, ConfirmPage, type Confirmation } from "./ui/pages.confirm";

type C = Context<AdminApp>;
type Form = Record<string, string | File | (string | File)[]>;

const FLASH_COOKIE = "admin_flash";

/** The page basics; takes (and clears) the flash message a redirect left in a cookie. */
export function base(c: C, error?: string | null): PageBase {
  const flash = getCookie(c, FLASH_COOKIE);
  if (flash !== undefined) deleteCookie(c, FLASH_COOKIE, { path: "/admin" });
  let ok: string | null = null;
  try {
    ok = flash ? decodeURIComponent(flash).slice(0, 300) : null;
  } catch {
    ok = null;
  }
  return {
    email: c.get("identity").email,
    token: c.get("csrfToken") ?? "",
    logout: c.get("logoutToken"),
    ok,
    error: error ?? null,
  };
}

const actor = (c: C) => c.get("identity").email.toLowerCase();
const text = (f: Form, k: string) => (typeof f[k] === "string" ? (f[k] as string).trim() : "");
const many = (f: Form, k: string) =>
  (Array.isArray(f[k]) ? (f[k] as unknown[]) : f[k] === undefined ? [] : [f[k]]).filter(
    (x): x is string => typeof x === "string" && x !== "",
  );
const checked = (f: Form, k: string) => f[k] === "on";

async function form(c: C): Promise<Form> {
  return (await c.req.parseBody({ all: true })) as Form;
}

/** Redirect after a successful post (303: the browser follows with GET); the message rides in a short-lived cookie, not the URL. */
export function done(c: C, to: string, ok: string) {
  setCookie(c, FLASH_COOKIE, encodeURIComponent(ok), {
    path: "/admin",
    httpOnly: true,
    sameSite: "Strict",
    maxAge: 60,
    secure: secureOrigin(c),
  });
  return c.redirect(to, 303);
}

/** Runs a form action; an ApiError re-renders the page through `fail` with its message. */
async function attempt(
  c: C,
  action: () => Promise<Response>,
  fail: (message: string) => Promise<Response>,
): Promise<Response> {
  try {
    return await action();
  } catch (err) {
    if (err instanceof ApiError) return fail(err.message);
    throw err;
  }
}

/** `Name: value` lines to a header map; an empty text means "keep the stored headers". */
function parseHeaders(t: string): Record<string, string> | undefined {
  const lines = t.split(/\r?\n/).filter((l) => l.trim());
  if (!lines.length) return undefined;
  const out: Record<string, string> = {};
  for (const [i, l] of lines.entries()) {
    const at = l.indexOf(":");
    if (at <= 0) throw new ApiError(400, "invalid_request", `headers: line ${i + 1} is not "Name: value"`, "headers");
    out[l.slice(0, at).trim()] = l.slice(at + 1).trim();
  }
  return out;
}

/** `server allow|deny pattern` lines to the API's `tools` object. */
function parseRules(t: string): Record<string, { allow: string[]; deny: string[] }> {
  const out: Record<string, { allow: string[]; deny: string[] }> = {};
  for (const [i, l] of t.split(/\r?\n/).entries()) {
    const parts = l.trim().split(/\s+/).filter(Boolean);
    if (!parts.length) continue;
    const [server, effect, tool] = parts;
    if (parts.length !== 3 || (effect !== "allow" && effect !== "deny"))
      throw new ApiError(400, "invalid_request", `tools: line ${i + 1} must be "server allow|deny tool"`, "tools");
    const r = (out[server!] ??= { allow: [], deny: [] });
    r[effect].push(tool!);
  }
  return out;
}

/** `server tool [new-name] [| new description]` lines to the API's virtual server `tools`. */
function parseVirtualTools(t: string): { server: string; tool: string; name?: string; description?: string }[] {
  const out: { server: string; tool: string; name?: string; description?: string }[] = [];
  for (const [i, l] of t.split(/\r?\n/).entries()) {
    const bar = l.indexOf("|");
    const head = (bar >= 0 ? l.slice(0, bar) : l).trim().split(/\s+/).filter(Boolean);
    if (!head.length) continue;
    if (head.length < 2 || head.length > 3)
      throw new ApiError(
        400,
        "invalid_request",
        `tools: line ${i + 1} must be "server tool [new-name] [| new description]"`,
        "tools",
      );
    const description = bar >= 0 ? l.slice(bar + 1).trim() : "";
    out.push({
      server: head[0]!,
      tool: head[1]!,
      ...(head[2] ? { name: head[2] } : {}),
      ...(description ? { description } : {}),
    });
  }
  return out;
}

const decode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** The confirmation a destructive form post needs (delete, revoke), from its path (and query); null for every other post. */
export function confirmationFor(path: string, query: URLSearchParams = new URLSearchParams()): Confirmation | null {
  let m = /^\/admin\/(tenants|servers|groups|virtual)\/([^/]+)\/delete$/.exec(path);
  if (m) {
    const id = decode(m[2]!);
    const what = { tenants: "tenant", servers: "server", groups: "group", virtual: "virtual server" }[
      m[1] as "tenants"
    ];
    const consequence = {
      tenants: `The tenant ${id} is removed; a tenant that still has servers cannot be deleted.`,
      servers: `The server ${id}, its stored secrets and its listed tools are removed; nobody can use its tools any more.`,
      groups: `The group ${id} and its grants are removed; its members lose what only this group gave them.`,
      virtual: `The endpoint /mcp/${id} stops answering.`,
    }[m[1] as "tenants"];
    return { label: `Delete ${what} ${id}`, consequence, back: `/admin/${m[1]}` };
  }
  m = /^\/admin\/servers\/([^/]+)\/overrides\/delete$/.exec(path);
  if (m) {
    const id = decode(m[1]!);
    const tool = query.get("tool");
    // no tool: nothing to confirm, the handler answers the 400
    if (!tool) return null;
    return {
      label: `Remove the override of ${tool}`,
      consequence: `Users see the tool ${tool} of server ${id} as the upstream lists it again.`,
      back: `/admin/servers?edit=${encodeURIComponent(id)}#overrides`,
    };
  }
  m = /^\/admin\/users\/([^/]+)\/delete$/.exec(path);
  if (m) {
    const email = decode(m[1]!);
    return {
      label: `Delete user ${email}`,
      consequence: `The user ${email} and every API key of theirs are removed.`,
      back: `/admin/users/${m[1]}`,
    };
  }
  m = /^\/admin\/users\/([^/]+)\/keys\/([^/]+)\/revoke$/.exec(path);
  if (m) {
    const email = decode(m[1]!);
    return {
      label: `Revoke key ${decode(m[2]!)}`,
      consequence: `Every client using this key of ${email} is refused from now on.`,
      back: `/admin/users/${m[1]}`,
    };
  }
  return null;
}

/** Mounts the UI pages and their form handlers. */
export function registerUiRoutes(app: AdminHono) {
  // any other /admin page: an HTML 404 (the API keeps its JSON 404)
  app.get("/admin/*", async (c, next) => {
    await next();
    if (
      c.res.status === 404 &&
      !c.req.path.startsWith("/admin/api") &&
      c.res.headers.get("content-type")?.includes("application/json")
    ) {
      c.res = await c.html(notFoundPage(c.get("identity").email, `No page ${c.req.path}.`), 404);
    }
  });
  // destructive posts (delete, revoke) act only with confirm=yes; without it they answer the
  // confirmation page, whose own form (CSRF token included) posts again with it
  app.post("/admin/*", async (c, next) => {
    const { search, searchParams } = new URL(c.req.url);
    const what = confirmationFor(c.req.path, searchParams);
    if (!what || (await form(c))[CONFIRM_FIELD] === "yes") return next();
    return c.html(<ConfirmPage {...base(c)} what={what} action={c.req.path + search} />);
  });
  // ---- overview
  app.get("/admin", async (c) => {
    const data = await db(c, async (sql) => {
      return {
        counts: await overviewCounts(sql),
        health: await listServerHealth(sql),
        recent: await listAudit(sql, { kind: "admin_change", limit: 10 }),
      };
    });
    return c.html(<OverviewPage {...base(c)} {...data} />);
  });
  app.get("/admin/", (c) => c.redirect("/admin", 301));

  // ---- tenants
  const tenantsPage = async (c: C, values: Record<string, string>, editing: boolean, error?: string) => {
    const tenants = await db(c, listTenants);
    return c.html(
      <TenantsPage {...base(c, error)} tenants={tenants} values={values} editing={editing} />,
      error ? 400 : 200,
    );
  };
  app.get("/admin/tenants", async (c) => {
    const edit = c.req.query("edit");
    if (!edit) return tenantsPage(c, {}, false);
    const t = (await db(c, listTenants)).find((x) => x.id === edit);
    if (!t) return c.html(notFoundPage(c.get("identity").email, `No tenant ${edit}.`), 404);
    return tenantsPage(c, { id: t.id, name: t.name }, true);
  });
  app.post("/admin/tenants", async (c) => {
    const f = await form(c);
    const values = { id: text(f, "id"), name: text(f, "name") };
    return attempt(
      c,
      async () => {
        const id = parseOr400(S.Slug, values.id, "id");
        const r = await db(c, (sql) =>
          svc.putTenant(sql, actor(c), id, parseOr400(S.TenantBody, { name: values.name })),
        );
        return done(c, "/admin/tenants", `Tenant ${id} ${r.created ? "created" : "saved"}.`);
      },
      (msg) => tenantsPage(c, values, false, msg),
    );
  });
  app.post("/admin/tenants/:id/delete", async (c) => {
    const id = c.req.param("id");
    return attempt(
      c,
      async () => {
        await db(c, (sql) => svc.removeTenant(sql, actor(c), parseOr400(S.Slug, id, "id")));
        return done(c, "/admin/tenants", `Tenant ${id} deleted.`);
      },
      (msg) => tenantsPage(c, {}, false, msg),
    );
  });

  // ---- servers
  /** The credential settings of the server form (ServerBody's `credentials`); no mode chosen: kept as stored. */
  const credentialsFromForm = (f: Form) => {
    const mode = text(f, "credMode");
    if (!mode) return undefined;
    const opt = (k: string) => text(f, k) || undefined;
    // the prefix field is sent as typed (an empty prefix is a choice), the others only when filled
    const prefix = typeof f.credPrefix === "string" ? f.credPrefix : undefined;
    return {
      mode,
      ...(opt("credHeader") ? { header: opt("credHeader") } : {}),
      ...(prefix !== undefined && mode !== "shared" && text(f, "credHeader") ? { prefix } : {}),
      ...(mode === "per-user-oauth"
        ? {
            oauth: {
              clientId: text(f, "oauthClientId"),
              scopes: text(f, "oauthScopes"),
              ...(opt("oauthSecret") ? { clientSecret: opt("oauthSecret") } : {}),
              ...(opt("oauthIssuer") ? { issuer: opt("oauthIssuer") } : {}),
              ...(opt("oauthAuthorize") ? { authorizationEndpoint: opt("oauthAuthorize") } : {}),
              ...(opt("oauthToken") ? { tokenEndpoint: opt("oauthToken") } : {}),
              ...(opt("oauthRevoke") ? { revocationEndpoint: opt("oauthRevoke") } : {}),
            },
          }
        : {}),
    };
  };
  const serversPage = async (
    c: C,
    values: Record<string, string | boolean>,
    editId: string | null,
    error?: string,
    draft?: OverrideDraft,
  ) => {
    const [servers, tenants, connections, listed, overrides] = await db(c, (sql) =>
      Promise.all([
        listServers(sql),
        listTenants(sql),
        connectionCounts(sql),
        editId ? toolNamesByServer(sql, [editId]) : null,
        editId ? listOverrides(sql, editId) : null,
      ]),
    );
    const editing = editId ? (servers.find((s) => s.id === editId) ?? null) : null;
    return c.html(
      <ServersPage
        {...base(c, error)}
        servers={servers}
        tenants={tenants}
        values={values}
        editing={editing}
        connections={connections}
      >
        {editing && (
          <OverridesCard
            token={c.get("csrfToken") ?? ""}
            server={editing.id}
            rows={toolRows(listed?.get(editing.id) ?? [], overrides ?? [])}
            draft={draft}
          />
        )}
      </ServersPage>,
      error ? 400 : 200,
    );
  };
  /** The server form's values of a stored server (no secrets). */
  const serverValues = (s: Server) => {
    const cr = s.credentials as {
      mode: string;
      header?: string;
      prefix?: string;
      oauth?: Record<string, string | undefined>;
    };
    const o = cr.oauth ?? {};
    return {
      id: s.id,
      tenant: s.tenant,
      url: s.url,
      transport: s.transport,
      enabled: s.enabled,
      description: s.description,
      credMode: cr.mode,
      credHeader: cr.header ?? "",
      credPrefix: cr.prefix ?? "",
      oauthClientId: o.clientId ?? "",
      oauthScopes: o.scopes ?? "",
      oauthIssuer: o.issuer ?? "",
      oauthAuthorize: o.authorizationEndpoint ?? "",
      oauthToken: o.tokenEndpoint ?? "",
      oauthRevoke: o.revocationEndpoint ?? "",
      review: s.review,
    };
  };
  /** A server's edit page again (after a refused override), or the 404 page. */
  const serverEditPage = async (c: C, id: string, error?: string, draft?: OverrideDraft) => {
    const s = await db(c, (sql) => getServer(sql, id));
    if (!s) return c.html(notFoundPage(c.get("identity").email, `No server ${id}.`), 404);
    return serversPage(c, serverValues(s), s.id, error, draft);
  };
  app.get("/admin/servers", async (c) => {
    const edit = c.req.query("edit");
    if (!edit) return serversPage(c, { enabled: true }, null);
    return serverEditPage(c, edit);
  });
  app.post("/admin/servers", async (c) => {
    const f = await form(c);
    const values = {
      id: text(f, "id"),
      tenant: text(f, "tenant"),
      url: text(f, "url"),
      transport: text(f, "transport") || "streamable-http",
      enabled: checked(f, "enabled"),
      description: text(f, "description"),
      review: text(f, "review") || "auto",
      ...Object.fromEntries(
        [
          "credMode",
          "credHeader",
          "credPrefix",
          "oauthClientId",
          "oauthScopes",
          "oauthIssuer",
          "oauthAuthorize",
          "oauthToken",
          "oauthRevoke",
        ].map((k) => [k, text(f, k)]),
      ),
    };
    const existing = values.id ? await db(c, (sql) => getServer(sql, values.id)).catch(() => null) : null;
    return attempt(
      c,
      async () => {
        const id = parseOr400(S.Slug, values.id, "id");
        const headers = checked(f, "clearHeaders") ? {} : parseHeaders(typeof f.headers === "string" ? f.headers : "");
        const input = parseOr400(S.ServerBody, {
          ...values,
          id: undefined,
          headers,
          credentials: credentialsFromForm(f),
        });
        const ring = await secretsRing(c);
        const r = await db(c, (sql) => svc.putServer(sql, actor(c), id, input, ring));
        askCatalogToRefresh(c, id);
        await revokeDropped(c, r.dropped);
        return done(c, "/admin/servers", `Server ${id} ${r.created ? "created" : "saved"}.`);
      },
      (msg) => serversPage(c, values, existing?.id ?? null, msg),
    );
  });
  app.post("/admin/servers/:id/delete", async (c) => {
    const id = c.req.param("id");
    return attempt(
      c,
      async () => {
        const server = parseOr400(S.Slug, id, "id");
        await revokeConnections(c, { server });
        await db(c, (sql) => svc.removeServer(sql, actor(c), server));
        return done(c, "/admin/servers", `Server ${id} deleted.`);
      },
      (msg) => serversPage(c, { enabled: true }, null, msg),
    );
  });
  // tool overrides (issue 15): the same service, checks and audit rows as PUT/DELETE /admin/api/servers/{id}/overrides/{tool}
  // (the tool in the query: an upstream's tool name may hold a "/", which a path cannot carry past the edge)
  app.post("/admin/servers/:id/overrides", async (c) => {
    const f = await form(c);
    const id = c.req.param("id");
    const tool = c.req.query("tool") ?? "";
    const draft: OverrideDraft = {
      tool,
      name: text(f, "name"),
      description: text(f, "description"),
      hidden: checked(f, "hidden"),
    };
    const edit = `/admin/servers?edit=${encodeURIComponent(id)}#overrides`;
    return attempt(
      c,
      async () => {
        const server = parseOr400(S.Slug, id, "id");
        const name = parseOr400(S.UpstreamToolName, tool, "tool");
        const input = parseOr400(S.OverrideBody, {
          name: draft.name || null,
          description: draft.description || null,
          hidden: draft.hidden,
        });
        const r = await db(c, (sql) => svc.putOverride(sql, actor(c), server, name, input));
        return done(
          c,
          edit,
          `Override of ${name} ${r.created ? "created" : "saved"}${r.item.hidden ? ": hidden for everyone" : r.item.name ? `: shown as ${r.item.name}` : ""}.`,
        );
      },
      (msg) => serverEditPage(c, id, `${tool}: ${msg}`, draft),
    );
  });
  app.post("/admin/servers/:id/overrides/delete", async (c) => {
    const id = c.req.param("id");
    const tool = c.req.query("tool") ?? "";
    return attempt(
      c,
      async () => {
        const server = parseOr400(S.Slug, id, "id");
        const name = parseOr400(S.UpstreamToolName, tool, "tool");
        await db(c, (sql) => svc.removeOverride(sql, actor(c), server, name));
        return done(c, `/admin/servers?edit=${encodeURIComponent(server)}#overrides`, `Override of ${name} removed.`);
      },
      (msg) => serverEditPage(c, id, `${tool}: ${msg}`),
    );
  });
  app.post("/admin/servers/:id/refresh", async (c) => {
    const id = parseOr400(S.Slug, c.req.param("id"), "id");
    askCatalogToRefresh(c, id);
    return done(c, "/admin/health", `Asked the catalog to re-list the server ${id}.`);
  });

  // ---- groups
  const groupsPage = async (c: C, values: Record<string, string | string[]>, editing: boolean, error?: string) => {
    const [groups, tenants, servers] = await db(c, (sql) =>
      Promise.all([listGroups(sql), listTenants(sql), listServers(sql)]),
    );
    return c.html(
      <GroupsPage
        {...base(c, error)}
        groups={groups}
        tenants={tenants}
        servers={servers}
        values={values}
        editing={editing}
      />,
      error ? 400 : 200,
    );
  };
  app.get("/admin/groups", async (c) => {
    const edit = c.req.query("edit");
    if (!edit) return groupsPage(c, {}, false);
    const g = await db(c, (sql) => getGroup(sql, edit.toLowerCase()));
    if (!g) return c.html(notFoundPage(c.get("identity").email, `No group ${edit}.`), 404);
    return groupsPage(
      c,
      { name: g.name, description: g.description, tenants: g.tenants, rules: rulesText(g.tools) },
      true,
    );
  });
  app.post("/admin/groups", async (c) => {
    const f = await form(c);
    const values = {
      name: text(f, "name"),
      description: text(f, "description"),
      tenants: many(f, "tenants"),
      rules: typeof f.rules === "string" ? f.rules : "",
    };
    return attempt(
      c,
      async () => {
        const name = parseOr400(S.GroupName, values.name, "name");
        const input = parseOr400(S.GroupBody, {
          tenants: values.tenants,
          description: values.description,
          tools: parseRules(values.rules),
        });
        const r = await db(c, (sql) => svc.putGroup(sql, actor(c), name, input));
        return done(c, "/admin/groups", `Group ${name} ${r.created ? "created" : "saved"}.`);
      },
      (msg) => groupsPage(c, values, false, msg),
    );
  });
  app.post("/admin/groups/:name/delete", async (c) => {
    const name = c.req.param("name");
    return attempt(
      c,
      async () => {
        await db(c, (sql) => svc.removeGroup(sql, actor(c), parseOr400(S.GroupName, name, "name")));
        return done(c, "/admin/groups", `Group ${name} deleted.`);
      },
      (msg) => groupsPage(c, {}, false, msg),
    );
  });

  // ---- users and keys
  const usersPage = async (c: C, values: Record<string, string | string[] | boolean>, error?: string) => {
    const [users, groups] = await db(c, (sql) => Promise.all([listUsers(sql), listGroups(sql)]));
    return c.html(<UsersPage {...base(c, error)} users={users} groups={groups} values={values} />, error ? 400 : 200);
  };
  const userPage = async (
    c: C,
    email: string,
    opts: { error?: string; newKey?: { id: string; key: string; name: string } } = {},
  ) => {
    const data = await db(c, async (sql) => {
      const user = await getAdminUser(sql, email);
      return user && { user, keys: await listApiKeys(sql, email), groups: await listGroups(sql) };
    });
    if (!data) return c.html(notFoundPage(c.get("identity").email, `No user ${email}.`), 404);
    // the form edits the admin-managed memberships; the IdP's are shown beside it
    const values = {
      email: data.user.email,
      name: data.user.name,
      groups: data.user.groups.filter((g) => !data.user.idpGroups.includes(g)),
      admin: data.user.admin,
    };
    if (opts.newKey) c.header("Cache-Control", "no-store");
    return c.html(
      <UserPage {...base(c, opts.error)} {...data} values={values} newKey={opts.newKey} />,
      opts.error ? 400 : opts.newKey ? 201 : 200,
    );
  };
  app.get("/admin/users", (c) => usersPage(c, {}));
  app.get("/admin/users/:email", async (c) => {
    const r = S.AdminEmail.safeParse(c.req.param("email"));
    if (!r.success) return c.html(notFoundPage(c.get("identity").email, "Not an email address."), 404);
    return userPage(c, r.data);
  });
  app.post("/admin/users", async (c) => {
    const f = await form(c);
    const values = {
      email: text(f, "email"),
      name: text(f, "name"),
      groups: many(f, "groups"),
      admin: checked(f, "admin"),
    };
    return attempt(
      c,
      async () => {
        const email = parseOr400(S.AdminEmail, values.email, "email");
        const input = parseOr400(S.UserBody, { groups: values.groups, admin: values.admin, name: values.name });
        const r = await db(c, (sql) => svc.putUser(sql, actor(c), email, input));
        return done(
          c,
          `/admin/users/${encodeURIComponent(email)}`,
          `User ${email} ${r.created ? "created" : "saved"}.`,
        );
      },
      (msg) => usersPage(c, values, msg),
    );
  });
  app.post("/admin/users/:email/delete", async (c) => {
    const email = parseOr400(S.AdminEmail, c.req.param("email"), "email");
    return attempt(
      c,
      async () => {
        if (actor(c).toLowerCase() !== email.toLowerCase()) await revokeConnections(c, { email });
        await db(c, (sql) => svc.removeUser(sql, actor(c), email));
        return done(c, "/admin/users", `User ${email} deleted.`);
      },
      (msg) => userPage(c, email, { error: msg }),
    );
  });
  app.post("/admin/users/:email/keys", async (c) => {
    const email = parseOr400(S.AdminEmail, c.req.param("email"), "email");
    const f = await form(c);
    return attempt(
      c,
      async () => {
        const input = parseOr400(S.KeyBody, { name: text(f, "name") || undefined });
        const issued = await db(c, (sql) => svc.issueKey(sql, actor(c), email, input));
        return userPage(c, email, { newKey: issued });
      },
      (msg) => userPage(c, email, { error: msg }),
    );
  });
  app.post("/admin/users/:email/keys/:keyId/revoke", async (c) => {
    const email = parseOr400(S.AdminEmail, c.req.param("email"), "email");
    const id = c.req.param("keyId");
    return attempt(
      c,
      async () => {
        await db(c, (sql) => svc.revokeKey(sql, actor(c), email, parseOr400(S.Slug, id, "keyId")));
        return done(c, `/admin/users/${encodeURIComponent(email)}`, `Key ${id} revoked.`);
      },
      (msg) => userPage(c, email, { error: msg }),
    );
  });

  // ---- reviews of tool definitions (issue 15)
  app.get("/admin/reviews", async (c) =>
    c.html(<ReviewsPage {...base(c)} reviews={await db(c, listPendingReviews)} />),
  );
  for (const decision of ["approve", "reject"] as const) {
    app.post(`/admin/reviews/:server/:id/${decision}`, async (c) =>
      attempt(
        c,
        async () => {
          const server = parseOr400(S.Slug, c.req.param("server"), "server");
          const id = parseOr400(S.ChangeId, c.req.param("id"), "id");
          const r = await db(c, (sql) => svc.decideServerReview(sql, actor(c), server, id, decision));
          return done(
            c,
            "/admin/reviews",
            `Change ${r.id} of ${r.server}${r.name ? ` (${r.name})` : ""} ${decision === "approve" ? "approved" : "rejected"}.`,
          );
        },
        async (msg) => c.html(<ReviewsPage {...base(c, msg)} reviews={await db(c, listPendingReviews)} />, 400),
      ),
    );
  }

  // ---- virtual servers (issue 15)
  const virtualPage = async (c: C, values: Record<string, string | string[]>, editing: boolean, error?: string) => {
    const [virtuals, groups] = await db(c, (sql) => Promise.all([listVirtualServers(sql), listGroups(sql)]));
    return c.html(
      <VirtualServersPage {...base(c, error)} virtuals={virtuals} groups={groups} values={values} editing={editing} />,
      error ? 400 : 200,
    );
  };
  app.get("/admin/virtual", async (c) => {
    const edit = c.req.query("edit");
    if (!edit) return virtualPage(c, {}, false);
    const v = (await db(c, listVirtualServers)).find((x) => x.id === edit);
    if (!v) return c.html(notFoundPage(c.get("identity").email, `No virtual server ${edit}.`), 404);
    return virtualPage(c, { id: v.id, description: v.description, groups: v.groups, tools: toolsText(v) }, true);
  });
  app.post("/admin/virtual", async (c) => {
    const f = await form(c);
    const values = {
      id: text(f, "id"),
      description: text(f, "description"),
      groups: many(f, "groups"),
      tools: typeof f.tools === "string" ? f.tools : "",
    };
    return attempt(
      c,
      async () => {
        const id = parseOr400(S.Slug, values.id, "id");
        const input = parseOr400(S.VirtualServerBody, {
          description: values.description,
          groups: values.groups,
          tools: parseVirtualTools(values.tools),
        });
        const r = await db(c, (sql) => svc.putVirtualServer(sql, actor(c), id, input));
        return done(c, "/admin/virtual", `Virtual server ${id} ${r.created ? "created" : "saved"}: /mcp/${id}.`);
      },
      (msg) => virtualPage(c, values, false, msg),
    );
  });
  app.post("/admin/virtual/:id/delete", async (c) => {
    const id = c.req.param("id");
    return attempt(
      c,
      async () => {
        await db(c, (sql) => svc.removeVirtualServer(sql, actor(c), parseOr400(S.Slug, id, "id")));
        return done(c, "/admin/virtual", `Virtual server ${id} deleted.`);
      },
      (msg) => virtualPage(c, {}, false, msg),
    );
  });

  // ---- access explorer, health, changes, audit, usage
  app.get("/admin/access", async (c) => {
    const q = { email: (c.req.query("email") ?? "").trim(), tool: (c.req.query("tool") ?? "").trim() };
    const email = q.email ? S.AdminEmail.safeParse(q.email) : null;
    const error = email && !email.success ? "email: must be an email address" : null;
    const [users, result] = await db(c, (sql) =>
      Promise.all([
        listUsers(sql),
        email?.success ? explainAccess(sql, email.data, q.tool || undefined) : Promise.resolve(null),
      ]),
    );
    return c.html(<AccessPage {...base(c, error)} users={users} query={q} result={result} />, error ? 400 : 200);
  });
  app.get("/admin/health", async (c) => {
    const r = await db(c, healthReport);
    return c.html(<HealthPage {...base(c)} health={r.servers} windowSeconds={r.windowSeconds} />);
  });
  app.get("/admin/changes", async (c) => {
    const server = c.req.query("server") ?? "";
    const r = S.ChangesQuery.safeParse(server ? { server } : {});
    const [changes, servers] = await db(c, (sql) =>
      Promise.all([listItemChanges(sql, r.success ? r.data : {}), listServers(sql)]),
    );
    return c.html(
      <ChangesPage
        {...base(c, r.success ? null : `server: ${r.error.issues[0]?.message}`)}
        changes={changes}
        server={server}
        servers={servers.map((s) => s.id)}
      />,
      r.success ? 200 : 400,
    );
  });
  app.get("/admin/audit", async (c) => {
    const filter = Object.fromEntries(
      Object.entries(c.req.query()).filter(
        ([k, v]) => v !== "" && ["kind", "actor", "server", "since", "until"].includes(k),
      ),
    );
    const utc = (v?: string) => (v && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v) ? `${v}Z` : v);
    const r = S.AuditQuery.safeParse({ ...filter, since: utc(filter.since), until: utc(filter.until) });
    const error = r.success ? null : `${String(r.error.issues[0]?.path[0] ?? "filter")}: ${r.error.issues[0]?.message}`;
    const entries = await db(c, (sql) => listAudit(sql, r.success ? r.data : { limit: 100 }));
    return c.html(<AuditPage {...base(c, error)} entries={entries} filter={filter} />, error ? 400 : 200);
  });
  app.get("/admin/reports", async (c) => {
    const asked = S.ReportRange.safeParse(c.req.query("range") || "24h");
    const error = asked.success ? null : `range: ${asked.error.issues[0]?.message}`;
    const range = asked.success ? asked.data : "24h";
    const [span, bucket] = S.REPORT_RANGES[range];
    const until = new Date();
    const report = await db(c, (sql) =>
      usageReport(sql, usageWindow({ since: new Date(until.getTime() - span), until, bucket })),
    );
    return c.html(<ReportsPage {...base(c, error)} report={report} range={range} />, error ? 400 : 200);
  });
}
