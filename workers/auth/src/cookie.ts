/**
 * Encrypted cookies: AES-256-GCM (Web Crypto) with a key derived by HKDF from `COOKIE_SECRET`
 * and the cookie's purpose, so a login-state cookie can never be read as a session cookie.
 * Sealed form: base64url(iv[12] || ciphertext+tag). Any tampering fails to open.
 */

const enc = new TextEncoder();
const dec = new TextDecoder();
const keys = new Map<string, Promise<CryptoKey>>();

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function key(secret: string, purpose: string): Promise<CryptoKey> {
  const id = `${purpose}\0${secret}`;
  let k = keys.get(id);
  if (!k) {
    k = (async () => {
      const base = await crypto.subtle.importKey("raw", enc.encode(secret), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: enc.encode("mcp-gateway-cookie"), info: enc.encode(purpose) },
        base,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    })();
    keys.set(id, k);
  }
  return k;
}

/** Encrypts a JSON value for a cookie of the given purpose. */
export async function sealCookie(value: unknown, secret: string, purpose: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: enc.encode(purpose) },
    await key(secret, purpose),
    enc.encode(JSON.stringify(value)),
  );
  const out = new Uint8Array(12 + data.byteLength);
  out.set(iv);
  out.set(new Uint8Array(data), 12);
  return b64url(out);
}

/** Decrypts a sealed cookie; null when it was tampered with, made with another key or purpose. */
export async function unsealCookie(
  sealed: string | undefined | null,
  secret: string,
  purpose: string,
): Promise<unknown> {
  if (!sealed || sealed.length > 8192) return null;
  const bytes = unb64url(sealed);
  if (!bytes || bytes.length < 12 + 16) return null;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.slice(0, 12), additionalData: enc.encode(purpose) },
      await key(secret, purpose),
      bytes.slice(12),
    );
    return JSON.parse(dec.decode(plain));
  } catch {
    return null;
  }
}

/** Reads one cookie from a Cookie header. */
export function readCookie(header: string | null | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

export interface CookieOptions {
  maxAge: number;
  path?: string;
  secure: boolean;
}

/** A Set-Cookie value: HttpOnly, SameSite=Lax, Secure unless on plain-http localhost. */
export function setCookie(name: string, value: string, o: CookieOptions): string {
  return `${name}=${value}; Path=${o.path ?? "/"}; Max-Age=${Math.max(0, Math.floor(o.maxAge))}; HttpOnly; SameSite=Lax${o.secure ? "; Secure" : ""}`;
}

/** A Set-Cookie value that deletes the cookie. */
export function clearCookie(name: string, o: { path?: string; secure: boolean }): string {
  return setCookie(name, "", { maxAge: 0, path: o.path, secure: o.secure });
}
