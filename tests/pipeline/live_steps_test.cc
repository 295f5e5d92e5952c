// The shadow and canary steps' keys as FLOW.toml gives them (issue #17): defaults accepted,
// every bad value refused with the file, step and key named before anything runs. Their runs
// against a server are tests/serving/live_steps_slow_test.cc.
#include <gtest/gtest.h>

#include "flow/flow.h"
#include "flow/step.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee::flow {
namespace {

const std::string kHead = "[pipeline]\nname = \"p\"\nmodel = \"m\"\n";

void Bad(const std::string& step, const std::string& needle) {
  testing::ExpectError([&] { ParseFlow(kHead + step, "flow.toml"); }, ErrorCode::kInvalidArgument,
                       needle);
}

TEST(LiveStepKeys, ShadowAndCanaryParseWithTheirDefaultsAndEveryKey) {
  const Flow f = ParseFlow(
      kHead +
          "[[step]]\nname = \"s\"\nkind = \"shadow\"\n"
          "[[step]]\nname = \"s2\"\nkind = \"shadow\"\nsample = 0.5\nmin_requests = 10\n"
          "min_requests_with_plays = 0\nmax_recall_drop = 0\nwindow = \"30m\"\ntimeout = 90\n"
          "poll = 0.25\nevent_types = [\"play\"]\n"
          "[[step]]\nname = \"c\"\nkind = \"canary\"\n"
          "[[step]]\nname = \"c2\"\nkind = \"canary\"\nshare = 0.3\nmin_members = 50\n"
          "max_drop = 0.05\nalpha = 0.01\nmax_head_share_change = 0.3\nwindow = \"2h\"\n"
          "timeout = \"1h\"\npoll = \"5s\"\n"
          "event_types = [\"play\", \"click\"]\nalias = \"live\"\n",
      "flow.toml");
  ASSERT_EQ(f.steps.size(), 4u);
  EXPECT_EQ(f.steps[1].kind, "shadow");
  EXPECT_EQ(f.steps[3].kind, "canary");
  const auto kinds = StepKinds();
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "shadow"), kinds.end());
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "canary"), kinds.end());
}

TEST(LiveStepKeys, BadValuesAreRefusedNamingTheStepAndKey) {
  const std::string s = "[[step]]\nname = \"s\"\nkind = \"shadow\"\n";
  const std::string c = "[[step]]\nname = \"c\"\nkind = \"canary\"\n";
  const std::pair<std::string, std::string> cases[] = {
      {s + "sample = 0\n", "step 's': 'sample' must be in (0, 1]"},
      {s + "sample = 1.5\n", "'sample' must be in (0, 1]"},
      {s + "min_requests = 0\n", "'min_requests' must be at least 1"},
      {s + "max_recall_drop = 2\n", "'max_recall_drop' must be in [0, 1]"},
      {s + "window = \"soon\"\n", "window"},
      {s + "timeout = -1\n", "'timeout' must be positive"},
      {s + "event_types = \"play\"\n", "'event_types' must be a list of strings"},
      {s + "share = 0.1\n", "unknown key 'share'"},
      {c + "share = 1\n", "share: must be in (0, 1)"},
      {c + "min_members = 1\n", "min_members: must be at least 2"},
      {c + "max_drop = 1\n", "max_drop: must be in [0, 1)"},
      {c + "alpha = 0\n", "alpha: must be in (0, 1)"},
      {c + "max_head_share_change = 1.5\n", "'max_head_share_change' must be in [0, 1]"},
      {c + "max_head_share_change = -0.1\n", "'max_head_share_change' must be in [0, 1]"},
      {c + "alias = \"bad alias!\"\n", "alias"},
      {c + "sample = 0.2\n", "unknown key 'sample'"},
  };
  for (const auto& [step, needle] : cases) Bad(step, needle);
}

}  // namespace
}  // namespace marquee::flow
