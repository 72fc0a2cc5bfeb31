/**
 * Drives the browser login over plain HTTP, the way a browser would: the gateway's /auth/login,
 * the OIDC provider's authorize endpoint and its password form, consent, and the gateway's
 * callback, with one cookie jar per origin and redirects followed by hand.
 *
 *   const { cookie } = await browserLogin(t.url, "admin@localhost", "admin");
 *   await fetch(`${t.url}/admin`, { headers: { cookie } });
 */

/** A minimal cookie jar keyed by origin (paths ignored: every cookie is sent to its origin). */
export class CookieJar {
  private jars = new Map<string, Map<string, string>>();

  store(url: string, res: Response): void {
    const origin = new URL(url).origin;
    const jar = this.jars.get(origin) ?? new Map<string, string>();
    this.jars.set(origin, jar);
    for (const line of (res.headers as unknown as { getSetCookie(): string[] }).getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const i = pair!.indexOf("=");
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === "";
      if (expired) jar.delete(name);
      else jar.set(name, value);
    }
  }

  header(url: string): string {
    const jar = this.jars.get(new URL(url).origin);
    return jar ? [...jar].map(([n, v]) => `${n}=${v}`).join("; ") : "";
  }

  get(url: string, name: string): string | undefined {
    return this.jars.get(new URL(url).origin)?.get(name);
  }
}

export interface LoginResult {
  /** `mcpgw_session=<value>`: the Cookie header of the logged-in browser. */
  cookie: string;
  /** Where the gateway sent the browser after the callback. */
  location: string;
  jar: CookieJar;
}

/** One request with the jar's cookies, no automatic redirect. */
export async function step(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set("cookie", cookie);
  if (!headers.has("accept")) headers.set("accept", "text/html");
  const res = await fetch(url, { ...init, headers, redirect: "manual" });
  jar.store(url, res);
  return res;
}

/**
 * Logs in through the gateway and the provider's form; throws when the flow does not end at the
 * gateway with a session cookie. `until` stops before the gateway's callback and returns its URL instead.
 */
export async function browserLogin(
  baseUrl: string,
  email: string,
  password: string,
  opts: { rd?: string; jar?: CookieJar } = {},
): Promise<LoginResult> {
  const jar = opts.jar ?? new CookieJar();
  const callback = await loginUntilCallback(baseUrl, email, password, { rd: opts.rd, jar });
  const res = await step(jar, callback);
  const location = res.headers.get("location") ?? "";
  const session = jar.get(baseUrl, "mcpgw_session");
  if (res.status !== 302 || !session) throw new Error(`callback answered ${res.status}: ${await res.text()}`);
  return { cookie: `mcpgw_session=${session}`, location, jar };
}

/** Runs the login up to the provider's redirect back to the gateway; returns the callback URL (with code and state). */
export async function loginUntilCallback(
  baseUrl: string,
  email: string,
  password: string,
  opts: { rd?: string; jar: CookieJar },
): Promise<string> {
  const { jar } = opts;
  let url = `${baseUrl}/auth/login${opts.rd ? `?rd=${encodeURIComponent(opts.rd)}` : ""}`;
  let method = "GET";
  let body: string | undefined;
  for (let hops = 0; hops < 20; hops++) {
    if (url.startsWith(`${baseUrl}/auth/callback`)) return url;
    const res = await step(jar, url, {
      method,
      body,
      headers: body ? { "content-type": "application/x-www-form-urlencoded" } : {},
    });
    method = "GET";
    body = undefined;
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url).toString();
      continue;
    }
    const html = await res.text();
    const form = html.match(/<form[^>]*action="([^"]+\/login)"/);
    if (res.status === 200 && form) {
      url = new URL(form[1]!.replace(/&#47;/g, "/"), url).toString();
      method = "POST";
      body = new URLSearchParams({ email, password }).toString();
      continue;
    }
    throw new Error(`login stopped at ${url} with ${res.status}: ${html.slice(0, 300)}`);
  }
  throw new Error("login did not finish in 20 steps");
}
