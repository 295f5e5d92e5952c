#include "bandits/decision_log.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <variant>

#include "common/completion.h"
#include "common/time.h"
#include "events/durable_log.h"  // PutBe64, GetBe64: the keys' big-endian numbers
#include "events/rocksdb_util.h"
#include "marquee/error.h"

namespace marquee::bandit {
namespace {

using json = nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr size_t kMaxSweep = 10000;  // decisions closed per sweep batch

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The 16 raw bytes of a (validated) id.
std::string IdBytes(std::string_view id) {
  std::string out(16, '\0');
  for (size_t i = 0; i < 16; ++i) {
    out[i] = static_cast<char>(HexDigit(id[2 * i]) * 16 + HexDigit(id[2 * i + 1]));
  }
  return out;
}

std::string IdHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string DecisionKey(std::string_view id) { return "d" + IdBytes(id); }
std::string RewardKey(std::string_view id) { return "r" + IdBytes(id); }
std::string OpenKey(int64_t deadline_ms, std::string_view id) {
  std::string k = "o";
  PutBe64(k, static_cast<uint64_t>(deadline_ms) ^ (uint64_t{1} << 63));
  return k + IdBytes(id);
}

// The time-ordered key prefix of decisions taken at or after `ms`.
std::string DecisionSeekKey(int64_t ms) {
  std::string k = "d";
  std::string be;
  PutBe64(be, static_cast<uint64_t>(std::max<int64_t>(ms, 0)));
  return k + be.substr(2);  // 48-bit milliseconds
}

[[noreturn]] void FailStatus(const rocksdb::Status& s, const std::string& what) {
  FailRocksStatus(s, "decision log", what);
}

json OutcomeJson(const Outcome& o) {
  return {{"kind", std::string(OutcomeKindName(o.kind))}, {"reward", o.reward}, {"ts", o.ts_ms}};
}

Outcome OutcomeFromJson(const json& j) {
  Outcome o;
  try {
    const std::string kind = j.at("kind").get<std::string>();
    if (kind == "joined") {
      o.kind = OutcomeKind::kJoined;
    } else if (kind == "default") {
      o.kind = OutcomeKind::kDefault;
    } else {
      Fail(ErrorCode::kCorruption, "decision log: unknown outcome kind '{}'", kind);
    }
    o.reward = j.at("reward").get<double>();
    o.ts_ms = j.at("ts").get<int64_t>();
  } catch (const json::exception& e) {
    Fail(ErrorCode::kCorruption, "decision log: damaged outcome record: {}", e.what());
  }
  return o;
}

Decision ParseDecision(const rocksdb::Slice& value) {
  json j = json::parse(value.data(), value.data() + value.size(), nullptr, false);
  if (j.is_discarded()) Fail(ErrorCode::kCorruption, "decision log: damaged decision record");
  return Decision::FromJson(j);
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string_view OutcomeKindName(OutcomeKind k) {
  switch (k) {
    case OutcomeKind::kOpen:
      return "open";
    case OutcomeKind::kJoined:
      return "joined";
    case OutcomeKind::kDefault:
      return "default";
  }
  return "open";
}

json Decision::ToJson() const {
  json j = {{"v", kFormatVersion},     {"id", id},           {"ts", ts_ms},
            {"deadline", deadline_ms}, {"model", model},     {"version", version},
            {"updates", updates},      {"context", context}, {"actions", actions},
            {"p", probabilities},      {"chosen", chosen}};
  if (user) j["user"] = *user;
  return j;
}

Decision Decision::FromJson(const json& j) {
  Decision d;
  try {
    if (j.at("v").get<int>() != kFormatVersion) {
      Fail(ErrorCode::kCorruption, "decision log: record format v{} is not supported (v{})",
           j.at("v").get<int>(), kFormatVersion);
    }
    d.id = j.at("id").get<std::string>();
    d.ts_ms = j.at("ts").get<int64_t>();
    d.deadline_ms = j.at("deadline").get<int64_t>();
    d.model = j.at("model").get<std::string>();
    d.version = j.at("version").get<int64_t>();
    d.updates = j.at("updates").get<uint64_t>();
    if (j.contains("user")) d.user = j["user"].get<std::string>();
    d.context = j.at("context");
    d.actions = j.at("actions");
    d.probabilities = j.at("p").get<std::vector<double>>();
    d.chosen = j.at("chosen").get<uint32_t>();
  } catch (const json::exception& e) {
    Fail(ErrorCode::kCorruption, "decision log: damaged decision record: {}", e.what());
  }
  if (!d.actions.is_array() || d.probabilities.size() != d.actions.size() ||
      d.chosen >= d.actions.size()) {
    Fail(ErrorCode::kCorruption, "decision log: decision {} has inconsistent actions", d.id);
  }
  return d;
}

json ToJsonl(const Decision& d) {
  json j = d.ToJson();
  j["outcome"] =
      d.outcome.kind == OutcomeKind::kOpen ? json{{"kind", "open"}} : OutcomeJson(d.outcome);
  return j;
}

json ToBanditJsonl(const Decision& d) {
  if (d.outcome.kind == OutcomeKind::kOpen) {
    Fail(ErrorCode::kFailedPrecondition, "decision {} has no reward yet (its window is open)",
         d.id);
  }
  json j = {{"context", d.context},       {"actions", d.actions},
            {"chosen", d.chosen},         {"probability", d.probabilities[d.chosen]},
            {"reward", d.outcome.reward}, {"ts", d.ts_ms / 1000}};
  if (d.user) j["user"] = *d.user;
  return j;
}

nlohmann::ordered_json ToDsjson(const Decision& d) {
  using ojson = nlohmann::ordered_json;
  if (d.outcome.kind == OutcomeKind::kOpen) {
    Fail(ErrorCode::kFailedPrecondition, "decision {} has no reward yet (its window is open)",
         d.id);
  }
  const size_t n = d.actions.size();
  ojson a = ojson::array(), p = ojson::array(), multi = ojson::array();
  a.push_back(d.chosen + 1);
  p.push_back(d.probabilities[d.chosen]);
  for (size_t i = 0; i < n; ++i) {
    if (i == d.chosen) continue;
    a.push_back(i + 1);
    p.push_back(d.probabilities[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    const json& act = d.actions[i];
    const std::string id = act.at("id").get<std::string>();
    ojson features = act.contains("features") ? ojson(act["features"]) : ojson::object();
    multi.push_back({{"_id", id}, {"action", std::move(features)}, {"id", {{id, 1}}}});
  }
  ojson c = {{"context", ojson(d.context)}};
  if (d.user) c["user"] = {{"id", *d.user}};
  c["_multi"] = std::move(multi);
  return {{"_label_cost", -d.outcome.reward},
          {"_label_probability", d.probabilities[d.chosen]},
          {"_label_Action", d.chosen + 1},
          {"_labelIndex", d.chosen},
          {"o", ojson::array({{{"v", d.outcome.reward},
                               {"EventId", d.id},
                               {"ActionTaken", false},
                               {"_kind", std::string(OutcomeKindName(d.outcome.kind))}}})},
          {"Timestamp", IsoUtcMillis(d.ts_ms)},
          {"Version", "1"},
          {"EventId", d.id},
          {"a", std::move(a)},
          {"c", std::move(c)},
          {"p", std::move(p)},
          {"VWState", {{"m", fmt::format("{}/{}", d.model, d.version)}}}};
}

void ValidateDecisionId(std::string_view id, std::string_view field) {
  bool ok = id.size() == 32;
  for (char c : id) ok = ok && HexDigit(c) >= 0;
  if (!ok) {
    Fail(ErrorCode::kInvalidArgument,
         "{}: '{}' is not a decision id (32 lower-case hex digits, as /v1/decide returns)", field,
         id.substr(0, 64));
  }
}

std::string DecisionLog::NewId(int64_t ts_ms) {
  thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  std::string bytes;
  PutBe64(bytes, static_cast<uint64_t>(ts_ms) << 16);
  bytes.resize(6);  // the 48-bit time prefix
  const uint64_t a = rng(), b = rng();
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(a >> (i * 8)));
  for (int i = 0; i < 2; ++i) bytes.push_back(static_cast<char>(b >> (i * 8)));
  return IdHex(bytes);
}

class DecisionLog::Impl {
 public:
  struct AppendOp {
    Decision d;
    std::function<void(std::exception_ptr)> done;
  };
  struct RewardOp {
    std::string id;
    double reward;
    RewardDone done;
  };
  struct SweepOp {
    std::function<void(std::exception_ptr, size_t)> done;
  };
  using Op = std::variant<AppendOp, RewardOp, SweepOp>;

  Impl(std::unique_ptr<ReopenableDb> db, DecisionLogOptions o)
      : db_(std::move(db)), options_(std::move(o)) {
    if (!options_.now_ms) options_.now_ms = SystemNowMs;
    if (!options_.read_only) writer_ = std::thread([this] { WriterLoop(); });
  }

  ~Impl() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    sweep_cv_.notify_all();
    if (sweeper_.joinable()) sweeper_.join();
    if (writer_.joinable()) writer_.join();
    db_.reset();  // safe on a stopped database (full disk)
  }

  void StartSweeper() {
    if (options_.sweep_interval.count() <= 0) return;
    sweeper_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!stop_) {
        sweep_cv_.wait_for(lock, options_.sweep_interval, [&] { return stop_; });
        if (stop_) break;
        lock.unlock();
        try {
          while (SweepBlocking() == kMaxSweep) {
          }
        } catch (const std::exception& e) {
          spdlog::warn("decision log: sweep failed: {}", e.what());
        }
        lock.lock();
      }
    });
  }

