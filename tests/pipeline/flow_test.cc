// FLOW.toml parsing and the pipeline engine in process (flow/flow.h, flow/engine.h): errors that
// name the file, step and key; a worse candidate stopped at the gate with production untouched;
// records in the registry; resume reusing completed steps and never registering a version twice.
#include <gtest/gtest.h>

#include <fstream>

#include "flow/engine.h"
#include "flow/flow.h"
#include "flow/schedule.h"
#include "flow/step.h"
#include "marquee/env.h"
#include "pipeline/train.h"
#include "test_util.h"

namespace marquee::flow {
namespace {

using json = nlohmann::json;

// Two taste groups of 120 users over 40 items, plus cross-group noise: EASE learns the groups,
// popularity cannot.
void MakeData(const testing::TempDir& dir) {
  std::ofstream f(dir.file("plays.tsv"));
  for (int u = 0; u < 240; ++u) {
    const int group = u % 2;
    for (int k = 0; k < 10; ++k) {
      f << "u" << u << "\ti" << (group * 20 + (u * 7 + k * 3) % 20) << "\t1\t" << 1000 + k << "\n";
    }
    for (int k = 0; k < 3; ++k) f << "u" << u << "\ti" << (u * 13 + k * 29) % 80 << "\t1\t990\n";
  }
  const std::string common =
      "[data]\ntrain = \"plays.tsv\"\n[split]\ntest_users = 40\n[eval]\nmetrics = "
      "[\"recall@20\", \"ndcg@10\"]\n";
  std::ofstream(dir.file("good.toml")) << common << "[model]\nfamily = \"ease\"\nlambda = 50.0\n";
  std::ofstream(dir.file("bad.toml")) << common << "[model]\nfamily = \"popularity\"\n";
}

std::string FlowText(const std::string& config, const std::string& extra = "") {
  return "[pipeline]\nname = \"fresh\"\nmodel = \"recs\"\n"
         "[[step]]\nname = \"train\"\nkind = \"train\"\nconfig = \"" +
         config + "\"\n" + extra +
         "[[step]]\nname = \"evaluate\"\nkind = \"evaluate\"\n"
         "[[step]]\nname = \"gate\"\nkind = \"gate\"\nmetric = \"recall@20\"\nmin_ratio = 1.0\n"
         "[[step]]\nname = \"promote\"\nkind = \"promote\"\n";
}

TEST(FlowParse, ReadsPipelineServerAndSteps) {
  const Flow f = ParseFlow(
      "[pipeline]\nname = \"p\"\nmodel = \"m\"\n[server]\nurl = \"http://127.0.0.1:1\"\n"
      "token_env = \"KEY\"\n[[step]]\nname = \"a\"\nkind = \"rollback\"\n",
      "/x/flow.toml");
  EXPECT_EQ(f.name, "p");
  EXPECT_EQ(f.model, "m");
  EXPECT_EQ(f.server_url, "http://127.0.0.1:1");
  EXPECT_EQ(f.token_env, "KEY");
  EXPECT_EQ(f.dir, "/x");
  ASSERT_EQ(f.steps.size(), 1u);
  EXPECT_EQ(f.steps[0].kind, "rollback");
  EXPECT_EQ(f.Find("a"), 0);
  EXPECT_EQ(f.Find("b"), -1);
}

TEST(FlowParse, ErrorsNameTheFileStepAndKey) {
  const std::string head = "[pipeline]\nname = \"p\"\nmodel = \"m\"\n";
  auto bad = [](const std::string& text, const std::string& needle) {
    testing::ExpectError([&] { ParseFlow(text, "flow.toml"); }, ErrorCode::kInvalidArgument,
                         needle);
  };
  bad("[[step]]\nname = \"a\"\nkind = \"train\"\nconfig = \"c\"\n",
      "flow.toml: missing [pipeline]");
  bad("[pipeline]\nname = \"p\"\n[[step]]\nname = \"a\"\nkind = \"rollback\"\n",
      "flow.toml: [pipeline]: missing key 'model'");
  bad(head, "flow.toml: no [[step]] tables");
  bad(head + "[extra]\n", "flow.toml: unknown key 'extra'");
  bad(head + "[[step]]\nname = \"a\"\nkind = \"teleport\"\n",
      "flow.toml: step 'a': unknown step kind 'teleport' (known: ");
  bad(head + "[[step]]\nname = \"t\"\nkind = \"train\"\nconfig = \"c.toml\"\nepochs = 3\n",
      "flow.toml: step 't': unknown key 'epochs' (known: config, set)");
  bad(head + "[[step]]\nname = \"g\"\nkind = \"gate\"\nmetric = \"recall@20\"\nmin_ratio = \"x\"\n",
      "flow.toml: step 'g': 'min_ratio' must be a number, not string");
  bad(head + "[[step]]\nname = \"g\"\nkind = \"gate\"\n", "step 'g': give exactly one of metric");
  bad(head +
          "[[step]]\nname = \"a\"\nkind = \"rollback\"\n[[step]]\nname = \"a\"\nkind = "
          "\"rollback\"\n",
      "step 'a': the name is used by an earlier step");
  bad(head + "[[step]]\nkind = \"rollback\"\n", "flow.toml: [[step]] #1: missing key 'name'");
  bad(head + "[[step]]\nname = \"s\"\nkind = \"snapshot\"\n", "step 's': missing key 'base'");
  bad(head + "[server]\nurl = \"ftp://x\"\n[[step]]\nname = \"a\"\nkind = \"rollback\"\n",
      "[server]: url 'ftp://x' must start with http://");
  bad("[pipeline\n", "flow.toml:1");
}

class FlowEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeData(dir_);
    home_ = dir_.file("home");
    options_.home = home_;
    options_.ctx.threads = 2;
  }
  Flow Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.file(name)) << text;
    return LoadFlow(dir_.file(name));
  }
  testing::TempDir dir_;
  std::string home_;
  EngineOptions options_;
};

