// A tiny DOM builder and the formatting helpers every page shares.

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown>;

// h("a", {href: "#/runs", class: "x", onclick: fn}, "text", child...): an element. Attributes
// starting with "on" are listeners; `dataset` keys become data-*; false/null attributes are left
// out.
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (k === "style" && typeof v === "object") {
      Object.assign(el.style, v);
    } else if (k === "value" && "value" in el) {
      (el as unknown as HTMLInputElement).value = String(v);
    } else if (k === "checked" && "checked" in el) {
      (el as unknown as HTMLInputElement).checked = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

// A number for a table cell: integers as they are, others with 4 significant digits.
export function num(v: unknown, digits = 4): string {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return v.toPrecision(digits).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
}

export function pct(v: unknown): string {
  return typeof v === "number" && Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : "–";
}

// "2026-12-05T07:05:41Z" -> "2026-12-05 07:05:41" (UTC, as the server writes it).
export function time(v: unknown): string {
  if (typeof v !== "string" || !v) return "–";
  return v.replace("T", " ").replace(/Z$/, "");
}

export function seconds(a: unknown, b: unknown): string {
  if (typeof a !== "string" || typeof b !== "string") return "–";
  const s = (Date.parse(b) - Date.parse(a)) / 1000;
  if (!Number.isFinite(s)) return "–";
  return s < 120 ? `${s.toFixed(0)} s` : `${(s / 60).toFixed(1)} min`;
}

export function text(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// A labelled key/value table.
export function kv(rows: [string, Child][]): HTMLTableElement {
  return h("table", { class: "kv" }, ...rows.map(([k, v]) => h("tr", null, h("th", null, k), h("td", null, v))));
}

export function panel(title: string, ...children: Child[]): HTMLElement {
  return h("section", { class: "panel" }, h("h2", null, title), ...children);
}

// el.append that skips null/false children (optional parts of a page).
export function add(el: Node, ...children: Child[]): void {
  append(el, children);
}