  void Enqueue(Op op) {
    {
      std::lock_guard lock(mu_);
      if (!stop_) {
        queue_.push_back(std::move(op));
        cv_.notify_one();
        return;
      }
    }
    Reject(op, std::make_exception_ptr(Error(ErrorCode::kUnavailable, "decision log is closing")));
  }

  static void Reject(Op& op, std::exception_ptr err) {
    if (auto* a = std::get_if<AppendOp>(&op)) a->done(err);
    if (auto* r = std::get_if<RewardOp>(&op)) r->done(err, nullptr);
    if (auto* s = std::get_if<SweepOp>(&op)) s->done(err, 0);
  }

  size_t SweepBlocking() {
    Completion c;
    size_t closed = 0;
    Enqueue(SweepOp{[&](std::exception_ptr e, size_t n) {
      closed = n;
      c.Done(e);
    }});
    c.Wait();
    return closed;
  }

  std::optional<Decision> Lookup(std::string_view id) const {
    ReopenableDb::Reader r = db_->Read();
    rocksdb::DB* db = r.db;
    std::string v;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), DecisionKey(id), &v);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) FailStatus(s, "read");
    Decision d = ParseDecision(v);
    s = db->Get(rocksdb::ReadOptions(), RewardKey(id), &v);
    if (s.ok()) {
      json j = json::parse(v, nullptr, false);
      if (j.is_discarded()) Fail(ErrorCode::kCorruption, "decision log: damaged outcome of {}", id);
      d.outcome = OutcomeFromJson(j);
    } else if (!s.IsNotFound()) {
      FailStatus(s, "read");
    }
    return d;
  }

  // Per group: the state the batch being built will leave behind.
  struct GroupState {
    rocksdb::WriteBatch batch;
    std::unordered_map<std::string, Outcome> closed;  // id -> outcome set in this batch
    std::optional<int64_t> sweep_floor;               // after a complete sweep, once committed
    int64_t min_deadline = std::numeric_limits<int64_t>::max();  // of the decisions appended
  };

  // Decides a reward against the stored state and the batch; throws the documented errors.
  Decision JoinReward(GroupState& g, const RewardOp& r, int64_t now) {
    std::optional<Decision> d = Lookup(r.id);
    if (!d) Fail(ErrorCode::kNotFound, "decision_id: no decision '{}' in the log", r.id);
    if (auto it = g.closed.find(r.id); it != g.closed.end()) d->outcome = it->second;
    if (d->outcome.kind == OutcomeKind::kJoined) {
      Fail(ErrorCode::kAlreadyExists,
           "decision_id: decision '{}' already has a reward ({}); the first reward wins", r.id,
           d->outcome.reward);
    }
    if (d->outcome.kind == OutcomeKind::kDefault || now > d->deadline_ms) {
      Fail(ErrorCode::kFailedPrecondition,
           "decision_id: the reward window of decision '{}' closed {} ms ago (window {} s); it "
           "got the default reward {}",
           r.id, now - d->deadline_ms, (d->deadline_ms - d->ts_ms) / 1000, options_.default_reward);
    }
    d->outcome = {OutcomeKind::kJoined, r.reward, now};
    g.batch.Put(RewardKey(r.id), OutcomeJson(d->outcome).dump());
    g.batch.Delete(OpenKey(d->deadline_ms, r.id));
    g.closed[r.id] = d->outcome;
    return *d;
  }

  // Scans the open index from sweep_floor_ (every entry below it is already deleted: starting
  // there skips the tombstones of earlier sweeps) up to `now`.
  std::vector<Decision> CollectExpired(GroupState& g, int64_t now) {
    std::vector<Decision> out;
    std::string lower = "o", upper = "o";
    PutBe64(lower, static_cast<uint64_t>(sweep_floor_) ^ (uint64_t{1} << 63));
    PutBe64(upper, static_cast<uint64_t>(now) ^ (uint64_t{1} << 63));
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;  // deadlines before now only
    std::unique_ptr<rocksdb::Iterator> it(db_->writer_db()->NewIterator(ro));
    for (it->Seek(lower); it->Valid() && it->key().starts_with("o") && out.size() < kMaxSweep;
         it->Next()) {
      rocksdb::Slice k = it->key();
      if (k.size() != 1 + 8 + 16) Fail(ErrorCode::kCorruption, "decision log: damaged open key");
      const auto deadline = static_cast<int64_t>(GetBe64(k.data() + 1) ^ (uint64_t{1} << 63));
      if (deadline >= now) break;  // keys are in deadline order; at the deadline it is open
      const std::string id = IdHex(std::string_view(k.data() + 9, 16));
      if (g.closed.count(id)) continue;
      std::optional<Decision> d = Lookup(id);
      g.batch.Delete(k);
      if (!d || d->outcome.kind != OutcomeKind::kOpen) continue;  // stale index entry
      d->outcome = {OutcomeKind::kDefault, options_.default_reward, now};
      g.batch.Put(RewardKey(id), OutcomeJson(d->outcome).dump());
      g.closed[id] = d->outcome;
      out.push_back(std::move(*d));
    }
    if (!it->status().ok()) FailStatus(it->status(), "scan open decisions");
    if (out.size() < kMaxSweep) g.sweep_floor = now;  // complete: nothing open below now
    return out;
  }

  void WriterLoop() {
    std::vector<Op> group;
    bool was_stopped = false;
    for (;;) {
      std::string reason;
      const bool writable = db_->Writable(&reason);
      {
        std::unique_lock lock(mu_);
        auto wake = [&] { return stop_ || !queue_.empty(); };
        if (writable) {
          cv_.wait(lock, wake);
        } else {
          cv_.wait_for(lock, kRetry, wake);  // and try to recover below
        }
        if (queue_.empty() && stop_) return;
        while (!queue_.empty() && group.size() < 4096) {
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      if (!writable) {
        if (!was_stopped) {
          spdlog::error("decision log: writes stopped ({}); retrying every second", reason);
          was_stopped = true;
        }
        if (db_->Recover()) {
          spdlog::info("decision log: writes resumed");
          was_stopped = false;
        }
      }
      if (group.empty()) continue;
      if (db_->writer_db() == nullptr) {  // the reopen failed: answer without the database
        auto err = std::make_exception_ptr(Error(
            ErrorCode::kUnavailable, "decision log: reopening after a failed write: " +
                                         db_->reopen_error() + "; not acknowledged, retry later"));
        for (auto& op : group) {
          if (auto* a = std::get_if<AppendOp>(&op)) a->done(err);
          if (auto* r = std::get_if<RewardOp>(&op)) r->done(err, nullptr);
          if (auto* w = std::get_if<SweepOp>(&op)) w->done(err, 0);
        }
        group.clear();
        continue;
      }
      GroupState g;
      const int64_t now = options_.now_ms();
      // Per op: its error (set before the commit) and what it produced.
      std::vector<std::exception_ptr> errs(group.size());
      std::vector<std::optional<Decision>> joined(group.size());
      std::vector<size_t> swept(group.size(), 0);
      std::vector<Decision> closed;  // for on_closed, after the commit
      uint64_t appended = 0, njoined = 0, ndefaulted = 0;
      for (size_t i = 0; i < group.size(); ++i) {
        try {
          if (auto* a = std::get_if<AppendOp>(&group[i])) {
            Decision& d = a->d;
            d.deadline_ms = d.ts_ms + options_.reward_window_ms;
            g.batch.Put(DecisionKey(d.id), d.ToJson().dump());
            g.batch.Put(OpenKey(d.deadline_ms, d.id), rocksdb::Slice());
            g.min_deadline = std::min(g.min_deadline, d.deadline_ms);
            ++appended;
          } else if (auto* r = std::get_if<RewardOp>(&group[i])) {
            joined[i] = JoinReward(g, *r, now);
            closed.push_back(*joined[i]);
            ++njoined;
          } else {
            std::vector<Decision> expired = CollectExpired(g, now);
            swept[i] = expired.size();
            ndefaulted += expired.size();
            for (auto& d : expired) closed.push_back(std::move(d));
          }
        } catch (...) {
          errs[i] = std::current_exception();
        }
      }
      std::exception_ptr commit_err;
      if (g.batch.Count() > 0) {
        rocksdb::WriteOptions wo;
        wo.sync = options_.sync;
        rocksdb::Status s = WriteRecovering(db_->writer_db(), wo, &g.batch);  // may resume at once
        if (s.ok()) {
          ++commits_;
          decisions_ += appended;
          joined_ += njoined;
          defaulted_ += ndefaulted;
        } else {
          try {
            FailStatus(s, "write");
          } catch (...) {
            commit_err = std::current_exception();
          }
        }
      }
      if (!commit_err) {
        if (g.sweep_floor) sweep_floor_ = std::max(sweep_floor_, *g.sweep_floor);
        // A decision whose deadline is below the floor (a clock that went back) lowers it.
        sweep_floor_ = std::min(sweep_floor_, g.min_deadline);
      }
      // Online updates first, so a reward is answered once it is durable and learned from.
      if (!commit_err && options_.on_closed) {
        for (const Decision& d : closed) {
          try {
            options_.on_closed(d);
          } catch (const std::exception& e) {
            spdlog::warn("decision log: online update for decision {} failed: {}", d.id, e.what());
          }
        }
      }
      for (size_t i = 0; i < group.size(); ++i) {
        std::exception_ptr e = errs[i] ? errs[i] : commit_err;
        if (auto* a = std::get_if<AppendOp>(&group[i])) a->done(e);
        if (auto* r = std::get_if<RewardOp>(&group[i])) {
          r->done(e, e ? nullptr : &*joined[i]);
        }
        if (auto* s = std::get_if<SweepOp>(&group[i])) s->done(e, e ? 0 : swept[i]);
      }
      group.clear();
    }
  }

  static constexpr std::chrono::seconds kRetry{1};
  std::unique_ptr<ReopenableDb> db_;  // reopened by the writer thread after a failed write
  DecisionLogOptions options_;
  std::atomic<uint64_t> decisions_{0}, joined_{0}, defaulted_{0}, commits_{0};
  int64_t sweep_floor_ = std::numeric_limits<int64_t>::min();  // writer thread only
  std::mutex mu_;
  std::condition_variable cv_, sweep_cv_;
  std::deque<Op> queue_;
  bool stop_ = false;
  std::thread writer_, sweeper_;
};

DecisionLog::DecisionLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DecisionLog::~DecisionLog() = default;

std::unique_ptr<DecisionLog> DecisionLog::Open(const std::string& dir, DecisionLogOptions options) {
  if (options.reward_window_ms <= 0) {
    Fail(ErrorCode::kInvalidArgument, "reward window: must be positive, got {} ms",
         options.reward_window_ms);
  }
  if (!std::isfinite(options.default_reward)) {
    Fail(ErrorCode::kInvalidArgument, "default reward: must be a finite number");
  }
  if (options.read_only) {
    if (!std::filesystem::exists(dir + "/CURRENT")) {
      Fail(ErrorCode::kNotFound, "no decision log in '{}' (serve a bandit policy first)", dir);
    }
  } else {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) Fail(ErrorCode::kIOError, "decision log: cannot create '{}': {}", dir, ec.message());
  }
  auto db = std::make_unique<ReopenableDb>(dir, options.read_only, "decision log", options.tuning,
                                           Impl::kRetry);
  const bool read_only = options.read_only;
  auto log = std::unique_ptr<DecisionLog>(
      new DecisionLog(std::make_unique<Impl>(std::move(db), std::move(options))));
  if (!read_only) {
    while (log->Sweep() == kMaxSweep) {
    }
    log->impl_->StartSweeper();
  }
  return log;
}

