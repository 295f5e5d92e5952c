// PgStore: the MetadataStore on PostgreSQL (libpqxx), for a registry that many processes on
// many machines share (docs/formats/registry.md, "PostgreSQL"). The same schema versions and
// semantics as SqliteStore: every writing transaction first takes one transaction-scoped
// advisory lock, so writers serialise exactly as SQLite's BEGIN IMMEDIATE does (version numbers
// unique and consecutive per model, compare-and-set alias and experiment moves, gc's "no
// artifact registered meanwhile"); readers never wait. Alias moves send NOTIFY
// marquee_alias_moves in their transaction, which WaitForAliasChange LISTENs for.
//
// Connections: a small pool, opened as needed. A pooled connection found broken (PostgreSQL
// restarted) is replaced before use; a call whose connection breaks meanwhile fails with
// kUnavailable naming the URL (without its password), and the next call connects again.
//
// Thread-safe; any number of processes may share one database.
#pragma once

#include <memory>
#include <string>

#include "registry/backend_url.h"
#include "registry/metadata_store.h"

namespace marquee {

struct PgStoreOptions {
  size_t max_idle_connections = 4;  // connections kept open between calls
};

// Whether this build has PostgreSQL support (libpqxx was found at build time).
bool PgStoreAvailable();

// Connects to `url`, creates or migrates the schema (refusing one newer than this build with
// kFailedPrecondition) and returns the store. kUnavailable naming the URL (password removed)
// when the server cannot be reached or refuses the connection; kUnimplemented when this build
// has no PostgreSQL support.
std::unique_ptr<MetadataStore> OpenPgStore(const PostgresUrl& url,
                                           const PgStoreOptions& options = {});

}  // namespace marquee
