/**
 * Instructions per tools/call through the runtime's floor (bench/floor.ts) under callgrind, to
 * read `PROFILE_CALLGRIND=1 npm run bench:profile` against: what three workers that only forward
 * (FLOOR_WORKERS=3, default) or one (FLOOR_WORKERS=1) execute for the same call in an open session
 * to the bench upstream. `node --import tsx bench/floor-profile.ts` (PROFILE_OPS, default 300).
 */
import { countInstructions } from "./callgrind";
import { startFloorChain } from "./floor";
import { startBenchUpstream } from "./upstream";

const WORKERS = process.env.FLOOR_WORKERS === "1" ? 1 : 3;
const OPS = Number(process.env.PROFILE_OPS ?? 300);
process.env.MCPGW_WORKERD_CALLGRIND = "1";
const upstream = await startBenchUpstream(1);
const floor = await startFloorChain(upstream.url, { workers: WORKERS });
try {
  const base = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  const post = (headers: Record<string, string>, body: unknown) =>
    fetch(floor.url, { method: "POST", headers, body: JSON.stringify(body) });
  const init = await post(base, {
    jsonrpc: "2.0",
    id: 0,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "floor-profile", version: "1" } },
  });
  await init.text();
  const sid = init.headers.get("mcp-session-id");
  if (!sid) throw new Error(`initialize through the floor answered ${init.status}`);
  const h = { ...base, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
  await (await post(h, { jsonrpc: "2.0", method: "notifications/initialized" })).text();
  const drive = async (more: (n: number) => boolean) => {
    let n = 0;
    while (more(n)) {
      n++;
      const text = await (
        await post(h, {
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "tool_0", arguments: { text: "x" } },
        })
      ).text();
      if (!text.includes('"result"')) throw new Error(`tools/call through the floor: ${text.slice(0, 200)}`);
    }
    return n;
  };
  const r = await countInstructions(drive, OPS);
  console.log(
    `tools/call through the floor (${WORKERS} worker${WORKERS === 1 ? "" : "s"}): ${(r.perOp / 1000).toFixed(0)}k instructions per operation (all threads; the busiest ${(r.busiestPerOp / 1000).toFixed(0)}k), ${r.ops} operations`,
  );
} finally {
  await floor.stop();
  await upstream.close();
}
