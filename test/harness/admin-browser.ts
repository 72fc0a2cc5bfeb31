/**
 * What the admin UI's browser tests share: Chromium's flags, signing in through the gateway's
 * real login page and the local OIDC provider's form, submitting a form and waiting for the next
 * page, and the tool names a user's key sees at `/mcp` through the real MCP SDK client.
 */
import type { BrowserContext, Page } from "playwright-core";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

/** Headless, no sandbox (root in a container), nothing that reaches out on its own. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

/** A new page of `ctx` signed in as `email` at `base + path`, through the login form. */
export async function signIn(
  ctx: BrowserContext,
  base: string,
  email: string,
  password: string,
  path = "/admin",
): Promise<Page> {
  const p = await ctx.newPage();
  await p.goto(`${base}${path}`);
  await p.waitForSelector("form#login");
  await p.fill("input[name=email]", email);
  await p.fill("input[name=password]", password);
  await Promise.all([p.waitForURL((u) => u.href.startsWith(base)), p.click("form#login button[type=submit]")]);
  return p;
}

/** Clicks `button` (a form's submit button) and waits until the next page has loaded. */
export async function submitAndLoad(p: Page, button: string): Promise<void> {
  await Promise.all([p.waitForLoadState("load"), p.waitForNavigation(), p.click(button)]);
}

/** Every tool name `key`'s user sees at `base/mcp` (all pages), in the order listed. */
export async function mcpToolNames(base: string, key: string, clientName: string): Promise<string[]> {
  const client = new Client({ name: clientName, version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    }),
  );
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    names.push(...page.tools.map((x) => x.name));
    cursor = page.nextCursor;
  } while (cursor);
  await client.close();
  return names;
}
