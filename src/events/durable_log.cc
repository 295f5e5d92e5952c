#include "events/durable_log.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <filesystem>
#include <thread>

#include "common/completion.h"
#include "common/mutex.h"
#include "common/thread_pool.h"
#include "events/rocksdb_util.h"
#include "marquee/error.h"

namespace marquee {
namespace {

constexpr char kSeqKey[] = "m:seq";

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// Visits `db` from the first key >= `from` forwards while `fn` returns true.
void ScanForward(rocksdb::DB* db, const rocksdb::ReadOptions& ro, std::string_view from,
                 const DurableLog::Visitor& fn, const std::string& what) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  for (it->Seek(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Next()) {
    if (!fn(View(it->key()), View(it->value()))) break;
  }
  if (!it->status().ok()) FailRocksStatus(it->status(), what, "read");
}

bool GetValue(rocksdb::DB* db, const rocksdb::ReadOptions& ro, std::string_view key,
              std::string* value, const std::string& what) {
  rocksdb::Status s = db->Get(ro, rocksdb::Slice(key.data(), key.size()), value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) FailRocksStatus(s, what, "read");
  return true;
}

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
    std::function<std::vector<LogRecord>()> prepare;  // PrepareAsync: records made on the writer
    size_t weight() const { return prepare ? 1 : records.size(); }
  };

