/** UI pages that explain and report: overview, access explorer, health, tool changes, audit log, usage. */
import type { AuditEntry } from "../../../../shared/repos/audit.repo";
import type { ItemChange, ServerHealth } from "../../../../shared/repos/servers.repo";
import type { AdminUser } from "../../../../shared/repos/admin-users.repo";
import type { Dimension, LiveFigures, UsageReport } from "../../../../shared/repos/reports.repo";
import type { AccessExplanation } from "../access.explain";
import { BarsChart, CallsChart, LatencyChart } from "./charts";
import { sortedPrettyJson, diffLines } from "./diff";
import { Flash, Layout, PostButton, when } from "./layout";
import type { PageBase } from "./pages.manage";

export function OverviewPage(
  p: PageBase & { counts: Record<string, number>; health: ServerHealth[]; recent: AuditEntry[] },
) {
  const down = p.health.filter((h) => h.enabled && h.ok === false);
  return (
    <Layout title="Overview" email={p.email} logout={p.logout} active="/admin">
      <Flash ok={p.ok} error={p.error} />
      <div class="stats">
        {Object.entries(p.counts).map(([k, n]) => (
          <a class="stat" href={`/admin/${k}`}>
            <span class="muted">{k}</span>
            <b>{n}</b>
          </a>
        ))}
      </div>
      <br />
      <div class="grid">
        <section class="card">
          <h2>Recent admin changes</h2>
          <AuditTable entries={p.recent} kind={false} />
          <p>
            <a href="/admin/audit?kind=admin_change">full audit log →</a>
          </p>
        </section>
        <section class="card">
          <h2>Upstreams</h2>
          {down.length ? (
            <p>
              <span class="pill bad">{down.length} failing</span> {down.map((d) => d.server).join(", ")}
            </p>
          ) : (
            <p>
              <span class="pill ok">no failing upstream</span>
            </p>
          )}
          <p>
            <a href="/admin/health">health →</a>
          </p>
          <h3>Common tasks</h3>
          <ul>
            <li>
              <a href="/admin/tenants">Add a tenant</a>
            </li>
            <li>
              <a href="/admin/servers">Add a server with its secret</a>
            </li>
            <li>
              <a href="/admin/groups">Grant a group</a>
            </li>
            <li>
              <a href="/admin/users">Onboard a user, issue a key</a>
            </li>
          </ul>
        </section>
      </div>
    </Layout>
  );
}

