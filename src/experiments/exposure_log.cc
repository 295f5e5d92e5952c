#include "experiments/exposure_log.h"

#include <spdlog/spdlog.h>

#include <xxhash.h>

#include <algorithm>
#include <numeric>

#include "common/thread_pool.h"
#include "events/durable_log.h"
#include "marquee/error.h"

namespace marquee {
namespace {

// Keys: "x" EXPERIMENT 0x00 BE64(ts ^ sign bit) BE64(seq)   one group of exposures (below)
//       "f" EXPERIMENT 0x00 USER                             first-exposure marker: BE64(ts)
// A group is every exposure of one experiment written by one flush (ts in the key: the group's
// earliest), so a flush costs one RocksDB record per experiment rather than one per request.
// Value: u32 count, then per exposure: BE64(ts ^ sign bit), user and cell (u16-length
// strings), u8 first, u32 item count, per item a u16-length id and a u8 ranker (255: none).
// Integers other than BE64 are little-endian.
std::string ExperimentPrefix(std::string_view experiment) {
  std::string k = "x";
  k.append(experiment);
  k.push_back('\0');
  return k;
}

void Put16(std::string& v, size_t n) {
  v.push_back(static_cast<char>(n & 0xff));
  v.push_back(static_cast<char>((n >> 8) & 0xff));
}

void Put32(std::string& v, uint32_t n) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
}

void PutString(std::string& v, std::string_view s) {
  Put16(v, s.size());
  v.append(s);
}

// Reads the group in `val`; calls fn for each exposure (seq = group seq * 2^20 + index, so the
// order within a group is kept). Returns false when the value is damaged.
bool DecodeGroup(uint64_t group_seq, std::string_view val, Exposure& out,
                 const std::function<bool(const Exposure&)>& fn, bool* stop) {
  size_t p = 0;
  auto get32 = [&](uint32_t& n) {
    if (p + 4 > val.size()) return false;
    n = 0;
    for (int i = 0; i < 4; ++i) {
      n |= static_cast<uint32_t>(static_cast<uint8_t>(val[p++])) << (8 * i);
    }
    return true;
  };
  auto get_string = [&](std::string& s) {
    if (p + 2 > val.size()) return false;
    const size_t len =
        static_cast<uint8_t>(val[p]) | (static_cast<size_t>(static_cast<uint8_t>(val[p + 1])) << 8);
    p += 2;
    if (p + len > val.size()) return false;
    s.assign(val.data() + p, len);
    p += len;
    return true;
  };
  uint32_t count = 0;
  if (!get32(count)) return false;
  for (uint32_t x = 0; x < count; ++x) {
    if (p + 8 > val.size()) return false;
    out.ts = static_cast<int64_t>(GetBe64(val.data() + p) ^ (uint64_t{1} << 63));
    p += 8;
    out.seq = (group_seq << 20) + x;
    if (!get_string(out.user) || !get_string(out.cell) || p + 1 > val.size()) return false;
    out.first = val[p++] != 0;
    uint32_t items = 0;
    if (!get32(items)) return false;
    out.items.clear();
    out.rankers.clear();
    bool any_ranker = false;
    for (uint32_t i = 0; i < items; ++i) {
      std::string item;
      if (!get_string(item) || p + 1 > val.size()) return false;
      out.items.push_back(std::move(item));
      const uint8_t r = static_cast<uint8_t>(val[p++]);
      out.rankers.push_back(r);
      any_ranker = any_ranker || r != kNoRanker;
    }
    if (!any_ranker) out.rankers.clear();
    if (!fn(out)) {
      *stop = true;
      return true;
    }
  }
  return p == val.size();
}

// One group of exposures to store: an experiment's exposures of one flush, encoded.
struct ExposureGroup {
  std::string experiment;  // a copy: the spec it comes from is unpinned before the write
  int64_t first_ts;
  std::string value;
};

}  // namespace

// Where the groups and first-exposure marks are stored.
class ExposureStore {
 public:
  virtual ~ExposureStore() = default;
  // For each (experiment, member, time): true when it is the member's first exposure of the
  // experiment, whose mark is then stored (RocksDB: with the next Write, in its batch; Redis: at
  // once, by HSETNX, so that one replica wins).
  struct Candidate {
    const std::string* experiment;
    std::string_view user;
    int64_t ts;
  };
  virtual std::vector<bool> MarkFirst(const std::vector<Candidate>& candidates) = 0;
  // Stores the groups (and pending marks) durably; throws the write's error.
  virtual void Write(std::vector<ExposureGroup> groups) = 0;
  // The groups of `experiment` in (earliest time, sequence) order: fn(group sequence, value).
  virtual void Scan(std::string_view experiment,
                    const std::function<bool(uint64_t, std::string_view)>& fn) const = 0;
  virtual bool writable(std::string* reason) const = 0;
};

