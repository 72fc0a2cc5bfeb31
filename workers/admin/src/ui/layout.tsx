/** The admin UI's page frame: navigation, styles and small shared components. No scripts. */
import type { Child } from "hono/jsx";
import { raw } from "hono/html";
import { CSRF_FIELD } from "../csrf";
import { LOGOUT_FIELD } from "../../../../shared/logout.token";

const CSS = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f4f6f9}
header{background:#1f2a44;color:#fff;padding:0 20px;display:flex;align-items:center;gap:18px;flex-wrap:wrap}
header h1{font-size:16px;margin:12px 8px 12px 0;white-space:nowrap}header nav{display:flex;gap:2px;flex-wrap:wrap}
header nav a{color:#cfd8ea;text-decoration:none;padding:14px 9px;display:block}header nav a.on,header nav a:hover{color:#fff;background:#2e3d60}
header .who{margin-left:auto;color:#cfd8ea;font-size:13px}header form.signout{margin:0}header form.signout button{background:none;border:1px solid #56658a;color:#cfd8ea;border-radius:4px;padding:3px 9px;font-size:13px;cursor:pointer}
main{padding:20px;max-width:1280px;margin:0 auto}h2{font-size:18px;margin:0 0 12px}h3{font-size:15px;margin:16px 0 8px}
.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:16px 18px;margin-bottom:18px}
.grid{display:grid;grid-template-columns:minmax(0,3fr) minmax(300px,2fr);gap:18px;align-items:start}
@media (max-width:1000px){.grid{grid-template-columns:1fr}}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e7eaf0;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:#5b6475;background:#f8f9fb}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.audit td.wrap{overflow-wrap:anywhere}table.audit pre{white-space:pre-wrap;overflow-wrap:anywhere}
label{display:block;margin:8px 0 3px;font-weight:600;font-size:13px}
input[type=text],input[type=email],input[type=url],input[type=datetime-local],select,textarea{width:100%;padding:6px 8px;border:1px solid #c3cad6;border-radius:5px;font:inherit;background:#fff}
textarea{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;min-height:70px}
.check{display:inline-flex;align-items:center;gap:5px;font-weight:400;margin:3px 12px 3px 0}
button,.button{display:inline-block;padding:6px 13px;border-radius:5px;border:1px solid #2f5bd3;background:#2f5bd3;color:#fff;font:inherit;cursor:pointer;text-decoration:none}
button.secondary{background:#fff;color:#2f5bd3}button.danger{background:#fff;border-color:#c2413b;color:#c2413b}
form.inline{display:inline}td.actions{white-space:nowrap}td.actions button{padding:3px 9px;font-size:12.5px}.row{display:flex;gap:10px;flex-wrap:wrap;align-items:end}.row>div{flex:1;min-width:140px}
.flash{padding:10px 14px;border-radius:6px;margin-bottom:14px;background:#e6f4ea;border:1px solid #b7dfc2}
.error{background:#fdecea;border:1px solid #f1b8b4}.muted{color:#6b7384}.small{font-size:12px}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#eef1f6;margin:1px 3px 1px 0}
.ok{background:#e2f3e6;color:#1d6b34}.bad{background:#fbe3e1;color:#a1302a}.warn{background:#fff2d6;color:#7a5600}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}pre{background:#f6f8fa;border:1px solid #e3e7ee;padding:8px;border-radius:5px;overflow:auto;max-height:360px;margin:4px 0}
.key{font-size:15px;padding:10px;background:#fffbe6;border:1px dashed #caa400;word-break:break-all}
.change{border-top:1px solid #e7eaf0;padding:8px 0}.change h3{margin:4px 0;font-weight:500}.chain{font-family:ui-monospace,Menlo,monospace;font-size:12.5px}.diff .add{background:#e6ffec;display:block}.diff .del{background:#ffebe9;display:block}
.stats{display:flex;gap:14px;flex-wrap:wrap}.stat{text-decoration:none;color:inherit;background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:10px 16px;min-width:130px}.stat b{display:block;font-size:22px}
pre.out:empty{display:none}svg.chart{max-width:100%;height:auto;display:block}.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:18px}td code{white-space:nowrap}svg text{font:11px system-ui,sans-serif;fill:#475066}
`;

const NAV: [string, string][] = [
  ["/admin", "Overview"],
  ["/admin/tenants", "Tenants"],
  ["/admin/servers", "Servers"],
  ["/admin/groups", "Groups"],
  ["/admin/users", "Users"],
  ["/admin/access", "Access"],
  ["/admin/health", "Health"],
  ["/admin/changes", "Tool changes"],
  ["/admin/reviews", "Reviews"],
  ["/admin/virtual", "Virtual servers"],
  ["/admin/audit", "Audit log"],
  ["/admin/reports", "Usage"],
  ["/admin/api/docs", "API"],
  ["/admin/me", "My access"],
];

export function Layout(props: {
  title: string;
  email: string;
  logout?: string;
  active?: string;
  nav?: boolean;
  children?: Child;
}) {
  return (
    <>
      {raw("<!doctype html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{props.title} · MCP gateway admin</title>
          {/* a constant, not data: raw so that quotes in the CSS stay quotes */}
          <style>{raw(CSS)}</style>
        </head>
        <body>
          <header>
            <h1>MCP gateway admin</h1>
            {props.nav !== false && (
              <nav>
                {NAV.map(([href, label]) => (
                  <a href={href} class={props.active === href ? "on" : ""}>
                    {label}
                  </a>
                ))}
              </nav>
            )}
            {/* every signed-in user's own page (self.routes.tsx) */}
            <a class="who" href="/admin/me">
              {props.email}
            </a>
            {props.logout && (
              // POST only, with a token bound to the user (shared/logout.token.ts): no cross-site sign-out
              <form method="post" action="/auth/logout" class="signout">
                <input type="hidden" name={LOGOUT_FIELD} value={props.logout} />
                <button type="submit">Sign out</button>
              </form>
            )}
          </header>
          <main>{props.children}</main>
        </body>
      </html>
    </>
  );
}

/** The hidden CSRF field every form carries. */
export function Csrf(props: { token: string }) {
  return <input type="hidden" name={CSRF_FIELD} value={props.token} />;
}

/** A key just issued: shown this once (the user's own page and an admin's user page). */
export function NewKeyCard(props: { name: string; keyText: string }) {
  return (
    <section class="card" id="new-key">
      <h2>New API key “{props.name}”</h2>
      <p>Copy it now: it is shown this once and cannot be retrieved later.</p>
      <div class="key">
        <code data-testid="new-key">{props.keyText}</code>
      </div>
    </section>
  );
}

/** A success or error banner. */
export function Flash(props: { ok?: string | null; error?: string | null }) {
  return (
    <>
      {props.ok && (
        <div class="flash" role="status">
          {props.ok}
        </div>
      )}
      {props.error && (
        <div class="flash error" role="alert">
          {props.error}
        </div>
      )}
    </>
  );
}

/** A date as `YYYY-MM-DD HH:MM:SS` UTC, or a dash. */
export function when(d: Date | string | null | undefined): string {
  if (!d) return "—";
  return new Date(d).toISOString().replace("T", " ").slice(0, 19);
}

/** A POST button with its own small form (delete, revoke, refresh). */
export function PostButton(props: {
  action: string;
  token: string;
  label: string;
  kind?: "danger" | "secondary";
  name?: string;
}) {
  return (
    <form class="inline" method="post" action={props.action}>
      <Csrf token={props.token} />
      <button type="submit" class={props.kind ?? "secondary"} name={props.name}>
        {props.label}
      </button>
    </form>
  );
}
