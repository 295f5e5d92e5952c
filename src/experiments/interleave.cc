#include "experiments/interleave.h"

#include <unordered_set>

#include "marquee/error.h"

namespace marquee {
namespace {

// SplitMix64 (Steele, Lea and Flood 2014): a tiny, platform-independent generator.
uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

Interleaved TeamDraft(std::span<const std::string> a, std::span<const std::string> b, size_t k,
                      uint64_t seed) {
  Interleaved out;
  out.items.reserve(k);
  out.team.reserve(k);
  std::unordered_set<std::string_view> taken;
  size_t next[2] = {0, 0};
  const std::span<const std::string> lists[2] = {a, b};
  uint64_t state = seed;
  // Advances ranker t past items already in the merged list; false when it has none left.
  auto has_next = [&](int t) {
    while (next[t] < lists[t].size() && taken.contains(lists[t][next[t]])) ++next[t];
    return next[t] < lists[t].size();
  };
  auto pick = [&](int t) {
    const std::string& item = lists[t][next[t]++];
    taken.insert(item);
    out.items.push_back(item);
    out.team.push_back(static_cast<uint8_t>(t));
  };
  while (out.items.size() < k) {
    const bool ha = has_next(0), hb = has_next(1);
    if (!ha && !hb) break;
    const int first = static_cast<int>(SplitMix64(state) >> 63);  // one coin flip per round
    for (int t : {first, 1 - first}) {
      if (out.items.size() >= k) break;
      if (has_next(t)) {
        pick(t);
      } else if (has_next(1 - t)) {
        pick(1 - t);  // the other ranker ran out: its turn goes to this one
      }
    }
  }
  return out;
}

Credit AssignCredit(const Interleaved& list, std::span<const size_t> clicked_positions) {
  Credit c;
  std::vector<bool> seen(list.items.size(), false);
  for (size_t pos : clicked_positions) {
    if (pos >= list.items.size()) {
      Fail(ErrorCode::kInvalidArgument, "clicked position {} is outside the {}-item list", pos,
           list.items.size());
    }
    if (seen[pos]) continue;
    seen[pos] = true;
    if (list.team[pos] == 0) {
      ++c.clicks_a;
    } else {
      ++c.clicks_b;
    }
  }
  c.winner = c.clicks_a > c.clicks_b   ? Preference::kA
             : c.clicks_b > c.clicks_a ? Preference::kB
                                       : Preference::kTie;
  return c;
}

const char* TeamName(uint8_t team) { return team == 0 ? "A" : "B"; }

}  // namespace marquee
