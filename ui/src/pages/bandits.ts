// Bandits: per policy the decisions and reward rate over time (hour or day buckets), the action
// distribution, and the latest off-policy evaluation with its intervals.
import { get, enc } from "../api";
import { add, h, num, pct, time, text, panel } from "../dom";
import { href, go } from "../router";
import { bars, lineChart } from "../chart";
import { link, section, table } from "../widgets";

export async function banditsPage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const name = params.get("name");
  if (!name) {
    const { policies } = await get<{ policies: any[] }>("/api/v1/bandits");
    add(root, h("h1", null, "Bandits"), policies.length === 0 ? h("p", { class: "muted" }, "No bandit policies yet.") : table(
      [
        { key: "name", title: "policy", cell: (p: any) => link(href("bandits", { name: p.name }), p.name) },
        { key: "family", title: "family", cell: (p: any) => text(p.family ?? "–") },
        { key: "aliases", title: "aliases", cell: (p: any) => h("span", null, ...Object.entries(p.aliases ?? {}).map(([a, v]) => h("span", { class: "pill alias" }, `${a} → v${v}`))) },
        { key: "versions", title: "versions deciding", cell: (p: any) => (p.versions ?? []).map((v: any) => `v${typeof v === "object" ? v.version : v}`).join(" ") },
        { key: "decisions", title: "decisions", num: true, cell: (p: any) => num(p.decisions) },
        { key: "closed", title: "closed", num: true, cell: (p: any) => num(p.closed) },
        { key: "rate", title: "reward rate", num: true, cell: (p: any) => pct(p.reward_rate ?? (p.closed ? p.rewards / p.closed : null)) },
        { key: "last", title: "last decision", cell: (p: any) => time(p.last_decision_at) },
      ],
      policies, { testid: "bandits-table" }));
    return;
  }
  const bucket = params.get("bucket") === "day" ? "day" : "hour";
  const sel = h("select", { onchange: (ev: Event) => go("bandits", { name, bucket: (ev.target as HTMLSelectElement).value }) },
    h("option", { value: "hour", selected: bucket === "hour" }, "per hour"), h("option", { value: "day", selected: bucket === "day" }, "per day"));
  add(root, h("h1", null, link("#/bandits", "Bandits"), " / ", name), h("div", { class: "toolbar" }, h("label", null, "buckets ", sel)),
    section(async () => policy(await get<any>(`/api/v1/bandits/${enc(name)}?bucket=${bucket}`)), "bandit figures"));
}

function policy(p: any): Node[] {
  const series: any[] = p.series ?? [];
  const t = (s: any) => Date.parse(s.start) / 1000;
  const out: Node[] = [];
  out.push(h("div", { class: "row" },
    panel("Decisions", series.length ? lineChart([{ label: "decisions", points: series.map((s) => [t(s), s.decisions]) }], { time: true }) : h("p", { class: "muted" }, "No decisions logged.")),
    panel("Reward rate", series.length ? lineChart([{ label: "reward rate", points: series.filter((s) => typeof s.reward_rate === "number").map((s) => [t(s), s.reward_rate]) }], { time: true }) : h("p", { class: "muted" }, "–"))));
  const actions: any[] = p.actions ?? [];
  out.push(panel("Actions chosen", actions.length ? bars(actions.map((a) => ({ label: a.action, value: a.share, note: `(${num(a.decisions)})` })), { format: (v) => pct(v) }) : h("p", { class: "muted" }, "none")));
  const ope = p.ope;
  out.push(panel("Latest off-policy evaluation", !ope ? h("p", { class: "muted" }, "No off-policy evaluation recorded for this policy (run `marquee ope`).") : h("div", null,
    h("p", { class: "muted" }, `${text(ope.candidate ?? "")} computed ${time(ope.computed_at)} on ${text(ope.log)} · ${num(ope.decisions)} decisions · logged reward ${num(ope.logged_reward)} · effective sample size ${num(ope.ess)}`),
    ...(ope.warnings ?? []).map((w: string) => h("div", { class: "notice warn" }, w)),
    table(
      [
        { key: "e", title: "estimator", cell: (e: any) => e.estimator },
        { key: "v", title: "value", num: true, cell: (e: any) => num(e.value) },
        { key: "i", title: "95% interval", num: true, cell: (e: any) => (e.lo === null || e.lo === undefined ? "–" : `[${num(e.lo)}, ${num(e.hi)}]`) },
      ],
      ope.estimates ?? []),
    bars((ope.estimates ?? []).map((e: any) => ({ label: e.estimator, value: e.value, lo: e.lo, hi: e.hi }))))));
  return out;
}
