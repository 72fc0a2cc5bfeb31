// The mcp worker's sealed tokens (workers/mcp/src/tokens.ts): wire format pinned by known
// answers (a token issued by a running replica must open on one started later from the same
// release), each kind bound to its purpose, the canonical encoding only, the length bounds,
// and every shape the schemas admit or refuse.
import { describe, expect, it } from "vitest";
import {
  isRelayedId,
  openEventId,
  openRelayedId,
  openRequestState,
  openSession,
  openTaskId,
  sealEventId,
  sealRelayedId,
  sealRequestState,
  sealSession,
  sealTaskId,
  type RelayedId,
  type RequestState,
  type SessionState,
} from "../../workers/mcp/src/tokens";

const secret = "kat-session-secret-0123456789abcdefghij";

const session: SessionState = {
  sid: "s1",
  email: "kat@example.com",
  scope: "*",
  v: "2025-06-18",
  caps: { sampling: {} },
  info: { name: "c", version: "1" },
  iat: 1700000000,
};
const relayed: RelayedId = {
  k: "up",
  sid: "s1",
  email: "kat@example.com",
  reply: { server: "fs", via: "session", usid: "u1", uv: "2025-06-18" },
  id: 7,
};
const state: RequestState = {
  email: "kat@example.com",
  scope: "fs",
  method: "tools/call",
  digest: "d",
  exp: 4102444800,
  server: "fs",
  src: { k: "upstream", state: "opaque" },
};
const event = { sid: "s1", server: "fs", usid: null, uv: "2025-06-18", eid: "e1" };
const task = { email: "kat@example.com", server: "fs", id: "task-1" };

/** Tokens sealed by this release (SESSION_SECRET above); the key derivation, purposes and prefixes must keep opening them. */
const KAT = {
  session:
    "mcpgw1.iErn1xqYNuZu1K0Snr4uuGm3EB5DOXX6qRk6ZnNCDFz2vzbxQa2gtL_wyc350Pf_GFAapBrPvmhhGycYTUtekMth2SdJ0KKJ3eZTw6kXCi4ggJVpW1YhPWUhs654Yh11qEFMwV0ViK1OlaR3usDrZZeM4-Mb5x09Skp5_W-WevnRH4oKog130qWZE9K1d8qDW16F4Eh3fCsjphZdKeUrxZBF2ctE7XjFSQ",
  relayed:
    "mcpgw-req.x-lfjmmGP3ZTZ-5W0G0PjQP8G9aP7m4GXkphdLPT2UfCfaq4rz-BYamNjJ3NRERPzJ9ddbmIdujUJ9Tnj_ZAYT1z7n1QdPsVkb8OECCAGrkvZLREfK6zOveOB-lGPbgVFCHZBm3A2uLyuEN0p4nZl2bMTdCIwamCQWDT0gCQkYIqOY3NVpCELuv4Fx3QflKdKHjNVybDFt4",
  state:
    "mcpgw-state.13q4lIUIzXhYzUmC-b4zOJ9m6oeFpvSvhr6BYGuPx1R4PtBaeYn09SDq9Fd9ZC8DiEmraS3mdLMO9gVYiYP4VDL9QiM15blof-GJFEcOZCH9v08yuu8SHRLfsKxobRxKToxNfl7g3iqFOCB4gJCjNHOlm1pZVBTX1iTdRdqHQPOdqqpy-spxcqwc2bh2zbsJEgMG13582ewC7T3ciFVwufrThnlN7HYGoUa172hv",
  event:
    "mcpgw-ev.yYQU1VnRRoZ1GDIF_eT0oHN58sE1aLkeOmk_iIRhoOGdNjreqAlN6uk7PnUbKR2CdDOFIRYdcdYo_fJm4l6BepZE6s7zwCjLzc9ephQigX21hyNszpucGr0xC7WaHqQ",
  task: "mcpgw-task.KU8DdWjD2AxBOdJ1TZIJQ3L7tXgUgVsUd6wyqhKYWSDEDiE9BcERFeIPrZX8f4Y4reuumKD2j8kTVOEEEzpLx6tJAgOiM2JWYlkXK8_PBX1KGDI",
};