TEST_F(FlowEngine, WorseCandidateStopsAtTheGateAndProductionIsUntouched) {
  Registry registry = OpenRegistry(home_);
  const PipelineRun first = RunFlow(Write("good.flow", FlowText("good.toml")),
                                    dir_.file("good.flow"), registry, options_);
  ASSERT_EQ(first.state, "completed") << first.Text();
  EXPECT_EQ(registry.Resolve("recs@production").version, 1);

  const PipelineRun worse =
      RunFlow(Write("bad.flow", FlowText("bad.toml")), dir_.file("bad.flow"), registry, options_);
  EXPECT_EQ(worse.state, "stopped") << worse.Text();
  ASSERT_EQ(worse.steps.size(), 3u);  // promote never ran
  EXPECT_EQ(worse.steps[2].name, "gate");
  EXPECT_EQ(worse.steps[2].state, "stopped");
  EXPECT_NE(worse.reason.find("recall@20: candidate v2"), std::string::npos) << worse.reason;
  EXPECT_FALSE(worse.steps[2].outputs["passed"].get<bool>());
  EXPECT_LT(worse.steps[2].outputs["candidate_value"].get<double>(),
            worse.steps[2].outputs["production_value"].get<double>());
  EXPECT_EQ(registry.Resolve("recs@production").version, 1);  // untouched
  EXPECT_EQ(registry.Overview("recs").alias_history.size(), 1u);

  // The records read back the same from the registry, newest first.
  const auto runs = ListPipelineRuns(registry, 10);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].run_id, worse.run_id);
  EXPECT_EQ(runs[0].state, "stopped");
  EXPECT_EQ(runs[0].steps.size(), 3u);
  EXPECT_EQ(runs[0].steps[0].outputs["candidate"]["version"], 2);
  EXPECT_EQ(runs[1].state, "completed");
  // Lineage: the train step's candidate names the training run that recorded the dataset.
  const int64_t train_run = runs[1].steps[0].outputs["run_id"].get<int64_t>();
  EXPECT_EQ(registry.GetRun(train_run).version, 1);
  EXPECT_FALSE(registry.GetRun(train_run).dataset_id.empty());
  const RunRecord step = registry.GetRun(runs[1].steps[0].run_id);
  EXPECT_EQ(step.tags.at("pipeline_run"), std::to_string(runs[1].run_id));
  EXPECT_EQ(step.tags.at("state"), "completed");
  testing::ExpectError([&] { LoadPipelineRun(registry, train_run); }, ErrorCode::kNotFound,
                       "is not a pipeline run");
  testing::ExpectError([&] { ResumeRun(first.run_id, registry, options_); },
                       ErrorCode::kFailedPrecondition, "refused: pipeline run");
}

// A step that trains and then dies before its record says so (as a kill -9 right after the
// version's registration would), the first time only.
int g_dies = 1;
class TrainThenDie final : public PipelineStep {
 public:
  void Validate(const json& spec) const override { CreateStep("train")->Validate(spec); }
  StepResult Run(const json& spec, StepContext& ctx) override {
    StepResult r = CreateStep("train")->Run(spec, ctx);
    if (g_dies-- > 0) throw Error(ErrorCode::kUnavailable, "simulated crash after registration");
    return r;
  }
};

