// Fuzzes what the live-traffic steps read (issue #17): shadow-log records of every kind
// (DecodeShadowRecord; a record that decodes round-trips through EncodeShadowRecord to the same
// fields, and the online metrics of its kind are computed: recommender, bandit with a joined
// reward, tabular) and a canary's experiment analysis as a server answers it
// (JudgeCanary: any JSON is a verdict, never an exception).
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "experiments/canary.h"
#include "experiments/shadow_log.h"
#include "fuzz_util.h"
#include "marquee/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  const std::string text(fuzz::AsText(data, size));
  ShadowRecord r;
  if (DecodeShadowRecord(text, r)) {
    ShadowRecord back;
    fuzz::Check(DecodeShadowRecord(EncodeShadowRecord(r), back),
                "an encoded record does not decode");
    fuzz::Check(
        back.kind == r.kind && back.model == r.model && back.user == r.user && back.ts == r.ts &&
            back.k == r.k && back.production == r.production && back.candidate == r.candidate &&
            back.production_version == r.production_version &&
            back.candidate_version == r.candidate_version && back.decision_id == r.decision_id &&
            back.actions == r.actions &&
            back.production_probabilities == r.production_probabilities &&
            back.chosen == r.chosen && back.candidate_probabilities == r.candidate_probabilities &&
            back.candidate_greedy == r.candidate_greedy && back.rows == r.rows &&
            back.width == r.width && back.production_scores == r.production_scores &&
            back.candidate_scores == r.candidate_scores,
        "a record changed in its round trip");
    ShadowMetricsOptions o;
    o.since = std::numeric_limits<int64_t>::min();  // every decoded time counts
    o.bootstrap = 2;
    nlohmann::json m;
    if (r.kind == ShadowKind::kBandit) {
      m = BanditShadowMetrics(
          {r},
          [](const std::string&) {
            return std::optional<ShadowOutcome>(ShadowOutcome{1.0, true});
          },
          o);
      fuzz::Check(m["value"]["rewarded"] == (r.ts < o.until ? 1 : 0),
                  "the rewarded record is not counted");
    } else if (r.kind == ShadowKind::kTabular) {
      m = TabularShadowMetrics({r}, o);
    } else {
      StoredEvent e;
      e.user = r.user;
      e.item = r.candidate.empty() ? "x" : r.candidate[0];
      e.ts = r.ts == std::numeric_limits<int64_t>::max() ? r.ts : r.ts + 1;
      m = ShadowMetrics(
          {r}, [&](const std::string&) { return std::vector<StoredEvent>{e}; }, o);
    }
    // until is exclusive: a record at the last representable second is outside every range.
    fuzz::Check(m["requests"] == (r.ts < o.until ? 1 : 0), "the one record is not counted");
  }
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    CanaryOptions o;
    std::string why;
    const int v = JudgeCanary(j, o, &why);
    fuzz::Check(v >= -1 && v <= 1 && !why.empty(), "a verdict without a reason");
  }
  return 0;
}
