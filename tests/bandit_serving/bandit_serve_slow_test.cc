// Slow bandit serving tests against a real `marquee serve --bandit` process: kill -9 while
// decisions and rewards are being acknowledged (every acknowledged one survives), and
// `marquee decisions export` of the result in both formats.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "../registry/registry_test_util.h"
#include "bandit_test_util.h"
#include "bandits/decision_log.h"
#include "serving/serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::HttpClient;

json DecideBody(int client, int i) {
  return {{"model", "artwork@production"},
          {"user", fmt::format("u{}", client)},
          {"context", {{"hour", i % 24}, {"device", client % 2 ? "tv" : "phone"}}},
          {"actions",
           {{{"id", "a"}, {"features", {{"tone", "dark"}}}},
            {{"id", "b"}, {"features", {{"tone", "light"}}}},
            {{"id", "c"}, {"features", {{"faces", 2}}}}}}};
}

struct Acked {
  std::mutex mu;
  std::set<std::string> decisions;
  std::map<std::string, double> rewards;
};

// Decides and rewards (every other decision) from several clients until the server dies.
void LoadUntilKilled(uint16_t port, int clients, std::atomic<bool>& stop, Acked& acked) {
  std::vector<std::thread> ts;
  for (int t = 0; t < clients; ++t) {
    ts.emplace_back([&, t] {
      try {
        HttpClient c(port);
        for (int i = 0; !stop; ++i) {
          auto r = c.Post("/v1/decide", DecideBody(t, i));
          if (r.status != 200) break;  // died mid-request: not acknowledged
          const std::string id = r.json()["decision_id"];
          {
            std::lock_guard lock(acked.mu);
            acked.decisions.insert(id);
          }
          if (i % 2 == 1) continue;
          const double reward = (i / 2) % 3;
          auto w = c.Post("/v1/reward", {{"decision_id", id}, {"reward", reward}});
          if (w.status != 200) break;
          std::lock_guard lock(acked.mu);
          acked.rewards[id] = reward;
        }
      } catch (const std::exception&) {
      }
    });
  }
  for (auto& t : ts) t.join();
}

TEST(BanditServeSlow, KillNineLosesNoAcknowledgedDecisionOrReward) {
  marquee::testing::TempDir dir;
  const std::string home = dir.file("home");
  auto policy = marquee::testing::SkewedPolicy();
  const int64_t v = marquee::testing::RegisterPolicy(home, "artwork", *policy);
  marquee::testing::SetAlias(home, "artwork", "production", v);
  size_t total_d = 0, total_r = 0;
  for (int round = 0; round < 3; ++round) {
    const std::string port_file = dir.file(fmt::format("port{}", round));
    pid_t pid =
        marquee::testing::SpawnCli({"--home", home, "-q", "serve", "--port", "0", "--port-file",
                                    port_file, "--bandit", "artwork@production"},
                                   dir.file("serve.log"));
    ASSERT_GT(pid, 0);
    uint16_t port = marquee::testing::WaitForPort(port_file, pid);
    ASSERT_GT(port, 0) << marquee::testing::Slurp(dir.file("serve.log"));
    std::atomic<bool> stop{false};
    Acked acked;
    std::thread killer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(700 + 300 * round));
      ::kill(pid, SIGKILL);
      stop = true;
    });
    LoadUntilKilled(port, 4, stop, acked);
    killer.join();
    EXPECT_EQ(marquee::testing::WaitChild(pid), -SIGKILL);
    ASSERT_GT(acked.decisions.size(), 0u) << marquee::testing::Slurp(dir.file("serve.log"));
    ASSERT_GT(acked.rewards.size(), 0u);

    DecisionLogOptions ro;
    ro.read_only = true;
    auto log = DecisionLog::Open(home + "/decisions", ro);
    std::map<std::string, Decision> stored;
    log->ForEach(0, [&](const Decision& d) {
      stored.emplace(d.id, d);
      return true;
    });
    size_t missing = 0, lost_rewards = 0;
    for (const auto& id : acked.decisions) missing += stored.count(id) == 0 ? 1 : 0;
    for (const auto& [id, reward] : acked.rewards) {
      auto it = stored.find(id);
      if (it == stored.end() || it->second.outcome.kind != OutcomeKind::kJoined ||
          it->second.outcome.reward != reward) {
        ++lost_rewards;
      }
    }
    EXPECT_EQ(missing, 0u) << "of " << acked.decisions.size() << " decisions, round " << round;
    EXPECT_EQ(lost_rewards, 0u) << "of " << acked.rewards.size() << " rewards, round " << round;
    total_d += acked.decisions.size();
    total_r += acked.rewards.size();
  }
  std::printf("acknowledged and found after kill -9: %zu decisions, %zu rewards in 3 rounds\n",
              total_d, total_r);

  // The log exports in both formats, and every line parses back.
  auto dsjson = marquee::testing::RunCli("decisions export --format dsjson", home);
  ASSERT_EQ(dsjson.code, 0) << dsjson.err;
  std::istringstream lines(dsjson.out);
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    json j = json::parse(line);
    ASSERT_EQ(j["a"].size(), 3u);
    ASSERT_EQ(j["p"].size(), 3u);
    EXPECT_EQ(j["_label_Action"], j["a"][0]);
    EXPECT_EQ(j["_labelIndex"].get<int>() + 1, j["_label_Action"].get<int>());
    EXPECT_EQ(j["_label_probability"], j["p"][0]);
    EXPECT_EQ(j["_label_cost"].get<double>(), -j["o"][0]["v"].get<double>());
    ++n;
  }
  EXPECT_GE(n, total_r) << "every acknowledged reward is exported (open decisions are not)";
  auto jsonl = marquee::testing::RunCli("decisions export --format jsonl --include-open", home);
  ASSERT_EQ(jsonl.code, 0) << jsonl.err;
  std::istringstream jl(jsonl.out);
  n = 0;
  while (std::getline(jl, line)) {
    Decision d = Decision::FromJson(json::parse(line));
    EXPECT_EQ(d.model, "artwork");
    ++n;
  }
  EXPECT_GE(n, total_d);
  auto bad = marquee::testing::RunCli("decisions export --format csv", home);
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("csv"), std::string::npos) << bad.err;
}

TEST(BanditServeSlow, ExportOfAMissingLogIsAClearError) {
  marquee::testing::TempDir dir;
  auto r = marquee::testing::RunCli("decisions export", dir.file("home"));
  EXPECT_EQ(r.code, 3) << r.err;  // not_found
  EXPECT_NE(r.err.find("no decision log"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace marquee
