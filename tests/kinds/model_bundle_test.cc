// LoadModelBundle over damaged artifacts: every problem is marquee::Error kCorruption naming the
// file, whatever family's loader meets it.
#include "kinds/recommender/model_bundle.h"

#include <gtest/gtest.h>

#include "marquee/env.h"
#include "marquee/error.h"
#include "models/artifact.h"
#include "test_util.h"

namespace marquee {
namespace {

// Found by the artifact fuzzer: an EASE artifact whose header lost its "ease" section (the
// checksums cover the tensors, not the family's header keys) made Ease::Load throw
// json::out_of_range, outside the error model.
TEST(ModelBundle, AFamilyHeaderSectionThatIsMissingIsCorruptionNamingTheFile) {
  testing::TempDir dir;
  ArtifactWriter w("ease", {{"params", {{"lambda", 3.0}}}});
  const std::string path = dir.file("no-ease-section.mqm");
  w.Write(path, Env::Default());
  try {
    LoadModelBundle(path, Env::Default());
    FAIL() << "expected kCorruption";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find("no-ease-section.mqm"), std::string::npos) << what;
    EXPECT_NE(what.find("damaged header"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace marquee
