// JobRunner: train jobs submitted, run FIFO by a pool of workers through TrainAndRegister into a
// registry run and version; refusals; failure; cancel; logs read and followed (slow followers
// dropped); restart (running -> interrupted, queued -> run); shutdown; atomic records.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jobs/job_runner.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "pipeline/train.h"
#include "registry/registry_test_util.h"

namespace marquee {
namespace {

using namespace std::chrono_literals;

// Holds training threads at their first progress report until opened (at most a minute, so a
// broken test fails instead of hanging).
class Gate {
 public:
  void Pass() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 60s, [&] { return open_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Everything a follower received, with a way to wait for its last event.
class Recorder {
 public:
  void On(const JobLogEvent& e) {
    std::lock_guard lock(mu_);
    events_.push_back(e);
    cv_.notify_all();
  }
  // Waits (up to 60 s) for a kEnd or kDropped; returns every event received.
  std::vector<JobLogEvent> WaitLast() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 60s, [&] {
      return !events_.empty() && events_.back().type != JobLogEvent::Type::kLine;
    });
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<JobLogEvent> events_;
};

using testing::ExpectError;

// A store that refuses every write while `refuse` is set (a full disk, say).
class RefusingStore final : public JobStore {
 public:
  RefusingStore(std::unique_ptr<JobStore> inner, std::shared_ptr<std::atomic<bool>> refuse)
      : inner_(std::move(inner)), refuse_(std::move(refuse)) {}
  Job Create(Job job) override {
    Check();
    return inner_->Create(std::move(job));
  }
  void Put(const Job& job) override {
    Check();
    inner_->Put(job);
  }
  std::optional<Job> Get(int64_t id) override { return inner_->Get(id); }
  std::vector<Job> List(const JobFilter& f, size_t limit, int64_t before) override {
    return inner_->List(f, limit, before);
  }
  void AppendLog(int64_t id, const std::vector<std::string>& lines) override {
    Check();
    inner_->AppendLog(id, lines);
  }
  std::vector<std::string> ReadLog(int64_t id, int64_t offset, size_t limit) override {
    return inner_->ReadLog(id, offset, limit);
  }

 private:
  void Check() const {
    if (*refuse_) Fail(ErrorCode::kIOError, "no space left on device (test)");
  }
  std::unique_ptr<JobStore> inner_;
  std::shared_ptr<std::atomic<bool>> refuse_;
};

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plays_ = testing::MakePlays(dir_);
    home_ = dir_.file("home");
  }

  // A popularity config on the small plays file (absolute path: the server's working directory
  // is not the test's folder).
  std::string Config(const std::string& model, const std::string& data = "") const {
    return "[data]\n" + (data.empty() ? "train = \"" + plays_ + "\"" : data) +
           "\n[split]\ntest_users = 10\n[model]\nfamily = \"popularity\"\nname = \"" + model +
           "\"\n[eval]\nmetrics = [\"recall@5\", \"ndcg@10\"]\n";
  }

  std::unique_ptr<JobRunner> Open(int workers = 1, Gate* gate = nullptr,
                                  size_t follow_buffer = 1024) {
    JobRunnerOptions o;
    o.home = home_;
    o.workers = workers;
    o.ctx.threads = 2;
    o.follow_buffer = follow_buffer;
    if (gate != nullptr) o.ctx.progress = [gate](std::string_view, double) { gate->Pass(); };
    return std::make_unique<JobRunner>(std::move(o), OpenFileJobStore(home_ + "/jobs"));
  }

  // Submits jobs training models "a" and "b" and waits until a runs (held by the gate, if any).
  std::pair<int64_t, int64_t> SubmitAB(JobRunner& runner) {
    const int64_t a = runner.Submit(Config("a"), "toml").id;
    const int64_t b = runner.Submit(Config("b"), "toml").id;
    EXPECT_TRUE(Eventually([&] { return runner.Get(a).state == JobState::kRunning; }));
    return {a, b};
  }