namespace {

class RocksExposureStore final : public ExposureStore {
 public:
  explicit RocksExposureStore(std::unique_ptr<DurableLog> log) : log_(std::move(log)) {}

  std::vector<bool> MarkFirst(const std::vector<Candidate>& candidates) override {
    std::vector<bool> first;
    first.reserve(candidates.size());
    std::string marker;
    for (const Candidate& c : candidates) {
      std::string marker_key = "f" + *c.experiment;
      marker_key.push_back('\0');
      marker_key.append(c.user);
      const bool is_first = !log_->Get(marker_key, &marker);
      if (is_first) {
        std::string ts;
        PutBe64(ts, static_cast<uint64_t>(c.ts));
        marks_.push_back({std::move(marker_key), std::move(ts), false});
      }
      first.push_back(is_first);
    }
    return first;
  }

  void Write(std::vector<ExposureGroup> groups) override {
    std::vector<LogRecord> records = std::move(marks_);
    marks_.clear();
    for (ExposureGroup& g : groups) {
      std::string key = ExperimentPrefix(g.experiment);
      PutBe64(key, static_cast<uint64_t>(g.first_ts) ^ (uint64_t{1} << 63));
      records.push_back({std::move(key), std::move(g.value), true});
    }
    log_->Append(std::move(records));
  }

  void Scan(std::string_view experiment,
            const std::function<bool(uint64_t, std::string_view)>& fn) const override {
    const std::string prefix = ExperimentPrefix(experiment);
    log_->Scan(prefix, [&](std::string_view key, std::string_view value) {
      if (!key.starts_with(prefix)) return false;
      if (key.size() != prefix.size() + 16) {
        Fail(ErrorCode::kCorruption, "exposure log: damaged exposures of experiment '{}'",
             experiment);
      }
      return fn(GetBe64(key.data() + prefix.size() + 8), value);
    });
  }

  bool writable(std::string* reason) const override { return log_->writable(reason); }

 private:
  std::unique_ptr<DurableLog> log_;
  std::vector<LogRecord> marks_;  // the drainer's (ExposureLog::drain_mu_)
};

// KEYS: the experiment's groups, its sequence. ARGV: (earliest time, group) per group.
const RedisScript kAppendGroups{R"lua(
local n = #ARGV / 2
local last = redis.call('INCRBY', KEYS[2], n)
for i = 1, n do
  redis.call('ZADD', KEYS[1], ARGV[2 * i - 1], string.format('%016x', last - n + i) .. ARGV[2 * i])
end
return last
)lua"};

std::string Tagged(std::string_view kind, std::string_view experiment) {
  return "mq:" + std::string(kind) + ":{" + std::string(experiment) + "}";
}

class RedisExposureStore final : public ExposureStore {
 public:
  explicit RedisExposureStore(const RedisUrl& url) : pool_(url, "exposure log") { pool_.Check(); }

  std::vector<bool> MarkFirst(const std::vector<Candidate>& candidates) override {
    std::vector<RedisCommand> cmds;
    cmds.reserve(candidates.size());
    for (const Candidate& c : candidates) {
      cmds.push_back(
          {"HSETNX", Tagged("xf", *c.experiment), std::string(c.user), std::to_string(c.ts)});
    }
    std::vector<bool> first;
    for (const RedisReply& r : pool_.Pipeline(cmds)) {
      if (r.is_error()) Fail(ErrorCode::kUnavailable, "exposure log: Redis: {}", r.str);
      first.push_back(r.integer == 1);
    }
    return first;
  }

  void Write(std::vector<ExposureGroup> groups) override {
    std::vector<RedisCommand> cmds;
    for (ExposureGroup& g : groups) {
      cmds.push_back(pool_.Eval(kAppendGroups,
                                {Tagged("xp", g.experiment), Tagged("xpn", g.experiment)},
                                {std::to_string(g.first_ts), std::move(g.value)}));
    }
    for (const RedisReply& r : pool_.Pipeline(cmds)) {
      if (r.is_error()) Fail(ErrorCode::kUnavailable, "exposure log: Redis: {}", r.str);
    }
  }