const DecisionLogOptions& DecisionLog::options() const { return impl_->options_; }
int64_t DecisionLog::NowMs() const { return impl_->options_.now_ms(); }

void DecisionLog::AppendAsync(Decision d, std::function<void(std::exception_ptr)> done) {
  if (impl_->options_.read_only) {
    done(std::make_exception_ptr(
        Error(ErrorCode::kFailedPrecondition, "decision log: opened read-only")));
    return;
  }
  impl_->Enqueue(Impl::AppendOp{std::move(d), std::move(done)});
}

void DecisionLog::Append(Decision d) {
  Completion c;
  AppendAsync(std::move(d), [&c](std::exception_ptr e) { c.Done(e); });
  c.Wait();
}

void DecisionLog::RewardAsync(std::string id, double reward, RewardDone done) {
  try {
    ValidateDecisionId(id, "decision_id");
    if (!std::isfinite(reward)) Fail(ErrorCode::kInvalidArgument, "reward: must be finite");
    if (impl_->options_.read_only) {
      Fail(ErrorCode::kFailedPrecondition, "decision log: opened read-only");
    }
  } catch (...) {
    done(std::current_exception(), nullptr);
    return;
  }
  impl_->Enqueue(Impl::RewardOp{std::move(id), reward, std::move(done)});
}

