/**
 * The `traefik` command of the Traefik stand-in image (traefik.Containerfile), bundled into one
 * file by test/containers/base-images.ts. Reads the static file the compose service mounts
 * (`--configFile=/etc/traefik/traefik.yml`): the `web` entry point's address (the routers),
 * the ping entry point, the file provider's directory. `traefik healthcheck --configFile=...`
 * asks the ping endpoint as Traefik's own healthcheck does (exit 0 on 200).
 * Service URLs (`http://auth:8081`) are used as they are: the container network's DNS resolves them.
 */
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { startTraefikStandIn } from "../../integration/traefik-standin";

interface StaticConfig {
  ping?: { entryPoint?: string };
  entryPoints: Record<string, { address: string }>;
  providers?: { file?: { directory?: string } };
}

const args = process.argv.slice(2);
const configFile =
  args.find((a) => a.startsWith("--configFile="))?.slice("--configFile=".length) ?? "/etc/traefik/traefik.yml";
const cfg = parseYaml(readFileSync(configFile, "utf8")) as StaticConfig;
const port = (name: string) => Number(/:(\d+)$/.exec(cfg.entryPoints[name]?.address ?? "")?.[1] ?? NaN);
const pingPort = port(cfg.ping?.entryPoint ?? "traefik");

if (args[0] === "healthcheck") {
  fetch(`http://127.0.0.1:${pingPort}/ping`).then(
    (r) => {
      console.log(`OK: http://127.0.0.1:${pingPort}/ping answered ${r.status}`);
      process.exit(r.status === 200 ? 0 : 1);
    },
    (e: Error) => {
      console.error(`Error calling healthcheck: ${e.message}`);
      process.exit(1);
    },
  );
} else {
  const hosts: Record<string, string> = {};
  for (const k of ["GATEWAY_HOST", "CHAT_HOST"]) if (process.env[k]) hosts[k] = process.env[k]!;
  const web = port("web");
  await startTraefikStandIn(hosts, (u) => u, {
    host: "0.0.0.0",
    port: web,
    dynamicDir: cfg.providers?.file?.directory ?? "/etc/traefik/dynamic",
  });
  createServer((req, res) => {
    if (req.url === "/ping") res.writeHead(200, { "content-type": "text/plain" }).end("OK");
    else res.writeHead(404).end();
  }).listen(pingPort, "0.0.0.0");
  console.log(
    `traefik stand-in: entry point web :${web}, ping :${pingPort}, dynamic files from ${cfg.providers?.file?.directory}`,
  );
  const stop = () => process.exit(0);
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
