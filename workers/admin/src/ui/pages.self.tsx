/** The self-service page at /admin/me: what I can use and why, my API keys, how to connect a client. */
import type { Me } from "../self.service";
import { Csrf, Flash, Layout, NewKeyCard, PostButton, when } from "./layout";
import type { PageBase } from "./pages.manage";

export function MePage(p: PageBase & { me: Me; newKey?: { id: string; key: string; name: string } }) {
  const { identity, access, keys, connect } = p.me;
  const live = (k: Me["keys"][number]) => !k.revokedAt && !(k.expiresAt && new Date(k.expiresAt) < new Date());
  return (
    // an admin gets the whole navigation; everyone else only this page (the rest would be 403s)
    <Layout title="My access" email={p.email} logout={p.logout} active="/admin/me" nav={access.admin}>
      <Flash ok={p.ok} error={p.error} />
      {p.newKey && <NewKeyCard name={p.newKey.name} keyText={p.newKey.key} />}
      <div class="grid">
        <div>
          <section class="card" id="my-access">
            <h2>What I can use</h2>
            <p>
              Signed in as <b>{identity.email}</b>
              {access.admin ? <> — an administrator ({access.adminVia}): every server and tool.</> : "."} Groups:{" "}
              {access.groups.length ? (
                access.groups.map((g) => <span class="pill">{g}</span>)
              ) : (
                <span class="muted">none</span>
              )}
            </p>
            {access.servers.length === 0 && access.virtualServers.length === 0 && (
              <p class="muted" id="nothing-visible">
                No server is granted to you yet. Ask an administrator to add you to a group that grants a tenant.
              </p>
            )}
            {access.servers.map((s) => (
              <div class="change" data-server={s.id}>
                <h3>
                  <code>{s.id}</code> <span class="muted small">tenant {s.tenant}</span>
                </h3>
                {s.chains.map((ch) => (
                  <div class="chain">{ch}</div>
                ))}
                <p class="small">
                  Alone: <code>{s.mcpUrl}</code>
                </p>
                {s.tools.length ? (
                  <table>
                    <thead>
                      <tr>
                        <th>Tool at /mcp</th>
                        <th>Through</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.tools.map((t) => (
                        <tr>
                          <td>
                            <code>{t.qualified}</code>
                          </td>
                          <td class="small">
                            {t.via.length ? t.via.map((g) => `group ${g}`).join(", ") : "admin rights"}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                ) : (
                  <p class="muted small">The gateway has not listed this server's tools yet.</p>
                )}
              </div>
            ))}
            {access.virtualServers.map((v) => (
              <div class="change" data-virtual={v.id}>
                <h3>
                  <code>{v.id}</code> <span class="muted small">virtual server, {v.reason}</span>
                </h3>
                <p class="small">
                  <code>{v.mcpUrl}</code>:{" "}
                  {v.tools.map((t) => (
                    <span class="pill">{t.name}</span>
                  ))}
                </p>
              </div>
            ))}
          </section>
        </div>
        <div>
          <section class="card" id="connect">
            <h2>Connect a client</h2>
            <p>
              Every server you may use, one endpoint (tool names <code>&lt;server&gt;__&lt;tool&gt;</code>):
            </p>
            <pre data-testid="mcp-url">{connect.mcpUrl}</pre>
            <p>Send your API key in a header on every request:</p>
            <pre data-testid="mcp-header">{`${connect.header}: ${connect.headerValue}`}</pre>
            <h3>Open WebUI</h3>
            <p class="small">
              Admin Panel → Settings → External Tools → + (Add Connection): type <b>MCP (Streamable HTTP)</b>, URL{" "}
              <code>{connect.mcpUrl}</code>, Auth <b>Bearer</b>, Key: your API key. (Your Open WebUI administrator may
              instead have set the gateway up for everyone: then nothing to do.)
            </p>
            <h3>Other MCP clients</h3>
            <p class="small">
              Any client that speaks MCP over Streamable HTTP (MCP Inspector, Claude Desktop through mcp-remote, Cursor,
              VS Code, the SDKs): the URL above and the header. Tested settings for each:{" "}
              <code>docs/open-webui.md</code> and <code>docs/clients.md</code> in the gateway's repository.
            </p>
          </section>
          <section class="card" id="my-keys">
            <h2>My API keys</h2>
            <table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Prefix</th>
                  <th>Created</th>
                  <th>Last used</th>
                  <th>State</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                {keys.map((k) => (
                  <tr data-key={k.id}>
                    <td>{k.name}</td>
                    <td>
                      <code>{k.prefix}…</code>
                    </td>
                    <td class="small">{when(k.createdAt)}</td>
                    <td class="small">{when(k.lastUsedAt)}</td>
                    <td>
                      {k.revokedAt ? (
                        <span class="pill bad">revoked</span>
                      ) : live(k) ? (
                        <span class="pill ok">live</span>
                      ) : (
                        <span class="pill warn">expired</span>
                      )}
                    </td>
                    <td class="actions">
                      {!k.revokedAt && (
                        <PostButton
                          action={`/admin/me/keys/${encodeURIComponent(k.id)}/revoke`}
                          token={p.token}
                          label="Revoke"
                          kind="danger"
                        />
                      )}
                    </td>
                  </tr>
                ))}
                {keys.length === 0 && (
                  <tr>
                    <td colspan={6} class="muted">
                      No keys yet.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
            {p.me.canIssueKeys ? (
              <form method="post" action="/admin/me/keys">
                <Csrf token={p.token} />
                <div class="row">
                  <div>
                    <label for="k-name">Name</label>
                    <input type="text" id="k-name" name="name" placeholder="open-webui" maxlength={100} />
                  </div>
                  <div>
                    <label for="k-days">Expires after (days, empty: never)</label>
                    <input type="text" id="k-days" name="expiresInDays" inputmode="numeric" />
                  </div>
                  <div>
                    <button type="submit">Issue a key</button>
                  </div>
                </div>
              </form>
            ) : (
              <p class="muted small">You signed in with an API key: sign in with the browser to issue a new one.</p>
            )}
          </section>
        </div>
      </div>
    </Layout>
  );
}
