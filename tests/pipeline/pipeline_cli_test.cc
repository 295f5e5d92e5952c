// `marquee pipeline` end to end through the CLI, with a real `marquee serve` where live data is
// needed: events posted to a served model -> pipeline run (snapshot, train, evaluate, gate,
// promote) -> the served model moves to the new version, which recommends an item only the
// events introduced; a kill -9 during training, then `pipeline resume`, with no duplicate
// version; a bandit policy retrained from its own decision log, promoted only when the
// off-policy gate passes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "../registry/registry_test_util.h"
#include "client/http_client.h"
#include "test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using testing::RunCli;

struct Server {
  pid_t pid = -1;
  std::string url;
  ~Server() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      testing::WaitChild(pid);
    }
  }
};

void StartServer(Server& s, const testing::TempDir& dir, const std::string& home,
                 std::vector<std::string> extra) {
  const std::string port_file = dir.file("port");
  std::vector<std::string> args = {"--home", home,          "-q",      "serve",           "--port",
                                   "0",      "--port-file", port_file, "--poll-interval", "0.2"};
  args.insert(args.end(), extra.begin(), extra.end());
  s.pid = testing::SpawnCli(args, dir.file("serve.log"));
  ASSERT_GT(s.pid, 0);
  const uint16_t port = testing::WaitForPort(port_file, s.pid);
  ASSERT_GT(port, 0) << testing::Slurp(dir.file("serve.log"));
  s.url = "http://127.0.0.1:" + std::to_string(port);
}

// Two taste groups of 100 users over 40 items; group 0 also plays cross-group noise.
void WritePlays(const std::string& path) {
  std::ofstream f(path);
  for (int u = 0; u < 200; ++u) {
    const int group = u % 2;
    for (int k = 0; k < 10; ++k) {
      f << "u" << u << "\ti" << (group * 20 + (u * 7 + k * 3) % 20) << "\t1\t" << 1000 + k << "\n";
    }
  }
}

