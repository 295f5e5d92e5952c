#include "events/recent_events.h"

#include <algorithm>
#include <functional>
#include <tuple>

namespace marquee {

RecentEvents::RecentEvents(size_t per_user, size_t max_events)
    : per_user_(per_user < 1 ? 1 : per_user),
      shard_events_(max_events / kShards),
      shards_(std::make_unique<Shard[]>(kShards)) {}

RecentEvents::Shard& RecentEvents::ShardOf(std::string_view user) const {
  return shards_[std::hash<std::string_view>{}(user) % kShards];
}

bool RecentEvents::Lookup(Shard& s, std::string_view user, size_t limit,
                          std::vector<StoredEvent>& out) const {
  auto it = s.users.find(user);
  if (it == s.users.end()) return false;
  Entry& entry = it->second;
  if (!entry.complete && entry.events.size() < limit) return false;
  s.lru.splice(s.lru.begin(), s.lru, entry.lru);
  ++s.hits;
  const size_t n = std::min(limit, entry.events.size());
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Cached& c = entry.events[entry.events.size() - 1 - i];
    StoredEvent& e = out[i];
    e.user.assign(user);
    e.item = c.item;
    e.type = c.type;
    e.value = c.value;
    e.ts = c.ts;
    e.seq = c.seq;
  }
  return true;
}

void RecentEvents::Fill(Shard& s, std::string_view user,
                        const std::vector<StoredEvent>& newest_first, bool complete) {
  std::string key(user);
  if (s.users.count(key) != 0) return;  // another reader filled it meanwhile (and appends merged)
  Entry entry;
  const size_t n = std::min(newest_first.size(), per_user_);
  entry.complete = complete && newest_first.size() <= per_user_;
  for (size_t i = n; i-- > 0;) {
    const StoredEvent& e = newest_first[i];
    entry.events.push_back({e.item, e.type, e.value, e.ts, e.seq});
  }
  s.lru.push_front(key);
  entry.lru = s.lru.begin();
  s.events += n;
  s.users.emplace(std::move(key), std::move(entry));
  Evict(s);
}

void RecentEvents::Add(const StoredEvent& e) {
  Shard& s = ShardOf(e.user);
  MutexLock lock(&s.mu);
  auto it = s.users.find(e.user);
  if (it == s.users.end()) {
    ++s.dropped;
    return;
  }
  Insert(s, it->second, e);
  Evict(s);
}

void RecentEvents::Insert(Shard& s, Entry& entry, const StoredEvent& e) {
  // Key order of the log: (ts, seq); an append is almost always the newest.
  auto key = [](const Cached& c) { return std::tie(c.ts, c.seq); };
  const auto e_key = std::tie(e.ts, e.seq);
  auto pos = entry.events.end();
  while (pos != entry.events.begin() && e_key < key(*std::prev(pos))) --pos;
  // Already there: the scan that filled the entry ran after the write.
  if (pos != entry.events.begin() && key(*std::prev(pos)) == e_key) return;
  // Older than everything an entry that dropped events holds: events the entry no longer has
  // may lie between, and the entry's newest per_user are unchanged.
  if (!entry.complete && pos == entry.events.begin()) return;
  entry.events.insert(pos, {e.item, e.type, e.value, e.ts, e.seq});
  ++s.events;
  if (entry.events.size() > per_user_) {
    entry.events.pop_front();
    --s.events;
    entry.complete = false;
  }
}

void RecentEvents::Evict(Shard& s) {
  while (s.events > shard_events_ && !s.lru.empty()) {
    auto it = s.users.find(s.lru.back());
    s.events -= it->second.events.size();
    s.users.erase(it);
    s.lru.pop_back();
  }
}

size_t RecentEvents::Sum(size_t Shard::*field) const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    MutexLock lock(&shards_[i].mu);
    n += shards_[i].*field;
  }
  return n;
}

size_t RecentEvents::hits() const { return Sum(&Shard::hits); }
size_t RecentEvents::misses() const { return Sum(&Shard::misses); }
size_t RecentEvents::events() const { return Sum(&Shard::events); }

}  // namespace marquee