  void Scan(std::string_view experiment,
            const std::function<bool(uint64_t, std::string_view)>& fn) const override {
    constexpr long kPage = 1000;
    for (long at = 0;; at += kPage) {
      const RedisReply r = pool_.Command(
          {"ZRANGE", Tagged("xp", experiment), std::to_string(at), std::to_string(at + kPage - 1)});
      for (const RedisReply& m : r.elements) {
        if (m.str.size() < 16) {
          Fail(ErrorCode::kCorruption, "exposure log: damaged exposures of experiment '{}'",
               experiment);
        }
        const uint64_t seq = std::strtoull(m.str.substr(0, 16).c_str(), nullptr, 16);
        if (!fn(seq, std::string_view(m.str).substr(16))) return;
      }
      if (r.elements.size() < static_cast<size_t>(kPage)) return;
    }
  }

  bool writable(std::string* reason) const override { return pool_.healthy(reason); }

 private:
  mutable RedisPool pool_;
};

}  // namespace

ExposureLog::ExposureLog(std::unique_ptr<ExposureStore> store, ExposureLogOptions options)
    : store_(std::move(store)), options_(options) {
  if (options_.read_only) return;
  flusher_ = std::thread([this] {
    LowerCurrentThreadPriority();  // nobody waits on it: request threads go first under load
    mu_.Lock();
    while (!stop_) {
      cv_.WaitFor(&mu_, options_.flush_interval, [&] {
        mu_.AssertHeld();  // the predicate runs under mu_
        return stop_;
      });
      mu_.Unlock();
      Drain(false);  // never throws
      mu_.Lock();
    }
    mu_.Unlock();
  });
}

ExposureLog::~ExposureLog() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  if (flusher_.joinable()) flusher_.join();
  if (!options_.read_only) Drain(false);  // whatever arrived after the flusher's last pass
}

bool ExposureLog::writable(std::string* reason) const { return store_->writable(reason); }

std::unique_ptr<ExposureLog> ExposureLog::Open(const std::string& dir, ExposureLogOptions options) {
  if (options.redis) {
    RedisUrl url = *options.redis;
    if (options.read_only) url.relaxed = true;  // a reader writes nothing: no durability check
    return std::unique_ptr<ExposureLog>(
        new ExposureLog(std::make_unique<RedisExposureStore>(url), options));
  }
  DurableLogOptions o;
  o.what = "exposure log";
  o.sync = options.sync;
  o.read_only = options.read_only;
  o.background = true;
  return std::unique_ptr<ExposureLog>(
      new ExposureLog(std::make_unique<RocksExposureStore>(DurableLog::Open(dir, o)), options));
}

void ExposureLog::Buffer::Clear() {
  pending.clear();
  users.clear();
  items.clear();
  rankers.clear();
  pins.clear();
}

