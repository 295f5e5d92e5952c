// The latest off-policy evaluation of each bandit policy, kept in the home so the dashboard
// (GET /api/v1/bandits/{name}) can show it: `marquee ope --policy REF` writes one small JSON
// file per policy (the registry model REF names), $home/bandit/ope/<policy>.json, replacing the
// previous one atomically (Env::WriteFileAtomic: temporary file, fsync, rename). Format
// (docs/formats/ope-record.md), version 1:
//
//   {"format_version": 1, "policy": "artwork", "version": 3, "candidate": "artwork version 3
//    (linucb)", "computed_at": "2026-12-05T22:00:00Z", "log": "obd-men-random",
//    "log_id": "<snapshot sha256>", "decisions": 10000, "ess": 812.4, "logged_reward": 0.005,
//    "bootstrap": 200, "estimates": [{"estimator": "ips", "value": 0.0051, "lo": 0.0043,
//    "hi": 0.0060}, ...], "warnings": [...]}
//
// lo and hi are null without a bootstrap; a value is null where it is not finite.
// Errors: kInvalidArgument for a policy name that is not a catalog name; kCorruption naming the
// file for a record that is not this format (or of a newer version); the Env's I/O errors.
// Thread-safety: a write replaces the file whole, so a reader sees the old or the new record.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "bandits/ope.h"
#include "marquee/env.h"

namespace marquee {

inline constexpr int kOpeRecordVersion = 1;

struct OpeRecordSource {
  std::string policy;       // the registry model name
  int64_t version = 0;      // the evaluated version
  std::string candidate;    // how `marquee ope` described the candidate
  std::string log;          // the bandit log's name
  std::string log_id;       // its snapshot id
  int64_t computed_at = 0;  // Unix seconds
};

// The record of `result` (the format above).
nlohmann::json OpeRecordJson(const OpeRecordSource& source, const OpeResult& result);

// $home/bandit/ope/<policy>.json.
std::string OpeRecordPath(const std::string& home, const std::string& policy);
// Writes `record` (OpeRecordJson's) as the latest of its policy, atomically; returns the path.
std::string SaveOpeRecord(Env* env, const std::string& home, const nlohmann::json& record);
// The latest record of `policy`, checked; nullopt when none was written.
std::optional<nlohmann::json> LoadOpeRecord(Env* env, const std::string& home,
                                            const std::string& policy);

}  // namespace marquee
