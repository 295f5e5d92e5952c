// The pipeline step registry and the helpers every step uses (flow/step.h).
#include "flow/step.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace marquee::flow {
namespace {

class CountingStep final : public PipelineStep {
 public:
  explicit CountingStep(int* runs) : runs_(runs) {}
  void Validate(const nlohmann::json& spec) const override { CheckStepKeys(spec, {"n"}); }
  StepResult Run(const nlohmann::json& spec, StepContext& ctx) override {
    ++*runs_;
    StepResult r;
    r.outputs = {{"n", NumberKey(spec, "n", 1) * 2}, {"step", ctx.step_name}};
    return r;
  }

 private:
  int* runs_;
};

TEST(PipelineSteps, BuiltinKindsAreRegistered) {
  const auto kinds = StepKinds();
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "promote"), kinds.end());
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "rollback"), kinds.end());
  EXPECT_TRUE(std::is_sorted(kinds.begin(), kinds.end()));
}

TEST(PipelineSteps, UnknownKindNamesTheKnownOnes) {
  testing::ExpectError([] { CreateStep("retrain-everything"); }, ErrorCode::kInvalidArgument,
                       "unknown step kind 'retrain-everything' (known: ");
  testing::ExpectError([] { CreateStep("retrain-everything"); }, ErrorCode::kInvalidArgument,
                       "promote");
}

TEST(PipelineSteps, RegisteredAtRunTime) {
  int runs = 0;
  RegisterStep("test-counting", [&runs] { return std::make_unique<CountingStep>(&runs); });
  auto step = CreateStep("test-counting");
  const nlohmann::json spec = {{"name", "c"}, {"kind", "test-counting"}, {"n", 21}};
  step->Validate(spec);
  testing::ExpectError(
      [&] {
        step->Validate({{"name", "c"}, {"kind", "test-counting"}, {"m", 1}});
      },
      ErrorCode::kInvalidArgument, "unknown key 'm' (known: n)");
  testing::TempDir home;
  Registry registry(home.path());
  const nlohmann::json earlier = nlohmann::json::object();
  StepContext ctx(registry, earlier);
  ctx.step_name = "c";
  const StepResult r = step->Run(spec, ctx);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(r.outputs["n"].get<double>(), 42.0);
  EXPECT_EQ(r.outputs["step"], "c");
  testing::ExpectError([] { RegisterStep("", nullptr); }, ErrorCode::kInvalidArgument, "kind");
}

TEST(PipelineSteps, KeyHelpersNameTheKeyAndType) {
  const nlohmann::json spec = {{"alias", 3}, {"min_ratio", "high"}, {"on", 1}};
  testing::ExpectError([&] { StringKey(spec, "alias", ""); }, ErrorCode::kInvalidArgument,
                       "'alias' must be a string, not number");
  testing::ExpectError([&] { NumberKey(spec, "min_ratio", 0); }, ErrorCode::kInvalidArgument,
                       "'min_ratio' must be a number, not string");
  testing::ExpectError([&] { BoolKey(spec, "on", false); }, ErrorCode::kInvalidArgument,
                       "'on' must be true or false");
  EXPECT_EQ(StringKey(spec, "missing", "dflt"), "dflt");
  EXPECT_EQ(NumberKey(spec, "missing", 2.5), 2.5);
}

TEST(PipelineSteps, LatestOutputsFollowTheOrder) {
  testing::TempDir home;
  Registry registry(home.path());
  const nlohmann::json earlier = {{"first", {{"candidate", {{"model", "m"}, {"version", 1}}}}},
                                  {"snap", {{"snapshot", "abc"}}},
                                  {"second", {{"candidate", {{"model", "m"}, {"version", 2}}}}}};
  StepContext ctx(registry, earlier);
  ctx.order = {{"first", "train"}, {"snap", "snapshot"}, {"second", "train"}};
  ASSERT_NE(LatestOutputOf(ctx, "train"), nullptr);
  EXPECT_EQ((*LatestOutputOf(ctx, "train"))["candidate"]["version"], 2);
  EXPECT_EQ(LatestOutputOf(ctx, "gate"), nullptr);
  EXPECT_EQ((*LatestWith(ctx, "snapshot"))["snapshot"], "abc");
  // No such version in this registry: resolving the candidate says so.
  testing::ExpectError([&] { LatestCandidate(ctx); }, ErrorCode::kNotFound, "m");
  ctx.order.clear();
  testing::ExpectError([&] { LatestCandidate(ctx); }, ErrorCode::kFailedPrecondition,
                       "no earlier step made a candidate version");
}

}  // namespace
}  // namespace marquee::flow
