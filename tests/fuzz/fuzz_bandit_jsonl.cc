// Fuzzes the JSONL bandit-log reader (ParseBanditJsonl in src/bandits/log.cc). A log that
// parses must validate, and survive a snapshot round trip (SaveBanditLog / LoadBanditLog) with
// the same rows.
#include <cstdint>
#include <string>

#include "bandits/log.h"
#include "fuzz_util.h"
#include "marquee/env.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  try {
    BanditLog log = ParseBanditJsonl(fuzz::AsText(data, size), "fuzz.jsonl");
    log.Validate();
    (void)log.Stats().dump();
    for (size_t i = 0; i < log.rows.size(); ++i) (void)log.Input(i);
    const std::string path = fuzz::ScratchDir() + "/round.mqbl";
    SaveBanditLog(log, path, Env::Default());
    BanditLog back = LoadBanditLog(path, Env::Default());
    fuzz::Check(back.rows.size() == log.rows.size(), "snapshot changed the row count");
    fuzz::Check(back.action_sets.size() == log.action_sets.size(),
                "snapshot changed the action sets");
  } catch (const Error&) {
  }
  return 0;
}
