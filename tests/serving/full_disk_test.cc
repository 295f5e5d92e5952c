// A full disk under POST /v1/events (issue #12), in-process over a RocksDB environment that
// refuses appends on demand (tests/events/full_disk_fs.h): the refused batch is answered 503
// with a JSON body saying the disk is full (never acknowledged), /readyz turns 503 naming the
// reason, and both recover by themselves once space is back, without a restart.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "events/event_log.h"
#include "events/full_disk_fs.h"
#include "serving/server_core.h"
#include "serving_test_util.h"

namespace marquee {
namespace {

using json = nlohmann::json;
using marquee::testing::HttpClient;
using marquee::testing::HttpResult;

json OneEvent(const std::string& item) {
  return {{"events", {{{"user", "u1"}, {"item", item}, {"ts", 1700000000}}}}};
}

void ExpectFullDisk(const HttpResult& r, const std::string& needle) {
  EXPECT_EQ(r.status, 503) << r.body;
  json j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["error"]["code"], "unavailable") << r.body;
  const std::string msg = j["error"]["message"].get<std::string>();
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_NE(msg.find("no space left on device"), std::string::npos) << msg;
}

TEST(ServeFullDisk, EventsAre503AndReadyzNotReadyUntilSpaceReturns) {
  marquee::testing::TempDir dir;
  marquee::testing::FullDisk disk;
  ServerCoreOptions so;
  so.home = dir.file("home");
  so.event_log.tuning.env = disk.env.get();
  so.event_log.retry_interval = std::chrono::milliseconds(20);
  so.experiments = false;
  so.http.port = 0;
  so.http.threads = 2;
  ServerCore server(std::move(so));
  server.Start();
  EventLog* events = server.events();
  {
    HttpClient c(server.port());
    ASSERT_EQ(c.Post("/v1/events", OneEvent("kept")).status, 200);
    ASSERT_EQ(c.Get("/readyz").status, 200);

    disk.fs->full = true;
    ExpectFullDisk(c.Post("/v1/events", OneEvent("refused")), "event log");
    ExpectFullDisk(c.Get("/readyz"), "event log");
    ExpectFullDisk(c.Post("/v1/events", OneEvent("refused2")), "event log");
    EXPECT_EQ(c.Get("/healthz").status, 200);  // alive, only not ready

    disk.fs->full = false;
    int ready = 0;
    for (int i = 0; i < 500 && ready != 200; ++i) {
      ready = c.Get("/readyz").status;
      if (ready != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(ready, 200) << "readiness never came back after space was freed";
    EXPECT_EQ(c.Post("/v1/events", OneEvent("after")).status, 200);
  }
  std::vector<std::string> items;  // every append was answered: read before Stop closes the log
  for (const StoredEvent& e : events->Recent("u1", 10)) items.push_back(e.item);
  server.Stop();
  std::sort(items.begin(), items.end());
  EXPECT_EQ(items, (std::vector<std::string>{"after", "kept"}));
}

// Every other durable store (`marquee serve` adds the decision and exposure logs) holds /readyz
// back the same way, naming itself and the reason, and releases it when it is writable again.
TEST(ServeFullDisk, EveryAddedStoreHoldsReadinessBackByName) {
  marquee::testing::TempDir dir;
  ServerCoreOptions so;
  so.home = dir.file("home");
  so.events = false;
  so.experiments = false;
  so.http.port = 0;
  ServerCore server(std::move(so));
  std::atomic<bool> full{false};
  server.service()->add_readiness_check("decision log", [&full](std::string* why) {
    if (full) *why = "no space left on device: IO error: injected";
    return !full;
  });
  server.Start();
  {
    HttpClient c(server.port());
    EXPECT_EQ(c.Get("/readyz").status, 200);
    full = true;
    ExpectFullDisk(c.Get("/readyz"), "the decision log cannot store writes");
    full = false;
    EXPECT_EQ(c.Get("/readyz").status, 200);
  }
  server.Stop();
}

}  // namespace
}  // namespace marquee
