/**
 * `npm start`: the whole system on this machine. See README "Configuration" for the variables.
 */
import { StartupError, MigrationError, startStack } from "./lib/stack";
import { redactUrl } from "./lib/database";

const demo = process.env.DEMO !== "0";
const t0 = Date.now();
const say = (line: string) => console.log(`[start] ${line}`);

try {
  const stack = await startStack({
    port: Number(process.env.PORT ?? 8000),
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
