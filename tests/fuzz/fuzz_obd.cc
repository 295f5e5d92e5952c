// Fuzzes the Open Bandit Dataset reader (ReadObd in src/bandits/log.cc). The input is the
// campaign CSV, then a line "====", then item_context.csv (the file ReadObd reads beside it);
// without the separator the item context is empty.
#include <cstdint>
#include <filesystem>
#include <string>

#include "bandits/log.h"
#include "fuzz_util.h"
#include "marquee/env.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  std::string_view text = fuzz::AsText(data, size);
  std::string_view campaign = text, items;
  if (size_t sep = text.find("\n====\n"); sep != std::string_view::npos) {
    campaign = text.substr(0, sep + 1);
    items = text.substr(sep + 6);
  }
  static const bool made = [] {
    std::filesystem::create_directories(fuzz::ScratchDir() + "/obd/random/men");
    return true;
  }();
  (void)made;
  fuzz::WriteInput("obd/random/men/men.csv", campaign);
  // ReadObd looks for item_context.csv beside the campaign file (and in the folders above).
  fuzz::WriteInput("obd/random/men/item_context.csv", items);
  try {
    BanditLog log = ReadObd(fuzz::ScratchDir() + "/obd/random/men/men.csv", Env::Default());
    log.Validate();
    (void)log.Stats().dump();
    for (size_t i = 0; i < log.rows.size(); ++i) (void)log.ChosenAction(i);
  } catch (const Error&) {
  }
  return 0;
}
