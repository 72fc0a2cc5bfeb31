/** UI pages of the curated catalog (issue 15): reviews of tool definitions, virtual servers. */
import type { Group } from "../../../../shared/repos/groups.repo";
import type { Review } from "../../../../shared/repos/review.repo";
import type { VirtualServer } from "../../../../shared/repos/virtual.repo";
import { sortedPrettyJson } from "./diff";
import { Csrf, Flash, Layout, PostButton, when } from "./layout";
import { Diff } from "./pages.insight";
import type { PageBase } from "./pages.manage";

/** How a review names what it reviews. */
const KIND_LABEL: Record<Review["kind"], [one: string, set: string]> = {
  tool: ["tool", "tools"],
  prompt: ["prompt", "prompts"],
  resource: ["resource", "resources"],
  resource_template: ["resource template", "resource templates"],
};

/** Pending reviews of every server: the diff, the poisoning findings, approve / reject. */
export function ReviewsPage(p: PageBase & { reviews: Review[] }) {
  return (
    <Layout title="Reviews" email={p.email} logout={p.logout} active="/admin/reviews">
      <Flash ok={p.ok} error={p.error} />
      <section class="card">
        <h2>Definitions awaiting review</h2>
        <p class="muted small">
          Servers set to <code>hold</code> (or <code>findings</code>) serve each tool, prompt, resource and resource
          template only in a definition approved here. Until a change is approved, users keep the approved definition
          (calls, <code>prompts/get</code> and reads are refused while the upstream lists another); a new one stays
          hidden. Rejecting keeps it so.
        </p>
        {p.reviews.length === 0 && <p class="muted">Nothing awaits review.</p>}
        {p.reviews.map((r) => (
          <div class="change" id={`review-${r.id}`}>
            <h3>
              <span class={`pill ${r.findings.length ? "bad" : r.change === "changed" ? "warn" : "ok"}`}>
                {r.scope === "set" ? "whole set" : r.change}
              </span>{" "}
              <span class="kind small">{KIND_LABEL[r.kind][r.scope === "set" ? 1 : 0]}</span> <code>{r.server}</code>{" "}
              {r.scope !== "set" && <code>{r.name}</code>} <span class="muted small">{when(r.at)}</span>
            </h3>
            {r.findings.length > 0 ? (
              <table class="findings">
                <thead>
                  <tr>
                    <th>Finding</th>
                    <th>Where</th>
                    <th>Excerpt</th>
                  </tr>
                </thead>
                <tbody>
                  {r.findings.map((f) => (
                    <tr>
                      <td>{f.check}</td>
                      <td>
                        <code>{f.path}</code>
                      </td>
                      <td>
                        <code>{f.excerpt}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted small">No poisoning findings.</p>
            )}
            {r.change === "changed" ? (
              <Diff before={r.before} after={r.after} />
            ) : (
              <details open={r.scope !== "set"}>
                <summary class="small">
                  {r.scope === "set" ? `${Array.isArray(r.after) ? r.after.length : 0} definitions` : "definition"}
                </summary>
                <pre>{sortedPrettyJson(r.after)}</pre>
              </details>
            )}
            <p>
              <PostButton
                action={`/admin/reviews/${encodeURIComponent(r.server)}/${r.id}/approve`}
                token={p.token}
                label="Approve"
                kind="secondary"
                name="approve"
              />{" "}
              <PostButton
                action={`/admin/reviews/${encodeURIComponent(r.server)}/${r.id}/reject`}
                token={p.token}
                label="Reject"
                kind="danger"
                name="reject"
              />
            </p>
          </div>
        ))}
      </section>
    </Layout>
  );
}

type Values = Record<string, string | string[] | undefined>;
const str = (v: Values, k: string) => (typeof v[k] === "string" ? (v[k] as string) : "");

/** `server tool [name] [| description]` lines of a virtual server's tools. */
export function toolsText(v: VirtualServer): string {
  return v.tools
    .map((t) =>
      [t.server, t.tool, t.name ?? "", t.description !== null ? `| ${t.description}` : ""].filter(Boolean).join(" "),
    )
    .join("\n");
}

/** Virtual servers: list, and the form that creates or replaces one. */
export function VirtualServersPage(
  p: PageBase & { virtuals: VirtualServer[]; groups: Group[]; values: Values; editing: boolean },
) {
  const v = p.values;
  const chosen = new Set(Array.isArray(v.groups) ? v.groups : typeof v.groups === "string" ? [v.groups] : []);
  return (
    <Layout title="Virtual servers" email={p.email} logout={p.logout} active="/admin/virtual">
      <Flash ok={p.ok} error={p.error} />
      <div class="grid">
        <section class="card">
          <h2>Virtual servers</h2>
          <p class="muted small">
            <code>/mcp/&lt;id&gt;</code> shows the chosen tools of several servers under the names given here. A user
            granted the virtual server sees each tool only when they could use the real one.
          </p>
          <table>
            <thead>
              <tr>
                <th>Id</th>
                <th>Groups</th>
                <th>Tools</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {p.virtuals.map((x) => (
                <tr>
                  <td>
                    <a href={`/admin/virtual?edit=${encodeURIComponent(x.id)}`}>{x.id}</a>
                  </td>
                  <td>{x.groups.join(", ") || <span class="muted">none</span>}</td>
                  <td class="small">{x.tools.map((t) => `${t.name ?? t.tool} (${t.server}.${t.tool})`).join(", ")}</td>
                  <td>
                    <PostButton
                      action={`/admin/virtual/${encodeURIComponent(x.id)}/delete`}
                      token={p.token}
                      label="Delete"
                      kind="danger"
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {p.virtuals.length === 0 && <p class="muted">No virtual servers yet.</p>}
        </section>
        <section class="card">
          <h2>{p.editing ? `Edit virtual server ${str(v, "id")}` : "Add a virtual server"}</h2>
          <form method="post" action="/admin/virtual">
            <Csrf token={p.token} />
            <label for="v-id">Id</label>
            <input
              id="v-id"
              type="text"
              name="id"
              value={str(v, "id")}
              required
              pattern="[a-z0-9][a-z0-9\-]{0,31}"
              readonly={p.editing}
              placeholder="e.g. team-tools"
            />
            <label for="v-desc">Description</label>
            <input id="v-desc" type="text" name="description" value={str(v, "description")} />
            <fieldset>
              <legend>Groups</legend>
              {p.groups.map((g) => (
                <label class="check">
                  <input type="checkbox" name="groups" value={g.name} checked={chosen.has(g.name)} /> {g.name}
                </label>
              ))}
            </fieldset>
            <label for="v-tools">
              Tools (one <code>server tool [new-name] [| new description]</code> per line)
            </label>
            <textarea
              id="v-tools"
              name="tools"
              placeholder="github create_issue file_issue | Files an issue in our tracker"
            >
              {str(v, "tools")}
            </textarea>
            <p>
              <button type="submit">Save virtual server</button> {p.editing && <a href="/admin/virtual">cancel</a>}
            </p>
          </form>
        </section>
      </div>
    </Layout>
  );
}
