#include "events/event_log.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "marquee/error.h"

namespace marquee {
namespace {

constexpr char kSeqKey[] = "m:seq";

void PutBe64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}
uint64_t GetBe64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string UserPrefix(std::string_view user) {
  std::string k = "e";
  k.append(user);
  k.push_back('\0');
  return k;
}

std::string EventKey(const Event& e, uint64_t seq) {
  std::string k = UserPrefix(e.user);
  PutBe64(k, static_cast<uint64_t>(e.ts) ^ (uint64_t{1} << 63));
  PutBe64(k, seq);
  return k;
}

// Value: u16 item length, item, u16 type length, type, f32 value (little-endian host order).
std::string EventValue(const Event& e) {
  std::string v;
  auto put16 = [&](size_t n) {
    v.push_back(static_cast<char>(n & 0xff));
    v.push_back(static_cast<char>(n >> 8));
  };
  put16(e.item.size());
  v += e.item;
  put16(e.type.size());
  v += e.type;
  char f[4];
  std::memcpy(f, &e.value, 4);
  v.append(f, 4);
  return v;
}

bool Decode(const rocksdb::Slice& key, const rocksdb::Slice& val, StoredEvent& out) {
  if (key.size() < 1 + 1 + 16 || key[0] != 'e') return false;
  const char* k = key.data();
  const size_t ulen = key.size() - 1 - 1 - 16;
  if (k[1 + ulen] != '\0') return false;
  out.user.assign(k + 1, ulen);
  out.ts = static_cast<int64_t>(GetBe64(k + 2 + ulen) ^ (uint64_t{1} << 63));
  out.seq = GetBe64(k + 10 + ulen);
  const char* v = val.data();
  size_t n = val.size(), p = 0;
  auto get16 = [&](size_t& len) {
    if (p + 2 > n) return false;
    len = static_cast<uint8_t>(v[p]) | (static_cast<size_t>(static_cast<uint8_t>(v[p + 1])) << 8);
    p += 2;
    return p + len <= n;
  };
  size_t len = 0;
  if (!get16(len)) return false;
  out.item.assign(v + p, len);
  p += len;
  if (!get16(len)) return false;
  out.type.assign(v + p, len);
  p += len;
  if (p + 4 != n) return false;
  std::memcpy(&out.value, v + p, 4);
  return true;
}

[[noreturn]] void FailStatus(const rocksdb::Status& s, const std::string& what) {
  ErrorCode code = s.IsCorruption()               ? ErrorCode::kCorruption
                   : s.IsBusy() || s.IsTryAgain() ? ErrorCode::kUnavailable
                                                  : ErrorCode::kIOError;
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    code = ErrorCode::kUnavailable;
  }
  Fail(code, "event log: {}: {}", what, s.ToString());
}

}  // namespace

void ValidateEvent(const Event& e, std::string_view where) {
  auto check_id = [&](const std::string& s, std::string_view field) {
    if (s.empty() || s.size() > 256 || s.find('\0') != std::string::npos) {
      Fail(ErrorCode::kInvalidArgument, "{}.{}: must be 1 to 256 bytes without NUL", where, field);
    }
  };
  check_id(e.user, "user");
  check_id(e.item, "item");
  if (e.type.size() > 64) Fail(ErrorCode::kInvalidArgument, "{}.type: longer than 64 bytes", where);
  if (!std::isfinite(e.value)) Fail(ErrorCode::kInvalidArgument, "{}.value: not finite", where);
}

class EventLog::Impl {
 public:
  struct Pending {
    std::vector<Event> events;
    std::function<void(std::exception_ptr)> done;
  };