  Impl(std::unique_ptr<ReopenableDb> db, DurableLogOptions o, uint64_t seq)
      : db_(std::move(db)), options_(std::move(o)), next_seq_(seq + 1) {
    writer_ = std::thread([this] {
      if (options_.background) LowerCurrentThreadPriority();
      WriterLoop();
    });
    if (!options_.sync && !options_.read_only && options_.sync_interval.count() > 0) {
      syncer_ = std::thread([this] { SyncLoop(); });
    }
  }
  ~Impl() EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    cv_.NotifyAll();
    sync_cv_.NotifyAll();
    writer_.join();
    if (syncer_.joinable()) syncer_.join();  // the close below syncs what is left
    db_.reset();  // never FlushWAL on a stopped database: RocksDB 7.8 aborts there
  }

  void Enqueue(Pending p) EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      if (stop_) {
        p.done(
            std::make_exception_ptr(Error(ErrorCode::kUnavailable, options_.what + " is closing")));
        return;
      }
      queued_ += p.weight();
      queue_.push_back(std::move(p));
    }
    cv_.NotifyOne();
  }

  void WriterLoop() EXCLUDES(mu_) {
    std::vector<Pending> group;
    bool was_stopped = false;
    for (;;) {
      std::string reason;
      bool writable = db_->Writable(&reason);
      {
        MutexLock lock(&mu_);
        auto wake = [&] {
          mu_.AssertHeld();  // the predicate runs under mu_
          return stop_ || !queue_.empty();
        };
        if (writable) {
          cv_.Wait(&mu_, wake);
        } else {
          cv_.WaitFor(&mu_, options_.retry_interval, wake);  // and try to resume below
        }
        if (queue_.empty() && stop_) return;
        if (writable && options_.sync && options_.commit_gap.count() > 0 && !queue_.empty()) {
          // Busy: let what arrives before the next allowed start join this group.
          const auto wait = last_commit_start_ + options_.commit_gap - Clock::now();
          if (wait.count() > 0) {
            cv_.WaitFor(&mu_, wait, [&] {
              mu_.AssertHeld();
              return stop_ || queued_ >= options_.max_group_records;
            });
          }
        }
        size_t n = 0;
        while (!queue_.empty() &&
               (group.empty() || n + queue_.front().weight() <= options_.max_group_records)) {
          n += queue_.front().weight();
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
        if (db_->Recover()) {
          spdlog::info("{}: writes resumed", options_.what);
          was_stopped = false;
        }
      }
      if (group.empty()) continue;
      last_commit_start_ = Clock::now();
      WriteGroup(group);
      group.clear();
    }
  }

  // With sync = false: fsyncs the write-ahead log every sync_interval while anything was
  // written since the last time (RocksDB's SyncWAL may run beside the writer's writes).
  void SyncLoop() EXCLUDES(mu_) {
    for (;;) {
      {
        MutexLock lock(&mu_);
        sync_cv_.WaitFor(&mu_, options_.sync_interval, [&] {
          mu_.AssertHeld();
          return stop_;
        });
        if (stop_) return;
      }
      if (!unsynced_.exchange(false)) continue;
      try {
        ReopenableDb::Reader r = db_->Read();
        rocksdb::Status s = r.db->SyncWAL();
        if (s.ok()) {
          ++wal_syncs_;
        } else {
          unsynced_ = true;  // tried again next interval; a stopped database resumes by itself
          spdlog::warn("{}: background fsync of the write-ahead log: {}", options_.what,
                       s.ToString());
        }
      } catch (const Error&) {  // reopening after a failed write: the next interval
        unsynced_ = true;
      }
    }
  }

  // Prepares, writes and answers one group.
  void WriteGroup(std::vector<Pending>& group) {
    std::exception_ptr err;
    std::vector<std::exception_ptr> prepare_errs(group.size());
    bool written = false;
    try {
      rocksdb::DB* db = db_->writer_db();  // only this thread replaces it
      if (db == nullptr) {
        Fail(ErrorCode::kUnavailable,
             "{}: reopening after a failed write: {}; not acknowledged, retry later", options_.what,
             db_->reopen_error());
      }
      for (size_t i = 0; i < group.size(); ++i) {
        if (!group[i].prepare) continue;
        try {
          group[i].records = group[i].prepare();
        } catch (...) {
          prepare_errs[i] = std::current_exception();
        }
      }
      std::vector<LogRecord> extra;  // on_group_prepared's records, written with the group
      if (options_.on_group_prepared) extra = options_.on_group_prepared();
      rocksdb::WriteBatch batch;
      uint64_t seq = next_seq_;
      size_t count = 0;
      std::string key;
      for (size_t i = 0; i < group.size(); ++i) {
        if (prepare_errs[i]) continue;
        for (const auto& r : group[i].records) {
          if (r.erase) {
            batch.Delete(r.key);
          } else if (!r.sequenced) {
            batch.Put(r.key, r.value);
          } else {
            key = r.key;
            PutBe64(key, seq++);
            batch.Put(key, r.value);
            ++count;
          }
        }
      }
      for (const auto& r : extra) {
        if (r.erase) {
          batch.Delete(r.key);
        } else {
          batch.Put(r.key, r.value);
        }
      }
      if (count > 0) {  // a group of unsequenced records leaves the sequence as it was
        std::string seq_value;
        PutBe64(seq_value, seq - 1);
        batch.Put(kSeqKey, seq_value);
      }
      if (batch.Count() > 0) {
        rocksdb::WriteOptions wo;
        wo.sync = options_.sync;
        rocksdb::Status s = db->Write(wo, &batch);
        if (!s.ok()) FailRocksStatus(s, options_.what, "write");
        if (!options_.sync) unsynced_ = true;
        if (options_.on_committed && count > 0) {
          uint64_t committed = next_seq_;
          for (size_t i = 0; i < group.size(); ++i) {
            if (prepare_errs[i]) continue;
            for (const auto& r : group[i].records) {
              if (r.sequenced && !r.erase) options_.on_committed(r, committed++);
            }
          }
        }
        next_seq_ = seq;
        appended_ += count;
        ++commits_;
      }
      written = true;
    } catch (...) {
      err = std::current_exception();
    }
    if (options_.on_group_end) options_.on_group_end(written);
    for (size_t i = 0; i < group.size(); ++i)
      group[i].done(prepare_errs[i] ? prepare_errs[i] : err);
  }

  // Set before the writer thread starts and reset only after it has stopped (ReopenableDb
  // recovers in place and is itself thread-safe); options_ is read-only after construction.
  std::unique_ptr<ReopenableDb> db_;
  DurableLogOptions options_;
  uint64_t next_seq_;                               // writer thread only (no lock needed)
  std::atomic<uint64_t> appended_{0}, commits_{0};  // written by the writer, read by any thread
  std::atomic<uint64_t> wal_syncs_{0};              // SyncLoop's fsyncs
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_commit_start_;  // writer thread only (commit_gap)
  std::atomic<bool> unsynced_{false};    // written without sync since SyncLoop last synced
  mutable Mutex mu_;
  CondVar cv_;       // signals queue_ or stop_ changes
  CondVar sync_cv_;  // signals stop_ to SyncLoop
  std::deque<Pending> queue_ GUARDED_BY(mu_);
  size_t queued_ GUARDED_BY(mu_) = 0;  // records in queue_
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread writer_;  // started in the constructor, joined in the destructor
  std::thread syncer_;  // SyncLoop, with sync = false and a sync_interval
};

