// Pieces several pages share: error and "not available" panels, loading sections, tables.
import { ApiError } from "./api";
import { h, clear } from "./dom";

// What the page shows for a failed call: the server's own message (a read-only key trying to
// promote gets the server's permission_denied text), or a "not available on this server" panel
// when the route itself is missing.
export function errorBox(e: unknown, what = ""): HTMLElement {
  if (e instanceof ApiError && e.routeMissing) {
    return h(
      "div",
      { class: "notice unavailable", "data-testid": "unavailable" },
      h("strong", null, "Not available on this server"),
      ` — ${what || "this view"} needs an API route this server does not have (${e.message}).`,
    );
  }
  const status = e instanceof ApiError ? e.status : 0;
  const code = e instanceof ApiError ? e.code : "error";
  const message = e instanceof Error ? e.message : String(e);
  const hint =
    status === 401
      ? " Enter an API key above."
      : status === 403
        ? " This key's scopes do not allow it."
        : "";
  return h(
    "div",
    { class: "notice error", role: "alert", "data-testid": "error" },
    h("strong", null, status ? `${status} ${code}` : code),
    `: ${message}${hint}`,
  );
}

// A section that fills itself from `load`; while loading it says so, on failure it shows the
// error in place (the rest of the page stays).
export function section(load: () => Promise<Node | Node[]>, what = ""): HTMLElement {
  const box = h("div", { class: "section" }, h("p", { class: "muted" }, "Loading…"));
  load().then(
    (n) => {
      clear(box);
      for (const x of Array.isArray(n) ? n : [n]) box.appendChild(x);
    },
    (e) => {
      clear(box);
      box.appendChild(errorBox(e, what));
    },
  );
  return box;
}

export interface Column<T> {
  key: string;
  title: string;
  cell: (row: T) => Node | string;
  num?: boolean;
  sort?: string; // the server-side sort key this column sorts by
}

export function table<T>(cols: Column<T>[], rows: T[], opts: { testid?: string; rowAttrs?: (r: T) => Record<string, unknown> } = {}): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "grid", "data-testid": opts.testid },
      h("thead", null, h("tr", null, ...cols.map((c) => h("th", { class: c.num ? "num" : "" }, c.title)))),
      h(
        "tbody",
        null,
        ...rows.map((r) =>
          h("tr", opts.rowAttrs ? opts.rowAttrs(r) : null, ...cols.map((c) => h("td", { class: c.num ? "num" : "" }, c.cell(r)))),
        ),
      ),
    ),
  );
}

export function link(href: string, label: string | number, attrs: Record<string, unknown> = {}): HTMLAnchorElement {
  return h("a", { href, ...attrs }, String(label));
}
