/** Runs the generated workerd config with the npm-shipped workerd binary. */
import { resolve } from "node:path";
import { workerdEnv } from "./child-env";
import { startProcess, waitForPort, type Managed } from "./processes";
import { WORKERD_DIR } from "./workerd-config";
import { allWorkers, ROOT } from "./workers";

export const WORKERD_BIN = resolve(ROOT, "node_modules/.bin/workerd");

/** Every variable a worker declares (the keys of the workers' env schemas): all workerd is given. */
export function workerVariables(): string[] {
  return [...new Set(allWorkers().flatMap((w) => w.vars))].sort();
}

/**
 * Starts `workerd serve <config>` with the `http` socket bound to host:port. Its environment is
 * exactly the workers' variables ({@link workerVariables}): from `env`, else from this process's
 * environment; nothing else. Resolves when the socket accepts connections.
 */
export async function startWorkerd(opts: {
  config?: string;
  port: number;
  host?: string;
  env: Record<string, string>;
  name?: string;
  echo?: boolean;
  /** More sockets of the config to bind on 127.0.0.1: socket name -> port (tests' internal sockets). */
  extraSockets?: Record<string, number>;
}): Promise<Managed> {
  const host = opts.host ?? "127.0.0.1";
  const config = opts.config ?? resolve(WORKERD_DIR, "local.capnp");
  const extra = Object.entries(opts.extraSockets ?? {}).flatMap(([name, port]) => [
    "--socket-addr",
    `${name}=127.0.0.1:${port}`,
  ]);
  // MCPGW_INSPECTOR=host:port opens workerd's DevTools inspector (bench/profile.ts uses it)
  const inspector = process.env.MCPGW_INSPECTOR ? ["--inspector-addr", process.env.MCPGW_INSPECTOR] : [];
  // MCPGW_WORKERD_CALLGRIND=1: workerd runs under valgrind's callgrind with instrumentation off
  // until `callgrind_control -i on` (bench/profile.ts PROFILE_CALLGRIND: instructions per operation)
  const callgrind = process.env.MCPGW_WORKERD_CALLGRIND === "1";
  const args = ["serve", config, "--socket-addr", `http=${host}:${opts.port}`, ...extra, ...inspector, "--verbose"];
  const proc = startProcess(
    opts.name ?? "workerd",
    callgrind ? "/usr/bin/valgrind" : WORKERD_BIN,
    callgrind
      ? [
          "--tool=callgrind",
          "--smc-check=all-non-file",
          "--instr-atstart=no",
          "--callgrind-out-file=/dev/null",
          WORKERD_BIN,
          ...args,
        ]
      : args,
    { env: workerdEnv(workerVariables(), opts.env), echo: opts.echo },
  );
  const wait = callgrind ? 300_000 : 20_000;
  await waitForPort(opts.port, proc, wait, host === "0.0.0.0" ? "127.0.0.1" : host);
  for (const port of Object.values(opts.extraSockets ?? {})) await waitForPort(port, proc, wait, "127.0.0.1");
  return proc;
}
