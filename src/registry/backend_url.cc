#include "registry/backend_url.h"

#include <toml++/toml.h>

#include <cstdlib>
#include <string>

#include "common/text.h"
#include "events/redis_client.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {
namespace {

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Removes the password of a postgres URL for messages, before it is parsed (so even a URL that
// does not parse is never echoed with its password).
std::string RedactRaw(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return QuoteForMessage(url, 200);
  const size_t at = url.find('@', scheme + 3);
  const size_t slash = url.find('/', scheme + 3);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) {
    return QuoteForMessage(url, 200);
  }
  const std::string_view userinfo = url.substr(scheme + 3, at - scheme - 3);
  const size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) return QuoteForMessage(url, 200);
  return QuoteForMessage(
      std::string(url.substr(0, scheme + 3 + colon)) + std::string(url.substr(at)), 200);
}

[[noreturn]] void BadUrl(std::string_view url, std::string_view why) {
  Fail(ErrorCode::kInvalidArgument,
       "registry URL '{}': {} (expected sqlite:///path/registry.db or "
       "postgresql://user@host:port/dbname)",
       RedactRaw(url), why);
}

PostgresUrl ParsePostgres(std::string_view url) {
  PostgresUrl p;
  std::string_view rest = url.substr(url.find("://") + 3);
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    p.query = std::string(rest.substr(q + 1));
    rest = rest.substr(0, q);
  }
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) BadUrl(url, "no database name");
  p.dbname = std::string(rest.substr(slash + 1));
  if (p.dbname.find('/') != std::string::npos) BadUrl(url, "the database name contains '/'");
  if (p.dbname.find_first_of("@:") != std::string::npos) {
    BadUrl(url, "the database name contains '@' or ':' (a user or password in the wrong place?)");
  }
  std::string_view authority = rest.substr(0, slash);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    p.user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) p.password = std::string(userinfo.substr(colon + 1));
    authority = authority.substr(at + 1);
  }
  std::string_view port;
  if (StartsWith(authority, "[")) {  // [ipv6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) BadUrl(url, "an unclosed '[' in the host");
    p.host = std::string(authority.substr(0, close + 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') BadUrl(url, "text after the host's ']'");
      port = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.find(':');
    p.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (p.host.empty() && p.query.find("host=") == std::string::npos) {
    BadUrl(url, "no host (give host:port, or ?host=/socket/dir for a Unix socket)");
  }
  if (!port.empty() || authority.find(':') != std::string_view::npos) {
    char* end = nullptr;
    const std::string text(port);
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < 1 || v > 65535) {
      BadUrl(url, "the port is not a number from 1 to 65535");
    }
    p.port = static_cast<int>(v);
  }
  return p;
}

// Checks a `state =` URL (events/redis_client.h parses it), naming where it came from.
void CheckState(const std::string& url, const std::string& origin) {
  try {
    ParseStateUrl(url);
  } catch (const Error& e) {
    Fail(e.code(), "{}: {}", origin, e.what());
  }
}

}  // namespace

std::string PostgresUrl::Redacted() const {
  std::string out = "postgresql://";
  if (!user.empty()) out += user + "@";
  out += host;
  if (port != 5432 || !host.empty()) out += ":" + std::to_string(port);
  out += "/" + dbname;
  // The password is never printed, but the query may repeat it (a fuzzer found
  // "?x://ann:pw@..."): there every occurrence is masked.
  std::string q = query;
  if (!password.empty()) {
    for (size_t at = q.find(password); at != std::string::npos; at = q.find(password, at + 3)) {
      q.replace(at, password.size(), "***");
    }
  }
  if (!q.empty()) out += "?" + q;
  return out;
}

std::string PostgresUrl::ConnectionString() const {
  std::string out = "postgresql://";
  if (!user.empty()) out += user + (password.empty() ? "" : ":" + password) + "@";
  out += host;
  if (!host.empty()) out += ":" + std::to_string(port);
  out += "/" + dbname;
  std::string q = query;
  auto add = [&](const std::string& key, const std::string& value) {
    if (("&" + q).find("&" + key + "=") != std::string::npos) return;
    q += (q.empty() ? "" : "&") + key + "=" + value;
  };
  add("connect_timeout", "5");
  add("application_name", "marquee");
  return out + "?" + q;
}

std::string RegistryUrl::Redacted() const {
  return scheme == Scheme::kSqlite ? "sqlite:" + sqlite_path : postgres.Redacted();
}

RegistryUrl ParseRegistryUrl(std::string_view url) {
  RegistryUrl r;
  if (StartsWith(url, "postgresql://") || StartsWith(url, "postgres://")) {
    r.scheme = RegistryUrl::Scheme::kPostgres;
    r.postgres = ParsePostgres(url);
    return r;
  }
  if (StartsWith(url, "sqlite://")) {
    const std::string_view path = url.substr(9);
    if (!StartsWith(path, "/")) {
      BadUrl(url,
             "sqlite:// takes an absolute path (sqlite:///abs/path.db); use sqlite:PATH for "
             "a relative one");
    }
    r.sqlite_path = std::string(path);
  } else if (StartsWith(url, "sqlite:")) {
    r.sqlite_path = std::string(url.substr(7));
  } else {
    BadUrl(url, "unknown scheme");
  }
  if (r.sqlite_path.empty()) BadUrl(url, "no path");
  return r;
}

