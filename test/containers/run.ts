/**
 * `npm run test:containers`: installs what the suite needs when it is missing (Podman, runc and
 * debootstrap from Debian's packages, as root), checks that Podman can run containers here, then
 * runs test/containers/*.test.ts (vitest.containers.config.ts).
 *
 * When Podman cannot run here it says so on one line and exits 0, unless
 * MCPGW_CONTAINERS_REQUIRED=1 (then 1): a machine without a container runtime is not a failure of
 * the code, but it must never look like a pass. MCPGW_CONTAINERS_INSTALL=0 skips the installing
 * (test/integration/containers-runner.test.ts runs that path).
 */
import { spawnSync } from "node:child_process";
import { podmanProblem } from "./podman";

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const missing = ["podman", "runc", "debootstrap"].filter((c) => !have(c));
if (missing.length && process.env.MCPGW_CONTAINERS_INSTALL !== "0" && process.getuid?.() === 0 && have("apt-get")) {
  console.log(`test:containers: installing ${missing.join(", ")} (apt-get)`);
  // the podman packages, and what rootful networking under runc needs beside them
  const install = [
    "install",
    "-y",
    "--no-install-recommends",
    ...missing,
    "netavark",
    "aardvark-dns",
    "slirp4netns",
    "fuse-overlayfs",
    "iptables",
  ];
  if (spawnSync("apt-get", install, { stdio: "inherit" }).status !== 0) {
    // stale package lists: update them once and try again
    spawnSync("apt-get", ["update"], { stdio: "inherit" });
    spawnSync("apt-get", install, { stdio: "inherit" });
  }
}

const problem =
  podmanProblem() ?? (have("debootstrap") ? null : "debootstrap is not installed (apt-get install -y debootstrap)");
if (problem) {
  const required = process.env.MCPGW_CONTAINERS_REQUIRED === "1";
  console.log(
    `test:containers: NOT RUN - Podman cannot run containers on this machine: ${problem}${required ? "" : " (set MCPGW_CONTAINERS_REQUIRED=1 to fail instead)"}`,
  );
  process.exit(required ? 1 : 0);
}

const r = spawnSync("npx", ["vitest", "run", "--config", "vitest.containers.config.ts", ...process.argv.slice(2)], {
  stdio: "inherit",
});
process.exit(r.status ?? 1);