export function AccessPage(
  p: PageBase & { users: AdminUser[]; query: { email: string; tool: string }; result: AccessExplanation | null },
) {
  const r = p.result;
  return (
    <Layout title="Access explorer" email={p.email} logout={p.logout} active="/admin/access">
      <Flash ok={p.ok} error={p.error} />
      <section class="card">
        <h2>Access explorer</h2>
        <form method="get" action="/admin/access" class="row">
          <div>
            <label for="a-email">User</label>
            <input
              id="a-email"
              type="email"
              name="email"
              list="a-users"
              value={p.query.email}
              required
              placeholder="someone@example.com"
            />
            <datalist id="a-users">
              {p.users.map((u) => (
                <option value={u.email} />
              ))}
            </datalist>
          </div>
          <div>
            <label for="a-tool">Tool (optional: name or server__name)</label>
            <input id="a-tool" type="text" name="tool" value={p.query.tool} placeholder="e.g. echo" />
          </div>
          <div style="flex:0">
            <button type="submit">Explain</button>
          </div>
        </form>
      </section>
      {r && (
        <>
          <section class="card" id="access-summary">
            <h2>{r.email}</h2>
            <p>
              {r.known ? <span class="pill ok">known user</span> : <span class="pill warn">unknown user</span>}{" "}
              {r.admin && <span class="pill warn">admin via {r.adminVia}</span>} groups:{" "}
              {r.groups.length ? r.groups.map((g) => <span class="pill">{g}</span>) : <span class="muted">none</span>}
            </p>
            {r.tool && (
              <div id="tool-verdict">
                <h3>Tool “{r.tool.query}”</h3>
                {r.tool.matches.length === 0 && (
                  <p class="muted">No server offers a tool by that name (as the catalog last listed them).</p>
                )}
                <ul>
                  {r.tool.matches.map((m) => (
                    <li>
                      {m.visible ? <span class="pill ok">visible</span> : <span class="pill bad">not visible</span>}{" "}
                      <code>
                        {m.server}__{m.name}
                      </code>
                      : {m.reason}
                      {m.chains.map((c) => (
                        <div class="chain">{c}</div>
                      ))}
                    </li>
                  ))}
                </ul>
              </div>
            )}
          </section>
          <section class="card" id="visible-servers">
            <h2>Visible servers ({r.servers.length})</h2>
            <table>
              <thead>
                <tr>
                  <th>Server</th>
                  <th>Granted by</th>
                  <th>Visible tools</th>
                  <th>Hidden tools</th>
                </tr>
              </thead>
              <tbody>
                {r.servers.map((s) => (
                  <tr>
                    <td>
                      <code>{s.id}</code>
                      <div class="muted small">tenant {s.tenant}</div>
                    </td>
                    <td>
                      {s.chains.map((c) => (
                        <div class="chain">{c}</div>
                      ))}
                    </td>
                    <td>
                      {s.tools.length ? (
                        s.tools.map((t) => (
                          <span class="pill ok" title={t.chains.join("\n")}>
                            {t.name}
                          </span>
                        ))
                      ) : (
                        <span class="muted">none listed yet</span>
                      )}
                    </td>
                    <td>
                      {s.hiddenTools.map((t) => (
                        <div class="small">
                          <code>{t.name}</code>: {t.reason}
                        </div>
                      ))}
                    </td>
                  </tr>
                ))}
                {r.servers.length === 0 && (
                  <tr>
                    <td colspan={4} class="muted">
                      No visible servers.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </section>
          <section class="card" id="hidden-servers">
            <h2>Not visible ({r.hiddenServers.length})</h2>
            <table>
              <thead>
                <tr>
                  <th>Server</th>
                  <th>Why not</th>
                </tr>
              </thead>
              <tbody>
                {r.hiddenServers.map((s) => (
                  <tr>
                    <td>
                      <code>{s.id}</code>
                    </td>
                    <td>{s.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </>
      )}
    </Layout>
  );
}

/** Calls per second as the health page shows them: per minute below one a second. */
function rate(perSecond: number): string {
  if (perSecond === 0) return "0";
  return perSecond >= 1 ? `${perSecond.toFixed(1)}/s` : `${(perSecond * 60).toFixed(1)}/min`;
}

export function HealthPage(p: PageBase & { health: (ServerHealth & { live: LiveFigures })[]; windowSeconds: number }) {
  return (
    <Layout title="Upstream health" email={p.email} logout={p.logout} active="/admin/health">
      <Flash ok={p.ok} error={p.error} />
      <section class="card">
        <h2>Upstream health</h2>
        <table>
          <thead>
            <tr>
              <th>Server</th>
              <th>State</th>
              <th class="num">Tools</th>
              <th class="num">Latency</th>
              <th>Protocol</th>
              <th>Last refresh</th>
              <th>Last OK</th>
              <th>Error</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {p.health.map((h) => (
              <tr data-server={h.server}>
                <td>
                  <code>{h.server}</code>
                  <div class="muted small">tenant {h.tenant}</div>
                </td>
                <td>
                  {!h.enabled ? (
                    <span class="pill warn">disabled</span>
                  ) : h.ok === null ? (
                    <span class="pill">not refreshed yet</span>
                  ) : h.ok ? (
                    <span class="pill ok">reachable</span>
                  ) : (
                    <span class="pill bad">failing</span>
                  )}
                </td>
                <td class="num">{h.toolCount}</td>
                <td class="num">{h.latencyMs === null ? "—" : `${h.latencyMs} ms`}</td>
                <td class="small">{h.protocolVersion ?? "—"}</td>
                <td class="small">{when(h.refreshedAt)}</td>
                <td class="small">{when(h.lastOkAt)}</td>
                <td class="small">{h.error ?? ""}</td>
                <td>
                  <PostButton
                    action={`/admin/servers/${encodeURIComponent(h.server)}/refresh`}
                    token={p.token}
                    label="Refresh"
                  />
                </td>
              </tr>
            ))}
            {p.health.length === 0 && (
              <tr>
                <td colspan={9} class="muted">
                  No servers.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </section>
      <section class="card" id="live">
        <h2>Tool calls, last {Math.round(p.windowSeconds / 60)} minutes</h2>
        <p class="muted small">
          Every gateway replica's calls, from the audit log (refused calls not counted). Latency: the gateway's time for
          the call, upstream included.
        </p>
        <table>
          <thead>
            <tr>
              <th>Server</th>
              <th class="num">Calls</th>
              <th class="num">Rate</th>
              <th class="num">Error ratio</th>
              <th class="num">p50</th>
              <th class="num">p95</th>
            </tr>
          </thead>
          <tbody>
            {p.health.map((h) => (
              <tr data-server={h.server}>
                <td>
                  <code>{h.server}</code>
                </td>
                <td class="num" data-figure="calls">
                  {h.live.calls}
                </td>
                <td class="num" data-figure="rate">
                  {rate(h.live.rate)}
                </td>
                <td class="num" data-figure="errors">
                  {h.live.errorRatio === null ? "—" : `${(h.live.errorRatio * 100).toFixed(1)}%`}
                </td>
                <td class="num" data-figure="p50">
                  {h.live.p50Ms === null ? "—" : `${h.live.p50Ms} ms`}
                </td>
                <td class="num" data-figure="p95">
                  {h.live.p95Ms === null ? "—" : `${h.live.p95Ms} ms`}
                </td>
              </tr>
            ))}
            {p.health.length === 0 && (
              <tr>
                <td colspan={6} class="muted">
                  No servers.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </section>
    </Layout>
  );
}

export function Diff(props: { before: unknown; after: unknown }) {
  const lines = diffLines(sortedPrettyJson(props.before), sortedPrettyJson(props.after));
  const changed = lines.some((l) => l.op !== "same");
  // keep 2 lines of context around each change
  const keep = lines.map(
    (l, i) => l.op !== "same" || lines.slice(Math.max(0, i - 2), i + 3).some((x) => x.op !== "same"),
  );
  return (
    <pre class="diff">
      {lines.map((l, i) =>
        keep[i] || !changed ? (
          <span
            class={l.op === "add" ? "add" : l.op === "del" ? "del" : ""}
          >{`${l.op === "add" ? "+ " : l.op === "del" ? "- " : "  "}${l.text}\n`}</span>
        ) : i > 0 && keep[i - 1] ? (
          <span class="muted">{"  …\n"}</span>
        ) : null,
      )}
    </pre>
  );
}

export function ChangesPage(p: PageBase & { changes: ItemChange[]; server: string; servers: string[] }) {
  return (
    <Layout title="Tool changes" email={p.email} logout={p.logout} active="/admin/changes">
      <Flash ok={p.ok} error={p.error} />
      <section class="card">
        <h2>Changes of upstream tools, prompts and resources</h2>
        <form method="get" action="/admin/changes" class="row">
          <div>
            <label for="c-server">Server</label>
            <select id="c-server" name="server">
              <option value="">all</option>
              {p.servers.map((s) => (
                <option value={s} selected={p.server === s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <div style="flex:0">
            <button type="submit">Filter</button>
          </div>
        </form>
      </section>
      <section class="card">
        <p class="muted small">
          {p.changes.length} change{p.changes.length === 1 ? "" : "s"}, newest first. Changed definitions show a diff;
          added and removed items show their definition on request.
        </p>
        {p.changes.map((ch) => (
          <div class="change">
            <h3>
              <span class={`pill ${ch.change === "added" ? "ok" : ch.change === "removed" ? "bad" : "warn"}`}>
                {ch.change}
              </span>{" "}
              {ch.kind}{" "}
              <code>
                {ch.server}__{ch.name}
              </code>{" "}
              <span class="muted small">{when(ch.at)}</span>
            </h3>
            {ch.change === "changed" ? (
              <Diff before={ch.before} after={ch.after} />
            ) : (
              <details>
                <summary class="small">definition</summary>
                <pre>{sortedPrettyJson(ch.change === "added" ? ch.after : ch.before)}</pre>
              </details>
            )}
          </div>
        ))}
        {p.changes.length === 0 && <p class="muted">No changes recorded.</p>}
      </section>
    </Layout>
  );
}

/** One line saying what an admin change did: the fields that changed, or created / deleted. */
function summary(e: AuditEntry): string {
  const d = (e.detail ?? {}) as {
    before?: Record<string, unknown> | null;
    after?: Record<string, unknown> | null;
    headersChanged?: boolean;
  };
  if (e.kind !== "admin_change" || !("before" in d || "after" in d)) return "show";
  if (!d.before && d.after) return e.action.startsWith("key.") ? `key ${String(d.after.name ?? "")}` : "created";
  if (d.before && !d.after) return e.action.startsWith("key.") ? `key ${String(d.before.name ?? "")}` : "deleted";
  const keys = Object.keys({ ...d.before, ...d.after }).filter(
    (k) => JSON.stringify(d.before?.[k]) !== JSON.stringify(d.after?.[k]),
  );
  if (d.headersChanged && !keys.includes("headerNames")) keys.push("secret headers");
  return keys.length ? `changed ${keys.join(", ")}` : "show";
}

/** Audit rows; `kind: false` leaves the Kind column out (the overview shows admin changes only). Long actors and targets wrap inside the card. */
function AuditTable(props: { entries: AuditEntry[]; kind?: boolean }) {
  const kind = props.kind !== false;
  return (
    <table class="audit">
      <thead>
        <tr>
          <th>When</th>
          {kind && <th>Kind</th>}
          <th>Actor</th>
          <th>Action</th>
          <th>Target</th>
          <th>Outcome</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>
        {props.entries.map((e) => (
          <tr>
            <td class="small">{when(e.at)}</td>
            {kind && <td class="small">{e.kind}</td>}
            <td class="wrap">{e.actor}</td>
            <td>
              <code>{e.action}</code>
            </td>
            <td class="small wrap">{e.target || (e.server ? `${e.server}/${e.tool ?? ""}` : "")}</td>
            <td>
              {e.outcome === "ok" ? <span class="pill ok">ok</span> : <span class="pill bad">{e.outcome}</span>}
              {e.durationMs !== null ? <span class="small muted"> {e.durationMs} ms</span> : ""}
            </td>
            <td>
              {e.detail && Object.keys(e.detail as object).length ? (
                <details>
                  <summary class="small">{summary(e)}</summary>
                  <pre>{JSON.stringify(e.detail, null, 2)}</pre>
                </details>
              ) : (
                ""
              )}
            </td>
          </tr>
        ))}
        {props.entries.length === 0 && (
          <tr>
            <td colspan={kind ? 7 : 6} class="muted">
              Nothing recorded.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

export function AuditPage(p: PageBase & { entries: AuditEntry[]; filter: Record<string, string> }) {
  const f = p.filter;
  return (
    <Layout title="Audit log" email={p.email} logout={p.logout} active="/admin/audit">
      <Flash ok={p.ok} error={p.error} />
      <section class="card">
        <h2>Audit log</h2>
        <form method="get" action="/admin/audit" class="row">
          <div>
            <label for="f-kind">Kind</label>
            <select id="f-kind" name="kind">
              {["", "admin_change", "tool_call", "auth"].map((k) => (
                <option value={k} selected={f.kind === k}>
                  {k || "all"}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="f-actor">Actor</label>
            <input id="f-actor" type="text" name="actor" value={f.actor ?? ""} />
          </div>
          <div>
            <label for="f-server">Server</label>
            <input id="f-server" type="text" name="server" value={f.server ?? ""} />
          </div>
          <div>
            <label for="f-since">Since (UTC)</label>
            <input id="f-since" type="datetime-local" name="since" value={f.since ?? ""} />
          </div>
          <div>
            <label for="f-until">Until (UTC)</label>
            <input id="f-until" type="datetime-local" name="until" value={f.until ?? ""} />
          </div>
          <div style="flex:0">
            <button type="submit">Filter</button>
          </div>
        </form>
      </section>
      <section class="card">
        <AuditTable entries={p.entries} />
      </section>
    </Layout>
  );
}

const DIMENSIONS: [Dimension, string][] = [
  ["user", "Users"],
  ["tenant", "Tenants"],
  ["server", "Servers"],
  ["tool", "Tools"],
];

export function ReportsPage(p: PageBase & { report: UsageReport; range: string }) {
  const r = p.report;
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return (
    <Layout title="Usage" email={p.email} logout={p.logout} active="/admin/reports">
      <Flash ok={p.ok} error={p.error} />
      <section class="card">
        <h2>Tool usage</h2>
        <form method="get" action="/admin/reports" class="row">
          <div>
            <label for="r-range">Window</label>
            <select id="r-range" name="range">
              {[
                ["1h", "last hour"],
                ["24h", "last 24 hours"],
                ["7d", "last 7 days"],
                ["30d", "last 30 days"],
              ].map(([v, l]) => (
                <option value={v} selected={p.range === v}>
                  {l}
                </option>
              ))}
            </select>
          </div>
          <div style="flex:0">
            <button type="submit">Show</button>
          </div>
        </form>
        <p class="muted small">
          {when(r.since)} — {when(r.until)} UTC, per {r.bucket}
        </p>
        <div class="stats">
          <div class="stat">
            <span class="muted">calls</span>
            <b>{r.totals.calls}</b>
          </div>
          <div class="stat">
            <span class="muted">error rate</span>
            <b>{pct(r.totals.errorRate)}</b>
          </div>
          <div class="stat">
            <span class="muted">denied</span>
            <b>{r.totals.denied}</b>
          </div>
          <div class="stat">
            <span class="muted">p50</span>
            <b>{r.totals.p50Ms ?? "—"} ms</b>
          </div>
          <div class="stat">
            <span class="muted">p95</span>
            <b>{r.totals.p95Ms ?? "—"} ms</b>
          </div>
        </div>
      </section>
      <section class="card">
        <h3>Calls over time</h3>
        <CallsChart report={r} />
      </section>
      <section class="card">
        <h3>Latency (p50 / p95)</h3>
        <LatencyChart report={r} />
      </section>
      <div class="grid2">
        {DIMENSIONS.map(([d, title]) => (
          <section class="card">
            <h3>{title}</h3>
            <BarsChart rows={r.by[d]} title={`calls per ${d}`} />
            <table>
              <thead>
                <tr>
                  <th>{d}</th>
                  <th class="num">calls</th>
                  <th class="num">errors</th>
                  <th class="num">denied</th>
                  <th class="num">p50</th>
                  <th class="num">p95</th>
                </tr>
              </thead>
              <tbody>
                {r.by[d].map((x) => (
                  <tr>
                    <td>
                      <code>{x.key}</code>
                    </td>
                    <td class="num">{x.calls}</td>
                    <td class="num">{pct(x.errorRate)}</td>
                    <td class="num">{x.denied}</td>
                    <td class="num">{x.p50Ms ?? "—"}</td>
                    <td class="num">{x.p95Ms ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        ))}
      </div>
    </Layout>
  );
}
