/**
 * `cloudflare:sockets` for the plain-Node mutation runs (vitest.mutation.config.ts): Node has no
 * such module, and a test file that imports a worker module using it (workers/mcp/src/upstream/http.ts)
 * would otherwise not load at all. Nothing in that test set opens a socket; one that tried would
 * fail here, loudly, instead of probing with a stand-in. The Workers pool runs the real module.
 */
export function connect(): never {
  throw new Error("cloudflare:sockets is not available in the plain-Node mutation runs");
}
