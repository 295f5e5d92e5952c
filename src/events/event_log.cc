#include "events/event_log.h"

#include <cmath>
#include <cstring>

#include "events/durable_log.h"
#include "events/recent_events.h"
#include "marquee/error.h"

namespace marquee {
namespace {

std::string UserPrefix(std::string_view user) {
  std::string k = "e";
  k.append(user);
  k.push_back('\0');
  return k;
}

// The key without its sequence number: DurableLog appends BE64(seq) when it writes.
std::string EventKeyPrefix(const Event& e) {
  std::string k = UserPrefix(e.user);
  PutBe64(k, static_cast<uint64_t>(e.ts) ^ (uint64_t{1} << 63));
  return k;
}

}  // namespace

// Value: u16 item length, item, u16 type length, type, f32 value (little-endian host order).
std::string EncodeEventValue(const Event& e) {
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

namespace {

bool Decode(std::string_view key, std::string_view val, StoredEvent& out) {
  if (key.size() < 1 + 1 + 16 || key[0] != 'e') return false;
  const char* k = key.data();
  const size_t ulen = key.size() - 1 - 1 - 16;
  if (k[1 + ulen] != '\0') return false;
  out.user.assign(k + 1, ulen);
  out.ts = static_cast<int64_t>(GetBe64(k + 2 + ulen) ^ (uint64_t{1} << 63));
  out.seq = GetBe64(k + 10 + ulen);
  return DecodeEventValue(val, out);
}

}  // namespace

bool DecodeEventValue(std::string_view val, Event& out) {
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

namespace {

// The embedded RocksDB implementation (key layout: event_log.h).
class RocksEventLog final : public EventLog {
 public:
  RocksEventLog(std::unique_ptr<RecentEvents> recent, std::unique_ptr<DurableLog> log,
                std::string dir)
      : recent_(std::move(recent)), log_(std::move(log)), dir_(std::move(dir)) {}
  void Append(std::vector<Event> events) override;
  void AppendAsync(std::vector<Event> events,
                   std::function<void(std::exception_ptr)> done) override;
  std::vector<StoredEvent> Recent(std::string_view user, size_t limit) const override;
  void ForEach(const std::function<bool(const StoredEvent&)>& fn) const override;
  bool writable(std::string* reason) const override { return log_->writable(reason); }
  uint64_t appended() const override { return log_->appended(); }
  uint64_t group_commits() const override { return log_->group_commits(); }
  uint64_t recent_hits() const override { return recent_ ? recent_->hits() : 0; }
  uint64_t recent_misses() const override { return recent_ ? recent_->misses() : 0; }
  std::string Describe() const override { return dir_; }

 private:
  std::vector<StoredEvent> Scan(std::string_view user, size_t limit) const;

  // Declared before log_: the log's writer thread (on_committed) uses it until the log closes.
  std::unique_ptr<RecentEvents> recent_;
  std::unique_ptr<DurableLog> log_;
  const std::string dir_;
};

}  // namespace

std::unique_ptr<EventLog> EventLog::Open(const std::string& dir, EventLogOptions options) {
  DurableLogOptions o;
  o.what = "event log";
  o.sync = options.sync;
  o.max_group_records = options.max_group_events;
  o.read_only = options.read_only;
  o.retry_interval = options.retry_interval;
  o.tuning = options.tuning;
  o.sync_interval = options.sync_interval;
  o.commit_gap = options.commit_gap;
  std::unique_ptr<RecentEvents> recent;
  if (options.recent_per_user > 0 && !options.read_only) {
    recent = std::make_unique<RecentEvents>(options.recent_per_user, options.recent_max_events);
    o.on_committed = [r = recent.get()](const LogRecord& record, uint64_t seq) {
      std::string key = record.key;
      PutBe64(key, seq);
      StoredEvent e;
      if (Decode(key, record.value, e)) r->Add(e);  // encoded by Append: always decodes
    };
  }
  auto log = DurableLog::Open(dir, std::move(o));
  return std::make_unique<RocksEventLog>(std::move(recent), std::move(log), dir);
}

void RocksEventLog::Append(std::vector<Event> events) {
  std::vector<LogRecord> records;
  records.reserve(events.size());
  for (const Event& e : events) records.push_back({EventKeyPrefix(e), EncodeEventValue(e), true});
  log_->Append(std::move(records));
}

void RocksEventLog::AppendAsync(std::vector<Event> events,
                                std::function<void(std::exception_ptr)> done) {
  std::vector<LogRecord> records;
  records.reserve(events.size());
  for (const Event& e : events) records.push_back({EventKeyPrefix(e), EncodeEventValue(e), true});
  log_->AppendAsync(std::move(records), std::move(done));
}

std::vector<StoredEvent> RocksEventLog::Recent(std::string_view user, size_t limit) const {
  if (recent_ == nullptr) return Scan(user, limit);
  return recent_->Recent(user, limit, [&](size_t n) { return Scan(user, n); });
}

std::vector<StoredEvent> RocksEventLog::Scan(std::string_view user, size_t limit) const {
  std::vector<StoredEvent> out;
  if (limit == 0) return out;
  const std::string prefix = UserPrefix(user);
  std::string upper = prefix;
  upper.append(16, '\xff');
  log_->ScanBackward(upper, [&](std::string_view key, std::string_view value) {
    if (!key.starts_with(prefix)) return false;
    if (key.size() != prefix.size() + 16) return true;  // a longer user id sharing the prefix
    StoredEvent e;
    if (!Decode(key, value, e)) {
      Fail(ErrorCode::kCorruption, "event log: damaged event of user '{}'", user);
    }
    out.push_back(std::move(e));
    return out.size() < limit;
  });
  return out;
}

void RocksEventLog::ForEach(const std::function<bool(const StoredEvent&)>& fn) const {
  log_->Scan("e", [&](std::string_view key, std::string_view value) {
    if (!key.starts_with("e")) return false;
    StoredEvent e;
    if (!Decode(key, value, e)) Fail(ErrorCode::kCorruption, "event log: damaged event");
    return fn(e);
  });
}

}  // namespace marquee
