/**
 * `npm start`: the whole system on this machine. See README "Configuration" for the variables.
 */
import { StartupError, MigrationError, startStack } from "./lib/stack";
import { redactUrl } from "./lib/database";

const demo = process.env.DEMO !== "0";
const t0 = Date.now();
const say = (line: string) => console.log(`[start] ${line}`);

/** A port setting: an integer 0-65535 (0: a free one), else a one-line error naming the variable. */
function portSetting(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new StartupError(`${name} must be a port number 0-65535 (got ${JSON.stringify(value)})`);
  return n;
}

try {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== "--reset-demo");
  if (unknown.length) throw new StartupError(`unknown argument ${unknown[0]} (npm start accepts --reset-demo)`);
  const resetDemo = args.includes("--reset-demo");
  if (resetDemo && !demo) throw new StartupError("--reset-demo with DEMO=0: unset DEMO to reset the demo data");
  const port = portSetting("PORT", process.env.PORT, 8000);
  // stable across restarts (protected-resource metadata and clients' stored OAuth settings name it)
  const idpPort = portSetting("IDP_PORT", process.env.IDP_PORT, port && port < 65535 ? port + 1 : 0);
  const stack = await startStack({
    port,
    idpPort,
    resetDemo,
    exitOnSignal: true,
    host: process.env.HOST ?? "127.0.0.1",
    databaseUrl: process.env.DATABASE_URL || undefined,
    demo,
    dataDir: process.env.DATA_DIR || undefined,
    adminEmail: process.env.ADMIN_EMAIL,
    adminApiKey: process.env.ADMIN_API_KEY || undefined,
    log: say,
    echo: process.env.VERBOSE === "1",
  });
  say(`database: ${stack.embeddedDatabase ? "embedded " : ""}${redactUrl(stack.databaseUrl)}`);
  say(`admin: ${stack.adminEmail}`);
  if (stack.generatedAdminKey) {
    say(`generated admin API key (shown once, store it now): ${stack.generatedAdminKey}`);
  } else if (!process.env.ADMIN_API_KEY) {
    say("admin API key: already issued earlier (set ADMIN_API_KEY to choose one)");
  }
  console.log(`
  MCP endpoint    ${stack.url}/mcp            (one server: ${stack.url}/mcp/<server>)
  Admin           ${stack.url}/admin          (API: ${stack.url}/admin/api)
  Auth            ${stack.url}/auth/login
  Health          ${stack.url}/healthz
`);
  say(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s at ${stack.url} (Ctrl-C stops everything)`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say("stopping");
    await stack.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.on("SIGHUP", stop);
  stack.workerd.child.on("exit", (code) => {
    if (!stopping) {
      console.error(`[start] workerd exited unexpectedly (code ${code}): ${stack.workerd.tail()}`);
      void stop();
    }
  });
} catch (err) {
  if (err instanceof StartupError || err instanceof MigrationError) {
    console.error(`[start] error: ${err.message}`);
  } else {
    console.error(`[start] error: ${(err as Error)?.message ?? err}`);
  }
  process.exit(1);
}