TEST(PipelineCli, EventsToAServedModelRetrainAndTheServerMovesToTheNewVersion) {
  testing::TempDir dir;
  const std::string home = dir.file("home");
  WritePlays(dir.file("plays.tsv"));
  ASSERT_EQ(RunCli("dataset import " + dir.file("plays.tsv") + " --name plays", home).code, 0);
  std::ofstream(dir.file("ease.toml"))
      << "[data]\ndataset = \"plays\"\n[split]\ntest_users = 40\n[model]\nname = \"recs\"\n"
         "family = \"ease\"\nlambda = 20.0\n[eval]\nmetrics = [\"recall@20\"]\n";
  auto t = RunCli("train " + dir.file("ease.toml"), home);
  ASSERT_EQ(t.code, 0) << t.err;
  ASSERT_EQ(RunCli("models promote recs/1 --alias production", home).code, 0);

  Server server;
  StartServer(server, dir, home, {"--model", "recs@production"});
  HttpClient client(server.url);
  // Half of group 0 plays a new item, "fresh"; u0 (group 0) does not.
  json events = json::array();
  for (int u = 2; u < 200; u += 4)
    events.push_back({{"user", "u" + std::to_string(u)}, {"item", "fresh"}});
  const json body = {{"events", events}};
  EXPECT_EQ(client.Json("POST", "/v1/events", &body)["accepted"], events.size());
  const json ask = {{"model", "recs@production"}, {"user", "u0"}, {"k", 10}};
  json before = client.Json("POST", "/v1/recommend", &ask);
  EXPECT_EQ(before["version"], 1);
  for (const auto& item : before["items"]) EXPECT_NE(item["id"], "fresh");

  std::ofstream(dir.file("flow.toml"))
      << "[pipeline]\nname = \"keep-fresh\"\nmodel = \"recs\"\n"
         "[[step]]\nname = \"data\"\nkind = \"snapshot\"\nbase = \"plays\"\n"
         "[[step]]\nname = \"train\"\nkind = \"train\"\nconfig = \"ease.toml\"\n"
         "[[step]]\nname = \"evaluate\"\nkind = \"evaluate\"\n"
         "[[step]]\nname = \"gate\"\nkind = \"gate\"\nmetric = \"recall@20\"\nmin_ratio = 0.95\n"
         "[[step]]\nname = \"promote\"\nkind = \"promote\"\n";
  auto run = RunCli("pipeline run " + dir.file("flow.toml") + " --json", home);
  ASSERT_EQ(run.code, 0) << run.err << run.out;
  const json j = json::parse(run.out);
  EXPECT_EQ(j["state"], "completed");
  ASSERT_EQ(j["steps"].size(), 5u);
  EXPECT_EQ(j["steps"][0]["outputs"]["events"], events.size());
  EXPECT_EQ(j["steps"][0]["outputs"]["dataset"], "keep-fresh-data");
  EXPECT_EQ(j["steps"][1]["outputs"]["candidate"]["version"], 2);
  EXPECT_EQ(j["steps"][4]["outputs"]["to_version"], 2);
  EXPECT_NE(run.err.find("[2/5] train (train): completed"), std::string::npos) << run.err;

  // The server follows the alias: the next recommendation for u0 comes from v2 and includes
  // the item only the events know.
  json after;
  client.Send("POST", "/admin/reload");  // at once, rather than at the next poll
  for (int i = 0; i < 300; ++i) {
    after = client.Json("POST", "/v1/recommend", &ask);
    if (after["version"] == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(after["version"], 2) << after.dump();
  bool fresh = false;
  for (const auto& item : after["items"]) fresh = fresh || item["id"] == "fresh";
  EXPECT_TRUE(fresh) << after.dump();

  auto status = RunCli("pipeline status --json", home);
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_EQ(json::parse(status.out)[0]["state"], "completed");
}

// kill -9 of `pipeline run` while its train step trains; `pipeline resume` then completes the
// run, reusing the snapshot-free first steps and registering exactly one version.
TEST(PipelineCli, KillNineDuringTrainThenResumeSlow) {
  testing::TempDir dir;
  const std::string home = dir.file("home");
  WritePlays(dir.file("plays.tsv"));
  // Slow enough to be killed while training: many iAlS iterations.
  std::ofstream(dir.file("ials.toml"))
      << "[data]\ntrain = \"plays.tsv\"\n[split]\ntest_users = 40\n[model]\nfamily = \"ials\"\n"
         "factors = 64\niterations = 3000\n[eval]\nmetrics = [\"recall@20\"]\n";
  std::ofstream(dir.file("flow.toml"))
      << "[pipeline]\nname = \"nightly\"\nmodel = \"recs\"\n"
         "[[step]]\nname = \"train\"\nkind = \"train\"\nconfig = \"ials.toml\"\n"
         "[[step]]\nname = \"promote\"\nkind = \"promote\"\n";
  const pid_t pid = testing::SpawnCli(
      {"--home", home, "--threads", "1", "pipeline", "run", dir.file("flow.toml")},
      dir.file("run.log"));
  ASSERT_GT(pid, 0);
  bool training = false;
  for (int i = 0; i < 600 && !training; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    training =
        testing::Slurp(dir.file("run.log")).find("train: training recs") != std::string::npos;
  }
  ASSERT_TRUE(training) << testing::Slurp(dir.file("run.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_EQ(testing::WaitChild(pid), -SIGKILL);

  auto status = RunCli("pipeline status 1 --json", home);
  ASSERT_EQ(status.code, 0) << status.err;
  const json s = json::parse(status.out);
  EXPECT_EQ(s["state"], "interrupted") << s.dump();
  EXPECT_EQ(s["steps"][0]["state"], "interrupted");
  EXPECT_EQ(RunCli("models versions recs --json", home).code, 3);  // nothing registered

  auto resumed = RunCli("pipeline resume 1 --json", home);
  ASSERT_EQ(resumed.code, 0) << resumed.err << resumed.out;
  const json r = json::parse(resumed.out);
  EXPECT_EQ(r["state"], "completed");
  EXPECT_EQ(r["resumed_from"], 1);
  auto versions = RunCli("models versions recs --json", home);
  ASSERT_EQ(versions.code, 0) << versions.err;
  EXPECT_EQ(json::parse(versions.out)["versions"].size(), 1u);
  EXPECT_EQ(json::parse(RunCli("runs show 1 --json", home).out)["status"], "failed");
  auto again = RunCli("pipeline resume " + std::to_string(r["pipeline_run"].get<int64_t>()), home);
  EXPECT_EQ(again.code, 5);
  EXPECT_NE(again.err.find("completed; nothing to resume"), std::string::npos) << again.err;
}

// A bandit policy serves decisions (exploring half the time); the pipeline snapshots its own
// decision log, retrains, and the off-policy gate decides: a uniform candidate is refused
// (production untouched), a near-greedy one whose DR lower bound beats the logged reward is
// promoted.
TEST(PipelineCli, BanditRetrainedFromItsDecisionLogPromotedOnlyWhenTheOffPolicyGatePassesSlow) {
  testing::TempDir dir;
  const std::string home = dir.file("home");
  auto reward = [](const std::string& ctx, const std::string& action) {
    return (ctx == "x" && action == "a") || (ctx == "y" && action == "b") ? 1.0 : 0.0;
  };
  {
    std::ofstream f(dir.file("seed.jsonl"));
    const char* acts[] = {"a", "b", "c"};
    for (int i = 0; i < 60; ++i) {
      const std::string c = i % 2 ? "x" : "y", chosen = acts[(i / 2) % 3];
      f << json{{"context", {{"c", c}}},
                {"actions", {"a", "b", "c"}},
                {"chosen", chosen},
                {"probability", 1.0 / 3},
                {"reward", reward(c, chosen)}}
               .dump()
        << "\n";
    }
  }
  std::ofstream(dir.file("v1.toml")) << "[data]\ntrain = \"seed.jsonl\"\n[model]\nname = \"pick\"\n"
                                        "family = \"epsilon-greedy\"\nepsilon = 0.5\n";
  auto t = RunCli("train " + dir.file("v1.toml"), home);
  ASSERT_EQ(t.code, 0) << t.err;
  ASSERT_EQ(RunCli("models promote pick/1 --alias production", home).code, 0);

  Server server;
  StartServer(server, dir, home, {"--bandit", "pick@production"});
  HttpClient client(server.url);
  for (int i = 0; i < 400; ++i) {
    const std::string c = i % 2 ? "x" : "y";
    const json decide = {{"model", "pick@production"},
                         {"context", {{"c", c}}},
                         {"actions", {{{"id", "a"}}, {{"id", "b"}}, {{"id", "c"}}}}};
    const json d = client.Json("POST", "/v1/decide", &decide);
    const json r = {{"decision_id", d["decision_id"]},
                    {"reward", reward(c, d["action"].get<std::string>())}};
    client.Json("POST", "/v1/reward", &r);
  }
  const std::string common = "[data]\ndataset = \"placeholder\"\n[split]\ntest_fraction = 0.3\n";
  std::ofstream(dir.file("uniform.toml")) << common << "[model]\nfamily = \"uniform\"\n";
  std::ofstream(dir.file("greedy.toml"))
      << common << "[model]\nfamily = \"epsilon-greedy\"\nepsilon = 0.02\n";
  auto flow = [&](const std::string& config) {
    return "[pipeline]\nname = \"retrain-pick\"\nmodel = \"pick\"\n"
           "[[step]]\nname = \"log\"\nkind = \"snapshot\"\nsource = \"decisions\"\n"
           "[[step]]\nname = \"train\"\nkind = \"train\"\nconfig = \"" +
           config +
           "\"\n[[step]]\nname = \"evaluate\"\nkind = \"evaluate\"\n"
           "[[step]]\nname = \"ope-gate\"\nkind = \"gate\"\nestimator = \"dr\"\nmin_ess = 20\n"
           "[[step]]\nname = \"promote\"\nkind = \"promote\"\n";
  };
  std::ofstream(dir.file("bad.flow")) << flow("uniform.toml");
  std::ofstream(dir.file("good.flow")) << flow("greedy.toml");

  auto refused = RunCli("pipeline run " + dir.file("bad.flow") + " --json", home);
  ASSERT_EQ(refused.code, 5) << refused.err << refused.out;
  const json b = json::parse(refused.out);
  EXPECT_EQ(b["state"], "stopped");
  ASSERT_EQ(b["steps"].size(), 4u);
  EXPECT_EQ(b["steps"][0]["outputs"]["decisions"], 400);
  const json& bg = b["steps"][3]["outputs"];
  EXPECT_FALSE(bg["passed"].get<bool>());
  EXPECT_LE(bg["candidate_ci"][0].get<double>(), bg["production_value"].get<double>());
  auto prod = RunCli("models show pick --json", home);
  EXPECT_EQ(json::parse(prod.out)["aliases"]["production"], 1) << prod.out;

  auto passed = RunCli("pipeline run " + dir.file("good.flow") + " --json", home);
  ASSERT_EQ(passed.code, 0) << passed.err << passed.out;
  const json g = json::parse(passed.out);
  const json& gg = g["steps"][3]["outputs"];
  EXPECT_TRUE(gg["passed"].get<bool>());
  EXPECT_GT(gg["candidate_ci"][0].get<double>(), gg["production_value"].get<double>());
  EXPECT_GE(gg["ess"].get<double>(), 20);
  EXPECT_EQ(g["steps"][4]["outputs"]["to_version"], 3);
  prod = RunCli("models show pick --json", home);
  EXPECT_EQ(json::parse(prod.out)["aliases"]["production"], 3) << prod.out;
}

}  // namespace
}  // namespace marquee
