/**
 * docs/clients.md, run as a reader would: each block marked `<!-- test: name -->` is taken from the
 * page, its `http://localhost:8000` replaced by the test stack's origin and `mcpgw_YOUR_KEY` by a
 * real key, then run against the real stack (workerd, Postgres, a real server-everything upstream
 * named `alpha`, so the doc's `everything__` tool names become `alpha__`): the TypeScript snippets
 * with SDK 1.x and 2.x, the MCP Inspector CLI (the pinned devDependency instead of npx), and the
 * Claude Desktop configurations through mcp-remote (pinned likewise), API key and OAuth, the OAuth
 * login at the local provider driven over HTTP as a browser would. Blocks for clients that cannot
 * run here (Cursor, VS Code, Open WebUI, the Python SDK) are checked statically.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { CookieJar, step } from "../harness/login";
import { startMcpFixture, type McpFixture } from "./mcp.fixture";

const ROOT = join(import.meta.dirname, "../..");
const DOC = readFileSync(join(ROOT, "docs/clients.md"), "utf8");
const require = createRequire(import.meta.url);
const INSPECTOR_CLI = require.resolve("@modelcontextprotocol/inspector-cli/build/cli.js");
const MCP_REMOTE = join(ROOT, "node_modules/mcp-remote/dist/proxy.js");
const version = (pkg: string) =>
  (JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;

/** The blocks of the page marked `<!-- test: name -->`, by name. */
function blocks(): Map<string, { lang: string; body: string }> {
  const out = new Map<string, { lang: string; body: string }>();
  for (const m of DOC.matchAll(/<!-- test: ([a-z0-9-]+) -->\n```(\w+)\n([\s\S]*?)\n```/g))
    out.set(m[1]!, { lang: m[2]!, body: m[3]! });
  return out;
}
const BLOCKS = blocks();
function block(name: string): string {
  const b = BLOCKS.get(name);
  if (!b) throw new Error(`docs/clients.md has no block marked "test: ${name}"`);
  return b.body;
}

let f: McpFixture;
let scratch: string;
/** The doc's text as it applies to this stack and this key. */
const here = (text: string, key: string) =>
  text
    .replaceAll("http://localhost:8000", f.t.url)
    .replaceAll("mcpgw_YOUR_KEY", key)
    .replaceAll("everything__", "alpha__");

beforeAll(async () => {
  f = await startMcpFixture();
  // scripts live under node_modules so that their imports resolve to the project's packages
  mkdirSync(join(ROOT, "node_modules/.cache"), { recursive: true });
  scratch = mkdtempSync(join(ROOT, "node_modules/.cache/clients-doc-"));
});
afterAll(async () => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  await f?.stop();
});

function runTs(name: string, key: string) {
  const file = join(scratch, `${name}.mts`);
  writeFileSync(file, here(block(name), key));
  return spawnSync(process.execPath, ["--import", "tsx", file], { cwd: ROOT, encoding: "utf8", timeout: 45_000 });
}

describe("docs/clients.md: the TypeScript SDK snippets run as written", () => {
  for (const name of ["ts-sdk1-key", "ts-sdk2-key"]) {
    it(`${name}: lists the user's tools through /mcp with the API key`, () => {
      const ok = runTs(name, f.alice);
      expect(ok.stderr).toBe("");
      expect(ok.status).toBe(0);
      const lines = ok.stdout.split("\n");
      expect(lines).toContain("alpha__echo");
      // alice's groups grant acme only: globex's server is not hers
      expect(lines.some((l) => l.startsWith("beta__"))).toBe(false);
      if (name === "ts-sdk1-key") expect(ok.stdout).toContain("Echo: hi");
      // the header is what identifies her: a wrong key is refused
      const bad = runTs(name, "mcpgw_not_a_key_at_all_000000000000");
      expect(bad.status).not.toBe(0);
      expect(bad.stdout).not.toContain("alpha__echo");
    });
  }
});

