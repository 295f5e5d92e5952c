// Serving: GET /api/v1/serving/stats every 2.5 s; request, error and event rates come from the
// difference of two successive polls (the server's counters are cumulative since it started).
import { get } from "../api";
import { add, h, num, pct, time, clear } from "../dom";
import { lineChart } from "../chart";
import { errorBox } from "../widgets";

const POLL_MS = 2500;
const KEEP = 120; // points of the rate chart (5 minutes)

interface Latency { p50?: number; p90?: number; p99?: number }
interface Stats {
  started_at: string;
  now: string;
  uptime_s: number;
  routes: { route: string; requests: number; errors_4xx: number; errors_5xx: number; latency_ms?: Latency }[];
  models: { model: string; version: number | null; refs?: string[]; error?: string; aliases?: string[]; kind?: string; state?: string; loaded_at?: string; requests: number; errors: number; latency_ms?: Latency }[];
  events?: { ingested_total?: number };
  bandits?: { decisions_total?: number; rewards_total?: number; defaulted_total?: number };
}

// Per second, between two polls; null on the first poll or after a server restart.
function rate(now: number | undefined, before: number | undefined, dt: number): number | null {
  if (now === undefined || before === undefined || dt <= 0 || now < before) return null;
  return (now - before) / dt;
}

const rateText = (r: number | null) => (r === null ? "–" : `${r.toFixed(r < 10 ? 2 : 1)}/s`);

export async function servingPage(root: HTMLElement): Promise<() => void> {
  add(root, h("h1", null, "Serving"));
  const body = h("div", null, h("p", { class: "muted" }, "Loading…"));
  add(root, body);
  let prev: Stats | null = null;
  const history: [number, number][] = [];
  let timer = 0;
  let stopped = false;

  const draw = (s: Stats) => {
    const dt = prev ? s.uptime_s - prev.uptime_s : 0;
    const total = s.routes.reduce((a, r) => a + r.requests, 0);
    const totalPrev = prev ? prev.routes.reduce((a, r) => a + r.requests, 0) : undefined;
    const errs = s.routes.reduce((a, r) => a + r.errors_4xx + r.errors_5xx, 0);
    const totalRate = rate(total, totalPrev, dt);
    if (totalRate !== null) {
      history.push([Date.parse(s.now) / 1000, totalRate]);
      if (history.length > KEEP) history.shift();
    }
    const pr = new Map((prev?.routes ?? []).map((r) => [r.route, r]));
    const pm = new Map((prev?.models ?? []).map((m) => [`${m.model}/${m.version}`, m]));
    const lat = (l?: Latency) => [num(l?.p50, 3), num(l?.p90, 3), num(l?.p99, 3)].map((x) => h("td", { class: "num" }, x));
    clear(body);
    add(body, 
      h("section", { class: "panel" },
        h("div", { class: "stat" }, h("span", { class: "v", "data-testid": "requests-total" }, total.toLocaleString("en-US")), h("span", { class: "l" }, "requests since start")),
        h("div", { class: "stat" }, h("span", { class: "v", "data-testid": "request-rate" }, rateText(totalRate)), h("span", { class: "l" }, "request rate")),
        h("div", { class: "stat" }, h("span", { class: "v" }, total ? pct(errs / total) : "–"), h("span", { class: "l" }, "error share")),
        h("div", { class: "stat" }, h("span", { class: "v" }, num(s.events?.ingested_total ?? 0)), h("span", { class: "l" }, `events ingested · ${rateText(rate(s.events?.ingested_total, prev?.events?.ingested_total, dt))}`)),
        h("div", { class: "stat" }, h("span", { class: "v" }, num(s.bandits?.decisions_total ?? 0)), h("span", { class: "l" }, `bandit decisions · ${num(s.bandits?.rewards_total ?? 0)} rewards`)),
        h("p", { class: "muted" }, `up ${num(s.uptime_s, 3)} s since ${time(s.started_at)} · refreshed every ${POLL_MS / 1000} s`),
        history.length > 1 ? lineChart([{ label: "requests/s", points: history.slice() }], { time: true, height: 160 }) : null,
      ),
      h("section", { class: "panel" }, h("h2", null, "Routes"),
        h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "routes-table" },
          h("thead", null, h("tr", null, ...["route", "requests", "rate", "4xx", "5xx", "error rate", "p50 ms", "p90 ms", "p99 ms"].map((t, i) => h("th", { class: i ? "num" : "" }, t)))),
          h("tbody", null, ...s.routes.map((r) => {
            const p = pr.get(r.route);
            const rr = rate(r.requests, p?.requests, dt);
            const er = p ? rate(r.errors_4xx + r.errors_5xx, p.errors_4xx + p.errors_5xx, dt) : null;
            return h("tr", { "data-route": r.route }, h("td", null, r.route), h("td", { class: "num", "data-testid": "route-requests" }, num(r.requests)), h("td", { class: "num" }, rateText(rr)),
              h("td", { class: "num" }, num(r.errors_4xx)), h("td", { class: "num" }, num(r.errors_5xx)),
              h("td", { class: "num" }, rr && er !== null ? pct(er / rr) : r.requests ? pct((r.errors_4xx + r.errors_5xx) / r.requests) : "–"), ...lat(r.latency_ms));
          }))))),
      h("section", { class: "panel" }, h("h2", null, "Loaded model versions"),
        s.models.length === 0 ? h("p", { class: "muted" }, "No model loaded.") :
        h("div", { class: "table-wrap" }, h("table", { class: "grid", "data-testid": "models-served" },
          h("thead", null, h("tr", null, ...["model", "version", "aliases", "kind", "state", "loaded", "requests", "rate", "errors", "p50 ms", "p90 ms", "p99 ms"].map((t) => h("th", null, t)))),
          h("tbody", null, ...s.models.map((m) => {
            const p = pm.get(`${m.model}/${m.version}`);
            return h("tr", null, h("td", null, m.model), h("td", { class: "num" }, m.version === null ? "–" : `v${m.version}`),
              h("td", null, ...(m.aliases ?? []).map((a) => h("span", { class: "pill alias" }, a))),
              h("td", null, m.kind ?? ""), h("td", { title: m.error ?? "" }, h("span", { class: `pill ${m.state === "ready" ? "ok" : m.state === "failed" ? "bad" : ""}` }, m.state ?? "")),
              h("td", null, time(m.loaded_at)), h("td", { class: "num" }, num(m.requests)), h("td", { class: "num" }, rateText(rate(m.requests, p?.requests, dt))),
              h("td", { class: "num" }, num(m.errors)), ...lat(m.latency_ms));
          }))))),
    );
    prev = s;
  };

  const poll = async () => {
    try {
      const s = await get<Stats>("/api/v1/serving/stats");
      if (stopped) return;
      draw(s);
    } catch (e) {
      if (stopped) return;
      clear(body);
      add(body, errorBox(e, "live serving figures"));
    }
    if (!stopped) timer = window.setTimeout(poll, POLL_MS);
  };
  await poll();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
