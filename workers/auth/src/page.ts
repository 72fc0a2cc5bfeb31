/**
 * The auth worker's HTML page frame (sign-in, sign-out, signed-out): the admin UI's look (its
 * header bar, a card, the same buttons; workers/admin/src/ui/layout.tsx), without its navigation.
 * `body` is HTML the caller built and escaped with {@link esc}; no scripts.
 */

const CSS = `*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f4f6f9}
header{background:#1f2a44;color:#fff;padding:0 20px;display:flex;align-items:center}header b{font-size:16px;margin:12px 0}
main{padding:20px;max-width:560px;margin:40px auto 0}.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:16px 22px}
h1{font-size:19px;margin:4px 0 12px}a{color:#2f5bd3}form{margin:12px 0 4px}
button,.button{display:inline-block;padding:6px 13px;border-radius:5px;border:1px solid #2f5bd3;background:#2f5bd3;color:#fff;font:inherit;cursor:pointer;text-decoration:none}`;

/** Escapes text for HTML (element content and quoted attributes). */
export const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** A complete page: the header bar, then `body` in a card. */
export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)} · MCP gateway</title><style>${CSS}</style></head><body><header><b>MCP gateway</b></header><main><section class="card">${body}</section></main></body></html>`;
}
