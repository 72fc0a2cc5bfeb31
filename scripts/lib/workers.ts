/**
 * The workers of the project and where their configuration lives: each worker's wrangler.toml
 * (entry, compatibility, service bindings) and its Env schema (the variables it reads). Builds,
 * workerd configs and the compose checks all start from this list.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "smol-toml";
import type { z } from "zod";
import { AuthEnv } from "../../workers/auth/src/env";
import { CatalogEnv } from "../../workers/catalog/src/env";
import { McpEnv } from "../../workers/mcp/src/env";
import { AdminEnv } from "../../workers/admin/src/env";
import { EdgeEnv } from "../../workers/edge/src/env";

export const ROOT = resolve(import.meta.dirname, "../..");

export type Name = "edge" | "auth" | "catalog" | "mcp" | "admin";

export interface WorkerSpec {
  name: Name;
  /** wrangler.toml path, relative to the repository root. */
  config: string;
  /** Variables the worker reads (keys of its Env schema), bound from the environment. */
  vars: string[];
  compatibilityDate: string;
  compatibilityFlags: string[];
  /** Service bindings: binding name -> worker name. */
  services: Record<string, Name>;
  /** Service bindings to a named entrypoint of the target worker: binding name -> entrypoint. */
  entrypoints: Record<string, string>;
  /** Durable Object bindings to the worker's own classes: binding name -> exported class name. */
  durableObjects: Record<string, string>;
}

const ENV_SCHEMAS: Record<Name, z.ZodObject> = {
  edge: EdgeEnv,
  auth: AuthEnv,
  catalog: CatalogEnv,
  mcp: McpEnv,
  admin: AdminEnv,
};
const CONFIGS: Record<Name, string> = {
  edge: "wrangler.toml",
  auth: "workers/auth/wrangler.toml",
  catalog: "workers/catalog/wrangler.toml",
  mcp: "workers/mcp/wrangler.toml",
  admin: "workers/admin/wrangler.toml",
};

function serviceToWorker(service: string): Name {
  const name = service === "mcp-gateway" ? "edge" : service.replace(/^mcp-gateway-/, "");
  if (!(name in CONFIGS)) throw new Error(`unknown service ${service}`);
  return name as Name;
}

export function workerSpec(name: Name): WorkerSpec {
  const toml = parse(readFileSync(resolve(ROOT, CONFIGS[name]), "utf8")) as Record<string, any>;
  const services: Record<string, Name> = {};
  const entrypoints: Record<string, string> = {};
  for (const s of (toml.services ?? []) as { binding: string; service: string; entrypoint?: string }[]) {
    services[s.binding] = serviceToWorker(s.service);
    if (s.entrypoint) entrypoints[s.binding] = s.entrypoint;
  }
  const durableObjects: Record<string, string> = {};
  for (const d of (toml.durable_objects?.bindings ?? []) as {
    name: string;
    class_name: string;
    script_name?: string;
  }[]) {
    if (d.script_name)
      throw new Error(`${CONFIGS[name]}: Durable Object bindings to another worker's class are not supported`);
    durableObjects[d.name] = d.class_name;
  }
  return {
    name,
    config: CONFIGS[name],
    vars: Object.keys(ENV_SCHEMAS[name].shape),
    compatibilityDate: String(toml.compatibility_date),
    compatibilityFlags: (toml.compatibility_flags ?? []) as string[],
    services,
    entrypoints,
    durableObjects,
  };
}

/** A worker's Env schema (workers/<name>/src/env.ts), combination checks included. */
export function envSchema(name: Name): z.ZodType {
  return ENV_SCHEMAS[name];
}

export const WORKER_NAMES: Name[] = ["edge", "auth", "catalog", "mcp", "admin"];
export const allWorkers = (): WorkerSpec[] => WORKER_NAMES.map(workerSpec);
