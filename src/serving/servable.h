// The kinds of model serving's routes answer, by the name their ModelKind gives itself
// (core/model_kind.h): the model manager holds one slot per served reference and kind, and each
// route handler asks it for servables of its kind:
//   recommender  /v1/recommend, /v1/recommend/batch, /v1/similar-items (ServableModel)
//   bandit       /v1/decide, /v1/reward (LivePolicy)
//   tabular      /v1/predict (TabularServable)
#pragma once

namespace marquee {

inline constexpr const char* kKindRecommender = "recommender";
inline constexpr const char* kKindBandit = "bandit";
inline constexpr const char* kKindTabular = "tabular";

}  // namespace marquee
