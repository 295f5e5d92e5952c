// What the decision log's implementations share (bandits/decision_log.cc, the RocksDB log, and
// bandits/redis_decision_log.cc): the record and counter encodings of
// docs/formats/decisions.md, so both backends store and count the same way.
//
// Errors: kCorruption for a damaged record or counter. Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "bandits/decision_log.h"
#include "events/durable_log.h"

namespace marquee {

// The five counter keys a decision (or its outcome) counts in: its policy, hour, hour and chosen
// action, version, chosen action (docs/formats/decisions.md, "Counters").
std::array<std::string, 5> CounterKeysOf(std::string_view policy, int64_t hour, int64_t version,
                                         std::string_view action);
std::array<std::string, 5> CounterKeysOf(const Decision& d);

// DecisionCounts as six little-endian 64-bit words.
std::string EncodeCounts(const DecisionCounts& c);
DecisionCounts DecodeCounts(std::string_view v);

// Calls `fn` with the counters held in `snap` (counter keys -> EncodeCounts values, plus the
// counters' version key) and returns true, or false when it holds no counters version.
// kFailedPrecondition for a version this build does not know.
bool CountersOf(const DurableLog::Snapshot& snap,
                const std::function<void(const DecisionCounters&)>& fn);
// The key and value of the counters' version, for a snapshot built from another store.
inline constexpr std::string_view kDecisionCountersVersionKey = "cv";
inline constexpr std::string_view kDecisionCountersVersion = "1";

// Outcome records ({"kind", "reward", "ts"}) and decision records (Decision::ToJson).
nlohmann::json OutcomeJson(const Outcome& o);
Outcome OutcomeFromJson(const nlohmann::json& j);
Decision ParseDecision(std::string_view value);

}  // namespace marquee
