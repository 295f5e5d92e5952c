#include "events/rocksdb_util.h"

#include <rocksdb/options.h>

#include "marquee/error.h"

namespace marquee {

void FailRocksStatus(const rocksdb::Status& s, std::string_view log, std::string_view what) {
  ErrorCode code = s.IsCorruption()               ? ErrorCode::kCorruption
                   : s.IsBusy() || s.IsTryAgain() ? ErrorCode::kUnavailable
                                                  : ErrorCode::kIOError;
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    code = ErrorCode::kUnavailable;
  }
  Fail(code, "{}: {}: {}", log, what, s.ToString());
}

std::unique_ptr<rocksdb::DB> OpenRocksDb(const std::string& dir, bool read_only,
                                         std::string_view log) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.IncreaseParallelism(2);
  o.max_background_jobs = 2;
  o.write_buffer_size = 64 << 20;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.keep_log_file_num = 2;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(o, dir, &raw) : rocksdb::DB::Open(o, dir, &raw);
  if (!s.ok()) FailRocksStatus(s, log, "open '" + dir + "'");
  return std::unique_ptr<rocksdb::DB>(raw);
}

}  // namespace marquee
