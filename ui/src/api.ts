// Every call to the server's API: the key from sessionStorage as a Bearer token, JSON answers,
// and the server's {"error": {"code", "message"}} turned into an ApiError carrying its message.

const KEY = "marquee.key";

export function apiKey(): string {
  return sessionStorage.getItem(KEY) ?? "";
}

export function setApiKey(key: string): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
  // A route this server does not have (404 "no route ..."): an older or newer server.
  get routeMissing(): boolean {
    return this.status === 404 && /^no route /.test(this.message);
  }
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  const key = apiKey();
  if (key) headers["Authorization"] = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "unavailable", `the server cannot be reached (${String(e)})`);
  }
  const raw = await res.text();
  let parsed: any = null;
  try {
    parsed = raw ? JSON.parse(raw) : null;
  } catch {
    parsed = null;
  }
  if (!res.ok) {
    const err = parsed?.error;
    throw new ApiError(
      res.status,
      err?.code ?? String(res.status),
      err?.message ?? (raw.slice(0, 300) || res.statusText),
    );
  }
  return parsed as T;
}

export const get = <T = any>(path: string) => api<T>("GET", path);
export const post = <T = any>(path: string, body: unknown) => api<T>("POST", path, body);

export function enc(s: string | number): string {
  return encodeURIComponent(String(s));
}
