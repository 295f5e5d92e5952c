// Fuzzes what the live-traffic steps read (issue #17): shadow-log records (DecodeShadowRecord;
// a record that decodes round-trips through EncodeShadowRecord to the same fields, and its
// online metrics are computed) and a canary's experiment analysis as a server answers it
// (JudgeCanary: any JSON is a verdict, never an exception).
#include <cstdint>
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
    fuzz::Check(back.model == r.model && back.user == r.user && back.ts == r.ts && back.k == r.k &&
                    back.production == r.production && back.candidate == r.candidate &&
                    back.production_version == r.production_version &&
                    back.candidate_version == r.candidate_version,
                "a record changed in its round trip");
    StoredEvent e;
    e.user = r.user;
    e.item = r.candidate.empty() ? "x" : r.candidate[0];
    e.ts = r.ts + 1;
    const nlohmann::json m = ShadowMetrics(
        {r}, [&](const std::string&) { return std::vector<StoredEvent>{e}; },
        ShadowMetricsOptions{});
    fuzz::Check(m["requests"] == 1, "the one record is not counted");
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
