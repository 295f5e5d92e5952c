// Fuzzes the interaction readers (src/data/readers.cc): MovieLens u.data / ratings.csv /
// ratings.dat, generic CSV / TSV / JSONL, and "auto" detection by file name and content. The
// first byte picks the format (and the file name auto-detection sees), the second the header
// and bad-line options; the rest is the file. A successful read is turned into a Dataset, saved
// as a snapshot and reopened, and the round trip must keep every row; ReadDataset must give the
// same snapshot bytes (or the same error).
#include <cstdint>
#include <string>

#include "data/readers.h"
#include "fuzz_util.h"
#include "marquee/dataset.h"
#include "marquee/env.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  if (size < 2) return 0;
  struct Format {
    const char* format;
    const char* file;
  };
  static constexpr Format kFormats[] = {
      {"auto", "u.data"},       {"auto", "ratings.csv"},    {"auto", "ratings.dat"},
      {"auto", "events.jsonl"}, {"auto", "events.tsv"},     {"auto", "events.txt"},
      {"movielens", "u.data"},  {"movielens-csv", "r.csv"}, {"movielens-dat", "r.dat"},
      {"csv", "x.csv"},         {"tsv", "x.tsv"},           {"jsonl", "x.jsonl"},
  };
  const Format& f = kFormats[data[0] % std::size(kFormats)];
  ReadOptions o;
  o.format = f.format;
  const uint8_t flags = data[1];
  if (flags & 1) o.header = (flags & 2) != 0;
  o.skip_bad_lines = (flags & 4) != 0;
  if (flags & 8) o.delimiter = ';';
  if (flags & 16) o.value_col = "none";
  if (flags & 32) o.time_col = "3";
  const std::string path = fuzz::WriteInput(f.file, fuzz::AsText(data + 2, size - 2));
  Env* env = Env::Default();
  // ReadDataset (straight into columns) must agree with the record path: the same error, or
  // the same snapshot bytes.
  std::string columns_sha, columns_error;
  try {
    DatasetReadResult c = ReadDataset(path, o, env);
    if (c.dataset.num_interactions() > 0) {
      columns_sha = c.dataset.Save(fuzz::ScratchDir() + "/columns.snap", env);
    }
  } catch (const Error& e) {
    columns_error = e.what();
  }
  try {
    ReadResult r = ReadInteractions(path, o, env);
    fuzz::Check(columns_error.empty(), "ReadDataset failed where ReadInteractions read");
    fuzz::Check(r.rows.size() <= r.lines, "more rows than data lines");
    fuzz::Check(r.rows.empty() == columns_sha.empty(), "ReadDataset row count differs");
    if (r.rows.empty()) return 0;
    Dataset d = Dataset::FromRows(r.rows, r.has_values, r.has_times, path);
    fuzz::Check(d.num_interactions() == r.rows.size(), "FromRows lost rows");
    fuzz::Check(d.Save(fuzz::ScratchDir() + "/round.snap", env) == columns_sha,
                "ReadDataset's snapshot differs from FromRows'");
    Dataset back = Dataset::Open(fuzz::ScratchDir() + "/round.snap", env);
    fuzz::Check(back.num_interactions() == d.num_interactions(), "snapshot lost rows");
    fuzz::Check(back.num_users() == d.num_users() && back.num_items() == d.num_items(),
                "snapshot changed the id dictionaries");
    for (uint32_t u = 0; u < back.num_users(); ++u) {
      fuzz::Check(back.find_user(back.user_id(u)) == u, "user id lookup differs");
    }
  } catch (const Error& e) {
    // Bad input: a named error is the documented answer, the same from both paths.
    fuzz::Check(columns_error == e.what(), "ReadDataset's error differs from ReadInteractions'");
  }
  return 0;
}
