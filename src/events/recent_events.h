// RecentEvents: each user's newest events held in memory, so that the event log answers
// EventLog::Recent (read by every /v1/recommend of a member) without a RocksDB reverse scan per
// request. Used by the embedded RocksDB event log (events/event_log.cc), which is the only
// writer of its database (the home lock): it is filled on a user's first read (from the scan) and
// kept current by every committed append (DurableLogOptions::on_committed), so it answers
// exactly what the scan would, and after a restart it starts empty and fills again. Not used for
// Redis, whose log other replicas write too.
//
// Bounds: at most `per_user` events of a user (the newest; an entry that dropped older ones
// answers only reads of at most `per_user` events, others scan), and about `max_events` events
// over all users, least recently read users dropped first.
//
// Thread-safety: every method may be called from any thread (16 shards, a mutex each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "events/event_log.h"

namespace marquee {

class RecentEvents {
 public:
  RecentEvents(size_t per_user, size_t max_events);
  RecentEvents(const RecentEvents&) = delete;
  RecentEvents& operator=(const RecentEvents&) = delete;

  // Recent(user, limit) as the log's scan gives it: `user`'s newest `limit` events, newest
  // first, or `scan(n)`'s answer (the log's newest n events of the user, newest first) when the
  // cache cannot answer. The scan runs without a lock held; its answer fills the cache unless an
  // append for one of the shard's users not cached was committed meanwhile (the scan may have
  // missed it). `scan`'s errors propagate and fill nothing.
  template <typename Scan>
  std::vector<StoredEvent> Recent(std::string_view user, size_t limit, Scan&& scan);

  // A committed event (its seq assigned): merged into its user's entry when there is one.
  void Add(const StoredEvent& e);

  size_t hits() const;    // reads answered from memory
  size_t misses() const;  // reads that scanned
  size_t events() const;  // events held now

 private:
  struct Cached {
    std::string item, type;
    float value;
    int64_t ts;
    uint64_t seq;
  };
  struct Entry {
    std::deque<Cached> events;  // oldest first, in key order (ts, seq)
    bool complete = false;      // every event of the user (none dropped)
    std::list<std::string>::iterator lru;
  };
  struct Hash {  // lookups by string_view without a copy
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable Mutex mu;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> users GUARDED_BY(mu);
    std::list<std::string> lru GUARDED_BY(mu);  // most recently read first
    size_t events GUARDED_BY(mu) = 0;
    // Appends of users without an entry (dropped): a fill whose scan overlapped one is unsafe.
    uint64_t dropped GUARDED_BY(mu) = 0;
    size_t hits GUARDED_BY(mu) = 0, misses GUARDED_BY(mu) = 0;
  };
  static constexpr size_t kShards = 16;

  Shard& ShardOf(std::string_view user) const;
  // Under the shard's lock: the newest `limit` events into `out` when the entry can answer.
  bool Lookup(Shard& s, std::string_view user, size_t limit, std::vector<StoredEvent>& out) const
      REQUIRES(s.mu);
  void Fill(Shard& s, std::string_view user, const std::vector<StoredEvent>& newest_first,
            bool complete) REQUIRES(s.mu);
  void Insert(Shard& s, Entry& entry, const StoredEvent& e) REQUIRES(s.mu);
  void Evict(Shard& s) REQUIRES(s.mu);
  size_t Sum(size_t Shard::*field) const;  // over the shards, each under its lock

  const size_t per_user_;
  const size_t shard_events_;  // max_events / kShards
  std::unique_ptr<Shard[]> shards_;
};

template <typename Scan>
std::vector<StoredEvent> RecentEvents::Recent(std::string_view user, size_t limit, Scan&& scan) {
  std::vector<StoredEvent> out;
  if (limit == 0) return out;
  Shard& s = ShardOf(user);
  uint64_t dropped = 0;
  {
    MutexLock lock(&s.mu);
    if (Lookup(s, user, limit, out)) return out;
    ++s.misses;
    dropped = s.dropped;
  }
  // Scanned for at least per_user events, so that the entry answers every read up to it.
  const size_t want = limit > per_user_ ? limit : per_user_;
  std::vector<StoredEvent> all = scan(want);
  {
    MutexLock lock(&s.mu);
    if (s.dropped == dropped) Fill(s, user, all, all.size() < want);
  }
  if (all.size() > limit) all.resize(limit);
  return all;
}

}  // namespace marquee