std::string ParseArtifactsUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    Fail(ErrorCode::kInvalidArgument,
         "artifacts = '{}': {} (expected file:///absolute/dir, a directory every process "
         "sharing the registry reaches, such as an NFS mount)",
         RedactRaw(url), why);
  };
  if (!StartsWith(url, "file://")) bad("unknown scheme");
  std::string path(url.substr(7));
  if (!StartsWith(path, "/")) bad("file:// takes an absolute path (file:///abs/dir)");
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path == "/") bad("the root directory cannot hold artifacts");
  return path;
}

namespace {

// The string value of [serve] `key`, which must be `a` or `b`.
std::string OneOf(const toml::node& node, const std::string& file, const std::string& key,
                  std::string_view a, std::string_view b) {
  const std::string* v = node.is_string() ? &node.as_string()->get() : nullptr;
  if (v == nullptr || (*v != a && *v != b)) {
    Fail(ErrorCode::kInvalidArgument, "{}: [serve] {} must be \"{}\" or \"{}\", not {}", file, key,
         a, b, v != nullptr ? "\"" + *v + "\"" : std::string("a value of another type"));
  }
  return *v;
}

// The [serve] table of a marquee.toml, into c.retrieval, c.event_sync and c.commit_gap_us.
void ParseServeTable(const toml::table& t, const std::string& file, BackendConfig& c) {
  RetrievalSpec& r = c.retrieval;
  for (const auto& entry : t) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in the lambda below.
    const std::string k(entry.first.str());
    const toml::node& node = entry.second;
    if (k == "index") {
      r.index = OneOf(node, file, k, "exact", "hnsw");
      continue;
    }
    if (k == "hnsw_quantization") {
      r.hnsw_quantization = OneOf(node, file, k, "none", "sq8");
      continue;
    }
    if (k == "event_sync") {
      c.event_sync = OneOf(node, file, k, "fsync", "write");
      continue;
    }
    auto integer = [&](int64_t lo, int64_t hi) {
      const int64_t v = node.is_integer() ? node.as_integer()->get() : lo - 1;
      if (v < lo || v > hi) {
        Fail(ErrorCode::kInvalidArgument, "{}: [serve] {} must be an integer in [{}, {}]", file, k,
             lo, hi);
      }
      return v;
    };
    if (k == "hnsw_m") {
      r.hnsw_m = static_cast<uint32_t>(integer(2, 512));
    } else if (k == "hnsw_ef_construction") {
      r.hnsw_ef_construction = static_cast<uint32_t>(integer(1, 100000));
    } else if (k == "hnsw_ef_search") {
      r.hnsw_ef_search = static_cast<uint32_t>(integer(1, 100000));
    } else if (k == "index_threads") {
      r.threads = static_cast<int>(integer(0, 1024));
    } else if (k == "commit_gap_us") {
      c.commit_gap_us = integer(0, 1000000);
    } else {
      Fail(ErrorCode::kInvalidArgument,
           "{}: unknown key '{}' in [serve] (expected index, hnsw_m, hnsw_ef_construction, "
           "hnsw_ef_search, hnsw_quantization, index_threads, event_sync, commit_gap_us)",
           file, QuoteForMessage(k));
    }
  }
}

}  // namespace

BackendConfig ParseBackendsToml(std::string_view text, const std::string& file) {
  BackendConfig c;
  toml::table t;
  try {
    t = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    Fail(ErrorCode::kInvalidArgument, "{}: {} (line {})", file, e.description(),
         e.source().begin.line);
  }
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    if (k == "serve" && node.is_table()) {
      ParseServeTable(*node.as_table(), file, c);
      continue;
    }
    if (k != "registry" && k != "state" && k != "artifacts") {
      Fail(ErrorCode::kInvalidArgument,
           "{}: unknown key '{}' (a marquee.toml holds registry, state, artifacts and [serve])",
           file, QuoteForMessage(k));
    }
    const std::string* v = node.is_string() ? &node.as_string()->get() : nullptr;
    if (v == nullptr || v->empty()) {
      Fail(ErrorCode::kInvalidArgument, "{}: {} must be a non-empty string (a URL)", file, k);
    }
    if (k == "registry") {
      ParseRegistryUrl(*v);  // refuse a bad one even when a flag overrides it
      c.registry = *v;
      c.registry_from = file;
    } else if (k == "state") {
      CheckState(*v, file);
      c.state = *v;
    } else {
      try {
        ParseArtifactsUrl(*v);
      } catch (const Error& e) {
        Fail(e.code(), "{}: {}", file, e.what());
      }
      c.artifacts = *v;
    }
  }
  return c;
}

BackendConfig ResolveBackends(const std::string& home, Env* env) {
  BackendConfig c;
  std::string file = Getenv("MARQUEE_CONFIG");
  const bool explicit_file = !file.empty();
  if (!explicit_file && env->FileExists(home + "/marquee.toml")) file = home + "/marquee.toml";
  if (!file.empty()) {
    if (explicit_file && !env->FileExists(file)) {
      Fail(ErrorCode::kNotFound, "--config/$MARQUEE_CONFIG: no file '{}'", file);
    }
    c = ParseBackendsToml(env->ReadFile(file), file);
    c.config_file = file;
  }
  for (const char* var : {"MARQUEE_REGISTRY", "MARQUEE_REGISTRY_URL"}) {
    const std::string v = Getenv(var);
    if (v.empty()) continue;
    c.registry = v;
    c.registry_from = std::string("$") + var;
    break;
  }
  if (c.registry.empty()) c.registry_from = "default";
  if (const std::string v = Getenv("MARQUEE_STATE"); !v.empty()) {
    CheckState(v, "$MARQUEE_STATE");
    c.state = v;
  }
  return c;
}

}  // namespace marquee
