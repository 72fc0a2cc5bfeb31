/**
 * `npm start` as a user runs it: the real script as a child process, its output read line by line.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/ports";
import { descendants, listeners, startCli as start, stopAllClis } from "../harness/cli";
import { createTestDatabase } from "../harness/db";

afterAll(stopAllClis);

function errorLines(out: string) {
  return out.split("\n").filter((l) => l.includes("error"));
}

// PORT "0" where the test needs no port of its own: npm start then takes a free one itself, so no
// other test can take it between choosing and listening (a port chosen here could be)
describe("npm start", () => {
  it("says in one line when the port is taken", async () => {
    const port = await freePort();
    const blocker = createServer().listen(port, "127.0.0.1");
    try {
      const s = start({ PORT: String(port), DEMO: "0", DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" });
      expect(await s.exited).toBe(1);
      expect(errorLines(s.output())).toEqual([
        `[start] error: port ${port} is already in use; stop what runs there or start with PORT=<another port>`,
      ]);
    } finally {
      blocker.close();
    }
  });

  it("says in one line when DATABASE_URL does not reach Postgres", async () => {
    const s = start({ PORT: "0", DEMO: "0", DATABASE_URL: "postgres://postgres:secretpw@127.0.0.1:1/none" });
    expect(await s.exited).toBe(1);
    const lines = errorLines(s.output());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /cannot reach Postgres at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none.*Check DATABASE_URL/,
    );
    expect(s.output()).not.toContain("secretpw");
  });

  it("says in one line which migration failed", async () => {
    const db = await createTestDatabase({ migrate: false });
    try {
      await db.sql`CREATE TABLE tenants (nonsense int)`;
      const s = start({ PORT: "0", DEMO: "0", DATABASE_URL: db.url });
      expect(await s.exited).toBe(1);
      expect(errorLines(s.output())).toEqual([
        expect.stringMatching(
          /^\[start\] error: migration 0001_initial\.sql failed: relation "tenants" already exists$/,
        ),
      ]);
    } finally {
      await db.drop();
    }
  });

  it.each([
    ["too short", "short-key"],
    ["with a space at its end", "a-key-of-enough-length-but-a-space "],
    ["with a character outside printable ASCII", "key-with-\u00e9-0123456789abcdef"],
  ])("says in one line when ADMIN_API_KEY cannot be accepted (%s)", async (_label, key) => {
    const s = start({ PORT: "0", DEMO: "0", ADMIN_API_KEY: key, DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" });
    expect(await s.exited).toBe(1);
    expect(errorLines(s.output())).toEqual([
      "[start] error: ADMIN_API_KEY must be 16-200 printable ASCII characters (letters, digits, punctuation, inner spaces), without a space at either end; unset it to have a key generated",
    ]);
  });

  it("says in one line when ADMIN_EMAIL is not an address the catalog accepts", async () => {
    const s = start({
      PORT: "0",
      DEMO: "0",
      ADMIN_EMAIL: "admin at example",
      DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
    });
    expect(await s.exited).toBe(1);
    expect(errorLines(s.output())).toEqual([
      '[start] error: ADMIN_EMAIL must be an email address (got "admin at example"): set ADMIN_EMAIL=you@example.com or unset it for admin@localhost',
    ]);
  });

  it.each([
    [
      "OWUI_FORWARDED_HEADERS=1 without OWUI_SERVICE_KEY",
      { OWUI_FORWARDED_HEADERS: "1" },
      "OWUI_FORWARDED_HEADERS: is 1 without OWUI_SERVICE_KEY",
    ],
    [
      "WEBUI_SECRET_KEY without OWUI_URL",
      { WEBUI_SECRET_KEY: "owui-secret-0123456789abcdef" },
      "WEBUI_SECRET_KEY: is set without OWUI_URL",
    ],
    ["OIDC_ALGORITHMS in lower case", { OIDC_ALGORITHMS: "rs256" }, "OIDC_ALGORITHMS: names rs256"],
  ])("stops before workerd starts, with one line naming the setting, when %s", async (_label, env, message) => {
    const db = await createTestDatabase({ migrate: false });
    try {
      const s = start({ PORT: "0", DEMO: "0", DATABASE_URL: db.url, ...env });
      expect(await s.exited).toBe(1);
      const lines = errorLines(s.output());
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^\[start\] error: /);
      expect(lines[0]).toContain(message);
      expect(s.output()).not.toContain("bundling the workers");
    } finally {
      await db.drop();
    }
  });

  it("accepts the operator's own ADMIN_API_KEY exactly as given (spaces and punctuation) on /admin/api and /mcp", async () => {
    const db = await createTestDatabase({ migrate: false });
    const key = "our own key: 'staging' / 2026 & more!";
    try {
      const port = String(await freePort());
      const s = start({ PORT: port, DEMO: "0", DATABASE_URL: db.url, ADMIN_API_KEY: key });
      await s.waitFor(/ready in [\d.]+ s/);
      expect(s.output()).not.toContain("generated admin API key");
      const url = `http://localhost:${port}`;
      const who = await fetch(`${url}/admin/api/whoami`, { headers: { authorization: `Bearer ${key}` } });
      expect(who.status).toBe(200);
      expect(await who.json()).toMatchObject({ email: "admin@localhost", admin: true });
      const mcp = await fetch(`${url}/mcp`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${key}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "start-cli", version: "1" } },
        }),
      });
      expect(mcp.status).toBe(200);
      s.child.kill("SIGINT");
      expect(await s.exited).toBe(0);
    } finally {
      await db.drop();
    }
  }, 180_000);

  it("starts with the embedded Postgres, prints ready and a key once, keeps data across restarts, stops everything on Ctrl-C", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "mcpgw-start-"));
    chmodSync(dataDir, 0o755);
    try {
      const port = String(await freePort());
      const first = start({ PORT: port, DEMO: "0", DATA_DIR: dataDir });
      await first.waitFor(/ready in [\d.]+ s at http:\/\/localhost:\d+/);
      const [, key] = (await first.waitFor(
        /generated admin API key \(shown once, store it now\): (\S+)/,
      )) as unknown as [string, string];
      const url = `http://127.0.0.1:${port}`;
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: "ok" });
      expect((await fetch(`${url}/admin/api/whoami`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(
        200,
      );
      // everything it runs (workerd, the embedded Postgres, the local IdP) listens on loopback only
      const bound = listeners([first.child.pid!, ...descendants(first.child.pid!)]);
      expect(bound.filter((l) => l.proto.startsWith("tcp")).length).toBeGreaterThanOrEqual(3);
      expect(bound.filter((l) => !/^(127\.|::1$|::ffff:127\.)/.test(l.address))).toEqual([]);
      // the generated secrets, the key that seals stored secrets among them, kept for the owner only
      const secretsFile = join(dataDir, "secrets.json");
      const secrets = JSON.parse(readFileSync(secretsFile, "utf8")) as Record<string, string>;
      expect(Object.keys(secrets).sort()).toEqual([
        "COOKIE_SECRET",
        "IDENTITY_SECRET",
        "SECRETS_KEY",
        "SERVICE_SECRET",
        "SESSION_SECRET",
      ]);
      for (const v of Object.values(secrets)) expect(v.length).toBeGreaterThanOrEqual(32);
      expect(statSync(secretsFile).mode & 0o777).toBe(0o600);
      expect(first.output()).toContain("every stored secret is sealed under key");
      first.child.kill("SIGINT");
      expect(await first.exited).toBe(0);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();

      const second = start({ PORT: port, DEMO: "0", DATA_DIR: dataDir });
      await second.waitFor(/ready in/);
      expect(second.output()).not.toContain("generated admin API key");
      expect(JSON.parse(readFileSync(secretsFile, "utf8"))).toEqual(secrets);
      expect((await fetch(`${url}/admin/api/whoami`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(
        200,
      );
      second.child.kill("SIGINT");
      expect(await second.exited).toBe(0);
      // nothing it started is left running (the embedded Postgres names its data folder)
      const { execFileSync } = await import("node:child_process");
      const left = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.includes(dataDir));
      expect(left).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
