/**
 * Structured JSON logging (one line per event) with secret redaction: values under keys that
 * look like credentials are replaced before anything is written.
 */
import { currentTraceId } from "./observe/trace";

const SECRET_KEY = /authorization|cookie|secret|password|token|api[-_]?key|headers/i;

function redact(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>))
    out[k] = SECRET_KEY.test(k) ? "[redacted]" : redact(v, depth + 1);
  return out;
}

function write(level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) {
  // the current request's trace id, so a log line leads to its trace (shared/observe/trace.ts)
  const traceId = currentTraceId();
  const line = JSON.stringify({
    level,
    msg,
    ...(redact(fields ?? {}) as object),
    ...(traceId ? { trace_id: traceId } : {}),
    at: new Date().toISOString(),
  });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write("debug", msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write("info", msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write("warn", msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write("error", msg, fields),
};
