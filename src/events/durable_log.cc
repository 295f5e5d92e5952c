#include "events/durable_log.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "common/completion.h"
#include "common/thread_pool.h"
#include "events/rocksdb_util.h"
#include "marquee/error.h"

namespace marquee {
namespace {

constexpr char kSeqKey[] = "m:seq";

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

}  // namespace

void PutBe64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

uint64_t GetBe64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

class DurableLog::Impl {
 public:
  struct Pending {
    std::vector<LogRecord> records;
    std::function<void(std::exception_ptr)> done;
  };

  Impl(std::string dir, std::unique_ptr<rocksdb::DB> db, std::shared_ptr<RocksDbRecovery> recovery,
       DurableLogOptions o, uint64_t seq)
      : dir_(std::move(dir)),
        db_(std::move(db)),
        recovery_(std::move(recovery)),
        options_(std::move(o)),
        next_seq_(seq + 1) {
    writer_ = std::thread([this] {
      if (options_.background) LowerCurrentThreadPriority();
      WriterLoop();
    });
  }
  ~Impl() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    writer_.join();
    // Never FlushWAL on a stopped database: RocksDB 7.8 aborts there (rocksdb_util.h).
    CloseRocksDb(db_.get(), !options_.read_only);
  }

  // The database for a reader, under db_mu_ held shared by the caller; kUnavailable while a
  // reopen after a failed write has not succeeded.
  rocksdb::DB* ReaderDb() const {
    if (db_ == nullptr) {
      Fail(ErrorCode::kUnavailable, "{}: reopening after a failed write: {}", options_.what,
           reopen_error_);
    }
    return db_.get();
  }

  bool Writable(std::string* reason) const {
    std::shared_lock lock(db_mu_);
    if (db_ == nullptr) {
      if (reason != nullptr) *reason = reopen_error_;
      return false;
    }
    return recovery_->writable(reason);
  }

  // Writer thread, while stopped: at most once per retry_interval, DB::Resume(), or a close
  // and reopen when Resume cannot clear the failure (RocksDbRecovery::NeedsReopen). Returns
  // whether the log writes again.
  bool Recover() {
    const auto now = std::chrono::steady_clock::now();
    if (last_recovery_.time_since_epoch().count() != 0 &&
        now - last_recovery_ < options_.retry_interval) {
      return false;
    }
    last_recovery_ = now;
    if (db_ != nullptr && !recovery_->NeedsReopen(db_.get())) {
      return recovery_->TryResume(db_.get(), std::chrono::milliseconds(0));
    }
    std::unique_lock lock(db_mu_);  // waits for the readers of the old database
    if (db_ != nullptr) {
      CloseRocksDb(db_.get(), /*flush_wal=*/false);
      db_.reset();
    }
    try {
      // Replays the write-ahead logs (a torn last record, the failed write, is dropped).
      db_ = OpenRocksDb(dir_, false, options_.what, options_.tuning, &recovery_);
      reopen_error_.clear();
      return true;
    } catch (const std::exception& e) {
      reopen_error_ = e.what();
      return false;
    }
  }

  void Enqueue(Pending p) {
    {
      std::lock_guard lock(mu_);
      if (stop_) {
        p.done(
            std::make_exception_ptr(Error(ErrorCode::kUnavailable, options_.what + " is closing")));
        return;
      }
      queued_ += p.records.size();
      queue_.push_back(std::move(p));
    }
    cv_.notify_one();
  }

