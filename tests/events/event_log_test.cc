// EventLog: durable appends, per-user recent history in time order, scans, reopen, group
// commit under concurrency, validation.
#include "events/event_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

Event E(std::string user, std::string item, int64_t ts, float value = 1.0f) {
  Event e;
  e.user = std::move(user);
  e.item = std::move(item);
  e.type = "play";
  e.value = value;
  e.ts = ts;
  return e;
}

TEST(EventLog, RecentIsNewestFirstPerUserAndSurvivesReopen) {
  testing::TempDir dir;
  {
    auto log = EventLog::Open(dir.file("events"));
    log->Append({E("a", "x", 30), E("a", "y", 10), E("ab", "z", 5), E("b", "w", 20)});
    log->Append({E("a", "v", 20, 0.5f), E("a", "u", -5)});
    auto r = log->Recent("a", 10);
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0].item, "x");  // ts 30
    EXPECT_EQ(r[1].item, "v");  // ts 20
    EXPECT_FLOAT_EQ(r[1].value, 0.5f);
    EXPECT_EQ(r[2].item, "y");
    EXPECT_EQ(r[3].item, "u");  // negative times sort first
    EXPECT_EQ(r[0].type, "play");
    EXPECT_EQ(log->Recent("a", 2).size(), 2u);
    EXPECT_EQ(log->Recent("ab", 10).size(), 1u);  // "a" is a prefix of "ab", not its history
    EXPECT_TRUE(log->Recent("nobody", 10).empty());
    EXPECT_EQ(log->appended(), 6u);
  }
  auto log = EventLog::Open(dir.file("events"));
  size_t n = 0;
  uint64_t max_seq = 0;
  log->ForEach([&](const StoredEvent& e) {
    ++n;
    max_seq = std::max(max_seq, e.seq);
    return true;
  });
  EXPECT_EQ(n, 6u);
  log->Append({E("c", "x", 1)});
  EXPECT_GT(log->Recent("c", 1)[0].seq, max_seq) << "sequence numbers continue after a reopen";
}

TEST(EventLog, ConcurrentAppendsAreGroupCommitted) {
  testing::TempDir dir;
  auto log = EventLog::Open(dir.file("events"));
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::vector<Event> batch;
        for (int j = 0; j < 10; ++j) batch.push_back(E("u" + std::to_string(t), "i", i * 10 + j));
        log->Append(std::move(batch));
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(log->appended(), 2000u);
  EXPECT_LE(log->group_commits(), 200u);
  for (int t = 0; t < 8; ++t) EXPECT_EQ(log->Recent("u" + std::to_string(t), 1000).size(), 250u);
}

TEST(EventLog, ValidationNamesTheField) {
  try {
    ValidateEvent(E("", "x", 0), "events[2]");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("events[2].user"), std::string::npos);
  }
  EXPECT_THROW(ValidateEvent(E("u", std::string(300, 'x'), 0), "e"), Error);
  EXPECT_THROW(ValidateEvent(E("u", "i", 0, std::nanf("")), "e"), Error);
  EXPECT_NO_THROW(ValidateEvent(E("u", "i", 0), "e"));
}

TEST(EventLog, ASecondProcessCannotOpenTheSameLog) {
  testing::TempDir dir;
  auto log = EventLog::Open(dir.file("events"));
  EXPECT_THROW(EventLog::Open(dir.file("events")), Error);
}

}  // namespace
}  // namespace marquee
