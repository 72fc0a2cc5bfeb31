import { describe, expect, it } from "vitest";
import { aggregatedName, assignNames, listAggregated, MAX_NAME_LENGTH, serverOfName } from "../../shared/naming";
import { UserCatalog } from "../../workers/mcp/src/catalog.client";
import { namedItems } from "../../workers/mcp/src/dispatch/names";

const VALID = /^[A-Za-z0-9_-]{1,64}$/;
const server = (id: string, tools: string[], prompts: string[] = []) => ({
  id,
  tools: tools.map((name) => ({ name })),
  prompts: prompts.map((name) => ({ name })),
});
/** A user's catalog as the mcp worker holds it (what its name lookup is built from). */
const userCatalog = (servers: ReturnType<typeof server>[]) =>
  UserCatalog.parse({
    email: "u@example.com",
    servers: servers.map((s) => ({ ...s, url: `http://127.0.0.1:1/${s.id}` })),
  });
/** What the gateway resolves `name` to on an endpoint (scope "*" is /mcp, else /mcp/<scope>), as [server, upstream name]. */
const resolve = (catalog: UserCatalog, name: string, scope = "*", kind: "tools" | "prompts" = "tools") => {
  const hit = namedItems(catalog, scope, kind).get(name);
  return hit ? [hit.server.id, hit.upstreamName] : null;
};

describe("aggregated names", () => {
  it("keeps <server>__<name> when it fits and is safe", () => {
    expect(aggregatedName("files", "read_file")).toBe("files__read_file");
    expect(aggregatedName("everything", "get-tiny-image")).toBe("everything__get-tiny-image");
  });

  it("shortens long names deterministically within 64 characters, with a hash", () => {
    const long = "a_really_long_tool_name_that_goes_on_and_on_and_on_forever_and_ever";
    const a = aggregatedName("a-server-id-of-thirty-two-chars0", long);
    expect(a.length).toBeLessThanOrEqual(MAX_NAME_LENGTH);
    expect(a).toMatch(VALID);
    expect(a).toMatch(/^a-server-id-of-thirty-two-chars0__a_really_long_tool_na_[0-9a-f]{8}$/);
    expect(aggregatedName("a-server-id-of-thirty-two-chars0", long)).toBe(a);
    // two long names with the same beginning still differ
    expect(aggregatedName("s", long + "1")).not.toBe(aggregatedName("s", long + "2"));
  });

  it("replaces other characters and adds a hash, so distinct names stay distinct", () => {
    const dotted = aggregatedName("gh", "repo.list");
    const spaced = aggregatedName("gh", "repo list");
    expect(dotted).toMatch(/^gh__repo_list_[0-9a-f]{8}$/);
    expect(spaced).toMatch(/^gh__repo_list_[0-9a-f]{8}$/);
    expect(dotted).not.toBe(spaced);
    expect(aggregatedName("gh", "ünïcødé/τool")).toMatch(VALID);
    expect(aggregatedName("gh", "")).toMatch(/^gh___[0-9a-f]{8}$/);
  });

  it("finds the server of an exposed name at the first __", () => {
    expect(serverOfName("files__read__file")).toBe("files");
    expect(serverOfName("read_file")).toBeNull();
    expect(serverOfName("__x")).toBeNull();
  });
});

describe("collisions", () => {
  it("refuses a shortened name that collides with a natural one, visibly", () => {
    const odd = "repo.list";
    const natural = aggregatedName("gh", odd).slice("gh__".length); // a real tool literally named like the hashed form
    const { exposed, conflicts } = assignNames("gh", [odd, natural, "other"]);
    expect(exposed.get(natural)).toBe(`gh__${natural}`);
    expect(exposed.has(odd)).toBe(false);
    expect(exposed.get("other")).toBe("gh__other");
    expect(conflicts).toEqual([{ kind: "tool", name: odd, exposedName: `gh__${natural}`, conflictsWith: [natural] }]);
    // the order of the listing does not matter
    expect(assignNames("gh", ["other", natural, odd]).conflicts).toEqual(conflicts);
  });

  it("leaves collided items out of the aggregated list and never resolves them", () => {
    const odd = "repo.list";
    const natural = aggregatedName("gh", odd).slice("gh__".length);
    const catalog = userCatalog([server("gh", [odd, natural])]);
    expect(listAggregated(catalog).map((i) => [i.name, i.upstreamName])).toEqual([[`gh__${natural}`, natural]]);
    expect(resolve(catalog, `gh__${natural}`)).toEqual(["gh", natural]);
    expect([...namedItems(catalog, "*", "tools").keys()]).toEqual([`gh__${natural}`]);
    // both stay reachable under their own names on /mcp/gh
    expect(resolve(catalog, odd, "gh")).toEqual(["gh", odd]);
    expect(resolve(catalog, natural, "gh")).toEqual(["gh", natural]);
  });
});

// The lookup the mcp worker resolves every tools/call and prompts/get with (workers/mcp/src/names.ts).
describe("name lookup of the gateway", () => {
  const catalog = userCatalog([
    server("files", ["read_file", "weird name!"], ["summarize"]),
    server("memory", ["create_entities"]),
  ]);

  it("resolves on /mcp exactly the names the aggregated list shows", () => {
    const listed = listAggregated(catalog);
    expect([...namedItems(catalog, "*", "tools").keys()]).toEqual(listed.map((i) => i.name));
    for (const item of listed) expect(resolve(catalog, item.name)).toEqual([item.server, item.upstreamName]);
    expect(resolve(catalog, aggregatedName("files", "weird name!"))).toEqual(["files", "weird name!"]);
    expect(resolve(catalog, "files__summarize", "*", "prompts")).toEqual(["files", "summarize"]);
  });

  it("refuses on /mcp every other spelling: unprefixed, other prefix, hidden, case, raw unsafe name, prompts as tools", () => {
    for (const name of [
      "read_file",
      "memory__read_file",
      "files__create_entities",
      "FILES__read_file",
      "files__READ_FILE",
      "files__weird name!",
      "files__weird_name_",
      "files__summarize",
      "nothing__read_file",
      "files__",
      "__read_file",
      "files___read_file",
      "constructor",
      "__proto__",
      "files__constructor",
    ]) {
      expect(resolve(catalog, name), name).toBeNull();
    }
    // a tool the user cannot see is not in their catalog, so it cannot resolve
    const hidden = userCatalog([server("files", ["read_file"])]);
    expect(resolve(hidden, aggregatedName("files", "weird name!"))).toBeNull();
  });

  it("resolves on /mcp/<server> that server's upstream names only", () => {
    expect(resolve(catalog, "read_file", "files")).toEqual(["files", "read_file"]);
    expect(resolve(catalog, "weird name!", "files")).toEqual(["files", "weird name!"]);
    for (const name of ["files__read_file", "create_entities", "READ_FILE", "summarize"])
      expect(resolve(catalog, name, "files"), name).toBeNull();
    expect(resolve(catalog, "summarize", "files", "prompts")).toEqual(["files", "summarize"]);
    expect(resolve(catalog, "read_file", "nothing")).toBeNull();
  });

  it("lists prompts under the same scheme", () => {
    expect(listAggregated(catalog, "prompt").map((i) => i.name)).toEqual(["files__summarize"]);
  });
});