  // Polls until `pred()` holds (up to 60 s).
  template <typename Pred>
  bool Eventually(Pred pred) {
    for (int i = 0; i < 6000; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  testing::TempDir dir_;
  std::string plays_;
  std::string home_;
};

TEST_F(JobRunnerTest, ASubmittedJobRunsToARunAndAVersionTheRegistryHas) {
  auto runner = Open();
  const Job queued = runner->Submit(Config("recs"), "toml", {"split.seed=7"});
  EXPECT_EQ(queued.id, 1);
  EXPECT_EQ(queued.kind, "train");
  EXPECT_EQ(queued.model, "recs");
  EXPECT_EQ(queued.family, "popularity");
  EXPECT_EQ(queued.overrides, std::vector<std::string>{"split.seed=7"});
  EXPECT_GT(queued.submitted_at, 0);

  const Job done = runner->Wait(queued.id, 60s);
  ASSERT_EQ(done.state, JobState::kSucceeded) << JobToJson(done).dump(2);
  EXPECT_GE(done.started_at, done.submitted_at);
  EXPECT_GE(done.ended_at, done.started_at);
  EXPECT_FALSE(done.error.has_value());
  const int64_t run_id = done.outcome.at("run_id").get<int64_t>();
  EXPECT_EQ(done.outcome.at("model"), "recs");
  EXPECT_EQ(done.outcome.at("version"), 1);
  EXPECT_TRUE(done.outcome.contains("metrics")) << done.outcome.dump();

  Registry registry = OpenRegistry(home_);
  const VersionRecord v = registry.Resolve("recs/1");
  EXPECT_EQ(v.run_id, run_id);
  EXPECT_EQ(registry.GetRun(run_id).status, RunStatus::kCompleted);
  EXPECT_EQ(registry.GetRun(run_id).config_given["overrides"][0], "split.seed=7");

  // The same config as JSON: the next version.
  const Job json = runner->Submit(
      R"({"data": {"train": ")" + plays_ +
          R"("}, "split": {"test_users": 10}, "model": {"family": "popularity", "name": "recs"}})",
      "json");
  const Job json_done = runner->Wait(json.id, 60s);
  ASSERT_EQ(json_done.state, JobState::kSucceeded) << JobToJson(json_done).dump(2);
  EXPECT_EQ(json_done.outcome.at("version"), 2);
  EXPECT_EQ(json_done.config_format, "json");

  // The log: queued, started, the report, the outcome; the stored record agrees.
  const JobLogPage log = runner->ReadLog(queued.id, 0);
  ASSERT_GE(log.lines.size(), 4u);
  EXPECT_NE(log.lines.front().find("queued: train popularity model recs"), std::string::npos);
  EXPECT_NE(log.lines[1].find("started"), std::string::npos);
  EXPECT_NE(log.lines.back().find("succeeded: run " + std::to_string(run_id) + ", recs version 1"),
            std::string::npos)
      << log.lines.back();
  EXPECT_EQ(log.state, JobState::kSucceeded);
  EXPECT_EQ(log.next_offset, static_cast<int64_t>(log.lines.size()));
  EXPECT_EQ(done.log_lines, log.next_offset);
  const JobLogPage tail = runner->ReadLog(queued.id, log.next_offset - 1, 5);
  EXPECT_EQ(tail.lines, std::vector<std::string>{log.lines.back()});
  auto stored = OpenFileJobStore(home_ + "/jobs")->Get(queued.id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(JobToJson(*stored), JobToJson(done));
}

TEST_F(JobRunnerTest, ABadConfigIsRefusedAtSubmitAndNothingIsStored) {
  auto runner = Open();
  ExpectError([&] { runner->Submit(Config("recs") + "[run\n", "toml"); },
              ErrorCode::kInvalidArgument, "<string>:");
  ExpectError([&] { runner->Submit(Config("recs"), "toml", {"split.sed=3"}); },
              ErrorCode::kInvalidArgument, "unknown key 'sed' in [split]");
  ExpectError(
      [&] {
        runner->Submit(R"({"data": {"dataset": "d"}, "eval": {"metric": ["mrr"]},)"
                       R"( "model": {"family": "popularity"}})",
                       "json");
      },
      ErrorCode::kInvalidArgument, "unknown key 'metric' in [eval]");
  ExpectError([&] { runner->Submit(Config("recs"), "yaml"); }, ErrorCode::kInvalidArgument,
              "config format must be \"toml\" or \"json\"");
  EXPECT_TRUE(runner->List({}, 100).empty());
  EXPECT_TRUE(Env::Default()->ListDir(home_ + "/jobs").empty());
  ExpectError([&] { runner->Get(1); }, ErrorCode::kNotFound, "no job 1");
  ExpectError([&] { runner->List({}, 0); }, ErrorCode::kInvalidArgument, "limit must be 1..1000");
  ExpectError([&] { runner->ReadLog(1, -1); }, ErrorCode::kInvalidArgument, ">= 0");
}

