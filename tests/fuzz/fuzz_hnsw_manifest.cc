// Fuzzes the saved-graph files of an HNSW index (models/ann_index.h, issue #18): the input's
// bytes up to the first NUL are the manifest (PATH.json), the rest the graph file. A manifest that
// parses round-trips through EncodeHnswManifest; FactorIndex::Load over the pair refuses what does
// not verify with marquee::Error and never hands hnswlib a file whose sha256 differs from its
// manifest's, so a loaded index (only a graph Save wrote can verify) answers a query. The load's
// settings take the manifest's quantization (format 2: "none" or "sq8"; format 1: "none"), so
// float and SQ8 graphs are both read (seeds: saved, a format-1 float graph; saved_sq8).
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "models/ann_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  const std::string text(fuzz::AsText(data, size));
  const size_t eol = text.find('\0');
  const std::string manifest = text.substr(0, eol);
  const std::string graph = eol == std::string::npos ? "" : text.substr(eol + 1);
  HnswQuantization quantization = HnswQuantization::kNone;
  try {
    const HnswManifest m = ParseHnswManifest(manifest);
    const HnswManifest back = ParseHnswManifest(EncodeHnswManifest(m));
    fuzz::Check(back.items == m.items && back.dim == m.dim && back.m == m.m &&
                    back.ef_construction == m.ef_construction &&
                    back.l2_transform == m.l2_transform && back.quantization == m.quantization &&
                    back.bytes == m.bytes && back.sha256 == m.sha256,
                "a manifest changed in its round trip");
    quantization = m.quantization;
  } catch (const Error&) {
  }
  // Four items of two factors, the settings a seed's manifest names.
  static const std::vector<float> rows = {1, 0, 0, 1, 0.5f, 0.5f, -1, 0};
  const ItemFactors items{rows.data(), 4, 2};
  HnswParams p;
  p.m = 4;
  p.ef_construction = 8;
  p.quantization = quantization;
  const std::string path = fuzz::WriteInput("g.hnsw", graph);
  fuzz::WriteInput("g.hnsw.json", manifest);
  Env* env = Env::Default();
  try {
    auto index = FactorIndex::Load(items, p, path, env);
    fuzz::Check(index != nullptr, "a graph and its manifest present, and no answer");
    std::vector<uint32_t> top;
    std::vector<float> scores;
    const float q[2] = {1, 1};
    index->TopK(q, 2, {}, nullptr, top, scores);
    fuzz::Check(top.size() == 2, "a loaded graph did not answer");
  } catch (const Error&) {
  }
  return 0;
}
