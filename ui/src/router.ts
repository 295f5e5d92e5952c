// Hash routing: "#/runs?model=x&metric=auc%3E0.7" -> page "runs" with its query parameters, so
// every page and its filters is a URL to share; the server only serves /ui/.

export interface Route {
  page: string;
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, "");
  const q = hash.indexOf("?");
  const page = (q < 0 ? hash : hash.slice(0, q)) || "runs";
  return { page, params: new URLSearchParams(q < 0 ? "" : hash.slice(q + 1)) };
}

export function href(page: string, params?: Record<string, string | number | undefined> | URLSearchParams): string {
  let p: URLSearchParams;
  if (params instanceof URLSearchParams) {
    p = params;
  } else {
    p = new URLSearchParams();
    for (const [k, v] of Object.entries(params ?? {})) {
      if (v !== undefined && v !== "") p.set(k, String(v));
    }
  }
  const q = p.toString();
  return `#/${page}${q ? "?" + q : ""}`;
}

// Shows `page` with `params`; when that is the current URL, renders it again (fresh data).
export function go(page: string, params?: Record<string, string | number | undefined> | URLSearchParams): void {
  const target = href(page, params);
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = target;
}

// Changes the current URL's query without leaving the page (filters being edited).
export function replaceParams(params: URLSearchParams): void {
  const r = currentRoute();
  history.replaceState(null, "", href(r.page, params));
}