  Impl(std::unique_ptr<rocksdb::DB> db, EventLogOptions o, uint64_t seq)
      : db_(std::move(db)), options_(o), next_seq_(seq + 1) {
    writer_ = std::thread([this] { WriterLoop(); });
  }
  ~Impl() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    writer_.join();
    if (!options_.read_only) db_->FlushWAL(true);
    db_->Close();
  }

  void Enqueue(Pending p) {
    {
      std::lock_guard lock(mu_);
      if (stop_) {
        p.done(std::make_exception_ptr(Error(ErrorCode::kUnavailable, "event log is closing")));
        return;
      }
      queue_.push_back(std::move(p));
    }
    cv_.notify_one();
  }

  void WriterLoop() {
    std::vector<Pending> group;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty() && stop_) return;
        size_t n = 0;
        while (!queue_.empty() &&
               (group.empty() || n + queue_.front().events.size() <= options_.max_group_events)) {
          n += queue_.front().events.size();
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      std::exception_ptr err;
      try {
        rocksdb::WriteBatch batch;
        uint64_t seq = next_seq_;
        size_t count = 0;
        for (const auto& p : group) {
          for (const auto& e : p.events) {
            batch.Put(EventKey(e, seq++), EventValue(e));
            ++count;
          }
        }
        std::string seq_value;
        PutBe64(seq_value, seq - 1);
        batch.Put(kSeqKey, seq_value);
        rocksdb::WriteOptions wo;
        wo.sync = options_.sync;
        rocksdb::Status s = db_->Write(wo, &batch);
        if (!s.ok()) FailStatus(s, "write");
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

  std::unique_ptr<rocksdb::DB> db_;
  EventLogOptions options_;
  uint64_t next_seq_;  // writer thread only
  std::atomic<uint64_t> appended_{0}, commits_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stop_ = false;
  std::thread writer_;
};

EventLog::EventLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventLog::~EventLog() = default;

std::unique_ptr<EventLog> EventLog::Open(const std::string& dir, EventLogOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) Fail(ErrorCode::kIOError, "event log: cannot create '{}': {}", dir, ec.message());
  rocksdb::Options o;
  o.create_if_missing = true;
  o.IncreaseParallelism(2);
  o.max_background_jobs = 2;
  o.write_buffer_size = 64 << 20;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.keep_log_file_num = 2;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = options.read_only ? rocksdb::DB::OpenForReadOnly(o, dir, &raw)
                                        : rocksdb::DB::Open(o, dir, &raw);
  if (!s.ok()) FailStatus(s, "open '" + dir + "'");
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string v;
  uint64_t seq = 0;
  s = db->Get(rocksdb::ReadOptions(), kSeqKey, &v);
  if (s.ok() && v.size() == 8) {
    seq = GetBe64(v.data());
  } else if (!s.IsNotFound()) {
    FailStatus(s, "read the sequence number");
  }
  return std::unique_ptr<EventLog>(
      new EventLog(std::make_unique<Impl>(std::move(db), options, seq)));
}

void EventLog::Append(std::vector<Event> events) {
  std::mutex m;
  std::condition_variable cv;
  bool finished = false;
  std::exception_ptr err;
  AppendAsync(std::move(events), [&](std::exception_ptr e) {
    std::lock_guard lock(m);
    err = e;
    finished = true;
    cv.notify_one();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return finished; });
  if (err) std::rethrow_exception(err);
}

void EventLog::AppendAsync(std::vector<Event> events,
                           std::function<void(std::exception_ptr)> done) {
  if (events.empty()) {
    done(nullptr);
    return;
  }
  if (impl_->options_.read_only) {
    done(std::make_exception_ptr(
        Error(ErrorCode::kFailedPrecondition, "event log: opened read-only")));
    return;
  }
  impl_->Enqueue({std::move(events), std::move(done)});
}

std::vector<StoredEvent> EventLog::Recent(std::string_view user, size_t limit) const {
  std::vector<StoredEvent> out;
  if (limit == 0) return out;
  const std::string prefix = UserPrefix(user);
  std::string upper = prefix;
  upper.append(16, '\xff');
  std::unique_ptr<rocksdb::Iterator> it(impl_->db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekForPrev(upper); it->Valid() && it->key().starts_with(prefix); it->Prev()) {
    StoredEvent e;
    if (it->key().size() != prefix.size() + 16) continue;  // a longer user id sharing the prefix
    if (!Decode(it->key(), it->value(), e)) {
      Fail(ErrorCode::kCorruption, "event log: damaged event of user '{}'", user);
    }
    out.push_back(std::move(e));
    if (out.size() >= limit) break;
  }
  if (!it->status().ok()) FailStatus(it->status(), "read");
  return out;
}

void EventLog::ForEach(const std::function<bool(const StoredEvent&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(impl_->db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("e"); it->Valid() && it->key().starts_with("e"); it->Next()) {
    StoredEvent e;
    if (!Decode(it->key(), it->value(), e))
      Fail(ErrorCode::kCorruption, "event log: damaged event");
    if (!fn(e)) break;
  }
  if (!it->status().ok()) FailStatus(it->status(), "read");
}

uint64_t EventLog::appended() const { return impl_->appended_.load(); }
uint64_t EventLog::group_commits() const { return impl_->commits_.load(); }

}  // namespace marquee