Decision DecisionLog::Reward(std::string id, double reward) {
  Completion c;
  Decision out;
  RewardAsync(std::move(id), reward, [&](std::exception_ptr e, const Decision* d) {
    if (d != nullptr) out = *d;  // before Done: Wait's lock makes it visible
    c.Done(e);
  });
  c.Wait();
  return out;
}

size_t DecisionLog::Sweep() {
  if (impl_->options_.read_only) {
    Fail(ErrorCode::kFailedPrecondition, "decision log: opened read-only");
  }
  return impl_->SweepBlocking();
}

std::optional<Decision> DecisionLog::Get(std::string_view id) const {
  ValidateDecisionId(id, "decision id");
  return impl_->Lookup(id);
}

void DecisionLog::ForEach(int64_t since_ms, const std::function<bool(const Decision&)>& fn) const {
  ReopenableDb::Reader reader = impl_->db_->Read();
  rocksdb::DB* db = reader.db;
  rocksdb::ReadOptions ro;
  const rocksdb::Snapshot* snap = db->GetSnapshot();
  ro.snapshot = snap;
  struct Release {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~Release() { db->ReleaseSnapshot(s); }
  } release{db, snap};
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  std::unique_ptr<rocksdb::Iterator> rit(db->NewIterator(ro));
  for (it->Seek(DecisionSeekKey(since_ms)); it->Valid() && it->key().starts_with("d"); it->Next()) {
    Decision d = ParseDecision(it->value());
    if (d.ts_ms < since_ms) continue;
    std::string rk = "r";
    rk.append(it->key().data() + 1, it->key().size() - 1);
    rit->Seek(rk);
    if (rit->Valid() && rit->key() == rocksdb::Slice(rk)) {
      json j = json::parse(rit->value().ToStringView(), nullptr, false);
      if (j.is_discarded()) {
        Fail(ErrorCode::kCorruption, "decision log: damaged outcome of {}", d.id);
      }
      d.outcome = OutcomeFromJson(j);
    }
    if (!fn(d)) break;
  }
  if (!it->status().ok()) FailStatus(it->status(), "read");
  if (!rit->status().ok()) FailStatus(rit->status(), "read");
}

bool DecisionLog::writable(std::string* reason) const { return impl_->db_->Writable(reason); }

DecisionLog::Stats DecisionLog::stats() const {
  return {impl_->decisions_.load(), impl_->joined_.load(), impl_->defaulted_.load(),
          impl_->commits_.load()};
}

}  // namespace marquee::bandit
