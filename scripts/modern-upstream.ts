/**
 * Runs the modern test upstream (scripts/lib/modern-upstream.ts) on its own:
 *
 *   node --import tsx scripts/modern-upstream.ts [--port 3001] [--eras modern|dual|dual-stateless|legacy]
 *
 * Prints `listening <url>` when it serves; Ctrl-C (SIGINT/SIGTERM) stops it.
 */
import { parseArgs } from "node:util";
import { startModernUpstream, type UpstreamEras } from "./lib/modern-upstream";

const ERAS = ["modern", "dual", "dual-stateless", "legacy"] as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: "string" }, eras: { type: "string" }, host: { type: "string" } },
  });
  const eras = (values.eras ?? process.env.UPSTREAM_ERAS ?? "modern") as UpstreamEras;
  if (!ERAS.includes(eras)) throw new Error(`--eras must be one of ${ERAS.join(", ")}`);
  const port = Number(values.port ?? process.env.PORT ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error("--port must be a port number");
  const up = await startModernUpstream({ eras, port, host: values.host });
  console.log(`listening ${up.url} (eras: ${eras})`);
  const stop = () => void up.stop().finally(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((err) => {
  console.error(`modern upstream: ${(err as Error).message}`);
  process.exit(1);
});
