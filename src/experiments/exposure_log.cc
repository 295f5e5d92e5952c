#include "experiments/exposure_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "events/durable_log.h"
#include "marquee/error.h"

namespace marquee::experiments {
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

void EncodeInto(std::string& v, const Exposure& e) {
  PutBe64(v, static_cast<uint64_t>(e.ts) ^ (uint64_t{1} << 63));
  PutString(v, e.user);
  PutString(v, e.cell);
  v.push_back(e.first ? 1 : 0);
  Put32(v, static_cast<uint32_t>(e.items.size()));
  for (size_t i = 0; i < e.items.size(); ++i) {
    PutString(v, e.items[i]);
    v.push_back(static_cast<char>(i < e.rankers.size() ? e.rankers[i] : kNoRanker));
  }
}

// Reads the group in `val`; calls fn for each exposure (seq = group seq * 2^20 + index, so the
// order within a group is kept). Returns false when the value is damaged.
bool DecodeGroup(std::string_view key, std::string_view val, size_t prefix_len, Exposure& out,
                 const std::function<bool(const Exposure&)>& fn, bool* stop) {
  if (key.size() != prefix_len + 16) return false;
  const uint64_t group_seq = GetBe64(key.data() + prefix_len + 8);
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

}  // namespace

ExposureLog::ExposureLog(std::unique_ptr<DurableLog> log, ExposureLogOptions options)
    : log_(std::move(log)), options_(options) {
  if (options_.read_only) return;
  flusher_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, options_.flush_interval, [&] { return stop_; });
      lock.unlock();
      Drain(false);
      lock.lock();
    }
  });
}

ExposureLog::~ExposureLog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (!options_.read_only) Drain(false);  // whatever arrived after the flusher's last pass
}

std::unique_ptr<ExposureLog> ExposureLog::Open(const std::string& dir, ExposureLogOptions options) {
  DurableLogOptions o;
  o.what = "exposure log";
  o.sync = options.sync;
  o.read_only = options.read_only;
  return std::unique_ptr<ExposureLog>(new ExposureLog(DurableLog::Open(dir, o), options));
}

bool ExposureLog::Record(Exposure e) {
  if (options_.read_only) {
    Fail(ErrorCode::kFailedPrecondition, "exposure log: opened read-only");
  }
  {
    std::lock_guard lock(mu_);
    if (buffer_.size() < options_.max_queue) {
      buffer_.push_back(std::move(e));
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

void ExposureLog::Drain(bool rethrow) {
  std::lock_guard drain(drain_mu_);
  std::vector<Exposure> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(buffer_);
  }
  if (batch.empty()) return;
  std::vector<LogRecord> records;
  try {
    // One group record per experiment (a flush rarely sees more than a few experiments).
    std::vector<std::pair<std::string, std::vector<Exposure*>>> groups;
    for (Exposure& e : batch) {
      auto g = std::find_if(groups.begin(), groups.end(),
                            [&](const auto& x) { return x.first == e.experiment; });
      if (g == groups.end()) {
        groups.emplace_back(e.experiment, std::vector<Exposure*>{});
        g = groups.end() - 1;
      }
      g->second.push_back(&e);
    }
    for (auto& [experiment, members] : groups) {
      std::string value;
      Put32(value, static_cast<uint32_t>(members.size()));
      int64_t first_ts = members.front()->ts;
      for (Exposure* e : members) {
        first_ts = std::min(first_ts, e->ts);
        std::string member = experiment;
        member.push_back('\0');
        member.append(e->user);
        e->first = false;
        if (seen_.insert(member).second) {
          std::string marker_key = "f" + member;
          std::string marker;
          e->first = !log_->Get(marker_key, &marker);
          if (e->first) {
            std::string ts;
            PutBe64(ts, static_cast<uint64_t>(e->ts));
            records.push_back({std::move(marker_key), std::move(ts), false});
          }
        }
        EncodeInto(value, *e);
      }
      std::string key = ExperimentPrefix(experiment);
      PutBe64(key, static_cast<uint64_t>(first_ts) ^ (uint64_t{1} << 63));
      records.push_back({std::move(key), std::move(value), true});
    }
    log_->Append(std::move(records));
  } catch (const std::exception& ex) {
    failed_.fetch_add(batch.size());
    spdlog::error("exposure log: write failed, {} exposures lost: {}", batch.size(), ex.what());
    // The members whose first exposure was lost stay "seen": a later exposure is not marked first
    // (at worst a member has no marked first exposure; analysis uses the earliest one anyway).
    if (rethrow) throw;
  }
}

void ExposureLog::Flush() { Drain(true); }

void ExposureLog::ForEach(std::string_view experiment,
                          const std::function<bool(const Exposure&)>& fn) const {
  const std::string prefix = ExperimentPrefix(experiment);
  bool stop = false;
  Exposure e;
  e.experiment = std::string(experiment);
  log_->Scan(prefix, [&](std::string_view key, std::string_view value) {
    if (!key.starts_with(prefix)) return false;
    if (!DecodeGroup(key, value, prefix.size(), e, fn, &stop)) {
      Fail(ErrorCode::kCorruption, "exposure log: damaged exposures of experiment '{}'",
           experiment);
    }
    return !stop;
  });
}

}  // namespace marquee::experiments
