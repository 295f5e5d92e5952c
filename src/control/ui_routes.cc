// The dashboard's static files (ui/, issue #15): GET /ui and /ui/ answer the app's index.html,
// GET /ui/assets/{file} its built assets (Vite names them by content hash, so they are cached as
// immutable). No API key is needed for these files: the app asks for a key and sends it on its
// /api calls. Files are read through Env when asked for, never on the scoring path; when the
// assets are not built, /ui/ answers a small page that says how to build them.
#include <cstdlib>
#include <string_view>

#include "common/text.h"
#include "control/control_plane.h"
#include "control/route_util.h"
#include "marquee/env.h"
#include "marquee/error.h"

#ifndef MARQUEE_UI_DIR_DEFAULT
#define MARQUEE_UI_DIR_DEFAULT "ui/dist"
#endif

namespace marquee {

namespace {

constexpr std::string_view kNotBuiltPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Marquee dashboard: not built</title>
<meta name="color-scheme" content="light dark">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}
code{background:rgba(127,127,127,.15);padding:.1em .3em;border-radius:3px}</style></head>
<body><h1>The Marquee dashboard is not built</h1>
<p>This server has no dashboard assets in <code>{dir}</code>.
The API (<code>/api/v1</code>) and scoring (<code>/v1</code>) work without them.</p>
<p>Build them with <code>scripts/setup</code> (it runs <code>npm ci</code> and
<code>npm run build</code> in <code>ui/</code>), or point the server at built assets with
<code>marquee serve --ui-dir DIR</code> or <code>$MARQUEE_UI_DIR</code>.</p></body></html>
)";

// The Content-Type of a built asset, by extension; "" for one the app does not produce.
std::string_view ContentTypeOf(std::string_view name) {
  struct Ext {
    std::string_view ext, type;
  };
  static constexpr Ext kTypes[] = {
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
  };
  for (const Ext& e : kTypes) {
    if (name.size() > e.ext.size() && name.ends_with(e.ext)) return e.type;
  }
  return "";
}

// kInvalidArgument unless `name` is one plain file name: [A-Za-z0-9._-], at most 128 bytes, not
// starting with '.' (so no "..", no hidden files, no slashes or other bytes after decoding).
void CheckAssetName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 128 && name[0] != '.';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    Fail(ErrorCode::kInvalidArgument,
         "ui asset '{}': a file name is letters, digits, '.', '_' and '-' and does not start "
         "with '.'",
         QuoteForMessage(name, 64));
  }
}

}  // namespace

std::string DefaultUiDir() {
  const char* env = std::getenv("MARQUEE_UI_DIR");
  if (env != nullptr && *env != '\0') return env;
  return MARQUEE_UI_DIR_DEFAULT;
}

void ControlPlane::AddUiRoutes(Service& s) {
  const std::string dir = options_.ui_dir.empty() ? DefaultUiDir() : options_.ui_dir;
  auto index = [dir](const Request&, Respond& done) {
    Env* env = Env::Default();
    const std::string path = dir + "/index.html";
    Response r;
    r.content_type = "text/html; charset=utf-8";
    r.headers.emplace_back("Cache-Control", "no-cache");
    if (env->FileExists(path)) {
      r.body = env->ReadFile(path);
    } else {
      std::string page(kNotBuiltPage);
      page.replace(page.find("{dir}"), 5, EscapeMarkup(dir));
      r.body = std::move(page);
    }
    done(std::move(r));
  };
  s.AddRoute({"GET", "/ui", kScopeNone, index});
  s.AddRoute({"GET", "/ui/", kScopeNone, index});
  s.AddRoute({"GET", "/ui/assets/{file}", kScopeNone, [dir](const Request& req, Respond& done) {
                const std::string& name = req.param("file");
                CheckAssetName(name);
                const std::string_view type = ContentTypeOf(name);
                const std::string path = dir + "/assets/" + name;
                Env* env = Env::Default();
                if (type.empty() || !env->FileExists(path)) {
                  Fail(ErrorCode::kNotFound, "ui asset '{}' not found", name);
                }
                Response r;
                r.content_type = std::string(type);
                r.body = env->ReadFile(path);
                // Vite puts a content hash in every asset's name: a new build has new names.
                r.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
                r.headers.emplace_back("X-Content-Type-Options", "nosniff");
                done(std::move(r));
              }});
}

}  // namespace marquee
