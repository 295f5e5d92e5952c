// Popularity: every user gets the items with the most positive interactions in training.
// The baseline every other family must beat, and the fallback for users with no history.
#include <algorithm>

#include "marquee/error.h"
#include "marquee/recommender.h"
#include "models/artifact.h"
#include "models/params.h"

namespace marquee {
namespace {

class Popularity final : public Recommender {
 public:
  explicit Popularity(const nlohmann::json& params) {
    ParamReader p("popularity", params);
    weighted_ = p.Bool("weighted", false);
    p.Finish();
    params_ = p.resolved();
  }
  std::string_view family() const override { return "popularity"; }
  nlohmann::json params() const override { return params_; }
  uint32_t num_items() const override { return static_cast<uint32_t>(counts_.size()); }

  void Fit(const CsrMatrix& x, const Context& ctx) override {
    counts_.assign(x.cols, 0.0f);
    for (uint64_t k = 0; k < x.nnz(); ++k) counts_[x.indices[k]] += weighted_ ? x.values[k] : 1.0f;
    ctx.Report("popularity", 1.0);
  }

  void ScoreBatch(const CsrMatrix& histories, std::span<float> out,
                  const Context& ctx) const override {
    const size_t n = counts_.size();
    if (out.size() != static_cast<size_t>(histories.rows) * n) {
      Fail(ErrorCode::kInternal, "ScoreBatch: output has {} floats, need {}", out.size(),
           static_cast<size_t>(histories.rows) * n);
    }
    for (uint32_t r = 0; r < histories.rows; ++r) {
      std::copy(counts_.begin(), counts_.end(), out.begin() + static_cast<ptrdiff_t>(r * n));
    }
  }

  void Save(ArtifactWriter& w) const override { w.Add<float>("counts", counts_); }
  void Load(const ArtifactReader& r) override { counts_ = r.GetVector<float>("counts"); }

 private:
  bool weighted_ = false;
  nlohmann::json params_;
  std::vector<float> counts_;
};

}  // namespace

std::unique_ptr<Recommender> NewPopularity(const nlohmann::json& params) {
  return std::make_unique<Popularity>(params);
}

}  // namespace marquee
