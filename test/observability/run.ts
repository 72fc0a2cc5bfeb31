/**
 * `npm run test:observability`: installs Prometheus from Debian's packages when it is missing
 * (as root, with apt-get), then runs test/observability/*.test.ts (vitest.observability.config.ts):
 * the gateway scraped by a real Prometheus with the observability profile's config, every query
 * of the Grafana dashboard evaluated.
 *
 * Without a `prometheus` binary (and no way to install one) it says so on one line and exits 0,
 * unless MCPGW_OBSERVABILITY_REQUIRED=1 (then 1): a machine without Prometheus is not a failure
 * of the code, but it must never look like a pass. MCPGW_OBSERVABILITY_INSTALL=0 skips the
 * installing. PROMETHEUS_BIN names another binary.
 */
import { spawnSync } from "node:child_process";
import { prometheusBinary } from "../harness/prometheus";

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
if (
  !prometheusBinary() &&
  process.env.MCPGW_OBSERVABILITY_INSTALL !== "0" &&
  process.getuid?.() === 0 &&
  have("apt-get")
) {
  console.log("test:observability: installing prometheus (apt-get)");
  const install = () =>
    spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "prometheus"], {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  if (install().status !== 0) {
    spawnSync("apt-get", ["update"], { stdio: "inherit" });
    install();
  }
}

if (!prometheusBinary()) {
  const required = process.env.MCPGW_OBSERVABILITY_REQUIRED === "1";
  console.log(
    `test:observability: NOT RUN - no prometheus binary on this machine (apt-get install -y prometheus, or PROMETHEUS_BIN=/path)${required ? "" : " (set MCPGW_OBSERVABILITY_REQUIRED=1 to fail instead)"}`,
  );
  process.exit(required ? 1 : 0);
}

const r = spawnSync("npx", ["vitest", "run", "--config", "vitest.observability.config.ts", ...process.argv.slice(2)], {
  stdio: "inherit",
});
process.exit(r.status ?? 1);
