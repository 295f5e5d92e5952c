#include "bandits/ope_record.h"

#include <cmath>

#include "common/text.h"
#include "common/time.h"
#include "data/catalog.h"
#include "marquee/error.h"

namespace marquee {
namespace {

using json = nlohmann::json;

json Num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

bool NumberOrNull(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && (it->is_number() || it->is_null());
}

// Whether `j` is a record of this format's version (the fields the readers use, typed).
bool WellFormed(const json& j) {
  if (!j.is_object() || !j.contains("format_version") || !j["format_version"].is_number_integer())
    return false;
  for (const char* key : {"policy", "candidate", "computed_at", "log", "log_id"}) {
    if (!j.contains(key) || !j[key].is_string()) return false;
  }
  for (const char* key : {"version", "decisions", "bootstrap"}) {
    if (!j.contains(key) || !j[key].is_number_integer()) return false;
  }
  if (!NumberOrNull(j, "ess") || !NumberOrNull(j, "logged_reward")) return false;
  if (!j.contains("estimates") || !j["estimates"].is_array()) return false;
  for (const json& e : j["estimates"]) {
    if (!e.is_object() || !e.contains("estimator") || !e["estimator"].is_string()) return false;
    for (const char* key : {"value", "lo", "hi"}) {
      if (!NumberOrNull(e, key)) return false;
    }
  }
  return j.contains("warnings") && j["warnings"].is_array();
}

}  // namespace

json OpeRecordJson(const OpeRecordSource& source, const OpeResult& result) {
  json estimates = json::array();
  for (const std::string& name : result.order) {
    const OpeEstimate& e = result.estimates.at(name);
    const bool ci = result.bootstrap > 0;
    estimates.push_back({{"estimator", name},
                         {"value", Num(e.value)},
                         {"lo", ci ? Num(e.lo) : json(nullptr)},
                         {"hi", ci ? Num(e.hi) : json(nullptr)}});
  }
  return {{"format_version", kOpeRecordVersion},
          {"policy", source.policy},
          {"version", source.version},
          {"candidate", source.candidate},
          {"computed_at", IsoUtc(source.computed_at)},
          {"log", source.log},
          {"log_id", source.log_id},
          {"decisions", result.n},
          {"ess", Num(result.ess)},
          {"logged_reward", Num(result.logged_reward)},
          {"bootstrap", result.bootstrap},
          {"estimates", estimates},
          {"warnings", result.warnings}};
}

std::string OpeRecordPath(const std::string& home, const std::string& policy) {
  ValidateCatalogName(policy, "policy");
  return home + "/bandit/ope/" + policy + ".json";
}

std::string SaveOpeRecord(Env* env, const std::string& home, const json& record) {
  if (!WellFormed(record) || record["format_version"] != kOpeRecordVersion) {
    Fail(ErrorCode::kInvalidArgument, "not an off-policy evaluation record of version {}",
         kOpeRecordVersion);
  }
  const std::string path = OpeRecordPath(home, record["policy"].get<std::string>());
  env->CreateDirs(home + "/bandit/ope");
  env->WriteFileAtomic(path, record.dump(2) + "\n");
  return path;
}

std::optional<json> LoadOpeRecord(Env* env, const std::string& home, const std::string& policy) {
  const std::string path = OpeRecordPath(home, policy);
  if (!env->FileExists(path)) return std::nullopt;
  json j = json::parse(env->ReadFile(path), nullptr, false);
  if (!WellFormed(j)) {
    Fail(ErrorCode::kCorruption, "{}: not an off-policy evaluation record", path);
  }
  if (j["format_version"].get<int64_t>() != kOpeRecordVersion) {
    Fail(ErrorCode::kCorruption,
         "{}: record format version {} is not supported (this build reads {})", path,
         j["format_version"].get<int64_t>(), kOpeRecordVersion);
  }
  if (j["policy"] != policy) {
    Fail(ErrorCode::kCorruption, "{}: holds the record of policy '{}'", path,
         QuoteForMessage(j["policy"].get<std::string>(), 128));
  }
  return j;
}

}  // namespace marquee
