// Fuzzes the interop readers of bandit logs (src/bandits/log_readers.cc): the first byte picks
// DSJSON (even) or VW text cb_adf (odd), the rest is the file. A log that parses must validate,
// key every row as hashing its maps does (BanditLog::Keyed, the learners' path), and survive a
// v2 snapshot round trip (SaveBanditLog / LoadBanditLog, the typed reader) with the same rows.
#include <cstdint>
#include <string>

#include "bandits/log.h"
#include "fuzz_util.h"
#include "marquee/env.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  if (size == 0) return 0;
  try {
    const std::string text(fuzz::AsText(data + 1, size - 1));
    BanditLog log = data[0] % 2 == 0 ? ParseDsjson(text, "fuzz.json") : ParseVwAdf(text, "fuzz.vw");
    log.Validate();
    KeyedScratch a, b;
    for (size_t i = 0; i < log.rows.size(); ++i) {
      const KeyedInput& k = log.Keyed(i, &a);
      const KeyedInput& r = b.Key(log.Context(i), log.action_sets[log.rows[i].action_set]);
      fuzz::Check(k.context.size() == r.context.size(), "Keyed differs from hashing the map");
      for (size_t j = 0; j < k.context.size(); ++j) {
        fuzz::Check(k.context[j].key == r.context[j].key, "Keyed key differs");
      }
    }
    const std::string path = fuzz::ScratchDir() + "/formats.mqbl";
    SaveBanditLog(log, path, Env::Default());
    BanditLog back = LoadBanditLog(path, Env::Default());
    fuzz::Check(back.rows.size() == log.rows.size(), "snapshot changed the row count");
    for (size_t i = 0; i < log.rows.size(); ++i) {
      fuzz::Check(back.Context(i) == log.Context(i), "snapshot changed a context");
    }
  } catch (const Error&) {
  }
  return 0;
}
