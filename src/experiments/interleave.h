// Team-draft interleaving (Radlinski, Kurup and Joachims 2008): two rankers' lists merged into
// one, each shown item credited to the ranker ("team") that picked it, so clicks on the merged
// list say which ranker the member prefers.
//
// Pure functions, thread-safe. Deterministic given the seed (SplitMix64 coin flips, independent
// of the platform's <random> implementation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace marquee {

// The merged list: items[i] was contributed by ranker team[i] (0 = ranker A, 1 = ranker B).
struct Interleaved {
  std::vector<std::string> items;
  std::vector<uint8_t> team;
};

// Team draft: in each round a coin flip decides which ranker picks first; each ranker in turn
// adds its highest-ranked item not already in the merged list (duplicates are skipped, so an
// item both rankers rank highly is credited to whichever picked it first). When one ranker runs
// out of new items the other keeps picking. Stops at k items or when both lists are exhausted.
// The coin flips come from SplitMix64(seed), one per round, so the same (a, b, k, seed) always
// gives the same result. Items in `a` or `b` repeated within the same list are skipped too.
Interleaved TeamDraft(std::span<const std::string> a, std::span<const std::string> b, size_t k,
                      uint64_t seed);

// Credit for one impression: the clicks (plays) each ranker's items received.
enum class Preference { kTie = 0, kA = 1, kB = 2 };
struct Credit {
  uint32_t clicks_a = 0;
  uint32_t clicks_b = 0;
  Preference winner = Preference::kTie;  // more clicks wins; equal (including 0-0) is a tie
};

// Credits the clicked positions (0-based indexes into `list.items`; repeated positions count
// once) to the team that contributed each. Throws marquee::Error(kInvalidArgument) for a position
// outside the list.
Credit AssignCredit(const Interleaved& list, std::span<const size_t> clicked_positions);

// Team of each item of the interleaved list, as a convenience for logging: "A" or "B".
const char* TeamName(uint8_t team);

}  // namespace marquee