bool ExposureLog::Record(const ShownExposure& e) {
  if (options_.read_only) {
    Fail(ErrorCode::kFailedPrecondition, "exposure log: opened read-only");
  }
  {
    MutexLock lock(&mu_);
    Buffer& b = buffer_;
    if (b.pending.size() < options_.max_queue) {
      const bool interleaved = !e.rankers.empty();
      b.pending.push_back(Pending{e.spec,
                                  {e.catalogues[0], e.catalogues[1]},
                                  e.cell,
                                  interleaved,
                                  e.ts,
                                  static_cast<uint32_t>(b.users.size()),
                                  static_cast<uint32_t>(e.user.size()),
                                  static_cast<uint32_t>(b.items.size()),
                                  static_cast<uint32_t>(e.items.size())});
      b.users.append(e.user);
      b.items.insert(b.items.end(), e.items.begin(), e.items.end());
      if (interleaved) {
        b.rankers.insert(b.rankers.end(), e.rankers.begin(), e.rankers.end());
      } else {
        b.rankers.resize(b.items.size(), kNoRanker);
      }
      // Pin each owner once per flush (a linear scan: a flush sees a handful of owners).
      for (const std::shared_ptr<const void>* o : e.owners) {
        if (o == nullptr || *o == nullptr) continue;
        bool pinned = false;
        for (auto it = b.pins.rbegin(); it != b.pins.rend() && !pinned; ++it) {
          pinned = it->get() == o->get();
        }
        if (!pinned) b.pins.push_back(*o);
      }
      recorded_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  if (dropped_.fetch_add(1) % 10000 == 0) {
    spdlog::warn("exposure log: buffer full ({} waiting): exposures are being dropped",
                 options_.max_queue);
  }
  return false;
}

bool ExposureLog::Record(const Exposure& e) {
  auto spec = std::make_shared<ExperimentSpec>();
  spec->name = e.experiment;
  spec->cells.push_back(Cell{e.cell, "", 1.0});
  auto catalogue = std::make_shared<const std::vector<std::string>>(e.items);
  std::vector<uint32_t> items(e.items.size());
  std::iota(items.begin(), items.end(), 0u);
  const std::shared_ptr<const void> owners[2] = {spec, catalogue};
  ShownExposure x;
  x.spec = spec.get();
  x.user = e.user;
  x.ts = e.ts;
  x.catalogues[0] = x.catalogues[1] = catalogue.get();
  x.items = items;
  x.rankers = e.rankers;
  x.owners[0] = &owners[0];
  x.owners[1] = &owners[1];
  return Record(x);
}

void ExposureLog::Drain(bool rethrow) {
  MutexLock drain(&drain_mu_);
  Buffer& batch = spare_;
  {
    MutexLock lock(&mu_);
    std::swap(batch, buffer_);
  }
  if (batch.pending.empty()) return;
  const size_t count = batch.pending.size();
  try {
    // One group record per experiment (a flush rarely sees more than a few experiments).
    std::vector<std::pair<const std::string*, std::vector<const Pending*>>> groups;
    for (const Pending& e : batch.pending) {
      const std::string& name = e.spec->name;
      auto g = std::find_if(groups.begin(), groups.end(),
                            [&](const auto& x) { return *x.first == name; });
      if (g == groups.end()) {
        groups.emplace_back(&name, std::vector<const Pending*>{});
        g = groups.end() - 1;
      }
      g->second.push_back(&e);
    }
    // The members not seen by this process yet: the store says which exposure is their first.
    std::vector<ExposureStore::Candidate> candidates;
    std::vector<const Pending*> candidate_of;
    for (auto& [experiment, members] : groups) {
      const uint64_t seed = XXH64(experiment->data(), experiment->size(), 0);
      for (const Pending* e : members) {
        const std::string_view user(batch.users.data() + e->user_at, e->user_len);
        if (!seen_.insert(XXH64(user.data(), user.size(), seed)).second) continue;
        candidates.push_back({experiment, user, e->ts});
        candidate_of.push_back(e);
      }
    }
    const std::vector<bool> marked =
        candidates.empty() ? std::vector<bool>() : store_->MarkFirst(candidates);
    std::vector<const Pending*> firsts;
    for (size_t i = 0; i < marked.size(); ++i) {
      if (marked[i]) firsts.push_back(candidate_of[i]);
    }
    std::sort(firsts.begin(), firsts.end());
    std::vector<ExposureGroup> records;
    for (auto& [experiment, members] : groups) {
      std::string value;
      value.reserve(members.size() * 96);  // about one exposure of 10 short ids each
      Put32(value, static_cast<uint32_t>(members.size()));
      int64_t first_ts = members.front()->ts;
      for (const Pending* e : members) {
        first_ts = std::min(first_ts, e->ts);
        const std::string_view user(batch.users.data() + e->user_at, e->user_len);
        const bool first = std::binary_search(firsts.begin(), firsts.end(), e);
        PutBe64(value, static_cast<uint64_t>(e->ts) ^ (uint64_t{1} << 63));
        PutString(value, user);
        PutString(value, e->spec->cells[e->cell].name);
        value.push_back(first ? 1 : 0);
        Put32(value, e->items);
        for (uint32_t i = e->items_at; i < e->items_at + e->items; ++i) {
          const uint8_t ranker = batch.rankers[i];
          const auto& catalogue = *e->catalogues[e->interleaved ? std::min<uint8_t>(ranker, 1) : 0];
          PutString(value, catalogue[batch.items[i]]);
          value.push_back(static_cast<char>(ranker));
        }
      }
      records.push_back({*experiment, first_ts, std::move(value)});
    }
    batch.Clear();  // releases the pins: the ids are copied into the records
    store_->Write(std::move(records));
  } catch (const std::exception& ex) {
    batch.Clear();
    failed_.fetch_add(count);
    spdlog::error("exposure log: write failed, {} exposures lost: {}", count, ex.what());
    // The members whose first exposure was lost stay "seen": a later exposure is not marked first
    // (at worst a member has no marked first exposure; analysis uses the earliest one anyway).
    if (rethrow) throw;
  }
}

void ExposureLog::Flush() { Drain(true); }

void ExposureLog::ForEach(std::string_view experiment,
                          const std::function<bool(const Exposure&)>& fn) const {
  bool stop = false;
  Exposure e;
  e.experiment = std::string(experiment);
  store_->Scan(experiment, [&](uint64_t group_seq, std::string_view value) {
    if (!DecodeGroup(group_seq, value, e, fn, &stop)) {
      Fail(ErrorCode::kCorruption, "exposure log: damaged exposures of experiment '{}'",
           experiment);
    }
    return !stop;
  });
}

}  // namespace marquee
