// Experiments: each experiment's cells and state; its analysis (sample-ratio check, effects
// with confidence intervals, CUPED on or off, interleaving preferences) and its time series
// (exposures per day, the sequential p-value over time).
import { get, enc } from "../api";
import { add, h, num, pct, time, text, panel, kv } from "../dom";
import { href, go } from "../router";
import { bars, lineChart } from "../chart";
import { link, section, table } from "../widgets";

export async function experimentsPage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const name = params.get("name");
  if (!name) {
    const { experiments } = await get<{ experiments: any[] }>("/api/v1/experiments");
    add(root, h("h1", null, "Experiments"), experiments.length === 0 ? h("p", { class: "muted" }, "No experiments yet.") : table(
      [
        { key: "name", title: "experiment", cell: (e: any) => link(href("experiments", { name: e.name }), e.name) },
        { key: "mode", title: "mode", cell: (e: any) => e.mode },
        { key: "state", title: "state", cell: (e: any) => h("span", { class: `pill ${e.state === "running" ? "ok" : ""}` }, text(e.state)) },
        { key: "cells", title: "cells", cell: (e: any) => (e.cells ?? []).map((c: any) => `${c.name}: ${c.model}${c.weight !== undefined ? ` (${c.weight})` : ""}`).join(" · ") },
        { key: "started", title: "first started", cell: (e: any) => time(e.first_started_at) },
      ],
      experiments, { testid: "experiments-table" }));
    return;
  }
  const cuped = params.get("cuped") === "1";
  const e = await get<any>(`/api/v1/experiments/${enc(name)}`);
  const toggle = h("label", null, h("input", {
    type: "checkbox", checked: cuped, "data-testid": "cuped",
    onchange: (ev: Event) => go("experiments", { name, cuped: (ev.target as HTMLInputElement).checked ? "1" : undefined }),
  }), " CUPED (variance reduction with pre-experiment plays)");
  add(root, 
    h("h1", null, link("#/experiments", "Experiments"), " / ", name, " ", h("span", { class: `pill ${e.state === "running" ? "ok" : ""}` }, text(e.state))),
    e.description ? h("p", { class: "muted" }, e.description) : null,
    h("div", { class: "row" },
      panel("Definition", kv([
        ["mode", e.mode], ["salt", text(e.salt)], ["created", time(e.created_at)], ["first started", time(e.first_started_at)],
        ["cells", h("span", null, ...(e.cells ?? []).map((c: any) => h("div", null, `${c.name}: `, link(href("models", { name: String(c.model).split(/[/@]/)[0] }), c.model), c.weight !== undefined ? ` · weight ${c.weight}` : "")))],
      ])),
      panel("History", h("ul", null, ...(e.history ?? []).map((x: any) => h("li", null, `${time(x.at)}: ${x.action} (${x.from} → ${x.to})`)))),
    ),
    h("div", { class: "toolbar" }, toggle),
    section(async () => analysis(await get<any>(`/api/v1/experiments/${enc(name)}/analysis`), cuped), "the analysis"),
    panel("Over time", section(async () => timeseries(await get<any>(`/api/v1/experiments/${enc(name)}/timeseries`)), "the experiment's time series")),
  );
}

