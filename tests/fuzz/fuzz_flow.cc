// Fuzzes the pipeline flow parser (`marquee pipeline run FLOW.toml`, src/flow/flow.h): any text
// either parses into a flow whose every step kind is registered and whose step names are unique
// and valid, or is refused with a marquee::Error (kInvalidArgument) naming the origin. Schedule
// intervals (`--every`) are parsed from the first line too. Nothing touches the disk.
#include <set>
#include <string>

#include "data/catalog.h"
#include "flow/flow.h"
#include "flow/schedule.h"
#include "flow/step.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  const std::string text(fuzz::AsText(data, size));
  try {
    (void)flow::ParseEvery(text.substr(0, text.find('\n')));
  } catch (const Error& e) {
    fuzz::Check(e.code() == ErrorCode::kInvalidArgument, "ParseEvery: not kInvalidArgument");
  }
  try {
    const flow::Flow f = flow::ParseFlow(text, "fuzz.toml", "/nonexistent");
    fuzz::Check(!f.steps.empty(), "a flow without steps parsed");
    fuzz::Check(ValidCatalogName(f.name) && ValidCatalogName(f.model), "a bad name parsed");
    const auto kinds = flow::StepKinds();
    std::set<std::string> names;
    for (const auto& s : f.steps) {
      fuzz::Check(names.insert(s.name).second, "duplicate step names parsed");
      fuzz::Check(ValidCatalogName(s.name), "a bad step name parsed");
      fuzz::Check(std::find(kinds.begin(), kinds.end(), s.kind) != kinds.end(),
                  "an unknown step kind parsed");
      fuzz::Check(s.spec.is_object() && s.spec["kind"] == s.kind, "the spec lost its kind");
    }
  } catch (const Error& e) {
    fuzz::Check(std::string(e.what()).find("fuzz.toml") != std::string::npos,
                "a flow error does not name the file");
  }
  return 0;
}