DurableLog::DurableLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DurableLog::~DurableLog() = default;

std::unique_ptr<DurableLog> DurableLog::Open(const std::string& dir, DurableLogOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) Fail(ErrorCode::kIOError, "{}: cannot create '{}': {}", options.what, dir, ec.message());
  auto db = std::make_unique<ReopenableDb>(dir, options.read_only, options.what, options.tuning,
                                           options.retry_interval);
  std::string v;
  uint64_t seq = 0;
  rocksdb::Status s = db->writer_db()->Get(rocksdb::ReadOptions(), kSeqKey, &v);
  if (s.ok() && v.size() == 8) {
    seq = GetBe64(v.data());
  } else if (!s.IsNotFound()) {
    FailRocksStatus(s, options.what, "read the sequence number");
  }
  return std::unique_ptr<DurableLog>(
      new DurableLog(std::make_unique<Impl>(std::move(db), std::move(options), seq)));
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
  impl_->Enqueue({std::move(records), std::move(done), nullptr});
}

void DurableLog::PrepareAsync(std::function<std::vector<LogRecord>()> prepare,
                              std::function<void(std::exception_ptr)> done) {
  if (impl_->options_.read_only) {
    done(std::make_exception_ptr(
        Error(ErrorCode::kFailedPrecondition, impl_->options_.what + ": opened read-only")));
    return;
  }
  impl_->Enqueue({{}, std::move(done), std::move(prepare)});
}

bool DurableLog::Get(std::string_view key, std::string* value) const {
  ReopenableDb::Reader r = impl_->db_->Read();
  return GetValue(r.db, rocksdb::ReadOptions(), key, value, impl_->options_.what);
}

void DurableLog::Scan(std::string_view from, const Visitor& fn) const {
  ReopenableDb::Reader r = impl_->db_->Read();
  ScanForward(r.db, rocksdb::ReadOptions(), from, fn, impl_->options_.what);
}

void DurableLog::Scan(std::string_view from, std::string_view upper, const Visitor& fn) const {
  ReopenableDb::Reader r = impl_->db_->Read();
  const rocksdb::Slice bound(upper.data(), upper.size());
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &bound;
  ScanForward(r.db, ro, from, fn, impl_->options_.what);
}

void DurableLog::ScanBackward(std::string_view from, const Visitor& fn) const {
  ReopenableDb::Reader r = impl_->db_->Read();
  std::unique_ptr<rocksdb::Iterator> it(r.db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekForPrev(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Prev()) {
    if (!fn(View(it->key()), View(it->value()))) break;
  }
  if (!it->status().ok()) FailRocksStatus(it->status(), impl_->options_.what, "read");
}

void DurableLog::WithSnapshot(const std::function<void(const Snapshot&)>& fn) const {
  class RocksSnapshot : public Snapshot {
   public:
    RocksSnapshot(rocksdb::DB* db, const std::string& what)
        : db_(db), snap_(db->GetSnapshot()), what_(what) {
      ro_.snapshot = snap_;
    }
    ~RocksSnapshot() override { db_->ReleaseSnapshot(snap_); }
    bool Get(std::string_view key, std::string* value) const override {
      return GetValue(db_, ro_, key, value, what_);
    }
    void Scan(std::string_view from, const Visitor& fn) const override {
      ScanForward(db_, ro_, from, fn, what_);
    }

   private:
    rocksdb::DB* db_;
    const rocksdb::Snapshot* snap_;
    rocksdb::ReadOptions ro_;
    const std::string& what_;
  };
  ReopenableDb::Reader r = impl_->db_->Read();
  const RocksSnapshot snap(r.db, impl_->options_.what);
  fn(snap);
}

bool DurableLog::writable(std::string* reason) const { return impl_->db_->Writable(reason); }

const DurableLogOptions& DurableLog::options() const { return impl_->options_; }

size_t DurableLog::queued() const {
  MutexLock lock(&impl_->mu_);
  return impl_->queued_;
}

uint64_t DurableLog::appended() const { return impl_->appended_.load(); }
uint64_t DurableLog::group_commits() const { return impl_->commits_.load(); }
uint64_t DurableLog::wal_syncs() const { return impl_->wal_syncs_.load(); }

}  // namespace marquee
