/**
 * `npm run migrate` and `npm run tenants -- import|export` as a user runs them: the real scripts as
 * child processes, on the embedded Postgres (whose exit hook used to turn every failure into exit 0)
 * and next to a running `npm start`.
 */
import { spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { freePort } from "../../scripts/lib/ports";
import { startCli, stopAllClis } from "../harness/cli";

const ROOT = resolve(import.meta.dirname, "../..");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `scripts/<script>.ts args` with the environment (DATABASE_URL cleared unless given); `stdout` a file path to redirect to. */
function run(
  script: "migrate" | "tenants",
  args: string[],
  env: Record<string, string>,
  stdoutFile?: string,
): Promise<Run> {
  const fd = stdoutFile ? openSync(stdoutFile, "w") : undefined;
  const base: Record<string, string | undefined> = { ...process.env, DATABASE_URL: "" };
  delete base.SECRETS_KEY;
  delete base.GITHUB_AUTHORIZATION;
  const child = spawn(process.execPath, ["--import", "tsx", `scripts/${script}.ts`, ...args], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdio: ["ignore", fd ?? "pipe", "pipe"],
  });
  if (fd !== undefined) closeSync(fd);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((r) => child.on("exit", (code) => r({ code: code ?? -1, stdout, stderr })));
}

const lines = (s: string) => s.split("\n").filter((l) => l.trim());

let dataDir: string;
let work: string;
const example = resolve(ROOT, "examples/tenants.example.yaml");

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), "mcpgw-cmd-"));
  chmodSync(dataDir, 0o755); // the embedded Postgres runs as its own user
  work = mkdtempSync(join(tmpdir(), "mcpgw-cmd-files-"));
});
afterAll(async () => {
  await stopAllClis();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe("npm run migrate and npm run tenants on the embedded Postgres", () => {
  it("migrate exits 0 when it works", async () => {
    const r = await run("migrate", [], { DATA_DIR: dataDir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^applied: 0001_initial\.sql/);
  }, 60_000);

  it("migrate exits 1 with one line when the embedded Postgres cannot start", async () => {
    const locked = mkdtempSync(join(tmpdir(), "mcpgw-cmd-locked-")); // 0700: the Postgres user cannot use it
    try {
      const r = await run("migrate", [], { DATA_DIR: locked });
      expect(r.code).toBe(1);
      expect(lines(r.stderr)).toEqual([
        expect.stringMatching(/^error: the embedded Postgres in .*\/pg did not start: /),
      ]);
    } finally {
      rmSync(locked, { recursive: true, force: true });
    }
  }, 60_000);

  it("tenants import exits 1 with one line naming what is wrong (a variable the file needs, a key it needs), writing nothing", async () => {
    const missingVar = await run("tenants", ["import", example], { DATA_DIR: dataDir });
    expect(missingVar.code).toBe(1);
    expect(lines(missingVar.stderr)).toEqual([
      "error: tenants.github.servers.github.headers.Authorization: environment variable GITHUB_AUTHORIZATION is not set",
    ]);
    // fails inside the database step, after the embedded Postgres started (its exit hook registered)
    const noKey = await run("tenants", ["import", example], {
      DATA_DIR: dataDir,
      GITHUB_AUTHORIZATION: "Bearer ghp_test",
    });
    expect(noKey.code).toBe(1);
    expect(lines(noKey.stderr)).toEqual(["error: SECRETS_KEY is not set: secret headers cannot be stored"]);
    const out = await run("tenants", ["export"], { DATA_DIR: dataDir });
    expect(out.code).toBe(0);
    expect(parse(out.stdout)).toEqual({ tenants: {}, groups: {}, users: {}, admins: [] });
    const missingFile = await run("tenants", ["import", join(work, "none.yaml")], { DATA_DIR: dataDir });
    expect(missingFile.code).toBe(1);
    expect(lines(missingFile.stderr)).toEqual([`error: cannot read ${join(work, "none.yaml")}: no such file`]);
  }, 90_000);

  it("tenants export exits 1 with one line and leaves no empty file behind (redirected or --output)", async () => {
    const redirected = join(work, "redirected.yaml");
    const r = await run("tenants", ["export", "--with-secrets"], { DATA_DIR: dataDir }, redirected);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual(["error: --with-secrets needs SECRETS_KEY (the key the secrets are sealed with)"]);
    expect(existsSync(redirected)).toBe(false);
    const target = join(work, "out.yaml");
    const o = await run("tenants", ["export", "--with-secrets", "--output", target], { DATA_DIR: dataDir });
    expect(o.code).toBe(1);
    expect(readdirSync(work)).toEqual([]);
    const ok = await run("tenants", ["export", "--output", target], { DATA_DIR: dataDir });
    expect(ok.code).toBe(0);
    expect(parse(readFileSync(target, "utf8"))).toMatchObject({ tenants: {} });
    expect(ok.stderr).toBe(`exported to ${target}\n`);
    rmSync(target);
  }, 90_000);
});

describe("npm run tenants while npm start runs", () => {
  it("imports into the running stack's embedded Postgres, in force for the admin API at once; migrate finds it up to date", async () => {
    const port = await freePort();
    const stack = startCli({ PORT: String(port), DEMO: "0", DATA_DIR: dataDir });
    await stack.waitFor(/ready in/);
    const [, key] = (await stack.waitFor(/generated admin API key \(shown once, store it now\): (\S+)/)) as unknown as [
      string,
      string,
    ];
    const file = join(work, "team.yaml");
    writeFileSync(
      file,
      "tenants:\n  acme:\n    name: Acme\ngroups:\n  acme-users:\n    tenants: [acme]\nusers:\n  ann@acme.test:\n    groups: [acme-users]\n",
    );
    const r = await run("tenants", ["import", file], { DATA_DIR: dataDir });
    expect(r.stderr).not.toMatch(/lock|postmaster/i);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`imported ${file}: 1 tenants`);
    const group = await fetch(`http://127.0.0.1:${port}/admin/api/groups/acme-users`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(group.status).toBe(200);
    expect(await group.json()).toMatchObject({ tenants: ["acme"] });
    const m = await run("migrate", [], { DATA_DIR: dataDir });
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/^up to date/);
    // the command left the stack's Postgres running
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    stack.child.kill("SIGINT");
    expect(await stack.exited).toBe(0);
  }, 180_000);

  it("a second npm start on the same data refuses in one line instead of a Postgres lock error", async () => {
    const first = startCli({ PORT: String(await freePort()), DEMO: "0", DATA_DIR: dataDir });
    await first.waitFor(/ready in/);
    const second = startCli({ PORT: String(await freePort()), DEMO: "0", DATA_DIR: dataDir });
    expect(await second.exited).toBe(1);
    expect(
      second
        .output()
        .split("\n")
        .filter((l) => l.includes("error")),
    ).toEqual([
      expect.stringMatching(
        /^\[start\] error: the embedded Postgres in .*\/pg already runs \(process \d+, another npm start\?\); stop it, or use another DATA_DIR$/,
      ),
    ]);
    expect((await fetch(first.output().match(/ready in [\d.]+ s at (\S+)/)![1]! + "/healthz")).status).toBe(200);
    first.child.kill("SIGINT");
    expect(await first.exited).toBe(0);
  }, 180_000);
});
