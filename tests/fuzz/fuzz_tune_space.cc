// Fuzzes `marquee tune`'s inputs (src/tune): a search space file (ParseSearchSpace, TOML), or a
// study record ($home/studies/<id>.json, StudyRecord::FromJson) when the text starts with '{'.
// A space that parses must round-trip through the record's JSON, and every value the samplers
// draw from it (random and TPE, with pruned and finished observations) must lie in its bounds;
// a record that parses must render (report, importances, plot). Nothing touches the disk.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "tune/sampler.h"
#include "tune/space.h"
#include "tune/study.h"
#include "tune/tuner.h"

namespace {

using marquee::ParamSpec;

void CheckInBounds(const marquee::SearchSpace& s, const nlohmann::json& p) {
  for (const auto& spec : s.params) {
    marquee::fuzz::Check(p.contains(spec.name), "a sampled parameter is missing");
    const nlohmann::json& v = p[spec.name];
    if (spec.type == ParamSpec::Type::kChoice) {
      bool found = false;
      for (const auto& c : spec.values) found = found || c == v;
      marquee::fuzz::Check(found, "a choice outside its values");
      continue;
    }
    marquee::fuzz::Check(v.is_number(), "a numeric parameter is not a number");
    if (spec.type == ParamSpec::Type::kInt) {
      marquee::fuzz::Check(v.is_number_integer(), "an int parameter is not an integer");
    }
    const double x = v.get<double>();
    marquee::fuzz::Check(std::isfinite(x) && x >= std::floor(spec.low) && x <= std::ceil(spec.high),
                         "a value outside its bounds");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  const std::string text(fuzz::AsText(data, size));
  try {
    if (!text.empty() && text[0] == '{') {
      const StudyRecord s = StudyRecord::FromJson(nlohmann::json::parse(text), "fuzz.json");
      (void)StudySvg(s);
      (void)ParamImportances(s);
      if (s.Best() != nullptr) (void)StudyReport(s, "", 5);
      return 0;
    }
    const SearchSpace s = ParseSearchSpace(text, "fuzz.toml");
    fuzz::Check(SearchSpace::FromJson(s.ToJson(), "again").ToJson() == s.ToJson(),
                "a space does not round-trip through JSON");
    const std::vector<int64_t> rungs = s.schedule.Rungs();
    fuzz::Check(s.schedule.param.empty() || (!rungs.empty() && rungs.back() == s.schedule.max),
                "the last rung is not the schedule's max");
    std::vector<Observation> obs;
    for (int t = 0; t < 6; ++t) {
      SamplerOptions o;
      o.startup_trials = 2;
      const nlohmann::json p = SampleParams(s, o, 1, t, obs);
      CheckInBounds(s, p);
      obs.push_back({p, static_cast<double>(t % 3), t == 4});
    }
  } catch (const Error&) {
  } catch (const nlohmann::json::exception&) {  // not JSON at all: the store reports kCorruption
  }
  return 0;
}
