// Compare runs: params side by side with the differing ones highlighted, metrics as bars, and
// the metric histories logged by remote tracking as line charts over steps.
import { get, enc } from "../api";
import { add, h, num, text } from "../dom";
import { href } from "../router";
import { bars, lineChart, PALETTE } from "../chart";
import { link, section, errorBox } from "../widgets";

interface Cmp {
  runs: { id: number; model: string; family: string; version?: number | null; metrics: Record<string, number | null>; params: Record<string, unknown> }[];
  metrics: string[];
  params_differing: string[];
  best?: Record<string, number>;
}

export async function comparePage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const ids = (params.get("ids") ?? "").split(",").filter(Boolean);
  add(root, h("h1", null, "Compare runs"));
  if (ids.length < 2) {
    add(root, h("p", null, "Select two or more runs on the ", link("#/runs", "Runs"), " page."));
    return;
  }
  const c = await get<Cmp>(`/api/v1/runs/compare?ids=${ids.map(enc).join(",")}`);
  const differing = new Set(c.params_differing);
  const keys = Array.from(new Set(c.runs.flatMap((r) => Object.keys(r.params ?? {})))).sort();
  // Differing params first.
  keys.sort((a, b) => Number(differing.has(b)) - Number(differing.has(a)));
  const head = h("tr", null, h("th", null, "param"), ...c.runs.map((r) => h("th", null, link(href("run", { id: r.id }), `run ${r.id}`), h("div", { class: "muted" }, `${r.model}${r.version ? " v" + r.version : ""} · ${r.family}`))));
  const paramRows = keys.map((k) =>
    h("tr", { class: differing.has(k) ? "diff" : "", "data-param": k, "data-differs": differing.has(k) ? "1" : "0" },
      h("td", null, k, differing.has(k) ? h("span", { class: "muted" }, " ≠") : null),
      ...c.runs.map((r) => h("td", null, r.params && k in r.params ? text(r.params[k]) : "–"))));
  add(root, 
    h("section", { class: "panel" },
      h("h2", null, "Params"),
      h("p", { class: "muted" }, `${differing.size} of ${keys.length} params differ (highlighted).`),
      h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "compare-params" }, h("thead", null, head), h("tbody", null, ...paramRows)))),
  );

  const metricPanels = c.metrics.map((m) =>
    h("div", { class: "panel" },
      h("h3", null, m, c.best?.[m] ? h("span", { class: "muted" }, ` · best: run ${c.best[m]}`) : null),
      bars(c.runs.map((r, i) => ({ label: `run ${r.id}`, value: r.metrics?.[m] ?? null, color: PALETTE[i % PALETTE.length] })))));
  add(root, h("section", { class: "panel" }, h("h2", null, "Metrics"), metricPanels.length ? h("div", { class: "row" }, ...metricPanels) : h("p", { class: "muted" }, "No metrics.")));

  add(root, h("section", { class: "panel" }, h("h2", null, "Metric histories"), section(() => histories(c.runs.map((r) => r.id)), "metric histories")));
}

// Every metric key logged with steps by any of the runs, one chart each with a line per run.
async function histories(ids: number[]): Promise<Node[]> {
  const perRun = await Promise.all(ids.map((id) => get<{ metrics: { key: string; points?: number }[] }>(`/api/v1/runs/${id}/metrics`).catch((e) => e)));
  const keys = new Set<string>();
  perRun.forEach((r) => { if (r && Array.isArray(r.metrics)) for (const m of r.metrics) keys.add(m.key); });
  const firstError = perRun.find((r) => r instanceof Error);
  if (keys.size === 0) {
    return [firstError ? errorBox(firstError, "metric histories") : h("p", { class: "muted" }, "None of these runs logged metric histories (remote tracking logs them with steps).")];
  }
  const charts: Node[] = [];
  for (const key of [...keys].sort()) {
    const series = await Promise.all(ids.map(async (id) => {
      const points: [number, number][] = [];
      let after: number | null = -1;
      // Every page of the history (the server pages long ones).
      for (let i = 0; i < 50 && after !== null; ++i) {
        const q: string = after >= 0 ? `?after_step=${after}` : "";
        const page: { points: { step: number; value: number }[]; next_after_step: number | null } | null = await get(`/api/v1/runs/${id}/metrics/${enc(key)}${q}`).catch(() => null);
        if (!page) break;
        for (const pt of page.points) points.push([Number(pt.step), Number(pt.value)]);
        after = page.next_after_step;
      }
      return { label: `run ${id}`, points };
    }));
    const nonEmpty = series.filter((s) => s.points.length > 0);
    if (nonEmpty.length) charts.push(h("div", { class: "panel" }, h("h3", null, key), lineChart(nonEmpty)));
  }
  return [h("div", { class: "row" }, ...charts), h("p", { class: "muted" }, `values: ${num(charts.length)} metrics`)];
}
