/**
 * The tool overrides of one real server (issue 15), on its edit page: each tool the catalog lists
 * (and any override of a tool no longer listed) with a form that renames it, replaces its
 * description or hides it for everyone, and a Remove button (with the confirmation step). The
 * forms post to ui.routes.tsx, which goes through the same service as the REST API's
 * `/admin/api/servers/{id}/overrides/{tool}` (same checks, same audit rows).
 */
import type { ToolOverride } from "../../../../shared/repos/review.repo";
import { Csrf, PostButton } from "./layout";

/** One row: a tool's upstream name, whether the catalog lists it now, and its override. */
export interface ToolRow {
  tool: string;
  listed: boolean;
  override: ToolOverride | null;
}

/** What the admin typed into a tool's form, shown again when the save was refused. */
export interface OverrideDraft {
  tool: string;
  name: string;
  description: string;
  hidden: boolean;
}

/** The rows of a server: listed tools and overridden ones, by upstream name. */
export function toolRows(listed: string[], overrides: ToolOverride[]): ToolRow[] {
  const by = new Map(overrides.map((o) => [o.tool, o]));
  const names = [...new Set([...listed, ...by.keys()])].sort();
  const live = new Set(listed);
  return names.map((tool) => ({ tool, listed: live.has(tool), override: by.get(tool) ?? null }));
}

/**
 * The form actions of a tool's override. The tool rides in the query, not the path: an upstream
 * tool name may hold a `/`, and the edge refuses paths with an encoded slash.
 */
export const overrideAction = (server: string, tool: string, remove = false) =>
  `/admin/servers/${encodeURIComponent(server)}/overrides${remove ? "/delete" : ""}?tool=${encodeURIComponent(tool)}`;

export function OverridesCard(p: { token: string; server: string; rows: ToolRow[]; draft?: OverrideDraft | null }) {
  return (
    <section class="card" id="overrides">
      <h2>Tools of {p.server}: overrides</h2>
      <p class="muted small">
        Rename a tool, replace its description or hide it from everyone. On <code>/mcp</code> the tool is called{" "}
        <code>{p.server}__&lt;name&gt;</code>, which must fit 64 characters of <code>A-Z a-z 0-9 _ -</code>; a name
        another tool of this server has is refused. Empty fields keep the upstream's name or description. Users see a
        change within 2 s.
      </p>
      {p.rows.length === 0 && <p class="muted">The catalog lists no tools of this server yet.</p>}
      <table>
        <thead>
          <tr>
            <th>Tool</th>
            <th>Override</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {p.rows.map((r) => {
            const o = r.override;
            const d = p.draft?.tool === r.tool ? p.draft : null;
            return (
              <tr data-tool={r.tool}>
                <td>
                  <code>{r.tool}</code>
                  {!r.listed && <span class="pill warn">not listed now</span>}
                  {o?.hidden && <span class="pill bad">hidden</span>}
                  {o?.name && (
                    <div class="small">
                      shown as <code>{o.name}</code>
                    </div>
                  )}
                </td>
                <td>
                  <form method="post" action={overrideAction(p.server, r.tool)} class="override">
                    <Csrf token={p.token} />
                    <input
                      type="text"
                      name="name"
                      aria-label={`New name of ${r.tool}`}
                      value={d ? d.name : (o?.name ?? "")}
                      placeholder={r.tool}
                      pattern="[A-Za-z0-9_\-]{1,64}"
                    />
                    <textarea
                      name="description"
                      aria-label={`New description of ${r.tool}`}
                      placeholder="the upstream's description"
                    >
                      {d ? d.description : (o?.description ?? "")}
                    </textarea>
                    <label class="check">
                      <input type="checkbox" name="hidden" value="on" checked={d ? d.hidden : !!o?.hidden} /> hidden for
                      everyone
                    </label>
                    <button type="submit" name="save">
                      Save override
                    </button>
                  </form>
                </td>
                <td class="actions">
                  {o && (
                    <PostButton
                      action={overrideAction(p.server, r.tool, true)}
                      token={p.token}
                      label="Remove override"
                      kind="danger"
                      name="remove"
                    />
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
