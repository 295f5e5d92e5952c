// Fuzzes the tabular CSV reader (ParseTabularCsv in src/tabular/table.cc): quoting, CRLF, BOM,
// type inference, missing tokens. The first byte picks the options (label "y" or no label, a
// forced type, a delimiter); the rest is the file. A successful parse must give every column
// the same number of rows, survive Stats(), and round-trip through a .mqtab snapshot.
#include <cmath>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "marquee/env.h"
#include "tabular/table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  TabularReadOptions o;
  o.label = "y";
  o.require_label = (flags & 1) == 0;
  if (flags & 2) o.time_col = "t";
  if (flags & 4) o.id_col = "id";
  if (flags & 8) o.types["c"] = "categorical";
  if (flags & 16) o.types["b"] = (flags & 64) ? "boolean" : "ignore";
  if (flags & 32) o.delimiter = (flags & 128) ? ';' : '\t';
  const std::string text(fuzz::AsText(data + 1, size - 1));
  try {
    TabularData t = ParseTabularCsv(text, "fuzz.csv", o);
    fuzz::Check(t.columns.size() == t.schema.columns.size(), "columns != schema columns");
    for (const auto& c : t.columns) {
      fuzz::Check(c.empty() || c.size() == t.rows, "a column's length differs from rows");
    }
    fuzz::Check(t.times.empty() || t.times.size() == t.rows, "times' length differs from rows");
    (void)t.Stats();
    (void)t.schema.ToJson().dump();
    const std::string path = fuzz::ScratchDir() + "/round.mqtab";
    SaveTabularSnapshot(t, path, Env::Default());
    TabularData back = LoadTabularSnapshot(path, Env::Default());
    fuzz::Check(back.rows == t.rows, "snapshot changed the row count");
    fuzz::Check(back.schema.columns.size() == t.schema.columns.size(),
                "snapshot changed the column count");
  } catch (const Error&) {
  }
  return 0;
}
