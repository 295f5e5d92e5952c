// Models: the registry's models; one model's versions (metrics, lineage: run, dataset, config),
// aliases, the alias history as a timeline, promote (with an optional gate whose comparison and
// verdict, from the server, are shown before confirming), rollback, and a diff of two versions.
import { get, post, enc, ApiError } from "../api";
import { add, h, num, time, text, panel, clear } from "../dom";
import { href, go } from "../router";
import { link, section, table, errorBox } from "../widgets";

interface Version {
  model: string;
  version: number;
  ref: string;
  family: string;
  run_id?: number | null;
  dataset_id?: string;
  metrics: Record<string, number | null>;
  metric_order: string[];
  params: Record<string, unknown>;
  aliases: string[];
  tags: Record<string, string>;
  created_at: string | null;
}

export async function modelsPage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const name = params.get("name");
  if (!name) return modelList(root);
  return modelDetail(root, name, params);
}

async function modelList(root: HTMLElement): Promise<void> {
  const { models } = await get<{ models: any[] }>("/api/v1/models");
  add(root, 
    h("h1", null, "Models"),
    models.length === 0
      ? h("p", { class: "muted" }, "No models registered yet.")
      : table(
          [
            { key: "name", title: "model", cell: (m: any) => link(href("models", { name: m.name }), m.name) },
            { key: "versions", title: "versions", num: true, cell: (m: any) => num(m.versions) },
            { key: "latest", title: "latest", num: true, cell: (m: any) => (m.latest_version ? `v${m.latest_version}` : "–") },
            { key: "aliases", title: "aliases", cell: (m: any) => h("span", null, ...Object.entries(m.aliases ?? {}).map(([a, v]) => h("span", { class: "pill alias" }, `${a} → v${v}`))) },
            { key: "updated", title: "updated", cell: (m: any) => time(m.updated_at) },
            { key: "description", title: "description", cell: (m: any) => text(m.description ?? "") },
          ],
          models,
          { testid: "models-table" },
        ),
  );
}

async function modelDetail(root: HTMLElement, name: string, params: URLSearchParams): Promise<void> {
  const [overview, list] = await Promise.all([
    get<any>(`/api/v1/models/${enc(name)}`),
    get<{ versions: Version[] }>(`/api/v1/models/${enc(name)}/versions`),
  ]);
  const versions = list.versions.slice().sort((a, b) => b.version - a.version);
  const aliases: Record<string, number> = overview.aliases ?? {};
  const metricKeys = Array.from(new Set(versions.flatMap((v) => v.metric_order ?? Object.keys(v.metrics ?? {}))));
  const focus = Number(params.get("version") ?? 0);

  add(root, 
    h("h1", null, link("#/models", "Models"), " / ", name),
    overview.description ? h("p", { class: "muted" }, overview.description) : null,
    h("p", { "data-testid": "aliases" }, ...Object.entries(aliases).map(([a, v]) => h("span", { class: "pill alias", "data-alias": a }, `${a} → v${v}`)), Object.keys(aliases).length ? null : h("span", { class: "muted" }, "no aliases")),
  );

  add(root, panel("Versions", table(
    [
      { key: "v", title: "version", num: true, cell: (v: Version) => `v${v.version}` },
      { key: "aliases", title: "aliases", cell: (v: Version) => h("span", null, ...(v.aliases ?? []).map((a) => h("span", { class: "pill alias" }, a))) },
      ...metricKeys.map((k) => ({ key: k, title: k, num: true, cell: (v: Version) => num(v.metrics?.[k]) })),
      { key: "family", title: "family", cell: (v: Version) => v.family },
      { key: "run", title: "run", cell: (v: Version) => (v.run_id ? link(href("run", { id: v.run_id }), `run ${v.run_id}`) : "–") },
      { key: "dataset", title: "dataset", cell: (v: Version) => (v.dataset_id ? String(v.dataset_id).slice(0, 12) : "–") },
      { key: "created", title: "created", cell: (v: Version) => time(v.created_at) },
      { key: "params", title: "params", cell: (v: Version) => h("span", { class: "muted" }, Object.entries(v.params ?? {}).slice(0, 4).map(([k, x]) => `${k}=${text(x)}`).join(" ")) },
    ],
    versions,
    { testid: "versions-table", rowAttrs: (v) => ({ "data-version": v.version, class: v.version === focus ? "diff" : "" }) },
  )));

  const history: any[] = (overview.alias_history ?? []).slice().reverse();
  const timeline = h("ol", { class: "timeline", "data-testid": "alias-history" },
    ...history.map((m) => h("li", { "data-alias": m.alias, "data-to": m.to_version },
      h("strong", null, m.alias), ` ${m.action}: `,
      m.from_version ? `v${m.from_version} → ` : "", `v${m.to_version}`,
      h("span", { class: "muted" }, ` · ${time(m.at)}${m.note ? " · " + m.note : ""}`))));

  add(root, h("div", { class: "row" },
    panel("Alias history", history.length ? timeline : h("p", { class: "muted" }, "No alias moves yet.")),
    panel("Promote", promoteForm(name, versions)),
    panel("Rollback", rollbackForm(name, aliases)),
  ));
  add(root, panel("Diff two versions", diffForm(name, versions, params)));
}