TEST_F(JobRunnerTest, AFailingJobEndsFailedWithTheError) {
  auto runner = Open();
  const Job job = runner->Submit(Config("recs", "dataset = \"no-such-dataset\""), "toml");
  const Job done = runner->Wait(job.id, 60s);
  ASSERT_EQ(done.state, JobState::kFailed) << JobToJson(done).dump(2);
  ASSERT_TRUE(done.error.has_value());
  EXPECT_EQ(done.error->code, "not_found");
  EXPECT_NE(done.error->message.find("no-such-dataset"), std::string::npos) << done.error->message;
  EXPECT_TRUE(done.outcome.is_null());
  const JobLogPage log = runner->ReadLog(job.id, 0);
  EXPECT_NE(log.lines.back().find("failed: not_found: "), std::string::npos) << log.lines.back();
  // The registry recorded the attempt as a failed run, as `marquee train` does.
  Registry registry = OpenRegistry(home_);
  EXPECT_EQ(registry.GetRun(1).status, RunStatus::kFailed);

  // A family's hyperparameters are checked when the model is built (as by `marquee train`):
  // the job fails naming the key.
  const Job bad = runner->Submit(Config("recs"), "toml", {"model.lamda=3"});
  const Job bad_done = runner->Wait(bad.id, 60s);
  ASSERT_EQ(bad_done.state, JobState::kFailed);
  EXPECT_EQ(bad_done.error->code, "invalid_argument");
  EXPECT_NE(bad_done.error->message.find("lamda"), std::string::npos) << bad_done.error->message;
}

TEST_F(JobRunnerTest, OneWorkerRunsJobsOneAfterTheOtherInOrder) {
  Gate gate;
  auto runner = Open(1, &gate);
  const std::pair<int64_t, int64_t> ab = SubmitAB(*runner);
  const int64_t a = ab.first, b = ab.second;  // (clang 14 cannot capture structured bindings)
  const int64_t c = runner->Submit(Config("c"), "toml").id;
  std::this_thread::sleep_for(300ms);  // a is held in training: b and c must wait
  EXPECT_EQ(runner->Get(b).state, JobState::kQueued);
  EXPECT_EQ(runner->Get(c).state, JobState::kQueued);
  EXPECT_EQ(runner->Get(a).state, JobState::kRunning);
  // The gate holds a's first progress report, which Get shows.
  EXPECT_FALSE(runner->Get(a).progress.stage.empty());
  gate.Open();
  const Job ja = runner->Wait(a, 60s), jb = runner->Wait(b, 60s), jc = runner->Wait(c, 60s);
  for (const Job& j : {ja, jb, jc}) ASSERT_EQ(j.state, JobState::kSucceeded) << j.id;
  // Runs are recorded as each job starts: their ids give the order the jobs ran in.
  EXPECT_LT(ja.outcome["run_id"].get<int64_t>(), jb.outcome["run_id"].get<int64_t>());
  EXPECT_LT(jb.outcome["run_id"].get<int64_t>(), jc.outcome["run_id"].get<int64_t>());
  EXPECT_LE(ja.ended_at, jb.started_at);
  EXPECT_LE(jb.ended_at, jc.started_at);
}

TEST_F(JobRunnerTest, TwoWorkersRunTwoJobsAtOnce) {
  Gate gate;
  auto runner = Open(2, &gate);
  const int64_t a = runner->Submit(Config("a"), "toml").id;
  const int64_t b = runner->Submit(Config("b"), "toml").id;
  // Both held in training at the same time: they overlap.
  EXPECT_TRUE(Eventually([&] {
    return runner->Get(a).state == JobState::kRunning && runner->Get(b).state == JobState::kRunning;
  }));
  const std::vector<Job> running = runner->List({JobState::kRunning, ""}, 10);
  EXPECT_EQ(running.size(), 2u);
  gate.Open();
  EXPECT_EQ(runner->Wait(a, 60s).state, JobState::kSucceeded);
  EXPECT_EQ(runner->Wait(b, 60s).state, JobState::kSucceeded);
}

