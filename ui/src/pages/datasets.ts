// Datasets: the catalog with each dataset's stats; one dataset's time range and histograms of
// activity (interactions per user) and popularity (per item) on a log scale.
import { get, enc, ApiError } from "../api";
import { add, h, num, time, text, panel, kv } from "../dom";
import { href } from "../router";
import { logHistogram } from "../chart";
import { link, section, table } from "../widgets";

const STAT_KEYS = ["users", "items", "interactions", "rows", "density"];

export async function datasetsPage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const name = params.get("name");
  if (!name) {
    const { datasets } = await get<{ datasets: any[] }>("/api/v1/datasets");
    add(root, h("h1", null, "Datasets"), datasets.length === 0 ? h("p", { class: "muted" }, "No datasets yet.") : table(
      [
        { key: "name", title: "dataset", cell: (d: any) => link(href("datasets", { name: d.name }), d.name) },
        { key: "kind", title: "kind", cell: (d: any) => text(d.kind ?? d.stats?.kind ?? "") },
        ...STAT_KEYS.map((k) => ({ key: k, title: k, num: true, cell: (d: any) => num(d.stats?.[k]) })),
        { key: "id", title: "snapshot", cell: (d: any) => h("code", null, String(d.id).slice(0, 12)) },
      ],
      datasets, { testid: "datasets-table" }));
    return;
  }
  const d = await get<any>(`/api/v1/datasets/${enc(name)}`);
  add(root, 
    h("h1", null, link("#/datasets", "Datasets"), " / ", name),
    h("div", { class: "row" },
      panel("Stats", kv([["snapshot", h("code", null, String(d.id))], ...Object.entries(d.stats ?? {}).filter(([k, v]) => typeof v !== "object" && !(d.stats?.[`${k}_iso`])).map(([k, v]) => [k, num(v)] as [string, string])])),
    ),
    section(async () => {
      let hist: any;
      try {
        hist = await get<any>(`/api/v1/datasets/${enc(name)}/histograms`);
      } catch (e) {
        // A tabular dataset or a bandit log has no users and items to count.
        if (e instanceof ApiError && e.status === 400) return h("p", { class: "muted" }, `No activity histograms: ${e.message}`);
        throw e;
      }
      return [
        h("p", null, `Time range: ${time(hist.time_range?.min)} — ${time(hist.time_range?.max)}`),
        h("div", { class: "row" },
          panel("Activity", logHistogram(hist.activity?.buckets ?? [], "interactions per user")),
          panel("Popularity", logHistogram(hist.popularity?.buckets ?? [], "interactions per item"))),
      ];
    }, "dataset histograms"),
  );
}
