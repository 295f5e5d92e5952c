// Fuzzes every loader of the artifact container (src/models/artifact.cc) and the formats built
// on it: model bundles (recommenders: LoadModelBundle), bandit policies (LoadPolicy), bandit-log
// snapshots (LoadBanditLog), tabular snapshots (.mqtab: LoadTabularSnapshot) and tabular model
// artifacts (Predictor::Load, which hands the embedded bytes to XGBoost). The input is the file;
// each loader is tried on it (all but the matching family refuse it at once). A loaded object
// is used a little (a recommendation, a decision, a prediction), so values that pass the
// loader's checks but break later (indices out of range, NaN sizes) are found too.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bandits/log.h"
#include "bandits/policy.h"
#include "fuzz_util.h"
#include "kinds/recommender/model_bundle.h"
#include "marquee/context.h"
#include "marquee/env.h"
#include "marquee/recommender.h"
#include "marquee/sparse.h"
#include "models/artifact.h"
#include "tabular/predictor.h"
#include "tabular/table.h"

namespace {

using namespace marquee;

template <typename F>
void Try(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::WriteInput("input.mqm", fuzz::AsText(data, size));
  Env* env = Env::Default();
  Try([&] {
    auto r = ArtifactReader::Open(path, env);
    (void)r->header().dump();
  });
  Try([&] {
    ModelBundle b = LoadModelBundle(path, env);
    const uint32_t n = b.model->num_items();
    fuzz::Check(n == b.item_ids.size(), "a loaded bundle's model and item ids agree");
    if (n == 0 || n > (1u << 20)) return;
    // Fold in a one-item history and score every item, as serving does.
    const std::vector<uint32_t> rows = {0}, cols = {0};
    const std::vector<float> vals = {1.0f};
    CsrMatrix h = CsrMatrix::FromTriplets(1, n, rows, cols, vals);
    std::vector<float> out(n);
    Context ctx;
    b.model->ScoreBatch(h, out, ctx);
  });
  Try([&] {
    auto p = LoadPolicy(path, env);
    DecisionInput in;
    in.context = {{"hour", 21.0}, {"device", std::string("mobile")}};
    for (const char* id : {"a", "b", "c"}) in.actions.push_back({id, {}});
    std::mt19937_64 rng(7);
    std::vector<double> probs = p->Probabilities(in, rng);
    double sum = 0;
    for (double q : probs) sum += q;
    fuzz::Check(probs.size() == in.actions.size(), "one probability per action");
    fuzz::Check(!(std::fabs(sum - 1.0) > 1e-6), "probabilities sum to 1");
  });
  Try([&] {
    BanditLog log = LoadBanditLog(path, env);
    log.Validate();
    for (size_t i = 0; i < log.rows.size(); ++i) (void)log.ChosenAction(i);
  });
  Try([&] {
    TabularData t = LoadTabularSnapshot(path, env);
    (void)t.Stats();
  });
  Try([&] {
    auto p = Predictor::Load(path, env);
    std::vector<float> row(p->num_features(), NAN);
    (void)p->PredictMatrix(row, 1, true);
  });
  return 0;
}