  void WriterLoop() {
    std::vector<Pending> group;
    bool was_stopped = false;
    for (;;) {
      std::string reason;
      bool writable = Writable(&reason);
      {
        std::unique_lock lock(mu_);
        auto wake = [&] { return stop_ || !queue_.empty(); };
        if (writable) {
          cv_.wait(lock, wake);
        } else {
          cv_.wait_for(lock, options_.retry_interval, wake);  // and try to resume below
        }
        if (queue_.empty() && stop_) return;
        size_t n = 0;
        while (!queue_.empty() &&
               (group.empty() || n + queue_.front().records.size() <= options_.max_group_records)) {
          n += queue_.front().records.size();
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        queued_ -= n;
      }
      if (!writable && !options_.read_only) {
        if (!was_stopped) {
          spdlog::error("{}: writes stopped ({}); retrying every {} ms", options_.what, reason,
                        options_.retry_interval.count());
          was_stopped = true;
        }
        if (Recover()) {
          spdlog::info("{}: writes resumed", options_.what);
          was_stopped = false;
        }
      }
      if (group.empty()) continue;
      std::exception_ptr err;
      try {
        rocksdb::WriteBatch batch;
        uint64_t seq = next_seq_;
        size_t count = 0;
        std::string key;
        for (const auto& p : group) {
          for (const auto& r : p.records) {
            if (!r.sequenced) {
              batch.Put(r.key, r.value);
              continue;
            }
            key = r.key;
            PutBe64(key, seq++);
            batch.Put(key, r.value);
            ++count;
          }
        }
        std::string seq_value;
        PutBe64(seq_value, seq - 1);
        batch.Put(kSeqKey, seq_value);
        rocksdb::WriteOptions wo;
        wo.sync = options_.sync;
        if (db_ == nullptr) {  // only this thread changes db_
          Fail(ErrorCode::kUnavailable, "{}: write: reopening after a failed write: {}",
               options_.what, reopen_error_);
        }
        rocksdb::Status s = db_->Write(wo, &batch);
        if (!s.ok()) FailRocksStatus(s, options_.what, "write");
        next_seq_ = seq;
        appended_ += count;
        ++commits_;
      } catch (...) {
        err = std::current_exception();
      }
      for (auto& p : group) p.done(err);
      group.clear();
    }
  }

  const std::string dir_;
  // db_ and recovery_ change only on the writer thread (Recover), under db_mu_ held exclusively;
  // readers hold it shared. db_ is null after a reopen that failed (reopen_error_ says why).
  mutable std::shared_mutex db_mu_;
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<RocksDbRecovery> recovery_;  // db_'s failure state
  std::string reopen_error_;
  std::chrono::steady_clock::time_point last_recovery_{};  // writer thread only
  DurableLogOptions options_;
  uint64_t next_seq_;  // writer thread only
  std::atomic<uint64_t> appended_{0}, commits_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  size_t queued_ = 0;  // records in queue_ (guarded by mu_)
  bool stop_ = false;
  std::thread writer_;
};

DurableLog::DurableLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DurableLog::~DurableLog() = default;

std::unique_ptr<DurableLog> DurableLog::Open(const std::string& dir, DurableLogOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) Fail(ErrorCode::kIOError, "{}: cannot create '{}': {}", options.what, dir, ec.message());
  std::shared_ptr<RocksDbRecovery> recovery;
  std::unique_ptr<rocksdb::DB> db =
      OpenRocksDb(dir, options.read_only, options.what, options.tuning, &recovery);
  std::string v;
  uint64_t seq = 0;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kSeqKey, &v);
  if (s.ok() && v.size() == 8) {
    seq = GetBe64(v.data());
  } else if (!s.IsNotFound()) {
    FailRocksStatus(s, options.what, "read the sequence number");
  }
  return std::unique_ptr<DurableLog>(new DurableLog(
      std::make_unique<Impl>(dir, std::move(db), std::move(recovery), std::move(options), seq)));
}

void DurableLog::Append(std::vector<LogRecord> records) {
  Completion c;
  AppendAsync(std::move(records), [&c](std::exception_ptr e) { c.Done(e); });
  c.Wait();
}

void DurableLog::AppendAsync(std::vector<LogRecord> records,
                             std::function<void(std::exception_ptr)> done) {
  if (records.empty()) {
    done(nullptr);
    return;
  }
  if (impl_->options_.read_only) {
    done(std::make_exception_ptr(
        Error(ErrorCode::kFailedPrecondition, impl_->options_.what + ": opened read-only")));
    return;
  }
  impl_->Enqueue({std::move(records), std::move(done)});
}

bool DurableLog::Get(std::string_view key, std::string* value) const {
  std::shared_lock lock(impl_->db_mu_);
  rocksdb::Status s =
      impl_->ReaderDb()->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) FailRocksStatus(s, impl_->options_.what, "read");
  return true;
}

void DurableLog::Scan(std::string_view from, const Visitor& fn) const {
  std::shared_lock lock(impl_->db_mu_);
  std::unique_ptr<rocksdb::Iterator> it(impl_->ReaderDb()->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Next()) {
    if (!fn(View(it->key()), View(it->value()))) break;
  }
  if (!it->status().ok()) FailRocksStatus(it->status(), impl_->options_.what, "read");
}

void DurableLog::ScanBackward(std::string_view from, const Visitor& fn) const {
  std::shared_lock lock(impl_->db_mu_);
  std::unique_ptr<rocksdb::Iterator> it(impl_->ReaderDb()->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekForPrev(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Prev()) {
    if (!fn(View(it->key()), View(it->value()))) break;
  }
  if (!it->status().ok()) FailRocksStatus(it->status(), impl_->options_.what, "read");
}

bool DurableLog::writable(std::string* reason) const {
  return impl_->options_.read_only || impl_->Writable(reason);
}

const DurableLogOptions& DurableLog::options() const { return impl_->options_; }

size_t DurableLog::queued() const {
  std::lock_guard lock(impl_->mu_);
  return impl_->queued_;
}

uint64_t DurableLog::appended() const { return impl_->appended_.load(); }
uint64_t DurableLog::group_commits() const { return impl_->commits_.load(); }

}  // namespace marquee
