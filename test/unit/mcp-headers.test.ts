// The 2026-07-28 Mcp-Param-* header values (workers/mcp/src/upstream/mcp-headers.ts): the Base64
// sentinel `=?base64?...?=` decoded strictly (SEP-2243's table: missing padding or characters
// outside the alphabet are refused, though `atob` would take the first), and a client's headers
// checked against its arguments.
import { describe, expect, it } from "vitest";
import {
  decodeHeaderValue,
  encodeHeaderValue,
  paramHeaderMismatch,
  type ParamHeader,
} from "../../workers/mcp/src/upstream/mcp-headers";

describe("Mcp-Param header values", () => {
  it("decodes a canonical sentinel and passes plain values through", () => {
    expect(decodeHeaderValue("=?base64?SGVsbG8=?=")).toBe("Hello");
    expect(decodeHeaderValue("=?base64?5pel5pys?=")).toBe("日本");
    expect(decodeHeaderValue("  eu-west  ")).toBe("eu-west");
    // not sentinel-shaped (no closing ?=): a plain value
    expect(decodeHeaderValue("=?base64?SGVsbG8=")).toBe("=?base64?SGVsbG8=");
  });

  it("refuses a sentinel without its padding, with other characters, or not UTF-8, and control characters", () => {
    expect(decodeHeaderValue("=?base64?SGVsbG8?=")).toBeUndefined();
    expect(decodeHeaderValue("=?base64?SGVs!!!bG8=?=")).toBeUndefined();
    expect(decodeHeaderValue("=?base64?/w==?=")).toBeUndefined();
    expect(decodeHeaderValue("a\u0001b")).toBeUndefined();
  });

  it("encodes what is not plain, including a value shaped like a sentinel, and it comes back", () => {
    for (const v of ["Hello", "日本", " padded ", "", "=?base64?SGVsbG8?=", "=?base64?x?="]) {
      const h = encodeHeaderValue(v);
      expect(decodeHeaderValue(h), JSON.stringify(v)).toBe(v.trim() === v || h.startsWith("=?base64?") ? v : v.trim());
    }
    expect(encodeHeaderValue("=?base64?x?=")).toMatch(/^=\?base64\?[A-Za-z0-9+/]+={0,2}\?=$/);
  });
});

describe("a modern client's Mcp-Param headers against its arguments", () => {
  const decls: ParamHeader[] = [{ name: "Region", path: ["region"], type: "string" }];
  const check = (headers: Record<string, string>, args: unknown = { region: "Hello" }) =>
    paramHeaderMismatch(decls, args, new Headers(headers));

  it("agrees with a plain or sentinel value equal to the argument", () => {
    expect(check({ "mcp-param-region": "Hello" })).toBeNull();
    expect(check({ "Mcp-Param-Region": "=?base64?SGVsbG8=?=" })).toBeNull();
  });

  it("names the header when it is absent, malformed, or says something else", () => {
    expect(check({})).toBe('the body carries region="Hello" but the Mcp-Param-Region header is absent');
    expect(check({ "mcp-param-region": "=?base64?SGVsbG8?=" })).toContain(
      "Mcp-Param-Region header is not a valid header value",
    );
    expect(check({ "mcp-param-region": "Bye" })).toBe(
      'the Mcp-Param-Region header says "Bye" but the body carries region="Hello"',
    );
  });
});
