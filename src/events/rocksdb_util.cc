#include "events/rocksdb_util.h"

#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>

#include "marquee/error.h"

namespace marquee {
namespace {

// RocksDB's info log, forwarded to spdlog instead of the LOG file in the database's folder.
class SpdlogLogger : public rocksdb::Logger {
 public:
  explicit SpdlogLogger(std::string log)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), log_(std::move(log)) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char buf[1024];
    std::vsnprintf(buf, sizeof(buf), format, ap);
    std::string_view msg(buf);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.remove_suffix(1);
    // An open that fails is reported by OpenRocksDb's error, once, in the caller's words.
    if (msg.empty() || msg.find("DB::Open() failed") != std::string_view::npos) return;
    if (level >= rocksdb::InfoLogLevel::WARN_LEVEL) {
      spdlog::warn("{} (rocksdb): {}", log_, msg);
    } else {
      spdlog::info("{} (rocksdb): {}", log_, msg);
    }
  }

 private:
  std::string log_;
};

}  // namespace

bool IsNoSpace(const rocksdb::Status& s) {
  if (s.ok()) return false;
  if (s.IsNoSpace()) return true;
  const std::string text = s.ToString();
  return text.find("No space left") != std::string::npos ||
         text.find("Disk quota exceeded") != std::string::npos;
}

void FailRocksStatus(const rocksdb::Status& s, std::string_view log, std::string_view what) {
  if (IsNoSpace(s)) {
    Fail(ErrorCode::kUnavailable, "{}: {}: no space left on device; {} ({})", log, what,
         what == "write" ? "not acknowledged, retry once space is freed"
                         : "free some space and retry",
         s.ToString());
  }
  ErrorCode code = s.IsCorruption()               ? ErrorCode::kCorruption
                   : s.IsBusy() || s.IsTryAgain() ? ErrorCode::kUnavailable
                                                  : ErrorCode::kIOError;
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    code = ErrorCode::kUnavailable;
  }
  Fail(code, "{}: {}: {}", log, what, s.ToString());
}

void RocksDbRecovery::OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                                           bool* auto_recovery) {
  *auto_recovery = false;  // TryResume does it, from the writing thread
}

void RocksDbRecovery::OnBackgroundError(rocksdb::BackgroundErrorReason reason,
                                        rocksdb::Status* error) {
  MutexLock lock(&mu_);
  stopped_ = true;
  wal_failed_ = wal_failed_ || reason == rocksdb::BackgroundErrorReason::kWriteCallback;
  reason_ = IsNoSpace(*error) ? "no space left on device: " + error->ToString() : error->ToString();
}

bool RocksDbRecovery::writable(std::string* reason) const {
  MutexLock lock(&mu_);
  if (stopped_ && reason != nullptr) *reason = reason_;
  return !stopped_;
}

bool RocksDbRecovery::TryResume(rocksdb::DB* db, std::chrono::milliseconds interval) {
  {
    MutexLock lock(&mu_);
    if (!stopped_) return true;
    const auto now = std::chrono::steady_clock::now();
    if (last_try_.time_since_epoch().count() != 0 && now - last_try_ < interval) return false;
    last_try_ = now;
  }
  if (NeedsReopen(db)) return false;
  rocksdb::Status s = db->Resume();
  MutexLock lock(&mu_);
  if (!s.ok()) return false;
  stopped_ = false;
  wal_failed_ = false;
  return true;
}

bool RocksDbRecovery::NeedsReopen(rocksdb::DB* db) const {
  {
    MutexLock lock(&mu_);
    if (!stopped_ || !wal_failed_) return false;
  }
  // Resume flushes the memtable and, only when it holds data, starts a new write-ahead log
  // (resetting the failed one); with an empty memtable the failed log writer stays in use.
  uint64_t entries = 0;
  if (!db->GetIntProperty(rocksdb::DB::Properties::kNumEntriesActiveMemTable, &entries)) {
    return true;
  }
  return entries == 0;
}

