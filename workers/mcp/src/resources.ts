/**
 * Which visible server a resource URI belongs to: a listed resource with that exact URI, else a
 * resource template (RFC 6570, the level MCP servers use) that matches it. Only visible servers
 * are searched, so a guessed URI of a hidden server resolves to nothing.
 */
import type { CatalogServer } from "./catalog.client";

const compiled = new Map<string, RegExp>();

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A regular expression matching the URIs a template expands to. */
export function templateRegExp(template: string): RegExp {
  let re = compiled.get(template);
  if (re) return re;
  let out = "^";
  let last = 0;
  for (const m of template.matchAll(/\{([+#./;?&]?)([^}]*)\}/g)) {
    out += escape(template.slice(last, m.index));
    const op = m[1];
    if (op === "+" || op === "#") out += (op === "#" ? "#" : "") + ".*";
    else if (op === "?" || op === "&") out += `(?:[${op === "?" ? "?" : "&"}][^#]*)?`;
    else if (op === "/" || op === "." || op === ";") out += `(?:\\${op}[^/?#]*)*`;
    else out += "[^/?#]+";
    last = m.index! + m[0].length;
  }
  out += escape(template.slice(last)) + "$";
  re = new RegExp(out);
  if (compiled.size > 2000) compiled.clear();
  compiled.set(template, re);
  return re;
}

/** The first server (in the given order) that lists `uri` or has a template matching it. */
export function findResourceServer(servers: CatalogServer[], uri: string): CatalogServer | undefined {
  return (
    servers.find((s) => s.resources.some((r) => r.uri === uri)) ??
    servers.find((s) => s.resourceTemplates.some((t) => typeof t.uriTemplate === "string" && templateRegExp(t.uriTemplate).test(uri)))
  );
}

/** The server owning a resource template (or resource) named by a completion reference. */
export function findTemplateServer(servers: CatalogServer[], uri: string): CatalogServer | undefined {
  return servers.find((s) => s.resourceTemplates.some((t) => t.uriTemplate === uri)) ?? servers.find((s) => s.resources.some((r) => r.uri === uri));
}