function promoteForm(name: string, versions: Version[]): HTMLElement {
  const version = h("select", { name: "version", "data-testid": "promote-version" }, ...versions.map((v) => h("option", { value: v.version }, `v${v.version}`)));
  const alias = h("input", { name: "alias", value: "production", size: 12, "data-testid": "promote-alias" });
  const gate = h("input", { name: "require", placeholder: "e.g. recall@20>=production", size: 26, "data-testid": "promote-gate" });
  const note = h("input", { name: "note", placeholder: "note (optional)", size: 20 });
  const out = h("div", { class: "gate", "data-testid": "promote-result" });
  const confirm = h("button", { type: "button", class: "primary", "data-testid": "promote-confirm", hidden: true }, "Confirm promote");

  // The gates' verdict from the server (POST .../gate-check: the registry's own comparison,
  // moving nothing), shown before the promotion is confirmed.
  const check = async (ev: Event) => {
    ev.preventDefault();
    clear(out);
    const gates = gate.value.split(",").map((g) => g.trim()).filter(Boolean);
    const target = alias.value.trim();
    let c: any;
    try {
      c = await post<any>(`/api/v1/models/${enc(name)}/gate-check`, { version: Number(version.value), alias: target, require: gates });
    } catch (e) {
      add(out, errorBox(e));
      return;
    }
    const lines = (c.gates as any[]).map((g) => h("li", { "data-gate": g.gate },
      `${g.gate}: ${g.detail} → `,
      h("span", { class: `verdict ${g.passes ? "pass" : "fail"}` }, g.passes ? "passes" : "fails")));
    add(out,
      h("p", null, `Promote ${name} v${c.version} to '${target}'` + (c.from_version ? ` (now v${c.from_version})` : "")),
      gates.length ? h("ul", null, ...lines) : h("p", { class: "muted" }, "No gate: the alias moves once the version's smoke test passes."),
      gates.length ? h("p", { "data-testid": "gate-verdict", class: `verdict ${c.passes ? "pass" : "fail"}` }, c.passes ? "Gate verdict: passes" : "Gate verdict: fails (the server will refuse)") : null,
    );
    confirm.hidden = false;
    add(out, confirm);
  };
  confirm.onclick = async () => {
    confirm.disabled = true;
    const body: Record<string, unknown> = { version: Number(version.value), alias: alias.value.trim() };
    const gates = gate.value.split(",").map((g) => g.trim()).filter(Boolean);
    if (gates.length) body.require = gates;
    if (note.value.trim()) body.note = note.value.trim();
    try {
      const r = await post<any>(`/api/v1/models/${enc(name)}/promote`, body);
      clear(out);
      add(out, h("div", { class: "notice ok", "data-testid": "promote-done" }, `${r.alias}: ${r.from_version ? "v" + r.from_version + " → " : ""}v${r.to_version} (${r.action})`));
      setTimeout(() => go("models", { name }), 600);
    } catch (e) {
      add(out, refusal(e));
      confirm.disabled = false;
    }
  };
  return h("form", { onsubmit: check, "data-testid": "promote-form" },
    h("div", { class: "filters" },
      h("label", null, "version", version),
      h("label", null, "alias", alias),
      h("label", null, "gate (optional)", gate),
      h("label", null, "note", note),
      h("button", { type: "submit", "data-testid": "promote-check" }, "Check")),
    out);
}

