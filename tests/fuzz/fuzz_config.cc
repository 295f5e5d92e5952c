// Fuzzes the train config parsers (src/pipeline/config.cc): ParseTrainConfig (TOML), or
// ParseTrainConfigJson (the jobs API's JSON form) when the text starts with '{', with `--set`
// overrides: everything after a line "--set" is one override per line. Parsing only: nothing is
// read from or written to disk.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "pipeline/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  std::string text(fuzz::AsText(data, size));
  std::vector<std::string> overrides;
  if (size_t sep = text.find("\n--set\n"); sep != std::string::npos) {
    std::string rest = text.substr(sep + 7);
    text.resize(sep + 1);
    size_t start = 0;
    while (start <= rest.size()) {
      size_t end = rest.find('\n', start);
      if (end == std::string::npos) end = rest.size();
      if (end > start) overrides.push_back(rest.substr(start, end - start));
      start = end + 1;
    }
  }
  try {
    TrainConfig c = !text.empty() && text[0] == '{'
                        ? ParseTrainConfigJson(text, "/nonexistent/fuzz.json", overrides)
                        : ParseTrainConfig(text, "/nonexistent/fuzz.toml", overrides);
    (void)c.as_given.dump();
  } catch (const Error&) {
  }
  return 0;
}
