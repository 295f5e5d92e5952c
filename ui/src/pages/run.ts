// One run: what it was (model, family, dataset, status, timings), its config as given and as
// resolved, split, metrics, params, log, artifacts and the version it produced.
import { get } from "../api";
import { add, h, num, time, seconds, text, kv, panel } from "../dom";
import { href } from "../router";
import { link, section } from "../widgets";

export async function runPage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const id = params.get("id") ?? "";
  const r = await get<any>(`/api/v1/runs/${encodeURIComponent(id)}`);
  const metrics = Object.entries(r.metrics ?? {}) as [string, number | null][];
  const pretty = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));
  add(root, 
    h("h1", null, `Run ${r.id} `, h("span", { class: "muted" }, `${r.model} · ${r.family}`)),
    h("div", { class: "row" },
      panel("Run", kv([
        ["status", h("span", { class: `pill ${r.status === "completed" ? "ok" : r.status === "failed" ? "bad" : ""}` }, r.status)],
        ["model", link(href("models", { name: r.model }), r.model)],
        ["version produced", r.version ? link(href("models", { name: r.model, version: r.version }), `${r.model}/${r.version}`) : "none"],
        ["family", r.family],
        ["dataset", `${text(r.dataset || "")} ${r.dataset_id ? "(" + String(r.dataset_id).slice(0, 12) + ")" : ""}`],
        ["protocol", text(r.protocol)],
        ["started", time(r.started_at)],
        ["ended", time(r.ended_at)],
        ["took", seconds(r.started_at, r.ended_at)],
        ["host / pid", `${text(r.host)} / ${text(r.pid)}`],
        ["source", text(r.source)],
        ["artifact", text(r.artifact)],
      ])),
      panel("Metrics", metrics.length ? kv(metrics.map(([k, v]) => [k, num(v)])) : h("p", { class: "muted" }, "none")),
      panel("Params", kv(Object.entries(r.params ?? {}).map(([k, v]) => [k, text(v)]))),
      panel("Timings (s)", kv(Object.entries(r.timings ?? {}).map(([k, v]) => [k, num(v)]))),
    ),
    h("div", { class: "row" },
      panel("Config as given", h("pre", null, pretty(r.config_given ?? ""))),
      panel("Config resolved", h("pre", null, pretty(r.config_resolved ?? ""))),
    ),
    panel("Split", h("pre", null, pretty(r.split ?? ""))),
    panel("Log", h("pre", { "data-testid": "run-log" }, text(r.log || "(empty)"))),
    panel("Artifacts", section(async () => {
      const a = await get<any>(`/api/v1/runs/${r.id}/artifacts`);
      const list = a.artifacts ?? [];
      return list.length
        ? h("ul", null, ...list.map((x: any) => h("li", null, `${x.name} (${num(x.size)} bytes)`)))
        : h("p", { class: "muted" }, "No uploaded artifacts.");
    }, "artifacts")),
  );
}