function refusal(e: unknown): HTMLElement {
  const box = errorBox(e);
  box.setAttribute("data-testid", "promote-refused");
  if (e instanceof ApiError && e.status === 409) box.prepend(h("div", null, h("strong", null, "Refused by the gate. "), "The alias is unchanged."));
  return box;
}

function rollbackForm(name: string, aliases: Record<string, number>): HTMLElement {
  const alias = h("select", { name: "alias" }, ...Object.keys(aliases).map((a) => h("option", { value: a }, a)));
  const out = h("div");
  const submit = async (ev: Event) => {
    ev.preventDefault();
    clear(out);
    if (!window.confirm(`Roll '${alias.value}' of ${name} back to its previous version?`)) return;
    try {
      const r = await post<any>(`/api/v1/models/${enc(name)}/rollback`, { alias: alias.value });
      add(out, h("div", { class: "notice ok" }, `${r.alias}: v${r.from_version} → v${r.to_version}`));
      setTimeout(() => go("models", { name }), 600);
    } catch (e) {
      add(out, errorBox(e));
    }
  };
  if (Object.keys(aliases).length === 0) return h("p", { class: "muted" }, "No aliases to roll back.");
  return h("form", { onsubmit: submit }, h("div", { class: "filters" }, h("label", null, "alias", alias), h("button", { type: "submit" }, "Roll back")), out);
}

function diffForm(name: string, versions: Version[], params: URLSearchParams): HTMLElement {
  const opts = (sel: number) => versions.map((v) => h("option", { value: v.version, selected: v.version === sel }, `v${v.version}`));
  const a0 = Number(params.get("a") ?? versions[1]?.version ?? versions[0]?.version ?? 0);
  const b0 = Number(params.get("b") ?? versions[0]?.version ?? 0);
  const a = h("select", { name: "a" }, ...opts(a0));
  const b = h("select", { name: "b" }, ...opts(b0));
  const out = h("div");
  const show = () => {
    clear(out);
    add(out, section(async () => diffView(await get<any>(`/api/v1/models/${enc(name)}/diff?a=${a.value}&b=${b.value}`)), "diff"));
  };
  if (versions.length >= 2) show();
  return h("div", null, h("div", { class: "filters" }, h("label", null, "a", a), h("label", null, "b", b), h("button", { type: "button", onclick: show }, "Diff")), out);
}

// The diff answer (`marquee models diff --json`): {a, b, metrics: [{name, a, b, delta}],
// params: [{name, a, b}] (the differing ones), same_params, dataset: {same, a, b}}.
function diffView(d: any): Node {
  const head = h("tr", null, h("th", null, ""), h("th", { class: "num" }, d.a?.ref ?? "a"), h("th", { class: "num" }, d.b?.ref ?? "b"), h("th", { class: "num" }, "b − a"));
  const metricRows = (d.metrics ?? []).map((m: any) =>
    h("tr", null, h("td", null, m.name), h("td", { class: "num" }, num(m.a)), h("td", { class: "num" }, num(m.b)), h("td", { class: "num" }, num(m.delta))));
  const paramRows = (d.params ?? []).map((p: any) =>
    h("tr", { class: "diff" }, h("td", null, p.name), h("td", { class: "num" }, text(p.a)), h("td", { class: "num" }, text(p.b)), h("td", null, "")));
  const same = Object.keys(d.same_params ?? {}).length;
  return h("div", null,
    h("table", { class: "grid", "data-testid": "diff-table" },
      h("thead", null, head),
      h("tbody", null,
        h("tr", null, h("th", { colspan: 4 }, "metrics")), ...metricRows,
        h("tr", null, h("th", { colspan: 4 }, `params that differ (${same} the same)`)), ...paramRows)),
    d.dataset ? h("p", { class: "muted" }, d.dataset.same ? "Same dataset." : `Datasets differ: ${text(d.dataset.a?.name ?? d.dataset.a?.id)} vs ${text(d.dataset.b?.name ?? d.dataset.b?.id)}`) : null);
}