function analysis(a: any, cuped: boolean): Node[] {
  const out: Node[] = [];
  const cells: any[] = a.cells ?? [];
  out.push(panel("Cells", table(
    [
      { key: "name", title: "cell", cell: (c: any) => c.name },
      { key: "model", title: "model", cell: (c: any) => c.model },
      { key: "weight", title: "weight", num: true, cell: (c: any) => num(c.weight) },
      { key: "members", title: "members", num: true, cell: (c: any) => num(c.members) },
      { key: "exposures", title: "exposures", num: true, cell: (c: any) => num(c.exposures) },
      { key: "plays", title: "plays", num: true, cell: (c: any) => num(c.plays) },
      { key: "ppm", title: "plays/member", num: true, cell: (c: any) => num(c.plays_per_member) },
    ],
    cells, { testid: "cells-table" })));
  if (a.srm) {
    const s = a.srm;
    const bad = Boolean(s.warning);
    out.push(h("section", { class: "panel", "data-testid": "srm" },
      h("h2", null, "Sample-ratio check"),
      s.error ? h("p", { class: "muted" }, `not computed: ${s.error}`) : h("p", null,
        h("span", { class: `pill ${bad ? "bad" : "ok"}`, "data-testid": "srm-verdict" }, bad ? "SRM detected" : "no sample-ratio mismatch"),
        ` χ² = ${num(s.chi2)}, df = ${num(s.df)}, p = ${num(s.p_value)}`),
      s.message ? h("div", { class: "notice error" }, s.message) : null,
      cells.length ? bars(cells.map((c) => ({ label: `${c.name} (weight ${num(c.weight)})`, value: c.members, note: "members" }))) : null));
  }
  const comps: any[] = a.comparisons ?? [];
  if (comps.length) {
    const rows = comps.flatMap((c) => {
      const ppm = c.plays_per_member ?? {};
      const m = cuped && ppm.cuped && !ppm.cuped.error ? ppm.cuped : ppm;
      const ppe = c.plays_per_exposure ?? {};
      return [
        { what: `${c.cell} vs ${c.control}: plays per member${cuped ? " (CUPED)" : ""}`, m, seq: ppm.sequential_p_value, vr: cuped ? ppm.cuped?.variance_reduction : undefined },
        { what: `${c.cell} vs ${c.control}: plays per exposure`, m: ppe, seq: undefined, vr: undefined },
      ];
    });
    out.push(panel("Effects", table(
      [
        { key: "what", title: "comparison", cell: (r: any) => r.what },
        { key: "c", title: "control", num: true, cell: (r: any) => num(r.m.control_mean) },
        { key: "t", title: "treatment", num: true, cell: (r: any) => num(r.m.mean) },
        { key: "d", title: "difference [95% CI]", num: true, cell: (r: any) => `${num(r.m.diff)} [${num(r.m.diff_ci?.[0])}, ${num(r.m.diff_ci?.[1])}]` },
        { key: "l", title: "lift [95% CI]", num: true, cell: (r: any) => `${pct(r.m.rel_lift)} [${pct(r.m.rel_ci?.[0])}, ${pct(r.m.rel_ci?.[1])}]` },
        { key: "p", title: "p", num: true, cell: (r: any) => num(r.m.p_value) },
        { key: "s", title: "sequential p", num: true, cell: (r: any) => num(r.seq) },
        { key: "v", title: "variance reduction", num: true, cell: (r: any) => (r.vr === undefined ? "–" : pct(r.vr)) },
      ],
      rows, { testid: "effects-table" }),
      bars(rows.filter((r) => typeof r.m.rel_lift === "number").map((r) => ({ label: r.what, value: r.m.rel_lift, lo: r.m.rel_ci?.[0], hi: r.m.rel_ci?.[1] })), { format: (v) => pct(v) })));
  }
  if (a.rankers) {
    const b = a.binomial ?? {};
    out.push(panel("Interleaving preferences",
      bars([...a.rankers.map((r: any) => ({ label: `${r.name} (${r.model})`, value: r.share_preferring, note: `${num(r.members_preferring)} members` })), { label: "ties", value: a.share_ties }], { format: (v) => pct(v) }),
      h("p", null, `Share preferring the second ranker among decided members: ${pct(b.share)} [${pct(b.ci?.[0])}, ${pct(b.ci?.[1])}], p = ${num(b.p_value)}; sequential p = ${num(a.sequential_p_value)}`),
      b.note ? h("p", { class: "muted" }, b.note) : null));
  }
  return out;
}

function timeseries(t: any): Node[] {
  const days: any[] = t.days ?? [];
  const cells = Array.from(new Set(days.flatMap((d) => Object.keys(d.exposures ?? {}))));
  const x = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000;
  const out: Node[] = [];
  if (days.length === 0) return [h("p", { class: "muted" }, "No exposures yet.")];
  out.push(h("div", { class: "row" },
    h("div", { class: "panel" }, h("h3", null, "Exposures per day"),
      lineChart(cells.map((c) => ({ label: c, points: days.map((d) => [x(d.day), Number(d.exposures?.[c] ?? 0)] as [number, number]) })), { time: true })),
    h("div", { class: "panel" }, h("h3", null, `Sequential p-value${t.metric ? " (" + t.metric + ")" : ""}`),
      lineChart([{ label: "always-valid p", points: (t.sequential ?? []).filter((s: any) => typeof s.p_value === "number").map((s: any) => [x(s.day), s.p_value] as [number, number]) }], { time: true, yRange: [0, 1] }))));
  return out;
}
