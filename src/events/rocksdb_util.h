// The embedded RocksDB setup shared by every log under the home directory (events, exposures,
// bandit decisions): one set of options and one mapping of RocksDB statuses onto ErrorCode.
#pragma once

#include <rocksdb/db.h>

#include <memory>
#include <string>
#include <string_view>

namespace marquee {

// Throws marquee::Error for a failed status: kCorruption, kUnavailable (busy, or the database
// is locked by another process), else kIOError; the message is "LOG: WHAT: status".
[[noreturn]] void FailRocksStatus(const rocksdb::Status& s, std::string_view log,
                                  std::string_view what);

// Opens the database in `dir` (created when missing unless `read_only`: then a consistent
// read-only view, allowed while another process writes). Errors through FailRocksStatus with
// `log` naming it ("event log").
std::unique_ptr<rocksdb::DB> OpenRocksDb(const std::string& dir, bool read_only,
                                         std::string_view log);

}  // namespace marquee