TEST_F(JobRunnerTest, CancelEndsAQueuedJobAndRefusesARunningOne) {
  Gate gate;
  auto runner = Open(1, &gate);
  const std::pair<int64_t, int64_t> ab = SubmitAB(*runner);
  const int64_t a = ab.first, b = ab.second;
  const Job cancelled = runner->Cancel(b);
  EXPECT_EQ(cancelled.state, JobState::kCancelled);
  EXPECT_GT(cancelled.ended_at, 0);
  ExpectError([&] { runner->Cancel(a); }, ErrorCode::kFailedPrecondition, "no cancellation hook");
  ExpectError([&] { runner->Cancel(b); }, ErrorCode::kFailedPrecondition,
              "already ended (cancelled)");
  ExpectError([&] { runner->Cancel(99); }, ErrorCode::kNotFound, "no job 99");
  gate.Open();
  EXPECT_EQ(runner->Wait(a, 60s).state, JobState::kSucceeded);
  runner->Shutdown();
  EXPECT_EQ(runner->Get(b).state, JobState::kCancelled);
  EXPECT_NE(runner->ReadLog(b, 0).lines.back().find("cancelled before it started"),
            std::string::npos);
  // b never ran: the registry has a's run only.
  Registry registry = OpenRegistry(home_);
  EXPECT_EQ(registry.ListModels().size(), 1u);
  EXPECT_EQ(registry.ListModels()[0].model.name, "a");
}

TEST_F(JobRunnerTest, AFollowerSeesEveryLineOnceInOrderThenTheEnd) {
  Gate gate;
  auto runner = Open(1, &gate);
  const int64_t id = runner->Submit(Config("recs"), "toml").id;
  Recorder live;
  auto sub = runner->Follow(id, 0, [&](const JobLogEvent& e) { live.On(e); });
  gate.Open();
  const std::vector<JobLogEvent> events = live.WaitLast();
  const JobLogPage log = runner->ReadLog(id, 0);
  ASSERT_EQ(events.size(), log.lines.size() + 1);
  for (size_t i = 0; i < log.lines.size(); ++i) {
    EXPECT_EQ(events[i].type, JobLogEvent::Type::kLine);
    EXPECT_EQ(events[i].offset, static_cast<int64_t>(i));
    EXPECT_EQ(events[i].line, log.lines[i]);
  }
  EXPECT_EQ(events.back().type, JobLogEvent::Type::kEnd);
  EXPECT_EQ(events.back().state, JobState::kSucceeded);
  EXPECT_EQ(events.back().offset, static_cast<int64_t>(log.lines.size()));
  // Progress lines came through the log (the first report of each stage at least).
  bool stage_line = false;
  for (const auto& l : log.lines) stage_line |= l.find(" stage ") != std::string::npos;
  EXPECT_TRUE(stage_line);

  // Following an ended job from an offset: the rest of its log, then the end.
  Recorder late;
  auto late_sub = runner->Follow(id, 2, [&](const JobLogEvent& e) { late.On(e); });
  const std::vector<JobLogEvent> rest = late.WaitLast();
  ASSERT_EQ(rest.size(), log.lines.size() - 2 + 1);
  EXPECT_EQ(rest.front().offset, 2);
  EXPECT_EQ(rest.front().line, log.lines[2]);
  EXPECT_EQ(rest.back().type, JobLogEvent::Type::kEnd);
  ExpectError([&] { runner->Follow(42, 0, [](const JobLogEvent&) {}); }, ErrorCode::kNotFound,
              "no job 42");
}

TEST_F(JobRunnerTest, AFollowerThatNeverDrainsIsDroppedWithoutStallingTheJob) {
  Gate training;
  auto runner = Open(1, &training, /*follow_buffer=*/2);
  const int64_t id = runner->Submit(Config("recs"), "toml").id;
  // Held at its first progress report, the job's log stands still: that much is the backlog.
  ASSERT_TRUE(Eventually([&] { return !runner->Get(id).progress.stage.empty(); }));
  const int64_t backlog = runner->ReadLog(id, 0).next_offset;
  Gate held;  // the follower's callback is stuck until the job has ended
  Recorder rec;
  auto sub = runner->Follow(id, 0, [&](const JobLogEvent& e) {
    held.Pass();
    rec.On(e);
  });
  training.Open();
  const Job done = runner->Wait(id, 60s);
  EXPECT_EQ(done.state, JobState::kSucceeded) << "the job ended while its follower was stuck";
  held.Open();
  const std::vector<JobLogEvent> events = rec.WaitLast();
  ASSERT_GE(events.size(), 2u);
  const JobLogEvent& last = events.back();
  EXPECT_EQ(last.type, JobLogEvent::Type::kDropped);
  EXPECT_NE(last.line.find("fell 2 lines behind"), std::string::npos) << last.line;
  // Delivered: the backlog and the 2 lines the buffer holds, in order, without gaps; then the
  // marker, which says where to resume.
  ASSERT_EQ(events.size(), static_cast<size_t>(backlog) + 2 + 1);
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i].type, JobLogEvent::Type::kLine);
    EXPECT_EQ(events[i].offset, static_cast<int64_t>(i));
  }
  EXPECT_EQ(last.offset, backlog + 2);
  EXPECT_LT(last.offset, done.log_lines);
}

