// Backend URLs: where a home's registry, online state and artifacts live (docs/config.md,
// "Backends"). One resolver for every command and `marquee serve`: the flags (`--registry`,
// `--config`, which the CLI passes on as $MARQUEE_REGISTRY and $MARQUEE_CONFIG), the
// environment, `marquee.toml` in the home, then the embedded defaults.
//
// Thread-safety: the functions are pure, apart from reading the environment and the config file.
#pragma once

#include <string>
#include <string_view>

#include "core/servable.h"

namespace marquee {

class Env;

// A parsed PostgreSQL URL: postgresql://[user[:password]@]host[:port]/dbname[?key=value&...].
struct PostgresUrl {
  std::string user;      // "" = libpq's default
  std::string password;  // never printed
  std::string host;      // required
  int port = 5432;
  std::string dbname;  // required
  std::string query;   // "key=value&..." as given, without the '?'

  // The URL without the password: for every message, log line and Describe().
  std::string Redacted() const;
  // What libpq connects with (the full URL, password included, with connect_timeout=5 and
  // application_name=marquee added unless given).
  std::string ConnectionString() const;
};

// A registry URL, parsed.
struct RegistryUrl {
  enum class Scheme { kSqlite, kPostgres };
  Scheme scheme = Scheme::kSqlite;
  std::string sqlite_path;  // kSqlite: the database file
  PostgresUrl postgres;     // kPostgres
  // The URL as it may be printed (a PostgreSQL password removed).
  std::string Redacted() const;
};

// Which backend each part of a home uses, and where the choice came from.
struct BackendConfig {
  std::string registry;       // "" = sqlite at $home/registry.db
  std::string state;          // "" = rocksdb at the home; redis://... (ParseStateUrl)
  std::string artifacts;      // "" = $home/artifacts; else "file:///abs/dir" (a shared directory)
  std::string config_file;    // the marquee.toml read ("" when none)
  std::string registry_from;  // "--registry/$MARQUEE_REGISTRY", "<file>", or "default"
  // The [serve] table: how `marquee serve` retrieves a recommender's best items (index,
  // hnsw_m, hnsw_ef_construction, hnsw_ef_search, hnsw_quantization, index_threads); defaults
  // when absent.
  RetrievalSpec retrieval;
  // [serve] event_sync: when POST /v1/events is acknowledged. "fsync" (default): once the event
  // log's write-ahead log is fsynced (survives power loss); "write": once the write reached the
  // kernel (survives kill -9 of the server, not a power loss), fsynced every 100 ms.
  std::string event_sync = "fsync";
  // [serve] commit_gap_us: the event log's fsynced group commits start at least this many
  // microseconds apart (DurableLogOptions::commit_gap). 0: back to back.
  int64_t commit_gap_us = 2000;
};

// Parses a registry URL: "sqlite:///abs/path.db", "sqlite:PATH" (a path as given, relative to
// the working directory), "postgresql://..." or "postgres://...". kInvalidArgument naming the
// URL (password removed) and what is wrong.
RegistryUrl ParseRegistryUrl(std::string_view url);

// The directory of an `artifacts =` URL: "file:///abs/dir" -> "/abs/dir" (trailing slashes
// removed). kInvalidArgument naming the URL for another scheme, a relative path (file://dir,
// which would name a host), an empty one or the root.
std::string ParseArtifactsUrl(std::string_view url);

// Parses the text of a marquee.toml (`origin` names it in messages): the keys registry, state
// and artifacts, checked as ResolveBackends says, and the [serve] table (index = "exact" |
// "hnsw", hnsw_m 2..512, hnsw_ef_construction and hnsw_ef_search 1..100000, hnsw_quantization =
// "none" | "sq8", index_threads 0..1024, event_sync = "fsync" | "write", commit_gap_us
// 0..1000000; other keys or types are
// kInvalidArgument naming them). registry_from is `origin` when it sets the registry. Errors as
// ResolveBackends's.
BackendConfig ParseBackendsToml(std::string_view text, const std::string& origin);

// Resolves the backends of `home`. In order: $MARQUEE_REGISTRY (set by --registry), the legacy
// $MARQUEE_REGISTRY_URL, then `registry =` in the config file ($MARQUEE_CONFIG, set by --config,
// else `$home/marquee.toml` when it exists), then the default. The config file may also hold
// `state =` and `artifacts =`: each is checked (state: rocksdb:// or redis://host:port/db,
// events/redis_client.h, overridden by $MARQUEE_STATE; artifacts: file://; others are refused
// with kInvalidArgument naming the key) and kept; an `artifacts =` directory is where
// ArtifactStore keeps every artifact (registry/artifact_store.h).
// Unknown keys are refused (kInvalidArgument naming them), as is a file that does not parse.
BackendConfig ResolveBackends(const std::string& home, Env* env);

}  // namespace marquee
