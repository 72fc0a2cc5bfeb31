/**
 * Traefik v3 forwardAuth semantics: a GET without body to the auth worker carrying the original
 * headers plus X-Forwarded-Method/Proto/Host/Uri/For. A 2xx lets the request through with each
 * identity header replaced by the auth answer's value (a client's own copies, in any case or
 * with underscores, are removed). Any other status goes back to the client as it is.
 *
 * The headers are copied once for the request going on and once for the auth worker's question
 * (`bench:profile` under perf found copies of Headers among workerd's busiest native work).
 */
import { FORWARD_AUTH_PATH, IDENTITY_HEADERS } from "../../../shared/edge";

function normalise(name: string): string {
  return name.toLowerCase().replace(/_/g, "-");
}

const identityNames = new Set(IDENTITY_HEADERS.map(normalise));
const NONE: ReadonlySet<string> = new Set();

/**
 * The headers the edge forwards: the client's, without every header that could be mistaken for
 * an identity header and without the names in `drop` (lower case), with `set` added; one copy.
 */
export function forwardedHeaders(
  headers: Headers,
  drop: ReadonlySet<string> = NONE,
  set: Readonly<Record<string, string>> = {},
): Headers {
  const out = new Headers();
  headers.forEach((value, name) => {
    if (!identityNames.has(normalise(name)) && !drop.has(name) && !Object.hasOwn(set, name)) out.append(name, value);
  });
  for (const [name, value] of Object.entries(set)) out.set(name, value);
  return out;
}

/**
 * Asks the auth worker about `request`, whose headers `forwarded` are the ones going on (already
 * without identity headers). Returns the auth worker's answer when it refuses, else null after
 * setting the identity headers of its answer on `forwarded`.
 */
export async function forwardAuth(auth: Fetcher, request: Request, forwarded: Headers): Promise<Response | null> {
  const url = new URL(request.url);
  const headers = new Headers(forwarded);
  headers.delete("content-length");
  headers.delete("content-type");
  headers.set("X-Forwarded-Method", request.method);
  headers.set("X-Forwarded-Proto", url.protocol.replace(":", ""));
  headers.set("X-Forwarded-Host", request.headers.get("host") ?? url.host);
  headers.set("X-Forwarded-Uri", url.pathname + url.search);
  headers.set(
    "X-Forwarded-For",
    request.headers.get("cf-connecting-ip") ?? request.headers.get("x-forwarded-for") ?? "127.0.0.1",
  );
  const verdict = await auth.fetch(
    new Request(new URL(FORWARD_AUTH_PATH, url), { method: "GET", headers, redirect: "manual" }),
  );
  if (verdict.status < 200 || verdict.status > 299) return verdict;
  for (const name of IDENTITY_HEADERS) {
    const value = verdict.headers.get(name);
    if (value !== null) forwarded.set(name, value);
  }
  await verdict.body?.cancel().catch(() => {});
  return null;
}
