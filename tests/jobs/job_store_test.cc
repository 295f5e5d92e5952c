// The job record (JSON round trip) and the file-backed JobStore: ids, atomic records, listing,
// logs read from an offset, leftovers of a killed writer.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "jobs/job.h"
#include "jobs/job_store.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

using testing::ExpectError;

Job MakeJob(const std::string& model, JobState state = JobState::kQueued) {
  Job j;
  j.state = state;
  j.submitted_at = 1764900000;
  j.config_text = "[model]\nfamily = \"popularity\"\n";
  j.config_format = "toml";
  j.overrides = {"model.name=" + model};
  j.model = model;
  j.family = "popularity";
  return j;
}

TEST(JobRecord, RoundTripsThroughJson) {
  Job j = MakeJob("recs", JobState::kSucceeded);
  j.id = 7;
  j.started_at = 1764900010;
  j.ended_at = 1764900020;
  j.progress = {"evaluate", 0.5};
  j.outcome = {{"run_id", 3}, {"model", "recs"}, {"version", 2}};
  j.error = JobError{"not_found", "no dataset 'x'"};
  j.log_lines = 12;
  const nlohmann::json json = JobToJson(j);
  EXPECT_EQ(json["state"], "succeeded");
  EXPECT_EQ(json["submitted_at"], "2025-12-05T02:00:00Z");
  EXPECT_EQ(json["config"]["format"], "toml");
  EXPECT_EQ(json["error"]["code"], "not_found");
  const Job back = JobFromJson(json, "7.json");
  EXPECT_EQ(JobToJson(back), json);
  EXPECT_EQ(back.ended_at, j.ended_at);
  EXPECT_EQ(back.overrides, j.overrides);

  Job fresh = MakeJob("recs");  // never started: times and outcome are null
  const nlohmann::json q = JobToJson(fresh);
  EXPECT_TRUE(q["started_at"].is_null());
  EXPECT_TRUE(q["outcome"].is_null());
  EXPECT_TRUE(q["error"].is_null());
  EXPECT_EQ(JobFromJson(q, "x").started_at, 0);
}

TEST(JobRecord, DamageIsCorruptionNamingTheField) {
  nlohmann::json j = JobToJson(MakeJob("recs"));
  j["state"] = "paused";
  try {
    JobFromJson(j, "jobs/4.json");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption);
    EXPECT_NE(std::string(e.what()).find("jobs/4.json: job record field 'state'"),
              std::string::npos)
        << e.what();
  }
  j = JobToJson(MakeJob("recs"));
  j["config"].erase("text");
  EXPECT_THROW(JobFromJson(j, "x"), Error);
  EXPECT_THROW(JobFromJson(nlohmann::json::array(), "x"), Error);
}

TEST(JobStates, NamesParseBackAndFinalOnesAreFinal) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled, JobState::kInterrupted}) {
    EXPECT_EQ(ParseJobState(JobStateName(s)), s);
  }
  EXPECT_FALSE(ParseJobState("done").has_value());
  EXPECT_FALSE(IsFinal(JobState::kQueued));
  EXPECT_FALSE(IsFinal(JobState::kRunning));
  EXPECT_TRUE(IsFinal(JobState::kInterrupted));
  EXPECT_TRUE(IsFinal(JobState::kCancelled));
}

TEST(FileJobStore, IdsRecordsListingAndLogs) {
  testing::TempDir dir;
  const std::string jobs = dir.file("home/jobs");
  auto store = OpenFileJobStore(jobs);
  const Job a = store->Create(MakeJob("a"));
  const Job b = store->Create(MakeJob("b"));
  const Job c = store->Create(MakeJob("a", JobState::kRunning));
  EXPECT_EQ(a.id, 1);
  EXPECT_EQ(b.id, 2);
  EXPECT_EQ(c.id, 3);

  Job changed = b;
  changed.state = JobState::kFailed;
  changed.error = JobError{"invalid_argument", "bad"};
  store->Put(changed);
  EXPECT_EQ(store->Get(2)->state, JobState::kFailed);
  EXPECT_EQ(store->Get(2)->error->message, "bad");
  EXPECT_FALSE(store->Get(99).has_value());
  EXPECT_FALSE(store->Get(0).has_value());

  auto ids = [](const std::vector<Job>& v) {
    std::vector<int64_t> out;
    for (const Job& j : v) out.push_back(j.id);
    return out;
  };
  EXPECT_EQ(ids(store->List({}, 10)), (std::vector<int64_t>{3, 2, 1}));  // newest first
  EXPECT_EQ(ids(store->List({}, 2)), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(ids(store->List({}, 10, 3)), (std::vector<int64_t>{2, 1}));  // the next page
  EXPECT_EQ(ids(store->List({std::nullopt, "a"}, 10)), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(ids(store->List({JobState::kQueued, ""}, 10)), (std::vector<int64_t>{1}));

  store->AppendLog(1, {"one", "two"});
  store->AppendLog(1, {"three"});
  EXPECT_EQ(store->ReadLog(1, 0), (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(store->ReadLog(1, 1, 1), (std::vector<std::string>{"two"}));
  EXPECT_TRUE(store->ReadLog(1, 3).empty());
  EXPECT_TRUE(store->ReadLog(2, 0).empty());  // no log yet
  EXPECT_EQ(Env::Default()->ReadFile(jobs + "/1.log"), "one\ntwo\nthree\n");

  // Reopened, ids go on after the largest; only records and logs are in the folder.
  store = OpenFileJobStore(jobs);
  EXPECT_EQ(store->Create(MakeJob("c")).id, 4);
  EXPECT_EQ(Env::Default()->ListDir(jobs),
            (std::vector<std::string>{"1.json", "1.log", "2.json", "3.json", "4.json"}));
}

TEST(FileJobStore, LeftoversOfAKilledWriterAreRemovedAndDamageIsReported) {
  testing::TempDir dir;
  const std::string jobs = dir.file("jobs");
  {
    auto store = OpenFileJobStore(jobs);
    store->Create(MakeJob("a"));
  }
  // What a writer killed between creating its temporary file and renaming it leaves.
  Env::Default()->WriteFileAtomic(jobs + "/1.json.tmp.999999999.0", "{\"id\": 1, \"sta");
  Env::Default()->WriteFileAtomic(jobs + "/1.log.tmp.999999999.3", "half a li");
  auto store = OpenFileJobStore(jobs);
  EXPECT_EQ(Env::Default()->ListDir(jobs), (std::vector<std::string>{"1.json"}));
  EXPECT_EQ(store->Get(1)->model, "a");

  nlohmann::json newer = JobToJson(*store->Get(1));
  EXPECT_EQ(nlohmann::json::parse(Env::Default()->ReadFile(jobs + "/1.json"))["format_version"], 1);
  newer["format_version"] = 2;
  Env::Default()->WriteFileAtomic(jobs + "/1.json", newer.dump());
  ExpectError([&] { store->Get(1); }, ErrorCode::kCorruption,
              "1.json: job record format_version 2 (this build reads 1)");

  Env::Default()->WriteFileAtomic(jobs + "/2.json", "{\"id\": 2, \"sta");
  ExpectError([&] { store->List({}, 10); }, ErrorCode::kCorruption,
              "2.json: not a JSON job record");
}

}  // namespace
}  // namespace marquee
