// What the dashboard's browser tests share: the skip checks, a home prepared with the CLI, a
// real `marquee serve` on a free loopback port with a write key and a read-only key, Debian's
// chromium driven by playwright-core, and a tiny runner that screenshots each failing test.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const UI = path.resolve(HERE, "..");
export const SRC = process.env.MARQUEE_SOURCE_DIR || path.resolve(UI, "..");
export const BIN = process.env.MARQUEE_BIN || path.join(SRC, "build/release/tools/marquee/marquee");
export const UI_DIR = process.env.MARQUEE_UI_DIR || path.join(UI, "dist");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const FAILURES = process.env.MARQUEE_UI_FAILURES || path.join(SRC, "build/ui-failures");
export const KEY_WRITE = "ui-test-key-admin-0001"; // read, write, admin
export const KEY_READ = "ui-test-key-read-00002"; // read only
export const SKIP = 77; // ctest SKIP_RETURN_CODE

// Exits with SKIP and a clear line when something the browser tests need is absent.
export async function skipUnlessReady() {
  const missing = [];
  if (!fs.existsSync(CHROMIUM)) missing.push(`chromium (${CHROMIUM}; scripts/setup installs Debian's chromium)`);
  if (!fs.existsSync(path.join(UI_DIR, "index.html"))) missing.push(`the built dashboard (${UI_DIR}/index.html; scripts/setup runs npm ci and npm run build in ui/)`);
  if (!fs.existsSync(BIN)) missing.push(`the marquee binary (${BIN})`);
  let pw = null;
  try {
    pw = await import("playwright-core");
  } catch {
    missing.push("playwright-core (npm ci in ui/)");
  }
  if (missing.length) {
    console.log(`SKIP: the dashboard's browser tests need ${missing.join(", ")}`);
    process.exit(SKIP);
  }
  return pw;
}

export function cli(home, ...args) {
  const r = spawnSync(BIN, ["--home", home, "-q", ...args], { encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`marquee ${args.join(" ")} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function write(file, text) {
  fs.writeFileSync(file, text);
  return file;
}

// `marquee serve` on a free port with both keys; resolves once /readyz answers 200.
export async function startServer(home, tmp, flags = []) {
  const keys = write(path.join(tmp, "keys.txt"), `${KEY_WRITE} read,write,admin\n${KEY_READ} read\n`);
  const portFile = path.join(tmp, "port");
  const log = fs.openSync(path.join(tmp, "serve.log"), "w");
  const proc = spawn(BIN, ["--home", home, "serve", "--port", "0", "--port-file", portFile, "--api-keys", keys, "--ui-dir", UI_DIR, ...flags], { stdio: ["ignore", log, log] });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`marquee serve exited ${proc.exitCode}: ${fs.readFileSync(path.join(tmp, "serve.log"), "utf8")}`);
    if (fs.existsSync(portFile)) {
      const port = Number(fs.readFileSync(portFile, "utf8").trim());
      if (port) {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/readyz`);
          if (r.status === 200) return { proc, port, url: `http://127.0.0.1:${port}` };
        } catch {
          // not listening yet
        }
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill("SIGKILL");
  throw new Error(`marquee serve did not become ready: ${fs.readFileSync(path.join(tmp, "serve.log"), "utf8")}`);
}

export async function stopServer(server) {
  if (server.proc.exitCode !== null) return;
  const done = new Promise((r) => server.proc.once("exit", r));
  server.proc.kill("SIGTERM");
  const t = setTimeout(() => server.proc.kill("SIGKILL"), 15_000);
  await done;
  clearTimeout(t);
}

// A JSON call with the write key (or `key`); throws with the server's message on an error.
export async function call(server, method, p, body, key = KEY_WRITE) {
  const r = await fetch(server.url + p, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function launch(pw) {
  return pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
}

// Runs the named tests in order; a failing test saves a screenshot of its page under FAILURES.
// Prints one closing line "ui: N passed, N failed" and returns the number failed.
export async function runTests(tests, page) {
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of tests) {
    const t0 = Date.now();
    try {
      await fn();
      ++passed;
      console.log(`PASS  ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      ++failed;
      let shot = "";
      try {
        fs.mkdirSync(FAILURES, { recursive: true });
        shot = path.join(FAILURES, `${name.replace(/[^A-Za-z0-9_-]+/g, "-")}.png`);
        await page.screenshot({ path: shot, fullPage: true });
      } catch (se) {
        shot = `(no screenshot: ${se.message})`;
      }
      console.log(`FAIL  ${name}: ${e && e.stack ? e.stack : e}\n      screenshot: ${shot}`);
    }
  }
  console.log(`ui: ${passed} passed, ${failed} failed`);
  return failed;
}

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// Closes the browser and the server, removes the scratch folder, exits 1 if a test failed.
export async function finish(failed, browser, server, tmp) {
  await browser.close();
  await stopServer(server);
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(failed ? 1 : 0);
}

// Runs a test script's main; a failure before the tests counts as one failed test.
export function runMain(main) {
  main().catch((e) => {
    console.error(`FAIL  setup: ${e && e.stack ? e.stack : e}`);
    console.log("ui: 0 passed, 1 failed");
    process.exit(1);
  });
}