TEST_F(FlowEngine, ResumeReusesCompletedStepsAndNeverRegistersTwice) {
  RegisterStep("test-train-then-die", [] { return std::make_unique<TrainThenDie>(); });
  g_dies = 1;
  Registry registry = OpenRegistry(home_);
  std::string text = FlowText("good.toml");
  // A first step that completes, then the dying train step.
  text.replace(text.find("[[step]]\nname = \"train\"\nkind = \"train\""),
               std::string("[[step]]\nname = \"train\"\nkind = \"train\"").size(),
               "[[step]]\nname = \"first\"\nkind = \"test-counting-free\"\n"
               "[[step]]\nname = \"train\"\nkind = \"test-train-then-die\"");
  int first_runs = 0;
  class Once final : public PipelineStep {
   public:
    explicit Once(int* n) : n_(n) {}
    void Validate(const json&) const override {}
    StepResult Run(const json&, StepContext&) override {
      ++*n_;
      StepResult r;
      r.outputs = {{"token", 7}};
      return r;
    }
    int* n_;
  };
  RegisterStep("test-counting-free", [&] { return std::make_unique<Once>(&first_runs); });
  const Flow flow = Write("die.flow", text);
  const PipelineRun failed = RunFlow(flow, dir_.file("die.flow"), registry, options_);
  ASSERT_EQ(failed.state, "failed") << failed.Text();
  EXPECT_EQ(failed.steps[1].state, "failed");
  EXPECT_NE(failed.reason.find("simulated crash"), std::string::npos);
  EXPECT_EQ(registry.Versions("recs").size(), 1u);  // registered before the "crash"

  const PipelineRun resumed = ResumeRun(failed.run_id, registry, options_);
  ASSERT_EQ(resumed.state, "completed") << resumed.Text();
  EXPECT_EQ(resumed.resumed_from, failed.run_id);
  EXPECT_EQ(resumed.root, failed.run_id);
  EXPECT_EQ(first_runs, 1);  // the completed step was not run again...
  EXPECT_EQ(resumed.steps[0].state, "reused");
  EXPECT_EQ(resumed.steps[0].from_run, failed.steps[0].run_id);
  EXPECT_EQ(resumed.steps[0].outputs["token"], 7);  // ...its recorded outputs were handed on
  EXPECT_EQ(resumed.steps[1].state, "completed");
  EXPECT_TRUE(resumed.steps[1].outputs.value("reused_version", false));
  EXPECT_EQ(registry.Versions("recs").size(), 1u);  // no duplicate version
  EXPECT_EQ(registry.Resolve("recs@production").version, 1);
  EXPECT_EQ(LoadPipelineRun(registry, resumed.run_id).steps.size(), 5u);
}

// The tune step: a study over the family's default space whose best configuration becomes the
// candidate; killed after its registration, the resumed run reuses the study's version.
class TuneThenDie final : public PipelineStep {
 public:
  void Validate(const json& spec) const override { CreateStep("tune")->Validate(spec); }
  StepResult Run(const json& spec, StepContext& ctx) override {
    StepResult r = CreateStep("tune")->Run(spec, ctx);
    if (g_dies-- > 0) throw Error(ErrorCode::kUnavailable, "simulated crash after the study");
    return r;
  }
};

