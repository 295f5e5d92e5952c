// Fuzzes the XGBoost model import (DescribeImportedModel in src/tabular/predictor.cc, which
// hands the bytes to XGBoost's JSON / UBJSON loader through XgbModel::FromBuffer), as
// `marquee tabular import` does with a user's file. A model that loads is asked for its
// feature names and scores one all-missing row.
//
// Expected to find: XGBoost 1.7's UBJSON reader trusts lengths in the file and crashes on some
// truncated or mutated UBJSON models (being fixed by another change; the crashing input is kept
// in tests/fuzz/pending/xgb_model/, not in the regression corpus, until then).
#include <cmath>
#include <cstdint>
#include <vector>

#include "fuzz_util.h"
#include "tabular/predictor.h"
#include "tabular/xgb_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace marquee;
  try {
    XgbModel model;
    TabularModelInfo info = DescribeImportedModel({data, size}, &model);
    fuzz::Check(info.feature_names.size() == model.NumFeatures(),
                "one feature name per model feature");
    if (model.NumFeatures() == 0 || model.NumFeatures() > 100000) return 0;
    std::vector<float> row(model.NumFeatures(), NAN);
    (void)model.PredictDense(row.data(), 1, false);
  } catch (const Error&) {
  }
  return 0;
}
