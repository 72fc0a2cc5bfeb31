/**
 * `npm start` with the demo, restarted as a user restarts it: the demo is seeded once, what an
 * admin changed survives a restart, `--reset-demo` restores it, and the local identity provider
 * keeps its port (IDP_PORT, default PORT + 1) so clients' stored OAuth settings stay right.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { assertPortFree, freePort } from "../../scripts/lib/ports";
import { startCli, stopAllClis, type Cli } from "../harness/cli";
import { gatewayClient } from "./mcp.fixture";

afterAll(stopAllClis);

/** A free port whose next port is free too (npm start's default IDP_PORT). */
async function freePortPair(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p >= 65535) continue;
    try {
      await assertPortFree(p + 1);
      return p;
    } catch {
      // taken: try another
    }
  }
}

/** Waits (10 s at most) until `url` answers at all; else fails with what the start printed. */
async function untilAnswers(url: string, cli: Cli) {
  for (let i = 0; i < 50; i++) {
    const ok = await fetch(url).then(
      (r) => (r.body?.cancel(), true),
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${url} refused connections after "ready in"; npm start printed:\n${cli.output().split("\n").slice(-40).join("\n")}`,
  );
}

async function stop(cli: Cli) {
  cli.child.kill("SIGINT");
  expect(await cli.exited).toBe(0);
}

describe("npm start with the demo", () => {
  it("seeds the demo once, keeps an admin's changes across restarts, restores it with --reset-demo; the IdP keeps its port", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "mcpgw-demo-"));
    chmodSync(dataDir, 0o755);
    try {
      const port = await freePortPair();
      const url = `http://127.0.0.1:${port}`;
      const env = { PORT: String(port), DATA_DIR: dataDir, IDP_PORT: "" };
      const first = startCli(env);
      await first.waitFor(/ready in/, 150_000);
      const [, key] = (await first.waitFor(
        /generated admin API key \(shown once, store it now\): (\S+)/,
      )) as unknown as [string, string];
      expect(first.output()).toContain("demo data seeded into the empty database");
      const api = (path: string, init: RequestInit = {}) =>
        fetch(`${url}/admin/api${path}`, {
          ...init,
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...(init.headers ?? {}) },
        });
      const issuer = `http://127.0.0.1:${port + 1}`;
      expect(first.output()).toContain(`identity provider: ${issuer} `);
      const metadata = async () =>
        (
          (await (await fetch(`${url}/.well-known/oauth-protected-resource/mcp`)).json()) as {
            authorization_servers: string[];
          }
        ).authorization_servers;
      expect(await metadata()).toEqual([issuer]);
      expect(await (await api("/groups/google-users")).json()).toMatchObject({ tenants: ["github", "google"] });
      // the admin's changes: a grant removed, a group added, a demo user removed
      expect(
        (await api("/groups/google-users", { method: "PUT", body: JSON.stringify({ tenants: ["google"] }) })).status,
      ).toBe(200);
      expect(
        (await api("/groups/ops", { method: "PUT", body: JSON.stringify({ tenants: ["microsoft"] }) })).status,
      ).toBe(201);
      expect((await api("/users/miketest@microsoft.com", { method: "DELETE" })).status).toBe(204);
      await stop(first);

      const second = startCli(env);
      await second.waitFor(/ready in/, 150_000);
      expect(second.output()).toContain("demo data kept as it is");
      expect(second.output()).not.toContain("demo data seeded");
      expect(await (await api("/groups/google-users")).json()).toMatchObject({ tenants: ["google"] });
      expect((await api("/groups/ops")).status).toBe(200);
      expect((await api("/users/miketest@microsoft.com")).status).toBe(404);
      // the demo servers follow their upstreams to this start's ports
      const everything = second.output().match(/demo upstreams: .*?everything (http:\/\/127\.0\.0\.1:\d+\/mcp)/)![1]!;
      expect(await (await api("/servers/everything")).json()).toMatchObject({ url: everything });
      // with this start's credential: a call through the gateway reaches the upstream
      const { client } = await gatewayClient(url, "/mcp/everything", key);
      try {
        const echoed = await client.callTool({ name: "echo", arguments: { message: "after restart" } });
        expect(echoed.isError).toBeFalsy();
        expect(JSON.stringify(echoed.content)).toContain("after restart");
      } finally {
        await client.close();
      }
      expect(second.output()).toContain(`identity provider: ${issuer} `);
      expect(await metadata()).toEqual([issuer]);
      await stop(second);

      const idpPort = await freePort();
      const third = startCli({ ...env, IDP_PORT: String(idpPort) }, { args: ["--reset-demo"] });
      await third.waitFor(/ready in/, 150_000);
      // the gateway answers (a refused connection here once in CI: say what the start printed)
      await untilAnswers(`${url}/healthz`, third);
      expect(third.output()).toContain("demo data reset");
      expect(await (await api("/groups/google-users")).json()).toMatchObject({ tenants: ["github", "google"] });
      expect((await api("/users/miketest@microsoft.com")).status).toBe(200);
      // outside the demo: kept
      expect((await api("/groups/ops")).status).toBe(200);
      expect(await metadata()).toEqual([`http://127.0.0.1:${idpPort}`]);
      await stop(third);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 600_000);

  it("Ctrl-C while it starts stops what already started (the embedded Postgres, demo upstreams) and exits 130", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "mcpgw-demo-int-"));
    chmodSync(dataDir, 0o755);
    try {
      const s = startCli({ PORT: String(await freePort()), DATA_DIR: dataDir });
      await s.waitFor(/applied migrations|database schema up to date/, 120_000);
      s.child.kill("SIGINT");
      expect(await s.exited).toBe(130);
      const { execFileSync } = await import("node:child_process");
      const left = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.includes(dataDir));
      expect(left).toEqual([]);
      expect(s.output()).not.toContain("ready in");
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  it("says in one line when IDP_PORT is taken, or is not a port, or an argument is unknown", async () => {
    const taken = await freePort();
    const { createServer } = await import("node:net");
    const blocker = createServer().listen(taken, "127.0.0.1");
    const db = { DATABASE_URL: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres" };
    try {
      const errors = (c: Cli) =>
        c
          .output()
          .split("\n")
          .filter((l) => l.includes("error"));
      const busy = startCli({ PORT: String(await freePort()), DEMO: "0", IDP_PORT: String(taken), ...db });
      expect(await busy.exited).toBe(1);
      expect(errors(busy)).toEqual([
        `[start] error: port ${taken} (the local identity provider, IDP_PORT) is already in use; stop what runs there or start with IDP_PORT=<another port>`,
      ]);
      const bad = startCli({ PORT: String(await freePort()), DEMO: "0", IDP_PORT: "eighty", ...db });
      expect(await bad.exited).toBe(1);
      expect(errors(bad)).toEqual(['[start] error: IDP_PORT must be a port number 0-65535 (got "eighty")']);
      const arg = startCli({ PORT: String(await freePort()), DEMO: "0", ...db }, { args: ["--reset"] });
      expect(await arg.exited).toBe(1);
      expect(errors(arg)).toEqual(["[start] error: unknown argument --reset (npm start accepts --reset-demo)"]);
    } finally {
      blocker.close();
    }
  }, 120_000);
});
