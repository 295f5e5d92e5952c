// The dashboard's shell: the navigation, the API key (entered once, kept in sessionStorage) and
// the hash router that renders one page at a time.
import "./style.css";
import { apiKey, setApiKey } from "./api";
import { h, clear } from "./dom";
import { currentRoute } from "./router";
import { errorBox } from "./widgets";
import { runsPage } from "./pages/runs";
import { runPage } from "./pages/run";
import { comparePage } from "./pages/compare";
import { modelsPage } from "./pages/models";
import { servingPage } from "./pages/serving";
import { experimentsPage } from "./pages/experiments";
import { banditsPage } from "./pages/bandits";
import { datasetsPage } from "./pages/datasets";

// A page renders into `root` and may return a cleanup (timers of the serving page).
export type Page = (root: HTMLElement, params: URLSearchParams) => Promise<void | (() => void)>;

const PAGES: Record<string, { title: string; page: Page; nav?: string }> = {
  runs: { title: "Runs", page: runsPage, nav: "runs" },
  run: { title: "Run", page: runPage, nav: "runs" },
  compare: { title: "Compare runs", page: comparePage, nav: "runs" },
  models: { title: "Models", page: modelsPage, nav: "models" },
  serving: { title: "Serving", page: servingPage, nav: "serving" },
  experiments: { title: "Experiments", page: experimentsPage, nav: "experiments" },
  bandits: { title: "Bandits", page: banditsPage, nav: "bandits" },
  datasets: { title: "Datasets", page: datasetsPage, nav: "datasets" },
};
const NAV = ["runs", "models", "serving", "experiments", "bandits", "datasets"];

const app = document.getElementById("app")!;
const nav = h("nav", { class: "nav" });
const keyBox = h("div", { class: "key" });
const main = h("main", { id: "page" });
app.append(h("header", { class: "top" }, h("a", { class: "brand", href: "#/runs" }, "Marquee"), nav, keyBox), main);

function renderKey(): void {
  clear(keyBox);
  if (apiKey()) {
    keyBox.append(
      h("span", { class: "muted", "data-testid": "key-state" }, "API key set for this session"),
      h("button", { type: "button", class: "link", onclick: () => { setApiKey(""); renderKey(); void render(); } }, "change"),
    );
    return;
  }
  const input = h("input", { type: "password", placeholder: "API key", autocomplete: "off", "aria-label": "API key", name: "key" });
  const form = h(
    "form",
    { class: "key-form", onsubmit: (ev: Event) => { ev.preventDefault(); setApiKey(input.value.trim()); renderKey(); void render(); } },
    input,
    h("button", { type: "submit" }, "Use key"),
  );
  keyBox.append(form);
}

let cleanup: void | (() => void);
let generation = 0;

async function render(): Promise<void> {
  const gen = ++generation;
  if (typeof cleanup === "function") cleanup();
  cleanup = undefined;
  const route = currentRoute();
  const entry = PAGES[route.page];
  clear(nav);
  for (const p of NAV) {
    nav.append(h("a", { href: `#/${p}`, class: entry?.nav === p ? "active" : "" }, PAGES[p].title));
  }
  clear(main);
  if (!entry) {
    main.append(h("h1", null, "Not found"), h("p", null, `No page '${route.page}'.`));
    return;
  }
  document.title = `${entry.title} · Marquee`;
  try {
    const c = await entry.page(main, route.params);
    if (gen === generation) cleanup = c;
    else if (typeof c === "function") c();
  } catch (e) {
    if (gen === generation) main.append(errorBox(e));
  }
}

window.addEventListener("hashchange", () => void render());
renderKey();
void render();
