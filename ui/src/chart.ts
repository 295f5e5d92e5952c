// Charts: uPlot line charts (metric histories, rates over time, p-values) and plain CSS bars
// (metrics side by side, action shares, histograms on a log scale).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h, num } from "./dom";

export const PALETTE = ["#3b82f6", "#f97316", "#10b981", "#e11d48", "#8b5cf6", "#eab308", "#06b6d4", "#64748b"];

function themeColor(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export interface LineSeries {
  label: string;
  points: [number, number][]; // x, y (x ascending)
}

// A line chart of several series over a shared x axis (steps, or Unix seconds when `time`).
// The chart follows its container's width.
export function lineChart(
  series: LineSeries[],
  opts: { title?: string; time?: boolean; height?: number; yLog?: boolean; yRange?: [number, number] } = {},
): HTMLElement {
  const box = h("div", { class: "chart" });
  const xs = Array.from(new Set(series.flatMap((s) => s.points.map((p) => p[0])))).sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const data: (number | null)[][] = [xs];
  for (const s of series) {
    const ys: (number | null)[] = new Array(xs.length).fill(null);
    for (const [x, y] of s.points) ys[index.get(x)!] = Number.isFinite(y) ? y : null;
    data.push(ys);
  }
  const axis = themeColor("--fg-muted", "#888");
  const grid = themeColor("--grid", "rgba(127,127,127,.2)");
  const make = (width: number) =>
    new uPlot(
      {
        title: opts.title,
        width,
        height: opts.height ?? 220,
        scales: {
          // One point alone gets a span around it (an hour of time, or one step) to sit in.
          x: xs.length === 1 ? { time: Boolean(opts.time), range: [xs[0] - (opts.time ? 3600 : 1), xs[0] + (opts.time ? 3600 : 1)] } : { time: Boolean(opts.time) },
          y: opts.yLog ? { distr: 3 } : opts.yRange ? { range: opts.yRange } : {},
        },
        axes: [
          { stroke: axis, grid: { stroke: grid } },
          { stroke: axis, grid: { stroke: grid }, size: 60 },
        ],
        series: [
          { label: opts.time ? "time" : "step" },
          ...series.map((s, i) => ({
            label: s.label,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            spanGaps: true,
            points: { show: xs.length < 60 },
          })),
        ],
        legend: { show: true },
      },
      data as uPlot.AlignedData,
      box,
    );
  // Drawn once the box is in the page and has a width.
  let plot: uPlot | null = null;
  const ro = new ResizeObserver(() => {
    const w = Math.max(240, Math.floor(box.clientWidth));
    if (!box.isConnected) return;
    if (!plot) plot = make(w);
    else plot.setSize({ width: w, height: opts.height ?? 220 });
  });
  ro.observe(box);
  return box;
}

export interface Bar {
  label: string;
  value: number | null;
  lo?: number | null;
  hi?: number | null;
  note?: string;
  color?: string;
}

// Horizontal bars scaled to the largest value (or an interval's high end), each with its value.
export function bars(items: Bar[], opts: { format?: (v: number) => string } = {}): HTMLElement {
  const fmt = opts.format ?? ((v: number) => num(v));
  const max = Math.max(1e-12, ...items.map((b) => Math.abs(b.hi ?? b.value ?? 0)));
  return h(
    "div",
    { class: "bars" },
    ...items.map((b, i) => {
      const w = b.value === null ? 0 : (Math.abs(b.value) / max) * 100;
      const track = h("div", { class: "bar-track" }, h("div", {
        class: "bar-fill",
        style: { width: `${w}%`, background: b.color ?? PALETTE[i % PALETTE.length] },
      }));
      if (typeof b.lo === "number" && typeof b.hi === "number") {
        track.appendChild(h("div", {
          class: "bar-ci",
          style: { left: `${(Math.max(0, b.lo) / max) * 100}%`, width: `${(Math.max(0, b.hi - Math.max(0, b.lo)) / max) * 100}%` },
          title: `interval [${fmt(b.lo)}, ${fmt(b.hi)}]`,
        }));
      }
      return h(
        "div",
        { class: "bar-row" },
        h("span", { class: "bar-label", title: b.label }, b.label),
        track,
        h("span", { class: "bar-value" }, b.value === null ? "–" : fmt(b.value), b.note ? ` ${b.note}` : ""),
      );
    }),
  );
}

export interface Bucket {
  lo: number;
  hi: number;
  count: number;
}

// A histogram whose bar heights are on a log scale (counts span orders of magnitude).
export function logHistogram(buckets: Bucket[], xLabel: string): HTMLElement {
  const maxLog = Math.log10(1 + Math.max(1, ...buckets.map((b) => b.count)));
  return h(
    "figure",
    { class: "hist" },
    h(
      "div",
      { class: "hist-bars" },
      ...buckets.map((b) =>
        h(
          "div",
          { class: "hist-col", title: `[${b.lo}, ${b.hi}): ${b.count.toLocaleString("en-US")}` },
          h("div", { class: "hist-count" }, num(b.count)),
          h("div", { class: "hist-bar", style: { height: `${(Math.log10(1 + b.count) / maxLog) * 100}%` } }),
          h("div", { class: "hist-x" }, num(b.lo)),
        ),
      ),
    ),
    h("figcaption", null, `${xLabel} (log2 buckets [lo, hi); bar height on a log scale)`),
  );
}
