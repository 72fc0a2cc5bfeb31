/**
 * The one tool-visibility policy: whether a user sees (and may call) a tool of a server, with the
 * reasons. The catalog filters every list with it (so the mcp worker enforces it) and the admin
 * access explorer explains with it, so the explanation cannot disagree with enforcement.
 *
 * Rules are per group and per server: a group with allow rules for a server exposes only the
 * matching tools; a deny rule of that group removes matching tools. A tool is visible when at least
 * one granting group exposes it (union across groups). Admins see everything. No grant: hidden.
 * Patterns are globs where `*` matches any run of characters (including none); nothing else is
 * special.
 */
import type { ToolRuleRow } from "./schemas";

/** One group -> tenant link that grants a server. */
export interface Grant {
  group: string;
  tenant: string;
}

/** The decision for one tool, with what decided it. */
export interface ToolDecision {
  visible: boolean;
  /** The grants whose group exposes the tool (empty for admins and for hidden tools). */
  via: Grant[];
  /** Why it is hidden, per granting group (empty when visible). */
  reasons: string[];
  /** Visible through admin rights rather than a grant. */
  admin: boolean;
}

/** A `*` glob as an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(
    "^" +
      glob
        .split("*")
        .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*") +
      "$",
  );
}

/** Why one group's rules hide `tool`, or null when that group exposes it. */
export function groupVerdict(rules: readonly ToolRuleRow[], group: string, tool: string): string | null {
  const mine = rules.filter((r) => r.group_name === group);
  const deny = mine.find((r) => r.effect === "deny" && globToRegExp(r.tool).test(tool));
  if (deny) return `group ${group} denies "${deny.tool}"`;
  const allows = mine.filter((r) => r.effect === "allow");
  if (allows.length && !allows.some((r) => globToRegExp(r.tool).test(tool)))
    return `group ${group} allows only ${allows.map((r) => `"${r.tool}"`).join(", ")}`;
  return null;
}

/**
 * The decision for `tool` of a server that `grants` grant, under the granting groups' `rules`
 * for that server.
 */
export function decideTool(
  access: { isAdmin: boolean },
  entry: { grants: readonly Grant[]; rules: readonly ToolRuleRow[] },
  tool: string,
): ToolDecision {
  if (access.isAdmin) return { visible: true, via: [], reasons: [], admin: true };
  const via: Grant[] = [];
  const reasons: string[] = [];
  const seen = new Map<string, string | null>();
  for (const grant of entry.grants) {
    if (!seen.has(grant.group)) {
      const verdict = groupVerdict(entry.rules, grant.group, tool);
      seen.set(grant.group, verdict);
      if (verdict) reasons.push(verdict);
    }
    if (seen.get(grant.group) === null) via.push(grant);
  }
  if (via.length) return { visible: true, via, reasons: [], admin: false };
  return { visible: false, via: [], reasons: reasons.length ? reasons : ["no group grants the server"], admin: false };
}

/** Whether the tool is visible: {@link decideTool}'s verdict alone (the catalog's hot path). */
export function toolAllowed(
  access: { isAdmin: boolean },
  entry: { grants: readonly Grant[]; rules: readonly ToolRuleRow[] },
  tool: string,
): boolean {
  return decideTool(access, entry, tool).visible;
}
