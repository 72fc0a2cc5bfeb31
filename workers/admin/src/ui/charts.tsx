/** Charts as inline SVG rendered on the server (no scripts, no chart library). */
import type { UsageReport, UsageStats } from "../../../../shared/repos/reports.repo";

const COLORS = { ok: "#3b82c4", error: "#d1493f", denied: "#e0a526", p50: "#2f855a", p95: "#805ad5" };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((k) => k * p).find((x) => x >= v) ?? v;
}

function label(d: Date, bucket: UsageReport["bucket"]): string {
  const iso = d.toISOString();
  return bucket === "day"
    ? iso.slice(5, 10)
    : bucket === "hour"
      ? `${iso.slice(5, 10)} ${iso.slice(11, 13)}h`
      : iso.slice(11, 16);
}

const STEP_MS: Record<UsageReport["bucket"], number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The report's window as a time scale: x of an instant, and about `n` evenly spaced bucket starts to label. */
function timeScale(report: UsageReport, left: number, right: number, n = 8) {
  const step = STEP_MS[report.bucket];
  const t0 = Math.floor(report.since.getTime() / step) * step;
  const t1 = Math.max(report.until.getTime(), t0 + step);
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (right - left);
  const every = Math.max(1, Math.ceil((t1 - t0) / step / n));
  const labels: number[] = [];
  for (let t = t0; t < t1; t += every * step) labels.push(t);
  return { x, labels, bucketWidth: ((right - left) * step) / (t1 - t0), step };
}

/** Value gridlines: none for an empty chart (no "1, 1, 0" axis); counts only at whole numbers. */
function gridValues(max: number, hasData: boolean, whole: boolean): number[] {
  if (!hasData) return [];
  return [0, max / 2, max].filter((v) => !whole || Number.isInteger(v));
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

/** The time axis: a tick and a UTC label at evenly spaced bucket starts. */
function TimeAxis(props: { scale: ReturnType<typeof timeScale>; bucket: UsageReport["bucket"]; y: number }) {
  return (
    <g class="time-axis">
      {props.scale.labels.map((t) => (
        <g>
          <line x1={props.scale.x(t)} x2={props.scale.x(t)} y1={props.y} y2={props.y + 4} stroke="#98a1b3" />
          <text x={props.scale.x(t)} y={props.y + 15} text-anchor="middle">
            {label(new Date(t), props.bucket)}
          </text>
        </g>
      ))}
    </g>
  );
}

/** Stacked bars of calls per time bucket (ok / error / denied), each at its time on a UTC time axis. */
export function CallsChart(props: { report: UsageReport }) {
  const { series, bucket } = props.report;
  const W = 1100,
    H = 230,
    L = 44,
    B = 40,
    T = 10,
    R = W - 10;
  const busy = series.some((s) => s.calls > 0);
  const max = niceMax(Math.max(0, ...series.map((s) => s.calls)));
  const scale = timeScale(props.report, L + 4, R);
  const bw = Math.max(1, Math.min(40, scale.bucketWidth - 1));
  const y = (v: number) => T + (H - T - B) * (1 - v / max);
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width={W} class="chart" role="img" aria-label="tool calls over time">
      {gridValues(max, busy, true).map((v) => (
        <g class="grid-value">
          <line x1={L} x2={W - 5} y1={y(v)} y2={y(v)} stroke="#e3e7ee" />
          <text x={L - 6} y={y(v) + 4} text-anchor="end">
            {fmt(v)}
          </text>
        </g>
      ))}
      <line x1={L} x2={W - 5} y1={y(0)} y2={y(0)} stroke="#c3cad6" />
      {series
        .filter((s) => s.calls > 0)
        .map((s) => {
          const x = scale.x(s.at.getTime());
          const ok = s.calls - s.errors - s.denied;
          return (
            <g class="bucket" data-at={s.at.toISOString()}>
              <title>{`${s.at.toISOString()}: ${s.calls} calls, ${s.errors} errors, ${s.denied} denied`}</title>
              <rect x={x} width={bw} y={y(ok)} height={y(0) - y(ok)} fill={COLORS.ok} />
              <rect x={x} width={bw} y={y(ok + s.errors)} height={y(ok) - y(ok + s.errors)} fill={COLORS.error} />
              <rect x={x} width={bw} y={y(s.calls)} height={y(ok + s.errors) - y(s.calls)} fill={COLORS.denied} />
            </g>
          );
        })}
      <TimeAxis scale={scale} bucket={bucket} y={y(0)} />
      {!busy && (
        <text x={W / 2} y={H / 2} text-anchor="middle">
          no tool calls in this window
        </text>
      )}
      <g transform={`translate(${L + 4},${H - 2})`}>
        <rect width="10" height="8" y="-8" fill={COLORS.ok} />
        <text x="14" y="0">
          ok
        </text>
        <rect x="44" width="10" height="8" y="-8" fill={COLORS.error} />
        <text x="58" y="0">
          error
        </text>
        <rect x="100" width="10" height="8" y="-8" fill={COLORS.denied} />
        <text x="114" y="0">
          denied
        </text>
        <text x="160" y="0">
          time in UTC
        </text>
      </g>
    </svg>
  );
}