TEST_F(JobRunnerTest, FollowersAreCountedAndStartWhereAsked) {
  JobRunnerOptions o;
  o.home = home_;
  o.ctx.threads = 2;
  o.max_followers = 1;
  Gate gate;
  o.ctx.progress = [&gate](std::string_view, double) { gate.Pass(); };
  JobRunner runner(o, OpenFileJobStore(home_ + "/jobs"));
  const int64_t id = runner.Submit(Config("recs"), "toml").id;
  ASSERT_TRUE(Eventually([&] { return !runner.Get(id).progress.stage.empty(); }));
  const int64_t now = runner.ReadLog(id, 0).next_offset;
  // From a line the log has not reached yet: nothing before it is delivered.
  Recorder rec;
  auto sub = runner.Follow(id, now + 1, [&](const JobLogEvent& e) { rec.On(e); });
  ExpectError([&] { runner.Follow(id, 0, [](const JobLogEvent&) {}); },
              ErrorCode::kResourceExhausted, "1 job log followers already");
  ExpectError([&] { runner.Follow(id, -1, [](const JobLogEvent&) {}); },
              ErrorCode::kInvalidArgument, ">= 0");
  gate.Open();
  const std::vector<JobLogEvent> events = rec.WaitLast();
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().offset, now + 1);
  EXPECT_EQ(events.front().line, runner.ReadLog(id, now + 1).lines.front());
  EXPECT_EQ(events.back().type, JobLogEvent::Type::kEnd);
  sub.reset();  // its thread is gone: the slot is free again
  Recorder again;
  auto sub2 = runner.Follow(id, 0, [&](const JobLogEvent& e) { again.On(e); });
  EXPECT_EQ(again.WaitLast().size(), static_cast<size_t>(runner.Get(id).log_lines) + 1);
}

TEST_F(JobRunnerTest, RestartMarksRunningJobsInterruptedAndRunsQueuedOnes) {
  {
    auto store = OpenFileJobStore(home_ + "/jobs");
    Job crashed;
    crashed.state = JobState::kRunning;
    crashed.submitted_at = crashed.started_at = 1764900000;
    crashed.config_text = Config("crashed");
    crashed.config_format = "toml";
    crashed.model = "crashed";
    crashed.family = "popularity";
    crashed = store->Create(crashed);
    store->AppendLog(crashed.id, {"queued", "started"});
    Job waiting = crashed;
    waiting.state = JobState::kQueued;
    waiting.started_at = 0;
    waiting.model = "waiting";
    waiting.config_text = Config("waiting");
    waiting = store->Create(waiting);
    store->AppendLog(waiting.id, {"queued"});
  }
  auto runner = Open();
  const Job interrupted = runner->Get(1);
  EXPECT_EQ(interrupted.state, JobState::kInterrupted);
  ASSERT_TRUE(interrupted.error.has_value());
  EXPECT_EQ(interrupted.error->code, "unavailable");
  EXPECT_NE(interrupted.error->message.find("ended before the job did"), std::string::npos);
  EXPECT_GT(interrupted.ended_at, 0);
  const JobLogPage log = runner->ReadLog(1, 0);
  ASSERT_EQ(log.lines.size(), 3u);
  EXPECT_NE(log.lines[2].find("interrupted: "), std::string::npos);
  EXPECT_EQ(interrupted.log_lines, 3);

  const Job ran = runner->Wait(2, 60s);
  EXPECT_EQ(ran.state, JobState::kSucceeded) << JobToJson(ran).dump(2);
  EXPECT_EQ(ran.outcome["model"], "waiting");
  EXPECT_EQ(runner->ReadLog(2, 0).lines.front(), "queued");  // its log goes on
  // New jobs get ids after the recovered ones.
  EXPECT_EQ(runner->Submit(Config("next"), "toml").id, 3);
}

