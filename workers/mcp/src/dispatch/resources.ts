/**
 * Which visible server a resource URI belongs to: a listed resource with that exact URI, else a
 * resource template (RFC 6570, matched by the SDK's `UriTemplate`) that matches it. Only visible servers
 * are searched, so a guessed URI of a hidden server resolves to nothing.
 */
import { UriTemplate } from "@modelcontextprotocol/server";
import type { CatalogServer } from "../catalog.client";

/** Parsed templates, by template text (a template that does not parse matches nothing). */
const compiled = new Map<string, UriTemplate | null>();

/** Whether `uri` is one of the URIs `template` expands to (RFC 6570, the SDK's matcher). */
export function templateMatches(template: string, uri: string): boolean {
  let t = compiled.get(template);
  if (t === undefined) {
    try {
      t = new UriTemplate(template);
    } catch {
      t = null;
    }
    if (compiled.size > 2000) compiled.clear();
    compiled.set(template, t);
  }
  try {
    return t !== null && t.match(uri) !== null;
  } catch {
    return false;
  }
}

/** The first server (in the given order) that lists `uri` or has a template matching it. */
export function findResourceServer(servers: CatalogServer[], uri: string): CatalogServer | undefined {
  return (
    servers.find((s) => s.resources.some((r) => r.uri === uri)) ??
    servers.find((s) =>
      s.resourceTemplates.some((t) => typeof t.uriTemplate === "string" && templateMatches(t.uriTemplate, uri)),
    )
  );
}

/** The server owning a resource template (or resource) named by a completion reference. */
export function findTemplateServer(servers: CatalogServer[], uri: string): CatalogServer | undefined {
  return (
    servers.find((s) => s.resourceTemplates.some((t) => t.uriTemplate === uri)) ??
    servers.find((s) => s.resources.some((r) => r.uri === uri))
  );
}

/** Whether `server` holds its prompt, resource or template `key` (name, uri, uriTemplate) for review. */
export function isHeld(
  server: Pick<CatalogServer, "heldItems">,
  kind: keyof NonNullable<CatalogServer["heldItems"]>,
  key: string,
): boolean {
  return server.heldItems?.[kind]?.includes(key) ?? false;
}

/**
 * Whether reading `uri` on `server` is refused under review: the listed resource with that URI
 * is held, or (a URI no resource lists) a held template matches it.
 */
export function heldResource(server: CatalogServer, uri: string): boolean {
  if (!server.heldItems) return false;
  if (server.resources.some((r) => r.uri === uri)) return isHeld(server, "resource", uri);
  return (server.heldItems.resource_template ?? []).some((t) => templateMatches(t, uri));
}