/** p50 and p95 latency per time bucket as two lines, each point at its bucket's time on a UTC time axis. */
export function LatencyChart(props: { report: UsageReport }) {
  const { bucket } = props.report;
  const pts = props.report.series.filter((s) => s.p50Ms !== null);
  const W = 1100,
    H = 190,
    L = 54,
    B = 36,
    T = 10,
    R = W - 10;
  const max = niceMax(Math.max(0, ...pts.map((s) => s.p95Ms ?? 0)));
  const scale = timeScale(props.report, L + 4, R);
  // a point sits in the middle of its bucket
  const x = (s: { at: Date }) => scale.x(s.at.getTime() + scale.step / 2);
  const y = (v: number) => T + (H - T - B) * (1 - v / max);
  const path = (k: "p50Ms" | "p95Ms") =>
    pts.map((s, i) => `${i ? "L" : "M"}${x(s).toFixed(1)},${y(s[k] ?? 0).toFixed(1)}`).join(" ");
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width={W} class="chart" role="img" aria-label="latency over time">
      {gridValues(max, pts.length > 0, false).map((v) => (
        <g class="grid-value">
          <line x1={L} x2={W - 5} y1={y(v)} y2={y(v)} stroke="#e3e7ee" />
          <text x={L - 6} y={y(v) + 4} text-anchor="end">{`${fmt(v)} ms`}</text>
        </g>
      ))}
      <line x1={L} x2={W - 5} y1={y(0)} y2={y(0)} stroke="#c3cad6" />
      {pts.length > 0 && <path d={path("p95Ms")} fill="none" stroke={COLORS.p95} stroke-width="2" />}
      {pts.length > 0 && <path d={path("p50Ms")} fill="none" stroke={COLORS.p50} stroke-width="2" />}
      {pts.map((s) => (
        <g class="point" data-at={s.at.toISOString()}>
          <circle cx={x(s)} cy={y(s.p95Ms ?? 0)} r="3" fill={COLORS.p95}>
            <title>{`${s.at.toISOString()}: p95 ${s.p95Ms} ms`}</title>
          </circle>
          <circle cx={x(s)} cy={y(s.p50Ms ?? 0)} r="3" fill={COLORS.p50}>
            <title>{`${s.at.toISOString()}: p50 ${s.p50Ms} ms`}</title>
          </circle>
        </g>
      ))}
      <TimeAxis scale={scale} bucket={bucket} y={y(0)} />
      {pts.length === 0 && (
        <text x={W / 2} y={H / 2} text-anchor="middle">
          no latency data in this window
        </text>
      )}
      <g transform={`translate(${L + 4},${H - 4})`}>
        <rect width="10" height="3" y="-5" fill={COLORS.p50} />
        <text x="14" y="0">
          p50
        </text>
        <rect x="50" width="10" height="3" y="-5" fill={COLORS.p95} />
        <text x="64" y="0">
          p95
        </text>
        <text x="110" y="0">
          time in UTC
        </text>
      </g>
    </svg>
  );
}

/** Horizontal bars: calls per key (user, tenant, server or tool), error share in red. */
export function BarsChart(props: { rows: (UsageStats & { key: string })[]; title: string }) {
  const rows = props.rows.slice(0, 10);
  const W = 540,
    row = 22,
    L = 170,
    H = Math.max(1, rows.length) * row + 8;
  const max = Math.max(1, ...rows.map((r) => r.calls));
  const w = (v: number) => ((W - L - 50) * v) / max;
  return (
    <svg viewBox={`0 0 ${W} ${H}`} width={W} class="chart" role="img" aria-label={props.title}>
      {rows.map((r, i) => (
        <g transform={`translate(0,${i * row + 4})`}>
          <title>{`${r.key}: ${r.calls} calls, ${(r.errorRate * 100).toFixed(1)}% errors, p50 ${r.p50Ms ?? "—"} ms, p95 ${r.p95Ms ?? "—"} ms`}</title>
          <text x={L - 6} y="13" text-anchor="end">
            {r.key.length > 24 ? r.key.slice(0, 23) + "…" : r.key}
          </text>
          <rect x={L} y="2" height="15" width={w(r.calls - r.errors)} fill={COLORS.ok} />
          <rect x={L + w(r.calls - r.errors)} y="2" height="15" width={w(r.errors)} fill={COLORS.error} />
          <text x={L + w(r.calls) + 5} y="13">
            {String(r.calls)}
          </text>
        </g>
      ))}
      {rows.length === 0 && (
        <text x={W / 2} y="14" text-anchor="middle">
          no data
        </text>
      )}
    </svg>
  );
}