/** The token's bytes after its prefix, base64url-decoded. */
function bytes(token: string, prefix: string): Uint8Array {
  const b = atob(token.slice(prefix.length).replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

describe("sealed tokens: wire format", () => {
  it("opens tokens sealed by this release (known answers)", async () => {
    expect(await openSession(secret, KAT.session)).toEqual(session);
    expect(await openRelayedId(secret, KAT.relayed)).toEqual(relayed);
    expect(await openRequestState(secret, KAT.state)).toEqual(state);
    expect(await openEventId(secret, KAT.event)).toEqual(event);
    expect(await openTaskId(secret, KAT.task)).toEqual(task);
  });

  it("seals the deterministic kinds to exactly the known answers", async () => {
    expect(await sealRelayedId(secret, relayed)).toBe(KAT.relayed);
    expect(await sealEventId(secret, event)).toBe(KAT.event);
    expect(await sealTaskId(secret, task)).toBe(KAT.task);
  });

  it("prefixes each kind and uses visible ASCII only", async () => {
    const s = await sealSession(secret, session);
    expect(s.startsWith("mcpgw1.")).toBe(true);
    expect((await sealRequestState(secret, state)).startsWith("mcpgw-state.")).toBe(true);
    for (const t of [s, KAT.relayed, KAT.state, KAT.event, KAT.task])
      expect(t).toMatch(/^mcpgw[a-z-]*[1.]?[.]?[A-Za-z0-9_-]+$/);
    // 12-byte IV, then ciphertext and the 16-byte tag of the JSON
    expect(bytes(s, "mcpgw1.").length).toBe(12 + JSON.stringify(session).length + 16);
  });

  it("draws a fresh IV for sessions and request states, and a per-payload IV for the deterministic kinds", async () => {
    const [a, b] = [await sealSession(secret, session), await sealSession(secret, session)];
    expect(a).not.toBe(b);
    expect(await openSession(secret, a)).toEqual(session);
    expect(await sealRequestState(secret, state)).not.toBe(await sealRequestState(secret, state));
    // never one IV for two payloads (AES-GCM nonce reuse), nor for one payload under two secrets
    const iv = (t: string) => hex(bytes(t, "mcpgw-task.").slice(0, 12));
    const t1 = await sealTaskId(secret, { ...task, id: "task-1" });
    const t2 = await sealTaskId(secret, { ...task, id: "task-2" });
    const t3 = await sealTaskId(secret + "x", { ...task, id: "task-1" });
    expect(new Set([iv(t1), iv(t2), iv(t3)]).size).toBe(3);
    expect(await sealTaskId(secret, { ...task, id: "task-1" })).toBe(t1);
    // the IV is the first 12 bytes of SHA-256(secret NUL purpose NUL payload)
    const digest = new Uint8Array(
      await crypto.subtle.digest(
        "SHA-256",
        new TextEncoder().encode(`${secret}\u0000mcp-task-id\u0000${JSON.stringify({ ...task, id: "task-1" })}`),
      ),
    );
    expect(iv(t1)).toBe(hex(digest.slice(0, 12)));
  });
});

describe("sealed tokens: refusals", () => {
  it("a token of one kind never opens as another (prefix and purpose)", async () => {
    const body = (t: string) => t.slice(t.indexOf(".") + 1);
    expect(await openSession(secret, "mcpgw1." + body(KAT.task))).toBeNull();
    expect(await openRelayedId(secret, "mcpgw-req." + body(KAT.event))).toBeNull();
    expect(await openEventId(secret, "mcpgw-ev." + body(KAT.relayed))).toBeNull();
    expect(await openTaskId(secret, "mcpgw-task." + body(KAT.event))).toBeNull();
    expect(await openRequestState(secret, "mcpgw-state." + body(KAT.session))).toBeNull();
    // the right body under the wrong prefix
    expect(await openSession(secret, "mcpgw2." + body(KAT.session))).toBeNull();
    expect(await openRelayedId(secret, body(KAT.relayed))).toBeNull();
    expect(await openEventId(secret, "x" + KAT.event)).toBeNull();
    expect(await openTaskId(secret, KAT.task.replace("mcpgw-task.", "mcpgw-tasks."))).toBeNull();
    expect(await openRequestState(secret, KAT.state.replace("mcpgw-state.", "mcpgw-stat."))).toBeNull();
  });

  it("another secret, a flipped byte, or a truncated token opens nothing", async () => {
    expect(await openSession(secret + "x", KAT.session)).toBeNull();
    expect(await openTaskId(secret + "x", KAT.task)).toBeNull();
    const flip = (t: string, i: number) => t.slice(0, i) + (t[i] === "A" ? "B" : "A") + t.slice(i + 1);
    expect(await openSession(secret, flip(KAT.session, 40))).toBeNull();
    expect(await openRelayedId(secret, flip(KAT.relayed, 30))).toBeNull();
    expect(await openSession(secret, KAT.session.slice(0, 40))).toBeNull();
    expect(await openSession(secret, "mcpgw1.")).toBeNull();
    expect(await openSession(secret, "mcpgw1." + "A".repeat(36))).toBeNull();
  });

  it("only the canonical base64url spelling opens (no +, /, padding or whitespace)", async () => {
    const b = KAT.session.slice("mcpgw1.".length);
    expect(b).toMatch(/[-_]/);
    expect(await openSession(secret, "mcpgw1." + b.replace(/-/g, "+").replace(/_/g, "/"))).toBeNull();
    expect(await openSession(secret, KAT.session + "=")).toBeNull();
    expect(await openSession(secret, KAT.session.slice(0, 30) + " " + KAT.session.slice(30))).toBeNull();
    expect(await openSession(secret, KAT.session + "\n")).toBeNull();
    expect(await openTaskId(secret, " " + KAT.task)).toBeNull();
  });

  it("refuses tokens past their length bound even when they would open", async () => {
    const big = await sealSession(secret, { ...session, caps: { x: "y".repeat(7000) } });
    expect(big.length).toBeGreaterThan(8192);
    expect(await openSession(secret, big)).toBeNull();
    const bigRelay = await sealRelayedId(secret, { ...relayed, id: "i".repeat(7000) });
    expect(await openRelayedId(secret, bigRelay)).toBeNull();
    const bigEvent = await sealEventId(secret, { ...event, eid: "e".repeat(7000) });
    expect(await openEventId(secret, bigEvent)).toBeNull();
    const bigTask = await sealTaskId(secret, { ...task, id: "t".repeat(7000) });
    expect(await openTaskId(secret, bigTask)).toBeNull();
    const bigState = await sealRequestState(secret, { ...state, digest: "d".repeat(60000) });
    expect(await openRequestState(secret, bigState)).toBeNull();
    // and accepts them at the bound
    expect(
      await openRelayedId(secret, await sized((n) => sealRelayedId(secret, { ...relayed, id: "i".repeat(n) }), 8192)),
    ).toMatchObject({ k: "up" });
    expect(
      await openEventId(secret, await sized((n) => sealEventId(secret, { ...event, eid: "e".repeat(n) }), 8192)),
    ).toMatchObject({ sid: "s1" });
    expect(
      await openRequestState(
        secret,
        await sized((n) => sealRequestState(secret, { ...state, digest: "d".repeat(n) }), 65536),
      ),
    ).toMatchObject({ server: "fs" });
  });

  it("refuses what is not a string, and states of the wrong shape", async () => {
    expect(await openRequestState(secret, 42)).toBeNull();
    expect(await openRequestState(secret, undefined)).toBeNull();
    expect(await openTaskId(secret, null)).toBeNull();
    expect(await openTaskId(secret, { id: 1 })).toBeNull();
    expect(await openSession(secret, await sealSession(secret, { ...session, email: 1 } as never))).toBeNull();
    expect(await openSession(secret, await sealSession(secret, { ...session, caps: "all" } as never))).toBeNull();
    expect(
      await openSession(secret, await sealSession(secret, { ...session, info: { name: "c" } } as never)),
    ).toBeNull();
    expect(await openRelayedId(secret, await sealRelayedId(secret, { ...relayed, k: "other" } as never))).toBeNull();
    expect(
      await openRelayedId(
        secret,
        await sealRelayedId(secret, { ...relayed, reply: { ...relayed.reply, via: "stdio" } } as never),
      ),
    ).toBeNull();
    expect(await openRelayedId(secret, await sealRelayedId(secret, { ...relayed, id: true } as never))).toBeNull();
    expect(
      await openRequestState(secret, await sealRequestState(secret, { ...state, exp: "never" } as never)),
    ).toBeNull();
    expect(
      await openRequestState(
        secret,
        await sealRequestState(secret, { ...state, src: { k: "parked", box: "b" } } as never),
      ),
    ).toBeNull();
    expect(await openEventId(secret, await sealEventId(secret, { ...event, usid: 3 } as never))).toBeNull();
    expect(await openTaskId(secret, await sealTaskId(secret, { ...task, server: undefined } as never))).toBeNull();
  });
});

describe("sealed tokens: every admitted shape round-trips", () => {
  it("sessions with and without clientInfo, remembered as one frozen state", async () => {
    const { info: _info, ...bare } = session;
    expect(await openSession(secret, await sealSession(secret, bare))).toEqual(bare);
    const t = await sealSession(secret, { ...session, sid: "memo" });
    const first = await openSession(secret, t);
    expect(Object.isFrozen(first)).toBe(true);
    expect(await openSession(secret, t)).toBe(first);
    expect(await openSession(secret + "x", t)).toBeNull();
  });

  it("relayed ids of both kinds, both transports, string and number ids", async () => {
    const variants: RelayedId[] = [
      relayed,
      { ...relayed, id: "up-7", reply: { server: "legacy", via: "legacy-sse", usid: null, uv: "2024-11-05" } },
      { k: "mrtr", sid: "s1", email: "kat@example.com", box: "box-1", key: "k-1" },
    ];
    for (const r of variants) expect(await openRelayedId(secret, await sealRelayedId(secret, r))).toEqual(r);
  });

  it("request states of both sources", async () => {
    const variants: RequestState[] = [
      state,
      { ...state, src: { k: "upstream" } },
      {
        ...state,
        src: {
          k: "parked",
          box: "b",
          pending: [
            { key: "k", reply: { server: "fs", via: "session", usid: "u1", uv: "2025-06-18" }, id: "x" },
            { key: "k2", reply: { server: "l", via: "legacy-sse", usid: null, uv: "v" }, id: 2 },
          ],
        },
      },
    ];
    for (const s of variants) expect(await openRequestState(secret, await sealRequestState(secret, s))).toEqual(s);
  });

  it("event ids with and without an upstream session", async () => {
    for (const e of [event, { ...event, usid: "u9" }])
      expect(await openEventId(secret, await sealEventId(secret, e))).toEqual(e);
  });

  it("isRelayedId recognises the gateway's prefix only", () => {
    expect(isRelayedId(KAT.relayed)).toBe(true);
    expect(isRelayedId("mcpgw-req.")).toBe(true);
    expect(isRelayedId("mcpgw-req")).toBe(false);
    expect(isRelayedId("x" + KAT.relayed)).toBe(false);
    expect(isRelayedId(7)).toBe(false);
    expect(isRelayedId(null)).toBe(false);
  });
});

/** A token of exactly `target` characters from a sealer whose payload grows with `n`. */
async function sized(make: (n: number) => Promise<string>, target: number): Promise<string> {
  const base = (await make(0)).length;
  let n = Math.max(0, Math.floor(((target - base) * 3) / 4) - 4);
  for (let i = 0; i < 16; i++, n++) {
    const t = await make(n);
    if (t.length === target) return t;
  }
  throw new Error(`no token of length ${target}`);
}