describe("docs/clients.md: the TypeScript SDK OAuth snippets run as written", () => {
  for (const name of ["ts-sdk1-oauth", "ts-sdk2-oauth"]) {
    it(`${name}: signs in at the local provider as mcp-client and lists the user's tools`, async () => {
      // the signed-in user (a demo user of the local provider) is granted acme only, like alice
      await f.t.userKey("joelalama@google.com", { groups: ["acme-users"] });
      const port = await freePort();
      const file = join(scratch, `${name}.mts`);
      // the doc's listener port replaced by a free one
      writeFileSync(file, here(block(name), "unused").replaceAll("8765", String(port)));
      const child = spawn(process.execPath, ["--import", "tsx", file], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => void (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      const signIn = new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (c: Buffer) => {
          stdout += c.toString();
          const m = stdout.match(/Sign in: (\S+)/);
          if (m) resolve(m[1]!);
        });
        void exited.then(() => reject(new Error(`exited before asking to sign in:\n${stdout}\n${stderr}`)));
      });
      try {
        const url = new URL(await signIn);
        expect(url.searchParams.get("client_id")).toBe("mcp-client");
        expect(url.searchParams.get("resource")).toBe(`${f.t.url}/mcp`);
        const callback = await signInAndAllow(url.toString(), "joelalama@google.com", "demo");
        expect(callback.origin).toBe(`http://127.0.0.1:${port}`);
        expect((await fetch(callback)).status).toBe(200);
        expect(await exited, stderr).toBe(0);
        const lines = stdout.split("\n");
        expect(lines).toContain("alpha__echo");
        expect(lines.some((l) => l.startsWith("beta__"))).toBe(false);
      } finally {
        child.kill();
      }
    });
  }
});

describe("docs/clients.md: the TypeScript snippets typecheck", () => {
  it("every ts block compiles under tsc --strict as an ES module (so a reader's editor shows no error)", () => {
    const dir = mkdtempSync(join(scratch, "tsc-"));
    const files = [...BLOCKS]
      .filter(([, b]) => b.lang === "ts")
      .map(([name, b]) => {
        const file = join(dir, `${name}.mts`);
        writeFileSync(file, b.body);
        return file;
      });
    expect(files.length).toBe(4);
    const tsc = spawnSync(
      process.execPath,
      [
        require.resolve("typescript/bin/tsc"),
        "--noEmit",
        "--strict",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--target",
        "es2022",
        "--skipLibCheck",
        "--types",
        "node",
        ...files,
      ],
      { cwd: ROOT, encoding: "utf8", timeout: 90_000 },
    );
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
  }, 120_000);
});

/** Splits one shell command line into words (double-quoted words kept whole). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

describe("docs/clients.md: the MCP Inspector CLI command", () => {
  it("names the release the devDependency pins, one with --header", () => {
    const cmd = words(block("inspector-cli"));
    expect(cmd.slice(0, 3)).toEqual([
      "npx",
      "-y",
      `@modelcontextprotocol/inspector@${version("@modelcontextprotocol/inspector-cli")}`,
    ]);
    expect(cmd).toContain("--header");
  });

  it("lists the user's tools with the header (run with the pinned CLI instead of npx)", () => {
    const cmd = words(here(block("inspector-cli"), f.alice)).slice(3);
    // from a project's subfolder (its parent holds a package.json), where releases from 0.17.1 on fail
    const ok = spawnSync(process.execPath, [INSPECTOR_CLI, ...cmd], {
      cwd: join(ROOT, "docs"),
      encoding: "utf8",
      timeout: 45_000,
    });
    expect(ok.status, ok.stderr).toBe(0);
    const names = (JSON.parse(ok.stdout) as { tools: { name: string }[] }).tools.map((t) => t.name);
    expect(names).toContain("alpha__echo");
    expect(names.some((n) => n.startsWith("beta__"))).toBe(false);
    // without the header the gateway refuses it
    const i = cmd.indexOf("--header");
    const bare = spawnSync(process.execPath, [INSPECTOR_CLI, ...cmd.slice(0, i), ...cmd.slice(i + 2)], {
      cwd: scratch,
      encoding: "utf8",
      timeout: 45_000,
    });
    expect(bare.status).not.toBe(0);
    expect(bare.stdout).not.toContain("alpha__echo");
  });
});

interface StdioServer {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/** Starts the config's mcp-remote (the pinned devDependency in place of `npx -y mcp-remote@x`) as Claude Desktop does. */
function mcpRemote(server: StdioServer, home: string) {
  expect(server.command).toBe("npx");
  expect(server.args.slice(0, 2)).toEqual(["-y", `mcp-remote@${version("mcp-remote")}`]);
  const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: home, BROWSER: "none", ...server.env };
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MCP_REMOTE, ...server.args.slice(2)],
    env,
    stderr: "pipe",
    cwd: home,
  });
  return transport;
}

