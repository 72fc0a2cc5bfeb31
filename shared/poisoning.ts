/**
 * Tool-poisoning checks: the known patterns by which a tool definition carries instructions to
 * the model instead of describing the tool (Invariant Labs' "tool poisoning" write-up, the MCP
 * security best practices). Run on every new or changed definition under review; the findings
 * are shown beside the diff, and a server in `review: "findings"` holds only definitions with
 * findings.
 *
 * Every string of the definition is checked (description, titles, schema property descriptions,
 * enum values, annotations), not only the top-level description: a poisoned parameter
 * description reaches the model just the same. The checks are deliberately specific (sensitive
 * paths, not "file"; instructions to hide things from the user, not "must") so the reference
 * servers' own definitions pass clean (test/unit/poisoning.test.ts).
 */

/** One thing found in a definition. */
export interface Finding {
  /** Which check matched. */
  check: "hidden-unicode" | "model-instructions" | "sensitive-files" | "exfiltration" | "tool-references";
  /** Where in the definition: a JSON path such as `description` or `inputSchema.properties.x.description`. */
  path: string;
  /** What matched (hidden characters as `U+XXXX`), at most 80 characters. */
  excerpt: string;
}

const HIDDEN =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb]|[\u{e0000}-\u{e007f}]|[\u{e0100}-\u{e01ef}]/u;

const CHECKS: { check: Finding["check"]; re: RegExp }[] = [
  {
    check: "model-instructions",
    re: /<\s*\/?\s*(important|system|instructions?|secret|hidden|admin|override)\s*>|\b(ignore|disregard|forget)\s+(all\s+|any\s+|the\s+)?(previous|prior|above|earlier|other)\s+(instructions|rules|prompts?|directions)|\bdo\s+not\s+(tell|inform|mention|reveal|show|notify)\b[^.]{0,40}\buser\b|\bwithout\s+(telling|informing|notifying|asking)\s+the\s+user\b|\b(the\s+)?user\s+(must|should)\s+not\s+(know|see|be\s+told)\b|\bsystem\s+prompt\b|\byou\s+are\s+now\b|\bas\s+an?\s+ai\b|\bbefore\s+(using|calling|running)\s+(this|any)\s+tool\b/i,
  },
  {
    check: "sensitive-files",
    re: /~\/\.|\.ssh\b|\bid_(rsa|ed25519|ecdsa|dsa)\b|\.aws\/|\.kube\/config|\/etc\/(passwd|shadow)|\.env\b|\bmcp\.json\b|claude_desktop_config|\.npmrc|\.netrc|\.git-credentials|\bprivate\s+keys?\b|\b(api|secret)\s+keys?\b|\bpasswords?\s+file\b|\bcredentials?\s+(file|store)\b/i,
  },
  {
    check: "exfiltration",
    re: /\b(send|post|upload|forward|transmit|exfiltrate|leak|copy)\b[^.]{0,60}\b(to|at)\s+(https?:\/\/|[\w.-]+@[\w-]+\.|(the\s+)?(following\s+)?(url|endpoint|server|webhook|address|email))|\bexfiltrat|\bwebhook\.site\b|\bngrok\b|\brequestbin\b|\bpastebin\b|\b(curl|wget)\s+|\bpass\s+(its|the)\s+(contents?|content)\s+(as|in)\s+/i,
  },
  {
    check: "tool-references",
    re: /\b(instead\s+of|rather\s+than|before|after|when(ever)?)\s+(using|calling|invoking|running)\s+(the\s+|any\s+|another\s+|other\s+)?[`'"]?[\w.-]+[`'"]?\s+tools?\b|\b(all|any|every)\s+other\s+tools?\b|\b(call|use|invoke|run)\s+this\s+tool\s+(first|before|instead)\b|\bchange\s+the\s+(behaviou?r|arguments?|recipients?)\s+of\b/i,
  },
];

function excerpt(s: string, index: number, length: number): string {
  const start = Math.max(0, index - 20);
  return s.slice(start, Math.min(s.length, index + length + 20, start + 80));
}

function hiddenExcerpt(s: string): string {
  const out: string[] = [];
  for (const ch of s)
    if (HIDDEN.test(ch) && out.length < 8)
      out.push(`U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`);
  return out.join(" ");
}

function walk(value: unknown, path: string, visit: (s: string, path: string) => void, depth = 0): void {
  if (depth > 32) return;
  if (typeof value === "string") return visit(value, path);
  if (Array.isArray(value)) return value.forEach((v, i) => walk(v, `${path}[${i}]`, visit, depth + 1));
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      // keys are model-visible too (property names)
      visit(k, path ? `${path}.${k}` : k);
      walk(v, path ? `${path}.${k}` : k, visit, depth + 1);
    }
  }
}

/**
 * The poisoning findings of one tool definition (empty: nothing found). Pure; at most one
 * finding per check and path.
 */
export function checkDefinition(definition: unknown): Finding[] {
  const findings: Finding[] = [];
  walk(definition, "", (s, path) => {
    if (HIDDEN.test(s)) findings.push({ check: "hidden-unicode", path: path || "(value)", excerpt: hiddenExcerpt(s) });
    for (const { check, re } of CHECKS) {
      const m = re.exec(s);
      if (m) findings.push({ check, path: path || "(value)", excerpt: excerpt(s, m.index, m[0].length) });
    }
  });
  return findings;
}
