/** Runs the generated workerd config with the npm-shipped workerd binary. */
import { resolve } from "node:path";
import { startProcess, waitForPort, type Managed } from "./processes";
import { WORKERD_DIR } from "./workerd-config";
import { ROOT } from "./workers";

export const WORKERD_BIN = resolve(ROOT, "node_modules/.bin/workerd");

/**
 * Starts `workerd serve <config>` with `env` as the workers' variables and the `http` socket
 * bound to host:port. Resolves when the socket accepts connections.
 */
export async function startWorkerd(opts: { config?: string; port: number; host?: string; env: Record<string, string>; name?: string; echo?: boolean }): Promise<Managed> {
  const host = opts.host ?? "127.0.0.1";
  const config = opts.config ?? resolve(WORKERD_DIR, "local.capnp");
  const proc = startProcess(opts.name ?? "workerd", WORKERD_BIN, ["serve", config, "--socket-addr", `http=${host}:${opts.port}`, "--verbose"], { env: opts.env, echo: opts.echo });
  await waitForPort(opts.port, proc, 20_000, host === "0.0.0.0" ? "127.0.0.1" : host);
  return proc;
}