TEST_F(FlowEngine, TuneStepRegistersTheBestAndAResumeReusesItsStudy) {
  RegisterStep("test-tune-then-die", [] { return std::make_unique<TuneThenDie>(); });
  g_dies = 1;
  Registry registry = OpenRegistry(home_);
  std::string text = FlowText("good.toml");
  const std::string train =
      "[[step]]\nname = \"train\"\nkind = \"train\"\nconfig = \"good.toml\"\n";
  ASSERT_NE(text.find(train), std::string::npos);
  text.replace(text.find(train), train.size(),
               "[[step]]\nname = \"tune\"\nkind = \"test-tune-then-die\"\nconfig = "
               "\"good.toml\"\ntrials = 3\nstartup_trials = 3\nseed = 5\n");
  const PipelineRun failed =
      RunFlow(Write("tune.flow", text), dir_.file("tune.flow"), registry, options_);
  ASSERT_EQ(failed.state, "failed") << failed.Text();
  ASSERT_NE(failed.reason.find("simulated crash after the study"), std::string::npos)
      << failed.reason;
  ASSERT_EQ(registry.Versions("recs").size(), 1u);  // the best, trained on all data

  const PipelineRun resumed = ResumeRun(failed.run_id, registry, options_);
  ASSERT_EQ(resumed.state, "completed") << resumed.Text();
  const json& out = resumed.steps[0].outputs;
  EXPECT_TRUE(out.value("reused_version", false));
  EXPECT_EQ(out["candidate"]["version"], 1);
  EXPECT_EQ(out["trials"], 3);
  EXPECT_TRUE(out["params"].contains("lambda")) << out.dump();
  EXPECT_TRUE(out["metrics"].contains("recall@20")) << out.dump();
  EXPECT_EQ(registry.Versions("recs").size(), 1u);  // no duplicate version
  EXPECT_EQ(registry.Resolve("recs@production").version, 1);

  testing::ExpectError(
      [&] {
        ParseFlow(
            "[pipeline]\nname = \"p\"\nmodel = \"m\"\n[[step]]\nname = \"t\"\nkind = "
            "\"tune\"\nconfig = \"c.toml\"\nsampler = \"grid\"\n",
            "flow.toml");
      },
      ErrorCode::kInvalidArgument, "step 't': sampler must be");
}

TEST(FlowSchedule, EveryAndStore) {
  EXPECT_EQ(ParseEvery("24h"), 86400);
  EXPECT_EQ(ParseEvery("30m"), 1800);
  EXPECT_EQ(ParseEvery("90"), 90);
  EXPECT_EQ(ParseEvery("2d"), 172800);
  testing::ExpectError([] { ParseEvery("soon"); }, ErrorCode::kInvalidArgument, "--every 'soon'");
  testing::ExpectError([] { ParseEvery("0.1s"); }, ErrorCode::kInvalidArgument, "1 s to 366 d");
  testing::TempDir dir;
  std::ofstream(dir.file("f.toml")) << "[pipeline]\nname = \"p\"\nmodel = \"m\"\n[[step]]\nname "
                                       "= \"r\"\nkind = \"rollback\"\n";
  ScheduleStore store(dir.path(), Env::Default());
  const Schedule a = store.Add(dir.file("f.toml"), 3600, false);
  const Schedule b = store.Add(dir.file("f.toml"), 60, true);
  EXPECT_EQ(a.id, 1);
  EXPECT_EQ(b.id, 2);
  EXPECT_EQ(b.pipeline, "p");
  EXPECT_GT(a.next_at, b.next_at);
  store.Remove(1);
  ASSERT_EQ(store.List().size(), 1u);
  EXPECT_EQ(store.List()[0].id, 2);
  testing::ExpectError([&] { store.Remove(1); }, ErrorCode::kNotFound, "no schedule 1");
  std::ofstream(dir.file("bad.toml")) << "[pipeline]\n";
  testing::ExpectError([&] { store.Add(dir.file("bad.toml"), 60, false); },
                       ErrorCode::kInvalidArgument, "bad.toml");
}

// A due schedule runs; a failing one is recorded and does not stop the scheduler.
TEST_F(FlowEngine, DueSchedulesRunAndSurviveAFailure) {
  Registry registry = OpenRegistry(home_);
  std::ofstream(dir_.file("good.flow")) << FlowText("good.toml");
  // Rolls back an alias that was never set: fails.
  std::ofstream(dir_.file("fail.flow"))
      << "[pipeline]\nname = \"broken\"\nmodel = \"recs\"\n[[step]]\nname = \"r\"\nkind = "
         "\"rollback\"\n";
  ScheduleStore store(home_, Env::Default());
  store.Add(dir_.file("fail.flow"), 3600, true);
  store.Add(dir_.file("good.flow"), 3600, true);
  const int64_t now = Env::Default()->NowSeconds();
  const auto runs = RunDueSchedules(home_, registry, options_, now);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].state, "failed");
  EXPECT_EQ(runs[1].state, "completed");
  const auto all = store.List();
  EXPECT_EQ(all[0].last_state, "failed");
  EXPECT_EQ(all[1].last_state, "completed");
  EXPECT_EQ(all[1].last_run, runs[1].run_id);
  EXPECT_GE(all[0].next_at, now + 3600);
  EXPECT_TRUE(RunDueSchedules(home_, registry, options_, now + 10).empty());  // not due again
  EXPECT_EQ(registry.Resolve("recs@production").version, 1);
}

}  // namespace
}  // namespace marquee::flow