TEST_F(JobRunnerTest, ShutdownFinishesTheRunningJobAndLeavesQueuedOnesForTheNextStart) {
  Gate gate;
  auto runner = Open(1, &gate);
  const std::pair<int64_t, int64_t> ab = SubmitAB(*runner);
  const int64_t a = ab.first, b = ab.second;
  Recorder rec;
  auto sub = runner->Follow(b, 0, [&](const JobLogEvent& e) { rec.On(e); });
  std::thread stopper([&] { runner->Shutdown(); });
  std::this_thread::sleep_for(100ms);
  ExpectError([&] { runner->Submit(Config("c"), "toml"); }, ErrorCode::kUnavailable,
              "shutting down");
  gate.Open();
  stopper.join();
  EXPECT_EQ(runner->Get(a).state, JobState::kSucceeded);
  EXPECT_EQ(runner->Get(b).state, JobState::kQueued);
  const std::vector<JobLogEvent> events = rec.WaitLast();
  EXPECT_EQ(events.back().type, JobLogEvent::Type::kDropped);
  EXPECT_NE(events.back().line.find("stays queued"), std::string::npos);
  runner.reset();

  auto next = Open();
  EXPECT_EQ(next->Wait(b, 60s).state, JobState::kSucceeded);
}

TEST_F(JobRunnerTest, AStoreThatRefusesWritesRefusesSubmitsAndLosesNoEndItCannotStore) {
  auto refuse = std::make_shared<std::atomic<bool>>(false);
  Gate gate;
  JobRunnerOptions o;
  o.home = home_;
  o.ctx.threads = 2;
  o.ctx.progress = [&gate](std::string_view, double) { gate.Pass(); };
  auto runner = std::make_unique<JobRunner>(
      o, std::make_unique<RefusingStore>(OpenFileJobStore(home_ + "/jobs"), refuse));
  const int64_t id = runner->Submit(Config("recs"), "toml").id;
  ASSERT_TRUE(Eventually([&] { return runner->Get(id).state == JobState::kRunning; }));
  *refuse = true;
  ExpectError([&] { runner->Submit(Config("more"), "toml"); }, ErrorCode::kIOError,
              "no space left");
  gate.Open();
  // The end could not be stored: this runner still tells it.
  const Job done = runner->Wait(id, 60s);
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(runner->Get(id).state, JobState::kSucceeded);
  EXPECT_NE(runner->ReadLog(id, 0).lines.back().find("succeeded: run "), std::string::npos);
  EXPECT_EQ(runner->List({}, 10).size(), 1u) << "the refused submit left no job";
  runner.reset();
  // The store still says running: the next runner marks it interrupted (its version exists).
  *refuse = false;
  auto next = Open();
  EXPECT_EQ(next->Get(id).state, JobState::kInterrupted);
  EXPECT_EQ(OpenRegistry(home_).Resolve("recs/1").version, 1);
}

TEST_F(JobRunnerTest, ListPagesNewestFirstAndRecordsLeaveNoTemporaryFiles) {
  auto runner = Open(2);
  for (const char* m : {"a", "b", "a", "c"}) runner->Submit(Config(m), "toml");
  for (int64_t id = 1; id <= 4; ++id) ASSERT_EQ(runner->Wait(id, 60s).state, JobState::kSucceeded);
  auto ids = [](const std::vector<Job>& v) {
    std::vector<int64_t> out;
    for (const Job& j : v) out.push_back(j.id);
    return out;
  };
  EXPECT_EQ(ids(runner->List({}, 3)), (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(ids(runner->List({}, 3, 2)), (std::vector<int64_t>{1}));
  EXPECT_EQ(ids(runner->List({std::nullopt, "a"}, 10)), (std::vector<int64_t>{3, 1}));
  EXPECT_TRUE(runner->List({JobState::kFailed, ""}, 10).empty());
  runner.reset();
  std::vector<std::string> files = Env::Default()->ListDir(home_ + "/jobs");
  EXPECT_EQ(files, (std::vector<std::string>{"1.json", "1.log", "2.json", "2.log", "3.json",
                                             "3.log", "4.json", "4.log"}));
}

}  // namespace
}  // namespace marquee