describe("docs/clients.md: Claude Desktop through mcp-remote", () => {
  it("API key: the config's bridge lists and calls the user's tools", async () => {
    const config = JSON.parse(here(block("claude-desktop-key"), f.alice)) as {
      mcpServers: Record<string, StdioServer>;
    };
    const home = mkdtempSync(join(scratch, "home-"));
    const transport = mcpRemote(config.mcpServers.gateway!, home);
    const client = new Client({ name: "claude-desktop-stand-in", version: "1.0.0" });
    try {
      await client.connect(transport);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("alpha__echo");
      expect(tools.some((t) => t.name.startsWith("beta__"))).toBe(false);
      const res = (await client.callTool({ name: "alpha__echo", arguments: { message: "via mcp-remote" } })) as {
        content: { text: string }[];
      };
      expect(res.content[0]!.text).toContain("via mcp-remote");
    } finally {
      await client.close();
    }
  });

  it("OAuth: the config's bridge signs in at the local provider with mcp-client and lists the user's tools", async () => {
    // the signed-in user (a demo user of the local provider) is granted acme only, like alice
    await f.t.userKey("joelalama@google.com", { groups: ["acme-users"] });
    const config = JSON.parse(here(block("claude-desktop-oauth"), "unused")) as {
      mcpServers: Record<string, StdioServer>;
    };
    const server = config.mcpServers.gateway!;
    // mcp-remote listens for the redirect on a port derived from the URL; should another process of
    // this machine hold it (the stack's ports are random), try again on a free one given after the
    // URL (mcp-remote's own option), so the test checks the flow and not the machine's ports
    let bridge = await startBridge(server);
    if (/already in use/.test(bridge.stderr())) {
      await bridge.client.close();
      bridge = await startBridge({
        ...server,
        args: [...server.args.slice(0, 3), String(await freePort()), ...server.args.slice(3)],
      });
    }
    const { client, connected, url } = bridge;
    try {
      expect(url, bridge.stderr()).toBeTruthy();
      const auth = new URL(url!);
      expect(auth.searchParams.get("client_id")).toBe("mcp-client");
      expect(auth.searchParams.get("code_challenge_method")).toBe("S256");
      // the user's browser: sign in at the provider, allow, follow the redirect to mcp-remote's listener
      const callback = await signInAndAllow(url!, "joelalama@google.com", "demo");
      expect(callback.hostname).toBe("localhost");
      expect(callback.pathname).toBe("/oauth/callback");
      expect(callback.searchParams.get("code")).toBeTruthy();
      const done = await fetch(callback);
      expect(done.status, await done.text()).toBe(200);
      expect(await connected).toBeUndefined();
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("alpha__echo");
      expect(tools.some((t) => t.name.startsWith("beta__"))).toBe(false);
    } finally {
      await client.close();
    }
  });
});

/** Starts the bridge and waits for the authorization URL it prints (null: it stopped, or printed none in 30 s). */
async function startBridge(server: StdioServer) {
  const transport = mcpRemote(server, mkdtempSync(join(scratch, "home-")));
  let stderr = "";
  const url = new Promise<string | null>((resolve) => {
    transport.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const m = stderr.match(/(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/);
      if (m) resolve(m[1]!);
      if (/already in use|Fatal error/.test(stderr)) resolve(null);
    });
    setTimeout(() => resolve(null), 30_000);
  });
  const client = new Client({ name: "claude-desktop-stand-in", version: "1.0.0" });
  // resolves to the error when the bridge stops before it connects
  const connected = client.connect(transport).then(
    () => undefined,
    (err: unknown) => err,
  );
  return { client, connected, url: await url, stderr: () => stderr };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Follows an authorization URL as a browser would, signing in and allowing; returns the redirect that leaves the provider. */
async function signInAndAllow(start: string, email: string, password: string): Promise<URL> {
  const jar = new CookieJar();
  const origin = new URL(start).origin;
  let url = start;
  let init: RequestInit = {};
  for (let hops = 0; hops < 20; hops++) {
    const res = await step(jar, url, init);
    init = {};
    const location = res.headers.get("location");
    if (location) {
      const next = new URL(location, url);
      if (next.origin !== origin) return next;
      url = next.toString();
      continue;
    }
    const html = await res.text();
    const login = html.match(/<form[^>]*action="([^"]+\/login)"/);
    const consent = html.match(/<form[^>]*action="([^"]+\/consent)"/);
    const form = { "content-type": "application/x-www-form-urlencoded" };
    if (login) {
      url = new URL(login[1]!, url).toString();
      init = { method: "POST", body: new URLSearchParams({ email, password }).toString(), headers: form };
    } else if (consent) {
      url = new URL(consent[1]!, url).toString();
      init = { method: "POST", body: new URLSearchParams({ decision: "allow" }).toString(), headers: form };
    } else {
      throw new Error(`the provider answered ${res.status} without a form: ${html.slice(0, 500)}`);
    }
  }
  throw new Error("authorization did not finish in 20 steps");
}

/** Every string in a parsed JSON value. */
function strings(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === "object") return Object.values(v).flatMap(strings);
  return [];
}

