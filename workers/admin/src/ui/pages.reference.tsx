/**
 * The interactive API reference at /admin/api/docs: every operation of the OpenAPI document with
 * its parameters and schemas, and a "try it" form that calls the API from the page with the
 * caller's own credentials. Self-contained: one small inline script (CSP nonce), no CDN.
 */
import { raw } from "hono/html";
import { openApiDocument } from "../openapi";
import { Layout } from "./layout";

interface OpDoc {
  summary: string;
  parameters: { name: string; in: string; description?: string; example?: unknown; schema: unknown }[];
  requestBody?: { content: { "application/json": { schema: unknown } } };
  responses: Record<string, { description: string }>;
}

/** A parameter's placeholder: its example, else its values (enum), else its default. */
function hintOf(p: { example?: unknown; schema: unknown }): string {
  const sc = (p.schema ?? {}) as { enum?: unknown[]; default?: unknown; format?: string };
  if (p.example !== undefined) return String(p.example);
  if (Array.isArray(sc.enum)) return sc.enum.join(" | ");
  if (sc.default !== undefined) return String(sc.default);
  return sc.format === "email" ? "someone@example.com" : "";
}

// Runs in the browser: fills path parameters, sends the request, shows status and body.
const SCRIPT = `
document.querySelectorAll('form.try').forEach(function (f) {
  f.addEventListener('submit', async function (ev) {
    ev.preventDefault();
    var path = f.dataset.path, q = new URLSearchParams();
    f.querySelectorAll('input[data-in]').forEach(function (i) {
      if (i.dataset.in === 'path') path = path.replace('{' + i.name + '}', encodeURIComponent(i.value));
      else if (i.value) q.set(i.name, i.value);
    });
    var init = { method: f.dataset.method.toUpperCase(), headers: {}, credentials: 'same-origin' };
    var body = f.querySelector('textarea');
    if (body && body.value.trim()) { init.body = body.value; init.headers['content-type'] = 'application/json'; }
    var out = f.querySelector('pre.out');
    out.textContent = '…';
    try {
      var res = await fetch(path + (q.toString() ? '?' + q : ''), init);
      var text = await res.text();
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) {}
      out.textContent = res.status + ' ' + res.statusText + '\\n' + text;
    } catch (e) { out.textContent = String(e); }
  });
});`;

function example(schemaRef: unknown, components: Record<string, any>): string {
  const resolve = (s: any): any => (s && s.$ref ? components[s.$ref.split("/").pop()] : s);
  const s = resolve(schemaRef);
  if (!s || s.type !== "object") return "{}";
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries<any>(s.properties ?? {})) {
    const p = resolve(v);
    if (!(s.required ?? []).includes(k) && p.default === undefined) continue;
    out[k] =
      p.default !== undefined
        ? p.default
        : p.type === "array"
          ? []
          : p.type === "boolean"
            ? false
            : p.type === "object"
              ? {}
              : "";
  }
  return JSON.stringify(out, null, 2);
}

/** The reference page; `nonce` is the response's CSP script nonce. */
export function referencePage(nonce: string, email = "", logout?: string) {
  const doc = openApiDocument() as {
    paths: Record<string, Record<string, OpDoc>>;
    components: { schemas: Record<string, unknown> };
  };
  const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, op })),
  );
  return (
    <Layout title="API reference" email={email} logout={logout} active="/admin/api/docs">
      <section class="card">
        <h2>Admin REST API</h2>
        <p>
          JSON over HTTP at <code>/admin/api</code>. Authenticate with an admin's API key (
          <code>Authorization: Bearer mcpgw_…</code>) or an admin's browser session. <code>PUT</code> creates (201) or
          replaces (200). The machine-readable document: <a href="/admin/api/openapi.json">openapi.json</a>. The forms
          below send real requests as you.
        </p>
        <ul class="small">
          {ops.map(({ path, method, op }) => (
            <li>
              <a href={`#${method}-${path}`}>
                <code>
                  {method.toUpperCase()} {path}
                </code>
              </a>{" "}
              — {op.summary}
            </li>
          ))}
        </ul>
      </section>
      {ops.map(({ path, method, op }) => {
        const body = op.requestBody?.content["application/json"].schema;
        return (
          <section class="card" id={`${method}-${path}`}>
            <h3>
              <span class="pill">{method.toUpperCase()}</span> <code>{path}</code>
            </h3>
            <p>{op.summary}</p>
            <p class="small muted">
              Responses:{" "}
              {Object.entries(op.responses)
                .map(([code, r]) => `${code} ${r.description}`)
                .join(" · ")}
            </p>
            {body && (
              <details>
                <summary class="small">request schema</summary>
                <pre>
                  {JSON.stringify(
                    (body as { $ref?: string }).$ref
                      ? doc.components.schemas[(body as { $ref: string }).$ref.split("/").pop()!]
                      : body,
                    null,
                    2,
                  )}
                </pre>
              </details>
            )}
            <form class="try" data-path={path} data-method={method}>
              <div class="row">
                {op.parameters.map((p) => (
                  <div>
                    <label>
                      {p.name} <span class="muted small">({p.in})</span>
                    </label>
                    <input
                      type="text"
                      name={p.name}
                      data-in={p.in}
                      required={p.in === "path"}
                      placeholder={hintOf(p)}
                    />
                    {p.description && <div class="muted small param-hint">{p.description}</div>}
                  </div>
                ))}
              </div>
              {body && (
                <>
                  <label>Body</label>
                  <textarea name="body">{example(body, doc.components.schemas as Record<string, any>)}</textarea>
                </>
              )}
              <p>
                <button type="submit" class="secondary">
                  Send
                </button>
              </p>
              <pre class="out" aria-live="polite"></pre>
            </form>
          </section>
        );
      })}
      <script nonce={nonce}>{raw(SCRIPT)}</script>
    </Layout>
  );
}
