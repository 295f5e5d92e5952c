// Fuzzes the /v1/recommend body parsers (src/serving/service.cc): the simdjson fast path
// (ParseRecommendRequestFast) must take only bodies that the nlohmann path (ParseRecommendBody)
// takes, and read them into the same request; the nlohmann path answers anything else with a
// marquee::Error or nlohmann's own exception (which the server turns into invalid_argument).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "serving/service.h"

namespace {

bool Same(const marquee::RecommendRequest& a, const marquee::RecommendRequest& b) {
  return a.model == b.model && a.user == b.user && a.k == b.k && a.exclude_seen == b.exclude_seen &&
         a.history == b.history && a.allow == b.allow && a.deny == b.deny &&
         a.experiment == b.experiment;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  const std::string body(fuzz::AsText(data, size));
  ServiceLimits limits;
  limits.max_history = 8;
  RecommendRequest fast;
  const bool taken = ParseRecommendRequestFast(body, limits, fast);
  try {
    const RecommendRequest slow = ParseRecommendBody(body, limits);
    fuzz::Check(!taken || Same(fast, slow), "the fast path read another request");
  } catch (const Error&) {
    fuzz::Check(!taken, "the fast path took a body the nlohmann path refuses");
  } catch (const nlohmann::json::exception&) {
    fuzz::Check(!taken, "the fast path took a body the nlohmann path refuses");
  }
  return 0;
}