describe("docs/clients.md: every configuration block", () => {
  it("marks the blocks this test relies on", () => {
    for (const name of [
      "inspector-cli",
      "claude-desktop-key",
      "claude-desktop-oauth",
      "cursor-key",
      "cursor-oauth",
      "vscode-key",
      "vscode-oauth",
      "open-webui-connections",
      "ts-sdk1-key",
      "ts-sdk2-key",
      "ts-sdk1-oauth",
      "ts-sdk2-oauth",
      "python-key",
      "python-oauth",
    ]) {
      expect(BLOCKS.has(name), name).toBe(true);
    }
    // no JSON block goes unmarked (so none escapes the checks below)
    expect((DOC.match(/```json\n/g) ?? []).length).toBe([...BLOCKS.values()].filter((b) => b.lang === "json").length);
  });

  it("parses, names the gateway's /mcp endpoint, and carries the key in Authorization or uses the pre-registered OAuth client", async () => {
    const jsonBlocks = [...BLOCKS].filter(([, b]) => b.lang === "json");
    expect(jsonBlocks.length).toBeGreaterThanOrEqual(6);
    for (const [name, b] of jsonBlocks) {
      const parsed: unknown = JSON.parse(here(b.body, f.alice));
      const all = strings(parsed);
      const endpoint = all.find((s) => s.startsWith(f.t.url));
      expect(endpoint, name).toBe(`${f.t.url}/mcp`);
      // the URL is the gateway's: without credentials, its 401 points at the resource metadata
      const anon = await fetch(endpoint!, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: "{}",
      });
      expect(anon.status, name).toBe(401);
      expect(anon.headers.get("www-authenticate"), name).toContain(
        `resource_metadata="${f.t.url}/.well-known/oauth-protected-resource/mcp"`,
      );
      if (name.endsWith("-oauth")) {
        expect(
          all.some((s) => JSON.parse(s.startsWith("{") ? s : "{}").client_id === "mcp-client"),
          name,
        ).toBe(true);
        expect(
          all.some((s) => /authorization/i.test(s)),
          name,
        ).toBe(false);
      } else {
        const text = JSON.stringify(parsed);
        expect(text, name).toMatch(/"Authorization"|"--header","Authorization:|"auth_type":"bearer"/);
        expect(text, name).toMatch(/Bearer |mcpgw_/);
      }
    }
  });

  it("Cursor and VS Code key blocks: the header they send, with the key filled in, is accepted", async () => {
    for (const [name, fill] of [
      ["cursor-key", "${env:MCPGW_API_KEY}"],
      ["vscode-key", "${input:mcpgw-key}"],
    ] as const) {
      const parsed = JSON.parse(here(block(name), f.alice)) as {
        mcpServers?: Record<string, { url: string; headers: Record<string, string> }>;
        servers?: Record<string, { url: string; headers: Record<string, string> }>;
      };
      const server = (parsed.mcpServers ?? parsed.servers)!.gateway!;
      const authorization = server.headers.Authorization!.replace(fill, f.alice);
      expect(authorization, name).toBe(`Bearer ${f.alice}`);
      const res = await fetch(server.url, {
        method: "POST",
        headers: { authorization, "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name, version: "1" } },
        }),
      });
      expect(res.status, name).toBe(200);
    }
  });

  it("the Open WebUI connection has the fields of the compose files' own connection (compose-files.test.ts checks those)", () => {
    const compose = parseYaml(readFileSync(join(ROOT, "compose/docker-compose.hetzner.yml"), "utf8")) as {
      services: Record<string, { environment: Record<string, string> }>;
    };
    const [theirs] = JSON.parse(
      compose.services["open-webui"]!.environment.TOOL_SERVER_CONNECTIONS!.replace(/\$\{[^}]+\}/g, "x"),
    ) as Record<string, unknown>[];
    const [mine] = JSON.parse(block("open-webui-connections")) as Record<string, unknown>[];
    expect(Object.keys(mine!).sort()).toEqual(Object.keys(theirs!).sort());
    expect(mine).toMatchObject({ type: "mcp", auth_type: "bearer", key: "mcpgw_YOUR_KEY", config: { enable: true } });
  });

  it("the Python snippets parse (static check only: the SDK is not installable here)", (ctx) => {
    const python = spawnSync("python3", ["--version"], { encoding: "utf8" });
    if (python.status !== 0) ctx.skip();
    for (const name of ["python-key", "python-oauth"]) {
      const code = block(name);
      expect(code, name).toContain('"http://localhost:8000/mcp"');
      const r = spawnSync("python3", ["-c", "import ast, sys; ast.parse(sys.stdin.read())"], {
        input: code,
        encoding: "utf8",
      });
      expect(r.status, `${name}: ${r.stderr}`).toBe(0);
    }
    expect(block("python-key")).toContain('"Authorization": "Bearer mcpgw_YOUR_KEY"');
    expect(block("python-oauth")).toContain('client_id="mcp-client"');
  });
});