std::unique_ptr<rocksdb::DB> OpenRocksDb(const std::string& dir, bool read_only,
                                         std::string_view log, const RocksDbTuning& tuning,
                                         std::shared_ptr<RocksDbRecovery>* recovery) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.IncreaseParallelism(2);
  o.max_background_jobs = 2;
  o.write_buffer_size = tuning.write_buffer_bytes;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.info_log = std::make_shared<SpdlogLogger>(std::string(log));
  o.keep_log_file_num = 2;
  if (tuning.env != nullptr) o.env = tuning.env;
  auto rec = std::make_shared<RocksDbRecovery>();
  o.listeners.push_back(rec);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(o, dir, &raw) : rocksdb::DB::Open(o, dir, &raw);
  if (!s.ok()) FailRocksStatus(s, log, "open '" + dir + "'");
  if (recovery != nullptr) *recovery = std::move(rec);
  return std::unique_ptr<rocksdb::DB>(raw);
}

std::shared_ptr<RocksDbRecovery> RecoveryOf(rocksdb::DB* db) {
  for (const auto& l : db->GetOptions().listeners) {
    if (auto r = std::dynamic_pointer_cast<RocksDbRecovery>(l)) return r;
  }
  return nullptr;
}

rocksdb::Status WriteRecovering(rocksdb::DB* db, const rocksdb::WriteOptions& options,
                                rocksdb::WriteBatch* batch) {
  rocksdb::Status s = db->Write(options, batch);
  if (s.ok()) return s;  // the recovery object is looked up only after a failure
  std::shared_ptr<RocksDbRecovery> rec = RecoveryOf(db);
  if (rec == nullptr || rec->writable(nullptr)) return s;
  if (!rec->TryResume(db, std::chrono::seconds(1))) return s;
  return db->Write(options, batch);
}

void CloseRocksDb(rocksdb::DB* db, bool flush_wal) {
  if (db == nullptr) return;
  if (flush_wal) {
    std::shared_ptr<RocksDbRecovery> rec = RecoveryOf(db);
    if (rec == nullptr || rec->writable(nullptr)) db->FlushWAL(true).PermitUncheckedError();
  }
  db->Close().PermitUncheckedError();
}

ReopenableDb::ReopenableDb(std::string dir, bool read_only, std::string what, RocksDbTuning tuning,
                           std::chrono::milliseconds retry_interval)
    : dir_(std::move(dir)),
      read_only_(read_only),
      what_(std::move(what)),
      tuning_(tuning),
      retry_interval_(retry_interval) {
  db_ = OpenRocksDb(dir_, read_only_, what_, tuning_, &recovery_);
}

ReopenableDb::~ReopenableDb() { CloseRocksDb(db_.get(), /*flush_wal=*/!read_only_); }

ReopenableDb::Reader ReopenableDb::Read() const {
  mu_.LockShared();
  if (db_ == nullptr) {
    const std::string error = reopen_error_;
    mu_.UnlockShared();
    Fail(ErrorCode::kUnavailable, "{}: reopening after a failed write: {}", what_, error);
  }
  rocksdb::DB* db = db_.get();
  return {SharedHold::Adopt(&mu_), db};  // the caller's Reader holds mu_ from here
}

bool ReopenableDb::Writable(std::string* reason) const {
  if (read_only_) return true;
  ReaderLock lock(&mu_);
  if (db_ == nullptr) {
    if (reason != nullptr) *reason = reopen_error_;
    return false;
  }
  return recovery_->writable(reason);
}

bool ReopenableDb::Recover() {
  if (read_only_) return true;
  const auto now = std::chrono::steady_clock::now();
  if (last_recovery_.time_since_epoch().count() != 0 && now - last_recovery_ < retry_interval_) {
    return false;
  }
  last_recovery_ = now;
  if (OwnDb() != nullptr && !OwnRecovery()->NeedsReopen(OwnDb())) {
    return OwnRecovery()->TryResume(OwnDb(), std::chrono::milliseconds(0));
  }
  WriterLock lock(&mu_);  // waits for the readers of the old database
  if (db_ != nullptr) {
    CloseRocksDb(db_.get(), /*flush_wal=*/false);
    db_.reset();
  }
  try {
    // Replays the write-ahead logs (a torn last record, the failed write, is dropped).
    db_ = OpenRocksDb(dir_, false, what_, tuning_, &recovery_);
    reopen_error_.clear();
    return true;
  } catch (const std::exception& e) {
    reopen_error_ = e.what();
    return false;
  }
}

}  // namespace marquee
