/** UI pages that manage things: tenants, servers, groups, users and their API keys. */
import type { Child } from "hono/jsx";
import type { Tenant } from "../../../../shared/repos/tenants.repo";
import type { Server } from "../../../../shared/repos/servers.repo";
import type { Group } from "../../../../shared/repos/groups.repo";
import type { AdminUser } from "../../../../shared/repos/admin-users.repo";
import type { ApiKeyRow } from "../../../../shared/schemas";
import { Csrf, Flash, Layout, NewKeyCard, PostButton, when } from "./layout";

export interface PageBase {
  email: string;
  token: string;
  /** The sign-out form's token (shared/logout.token.ts). */
  logout?: string;
  ok?: string | null;
  error?: string | null;
}

type Values = Record<string, string | string[] | boolean | undefined>;
const str = (v: Values, k: string) => (typeof v[k] === "string" ? (v[k] as string) : "");
const list = (v: Values, k: string) =>
  Array.isArray(v[k]) ? (v[k] as string[]) : typeof v[k] === "string" && v[k] ? [v[k] as string] : [];

export function TenantsPage(p: PageBase & { tenants: Tenant[]; values: Values; editing: boolean }) {
  return (
    <Layout title="Tenants" email={p.email} logout={p.logout} active="/admin/tenants">
      <Flash ok={p.ok} error={p.error} />
      <div class="grid">
        <section class="card">
          <h2>Tenants</h2>
          <table>
            <thead>
              <tr>
                <th>Id</th>
                <th>Name</th>
                <th>Servers</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {p.tenants.map((t) => (
                <tr>
                  <td>
                    <code>{t.id}</code>
                  </td>
                  <td>{t.name}</td>
                  <td>
                    {t.servers.map((s) => (
                      <a class="pill" href={`/admin/servers?edit=${encodeURIComponent(s)}`}>
                        {s}
                      </a>
                    ))}
                  </td>
                  <td class="actions">
                    <a href={`/admin/tenants?edit=${encodeURIComponent(t.id)}`}>edit</a>{" "}
                    <PostButton
                      action={`/admin/tenants/${encodeURIComponent(t.id)}/delete`}
                      token={p.token}
                      label="Delete"
                      kind="danger"
                    />
                  </td>
                </tr>
              ))}
              {p.tenants.length === 0 && (
                <tr>
                  <td colspan={4} class="muted">
                    No tenants yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </section>
        <section class="card">
          <h2>{p.editing ? `Edit tenant ${str(p.values, "id")}` : "Add a tenant"}</h2>
          <form method="post" action="/admin/tenants">
            <Csrf token={p.token} />
            <label for="t-id">Id</label>
            <input
              id="t-id"
              type="text"
              name="id"
              value={str(p.values, "id")}
              required
              pattern="[a-z0-9][a-z0-9\-]{0,31}"
              readonly={p.editing}
              placeholder="e.g. acme"
            />
            <label for="t-name">Name</label>
            <input
              id="t-name"
              type="text"
              name="name"
              value={str(p.values, "name")}
              required
              placeholder="e.g. Acme Corp"
            />
            <p>
              <button type="submit">Save tenant</button> {p.editing && <a href="/admin/tenants">cancel</a>}
            </p>
          </form>
        </section>
      </div>
    </Layout>
  );
}

const MODE_LABEL: Record<string, string> = { "per-user-token": "per-user token", "per-user-oauth": "per-user OAuth" };

/** Servers: list and form; `children` (the edited server's tool overrides) go below. */
export function ServersPage(
  p: PageBase & {
    servers: Server[];
    tenants: Tenant[];
    values: Values;
    editing: Server | null;
    connections: Record<string, number>;
    children?: Child;
  },
) {
  const v = p.values;
  return (
    <Layout title="Servers" email={p.email} logout={p.logout} active="/admin/servers">
      <Flash ok={p.ok} error={p.error} />
      <div class="grid">
        <section class="card">
          <h2>Upstream servers</h2>
          <table>
            <thead>
              <tr>
                <th>Id</th>
                <th>Tenant</th>
                <th>URL</th>
                <th>Secret headers</th>
                <th>State</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {p.servers.map((s) => (
                <tr>
                  <td>
                    <code>{s.id}</code>
                  </td>
                  <td>{s.tenant}</td>
                  <td class="small">
                    <code>{s.url}</code>
                  </td>
                  <td>
                    {s.headerNames.length ? (
                      s.headerNames.map((h) => <span class="pill">{h}: ••••</span>)
                    ) : (
                      <span class="muted">none</span>
                    )}
                    {s.credentials.mode !== "shared" && (
                      <span class="pill" data-credentials={s.id}>
                        {MODE_LABEL[String(s.credentials.mode)]} · {p.connections[s.id] ?? 0} connected
                      </span>
                    )}
                  </td>
                  <td>{s.enabled ? <span class="pill ok">enabled</span> : <span class="pill warn">disabled</span>}</td>
                  <td class="actions">
                    <a href={`/admin/servers?edit=${encodeURIComponent(s.id)}`}>edit</a>{" "}
                    <a href={`/admin/servers?edit=${encodeURIComponent(s.id)}#overrides`}>tools</a>{" "}
                    <PostButton
                      action={`/admin/servers/${encodeURIComponent(s.id)}/delete`}
                      token={p.token}
                      label="Delete"
                      kind="danger"
                    />
                  </td>
                </tr>
              ))}
              {p.servers.length === 0 && (
                <tr>
                  <td colspan={6} class="muted">
                    No servers yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </section>
        <section class="card">
          <h2>{p.editing ? `Edit server ${p.editing.id}` : "Add a server"}</h2>
          <form method="post" action="/admin/servers">
            <Csrf token={p.token} />
            <label for="s-id">Id</label>
            <input
              id="s-id"
              type="text"
              name="id"
              value={str(v, "id")}
              required
              pattern="[a-z0-9][a-z0-9\-]{0,31}"
              readonly={!!p.editing}
              placeholder="e.g. github"
            />
            <label for="s-tenant">Tenant</label>
            <select id="s-tenant" name="tenant" required>
              <option value="">— choose —</option>
              {p.tenants.map((t) => (
                <option value={t.id} selected={str(v, "tenant") === t.id}>
                  {t.id} ({t.name})
                </option>
              ))}
            </select>
            <label for="s-url">URL</label>
            <input
              id="s-url"
              type="url"
              name="url"
              value={str(v, "url")}
              required
              placeholder="https://mcp.example.com/mcp"
            />
            <div class="row">
              <div>
                <label for="s-transport">Transport</label>
                <select id="s-transport" name="transport">
                  <option value="streamable-http" selected={str(v, "transport") !== "sse"}>
                    Streamable HTTP
                  </option>
                  <option value="sse" selected={str(v, "transport") === "sse"}>
                    SSE
                  </option>
                </select>
              </div>
              <div>
                <label class="check">
                  <input type="checkbox" name="enabled" value="on" checked={v.enabled !== false && v.enabled !== ""} />{" "}
                  enabled
                </label>
              </div>
            </div>
            <label for="s-desc">Description</label>
            <input id="s-desc" type="text" name="description" value={str(v, "description")} />
            <label for="s-review">Tool definitions</label>
            <select id="s-review" name="review">
              <option value="auto" selected={str(v, "review") !== "hold" && str(v, "review") !== "findings"}>
                auto: serve what the upstream lists
              </option>
              <option value="hold" selected={str(v, "review") === "hold"}>
                hold: serve only definitions an admin approved
              </option>
              <option value="findings" selected={str(v, "review") === "findings"}>
                findings: hold only definitions with poisoning findings
              </option>
            </select>
            <label for="s-headers">
              Secret headers (one <code>Name: value</code> per line)
            </label>
            <textarea
              id="s-headers"
              name="headers"
              autocomplete="off"
              placeholder="Authorization: Bearer ghp_…"
            ></textarea>
            <p class="muted small">
              Write-only: stored values are never shown.{" "}
              {p.editing
                ? p.editing.headerNames.length
                  ? `Stored: ${p.editing.headerNames.join(", ")}. Leave empty to keep them; lines entered here replace them.`
                  : "None stored."
                : ""}
            </p>
            {p.editing && (
              <label class="check">
                <input type="checkbox" name="clearHeaders" value="on" /> remove all stored headers
              </label>
            )}
            <label for="s-cred-mode">Credentials</label>
            <select id="s-cred-mode" name="credMode">
              {!p.editing && (
                <option value="" selected={!str(v, "credMode")}>
                  shared (the headers above)
                </option>
              )}
              {[
                ["shared", "shared (the headers above)"],
                ["per-user-token", "per-user token (each user pastes theirs)"],
                ["per-user-oauth", "per-user OAuth (each user signs in upstream)"],
              ].map(
                ([m, l]) =>
                  (p.editing || m !== "shared") && (
                    <option value={m} selected={str(v, "credMode") === m}>
                      {l}
                    </option>
                  ),
              )}
            </select>
            <div class="row">
              <div>
                <label for="s-cred-header">Header for each user's token</label>
                <input
                  id="s-cred-header"
                  type="text"
                  name="credHeader"
                  value={str(v, "credHeader")}
                  placeholder="Authorization"
                />
              </div>
              <div>
                <label for="s-cred-prefix">Prefix</label>
                <input
                  id="s-cred-prefix"
                  type="text"
                  name="credPrefix"
                  value={str(v, "credPrefix")}
                  placeholder="Bearer "
                />
              </div>
            </div>
            <label for="s-oauth-client">OAuth client id (per-user OAuth)</label>
            <input id="s-oauth-client" type="text" name="oauthClientId" value={str(v, "oauthClientId")} />
            <label for="s-oauth-secret">OAuth client secret (write-only; empty keeps the stored one)</label>
            <input id="s-oauth-secret" type="password" name="oauthSecret" autocomplete="off" />
            <label for="s-oauth-scopes">Scopes</label>
            <input
              id="s-oauth-scopes"
              type="text"
              name="oauthScopes"
              value={str(v, "oauthScopes")}
              placeholder="repo read:org"
            />
            <label for="s-oauth-issuer">Issuer (empty: found from the upstream's RFC 9728 metadata)</label>
            <input id="s-oauth-issuer" type="url" name="oauthIssuer" value={str(v, "oauthIssuer")} />
            <div class="row">
              <div>
                <label for="s-oauth-authorize">Authorization endpoint</label>
                <input id="s-oauth-authorize" type="url" name="oauthAuthorize" value={str(v, "oauthAuthorize")} />
              </div>
              <div>
                <label for="s-oauth-token">Token endpoint</label>
                <input id="s-oauth-token" type="url" name="oauthToken" value={str(v, "oauthToken")} />
              </div>
              <div>
                <label for="s-oauth-revoke">Revocation endpoint</label>
                <input id="s-oauth-revoke" type="url" name="oauthRevoke" value={str(v, "oauthRevoke")} />
              </div>
            </div>
            <p class="muted small">
              Per-user modes: users connect at <code>/auth/connections</code>; the redirect URI to register upstream is{" "}
              <code>/auth/connect-callback</code> on this gateway.
            </p>
            <p>
              <button type="submit">Save server</button> {p.editing && <a href="/admin/servers">cancel</a>}
            </p>
          </form>
        </section>
      </div>
      {p.children}
    </Layout>
  );
}

/** Tool rules as the textarea shows them: `server allow|deny pattern` per line. */
export function rulesText(tools: Group["tools"]): string {
  return Object.entries(tools)
    .flatMap(([s, r]) => [...r.allow.map((t) => `${s} allow ${t}`), ...r.deny.map((t) => `${s} deny ${t}`)])
    .join("\n");
}

export function GroupsPage(
  p: PageBase & { groups: Group[]; tenants: Tenant[]; servers: Server[]; values: Values; editing: boolean },
) {
  const v = p.values;
  const chosen = new Set(list(v, "tenants"));
  return (
    <Layout title="Groups" email={p.email} logout={p.logout} active="/admin/groups">
      <Flash ok={p.ok} error={p.error} />
      <div class="grid">
        <section class="card">
          <h2>Groups</h2>
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Tenants</th>
                <th>Tool rules</th>
                <th>Members</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {p.groups.map((g) => (
                <tr>
                  <td>
                    <code>{g.name}</code>
                    <div class="muted small">{g.description}</div>
                  </td>
                  <td>
                    {g.tenants.map((t) => (
                      <span class="pill">{t}</span>
                    ))}
                  </td>
                  <td class="small">
                    {rulesText(g.tools) ? <pre>{rulesText(g.tools)}</pre> : <span class="muted">all tools</span>}
                  </td>
                  <td class="num">{g.members.length}</td>
                  <td class="actions">
                    <a href={`/admin/groups?edit=${encodeURIComponent(g.name)}`}>edit</a>{" "}
                    <PostButton
                      action={`/admin/groups/${encodeURIComponent(g.name)}/delete`}
                      token={p.token}
                      label="Delete"
                      kind="danger"
                    />
                  </td>
                </tr>
              ))}
              {p.groups.length === 0 && (
                <tr>
                  <td colspan={5} class="muted">
                    No groups yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </section>
        <section class="card">
          <h2>{p.editing ? `Edit group ${str(v, "name")}` : "Add a group"}</h2>
          <form method="post" action="/admin/groups">
            <Csrf token={p.token} />
            <label for="g-name">Name</label>
            <input
              id="g-name"
              type="text"
              name="name"
              value={str(v, "name")}
              required
              pattern="[A-Za-z0-9][A-Za-z0-9\-]{0,31}"
              readonly={p.editing}
              placeholder="e.g. acme-engineers"
            />
            <label for="g-desc">Description</label>
            <input id="g-desc" type="text" name="description" value={str(v, "description")} />
            <label>Tenants granted</label>
            <div>
              {p.tenants.map((t) => (
                <label class="check">
                  <input type="checkbox" name="tenants" value={t.id} checked={chosen.has(t.id)} /> {t.id}
                </label>
              ))}
              {p.tenants.length === 0 && <span class="muted">No tenants yet.</span>}
            </div>
            <label for="g-rules">
              Tool rules (optional; one <code>server allow|deny tool-or-glob</code> per line)
            </label>
            <textarea id="g-rules" name="rules" placeholder={"github allow search_*\ngithub deny delete_repo"}>
              {str(v, "rules")}
            </textarea>
            <p class="muted small">
              With an allow rule for a server, only matching tools of that server are visible through this group; deny
              rules always hide. Servers: {p.servers.map((s) => s.id).join(", ") || "none"}.
            </p>
            <p>
              <button type="submit">Save group</button> {p.editing && <a href="/admin/groups">cancel</a>}
            </p>
          </form>
        </section>
      </div>
    </Layout>
  );
}

export function UsersPage(p: PageBase & { users: AdminUser[]; groups: Group[]; values: Values }) {
  return (
    <Layout title="Users" email={p.email} logout={p.logout} active="/admin/users">
      <Flash ok={p.ok} error={p.error} />
      <div class="grid">
        <section class="card">
          <h2>Users</h2>
          <table>
            <thead>
              <tr>
                <th>Email</th>
                <th>Groups</th>
                <th>Admin</th>
                <th class="num">Keys</th>
                <th>Last login</th>
              </tr>
            </thead>
            <tbody>
              {p.users.map((u) => (
                <tr>
                  <td>
                    <a href={`/admin/users/${encodeURIComponent(u.email)}`}>{u.email}</a>
                    <div class="muted small">{u.name}</div>
                  </td>
                  <td>
                    {u.groups.map((g) => (
                      <span class="pill">{g}</span>
                    ))}
                  </td>
                  <td>{u.admin ? <span class="pill warn">admin</span> : ""}</td>
                  <td class="num">{u.activeKeys}</td>
                  <td class="small">{when(u.lastLoginAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section class="card">
          <h2>Add a user</h2>
          <UserForm token={p.token} groups={p.groups} values={p.values} editing={false} />
        </section>
      </div>
    </Layout>
  );
}

function UserForm(p: { token: string; groups: Group[]; values: Values; editing: boolean }) {
  const chosen = new Set(list(p.values, "groups"));
  return (
    <form method="post" action="/admin/users">
      <Csrf token={p.token} />
      <label for="u-email">Email</label>
      <input
        id="u-email"
        type="email"
        name="email"
        value={str(p.values, "email")}
        required
        readonly={p.editing}
        placeholder="someone@example.com"
      />
      <label for="u-name">Display name</label>
      <input id="u-name" type="text" name="name" value={str(p.values, "name")} />
      <label>Groups</label>
      <div>
        {p.groups.map((g) => (
          <label class="check">
            <input type="checkbox" name="groups" value={g.name} checked={chosen.has(g.name)} /> {g.name}
          </label>
        ))}
        {p.groups.length === 0 && <span class="muted">No groups yet.</span>}
      </div>
      <label class="check">
        <input type="checkbox" name="admin" value="on" checked={p.values.admin === true || p.values.admin === "on"} />{" "}
        administrator (sees every server, may use this UI)
      </label>
      <p>
        <button type="submit">Save user</button>
      </p>
    </form>
  );
}

export function UserPage(
  p: PageBase & {
    user: AdminUser;
    keys: ApiKeyRow[];
    groups: Group[];
    values: Values;
    newKey?: { id: string; key: string; name: string };
  },
) {
  const enc = encodeURIComponent(p.user.email);
  return (
    <Layout title={p.user.email} email={p.email} logout={p.logout} active="/admin/users">
      <Flash ok={p.ok} error={p.error} />
      {p.newKey && <NewKeyCard name={p.newKey.name} keyText={p.newKey.key} />}
      <div class="grid">
        <section class="card">
          <h2>API keys of {p.user.email}</h2>
          <table>
            <thead>
              <tr>
                <th>Id</th>
                <th>Name</th>
                <th>Prefix</th>
                <th>Created</th>
                <th>Last used</th>
                <th>State</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {p.keys.map((k) => (
                <tr>
                  <td>
                    <code>{k.id}</code>
                  </td>
                  <td>{k.name}</td>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td class="small">{when(k.created_at)}</td>
                  <td class="small">{when(k.last_used_at)}</td>
                  <td>
                    {k.revoked_at ? (
                      <span class="pill bad">revoked {when(k.revoked_at)}</span>
                    ) : k.expires_at && k.expires_at < new Date() ? (
                      <span class="pill warn">expired</span>
                    ) : (
                      <span class="pill ok">live</span>
                    )}
                  </td>
                  <td class="actions">
                    {!k.revoked_at && (
                      <PostButton
                        action={`/admin/users/${enc}/keys/${encodeURIComponent(k.id)}/revoke`}
                        token={p.token}
                        label="Revoke"
                        kind="danger"
                      />
                    )}
                  </td>
                </tr>
              ))}
              {p.keys.length === 0 && (
                <tr>
                  <td colspan={7} class="muted">
                    No keys.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <h3>Issue a key</h3>
          <form method="post" action={`/admin/users/${enc}/keys`} class="row">
            <Csrf token={p.token} />
            <div>
              <label for="k-name">Key name</label>
              <input id="k-name" type="text" name="name" value="" placeholder="e.g. laptop" required />
            </div>
            <div>
              <button type="submit">Issue key</button>
            </div>
          </form>
          <h3>Access</h3>
          <p>
            <a href={`/admin/access?email=${enc}`}>Explain what {p.user.email} can see →</a>
          </p>
        </section>
        <section class="card">
          <h2>Edit user</h2>
          {p.user.idpGroups.length > 0 && (
            <p class="small">
              From the identity provider (synced at each login):{" "}
              {p.user.idpGroups.map((g) => (
                <span class="pill">{g}</span>
              ))}
            </p>
          )}
          <UserForm token={p.token} groups={p.groups} values={p.values} editing={true} />
          <h3>Delete</h3>
          <PostButton
            action={`/admin/users/${enc}/delete`}
            token={p.token}
            label="Delete user and keys"
            kind="danger"
          />
        </section>
      </div>
    </Layout>
  );
}
