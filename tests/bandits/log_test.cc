// Bandit logs: JSONL and OBD readers, snapshots, the catalog, bad input.
#include <gtest/gtest.h>

#include <fstream>

#include "bandits/bandit_log_test_util.h"
#include "bandits/log.h"
#include "bandits/ope.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

const char* kJsonl =
    R"({"context": {"country": "US", "hour": 21, "kids": false}, "actions": [{"id": "img-1", "features": {"tone": "dark"}}, {"id": "img-2", "features": {"faces": 1}}], "chosen": "img-2", "probability": 0.5, "reward": 1, "position": 0, "user": "196", "ts": 1700000000}
{"context": {"country": "FR"}, "actions": [{"id": "img-1", "features": {"tone": "dark"}}, {"id": "img-2", "features": {"faces": 1}}], "chosen": 0, "probability": 0.25, "reward": 0}

{"context": {}, "actions": ["x", "y", "z"], "chosen": "z", "probability": 1, "reward": 0.5, "ts": "2019-11-24 00:03:13.44+00:00"}
)";

void ExpectInvalid(const std::string& text, const std::string& needle) {
  try {
    ParseBanditJsonl(text, "log.jsonl");
    FAIL() << "expected an error mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(BanditLog, ParsesJsonl) {
  BanditLog log = ParseBanditJsonl(kJsonl, "log.jsonl");
  ASSERT_EQ(log.rows.size(), 3u);
  EXPECT_EQ(log.action_sets.size(), 2u);  // rows 1 and 2 share their action set
  EXPECT_EQ(log.rows[0].action_set, log.rows[1].action_set);
  EXPECT_EQ(log.rows[0].chosen, 1u);
  EXPECT_EQ(log.rows[1].chosen, 0u);
  EXPECT_EQ(log.rows[2].chosen, 2u);
  EXPECT_EQ(log.rows[0].user.value(), "196");
  EXPECT_EQ(log.rows[0].ts, 1700000000);
  EXPECT_EQ(log.rows[2].ts, 1574553793);  // 2019-11-24T00:03:13Z
  EXPECT_EQ(log.rows[0].position, 0);
  EXPECT_EQ(log.rows[1].position, -1);
  EXPECT_TRUE(log.has_positions());
  DecisionInput in = log.Input(0);
  EXPECT_EQ(in.actions.size(), 2u);
  EXPECT_EQ(in.context.size(), 3u);
  EXPECT_DOUBLE_EQ(log.Stats()["mean_reward"].get<double>(), 0.5);
}

TEST(BanditLog, JsonlBadInputNamesLineAndField) {
  ExpectInvalid(R"({"actions": [], "chosen": 0, "probability": 1, "reward": 0})",
                "log.jsonl:1: actions");
  ExpectInvalid(R"({"actions": ["a", "a"], "chosen": 0, "probability": 1, "reward": 0})",
                "duplicate action id");
  ExpectInvalid(R"({"actions": ["a"], "chosen": 0, "probability": 0, "reward": 0})", "probability");
  ExpectInvalid(R"({"actions": ["a"], "chosen": 0, "probability": 1.5, "reward": 0})",
                "probability");
  ExpectInvalid(R"({"actions": ["a"], "chosen": "b", "probability": 1, "reward": 0})", "chosen");
  ExpectInvalid(R"({"actions": ["a"], "chosen": 3, "probability": 1, "reward": 0})", "chosen");
  ExpectInvalid(R"({"actions": ["a"], "chosen": 0, "probability": 1})", "reward");
  ExpectInvalid(R"({"actions": ["a"], "chosen": 0, "probability": 1, "reward": 0, "extra": 1})",
                "extra");
  ExpectInvalid(
      "{\"actions\": [\"a\"], \"chosen\": 0, \"probability\": 1, \"reward\": 0}\nnot json",
      "log.jsonl:2");
  ExpectInvalid(
      R"({"context": {"x": [1]}, "actions": ["a"], "chosen": 0, "probability": 1, "reward": 0})",
      "context.x");
  ExpectInvalid("", "no decisions");
  // Found by the fuzzer: numbers beyond the integer they are stored in (undefined casts).
  ExpectInvalid(R"({"actions": ["a"], "chosen": 0, "probability": 1, "reward": 0, "ts": 1.7e35})",
                "ts: 1.7e+35 is not a Unix time");
  ExpectInvalid(
      R"({"actions": ["a"], "chosen": 0, "probability": 1, "reward": 0, "position": 4294967296})",
      "position must be a non-negative integer below 2^31");
}

TEST(BanditLog, SnapshotRoundTripAndCatalog) {
  marquee::testing::TempDir home;
  BanditLog log = ParseBanditJsonl(kJsonl, "log.jsonl");
  BanditLogCatalog catalog(home.path(), Env::Default());
  BanditLogEntry e = catalog.Import("decisions", log);
  EXPECT_EQ(e.rows, 3u);
  EXPECT_EQ(e.actions, 5u);
  EXPECT_TRUE(catalog.Has("decisions"));
  EXPECT_EQ(catalog.List().size(), 1u);
  BanditLog back = catalog.Open("decisions");
  marquee::testing::ExpectSameRows(back, log);
  // Re-importing the same content keeps the id; the history records changes.
  EXPECT_EQ(catalog.Import("decisions", log).id, e.id);
  log.rows.pop_back();
  BanditLogEntry e2 = catalog.Import("decisions", log);
  EXPECT_NE(e2.id, e.id);
  ASSERT_EQ(e2.history.size(), 1u);
  EXPECT_EQ(e2.history[0], e.id);
  EXPECT_THROW(catalog.Import("bad/name", log), Error);
  EXPECT_THROW(catalog.Get("nope"), Error);
}

TEST(BanditLog, DamagedSnapshotIsCorruption) {
  marquee::testing::TempDir home;
  BanditLogCatalog catalog(home.path(), Env::Default());
  BanditLogEntry e = catalog.Import("d", ParseBanditJsonl(kJsonl, "log.jsonl"));
  std::string bytes = Env::Default()->ReadFile(e.path);
  bytes[bytes.size() / 2] ^= 0x5a;
  std::filesystem::permissions(e.path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  { std::ofstream(e.path, std::ios::binary | std::ios::trunc) << bytes; }
  try {
    catalog.Open("d");
    FAIL() << "a damaged snapshot loaded";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kCorruption) << err.what();
  }
}

TEST(BanditLog, ObdRejectsBadFiles) {
  marquee::testing::TempDir dir;
  EXPECT_THROW(ReadObd(dir.file("men.csv"), Env::Default()), Error);
  Env::Default()->WriteFileAtomic(dir.file("men.csv"),
                                  ",timestamp,item_id,position,click,propensity_score\n"
                                  "0,2019-11-24 00:03:13+00:00,1,1,0,0.5\n");
  EXPECT_THROW(ReadObd(dir.file("men.csv"), Env::Default()), Error);  // no item_context.csv
  Env::Default()->WriteFileAtomic(dir.file("item_context.csv"),
                                  ",item_id,item_feature_0\n0,0,0.5\n1,1,-0.5\n");
  BanditLog ok = ReadObd(dir.file("men.csv"), Env::Default());
  EXPECT_EQ(ok.rows.size(), 1u);
  EXPECT_EQ(ok.ChosenAction(0).id, "1");
  Env::Default()->WriteFileAtomic(dir.file("men.csv"),
                                  ",timestamp,item_id,position,click,propensity_score\n"
                                  "0,2019-11-24 00:03:13+00:00,1,1,0,0\n");
  try {
    ReadObd(dir.file("men.csv"), Env::Default());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("men.csv:2: propensity_score"), std::string::npos)
        << e.what();
  }
  // A position beyond int32 (or fractional) was cast from double: undefined behaviour.
  for (const char* pos : {"3e12", "1.5", "-1"}) {
    Env::Default()->WriteFileAtomic(
        dir.file("men.csv"), std::string(",timestamp,item_id,position,click,propensity_score\n") +
                                 "0,2019-11-24 00:03:13+00:00,1," + pos + ",0,0.5\n");
    try {
      ReadObd(dir.file("men.csv"), Env::Default());
      FAIL() << pos;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("men.csv:2: position must be a non-negative integer"),
                std::string::npos)
          << e.what();
    }
  }
}

// Issue #12: action ids, context keys and string features that are not UTF-8 or hold a NUL
// are refused at import with file:line and the field.
TEST(BanditLog, TextThatIsNotUtf8OrHoldsNulIsRefused) {
  const std::string tail = R"(, "chosen": 0, "probability": 0.5, "reward": 1})";
  ExpectInvalid("{\"actions\": [\"a\\u0000b\"]" + tail,
                "log.jsonl:1: actions[0] contains a NUL byte (at offset 1)");
  ExpectInvalid("{\"actions\": [{\"id\": \"x\\u0000\"}]" + tail,
                "log.jsonl:1: actions[0].id contains a NUL byte (at offset 1)");
  ExpectInvalid("{\"context\": {\"k\\u0000\": 1}, \"actions\": [\"a\"]" + tail,
                "log.jsonl:1: context.k\\x00: the name contains a NUL byte");
  ExpectInvalid("{\"context\": {\"k\": \"v\\u0000\"}, \"actions\": [\"a\"]" + tail,
                "log.jsonl:1: context.k contains a NUL byte (at offset 1)");
  ExpectInvalid("{\"user\": \"\\u0000\", \"actions\": [\"a\"]" + tail,
                "log.jsonl:1: user contains a NUL byte (at offset 0)");
  // Raw bytes that are not UTF-8: nlohmann only says "invalid"; the reader names the byte.
  ExpectInvalid("{\"actions\": [\"caf\xe9\"]" + tail,
                "log.jsonl:1: the line is not valid UTF-8 (byte 0xe9 at offset 17");

  marquee::testing::TempDir dir;
  Env::Default()->WriteFileAtomic(dir.file("item_context.csv"),
                                  ",item_id,item_feature_0\n0,0,caf\xe9\n1,1,-0.5\n");
  Env::Default()->WriteFileAtomic(
      dir.file("men.csv"),
      ",timestamp,item_id,position,click,propensity_score,user_feature_0\n"
      "0,2019-11-24 00:03:13+00:00,1,1,0,0.5,ok\n");
  try {
    ReadObd(dir.file("men.csv"), Env::Default());
    FAIL() << "a Latin-1 item feature was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "item_context.csv:2: column 'item_feature_0' is not valid UTF-8 (byte 0xe9 at "
                  "offset 3"),
              std::string::npos)
        << e.what();
  }
  Env::Default()->WriteFileAtomic(dir.file("item_context.csv"),
                                  ",item_id,item_feature_0\n0,0,a\n1,1,-0.5\n");
  Env::Default()->WriteFileAtomic(
      dir.file("men.csv"),
      ",timestamp,item_id,position,click,propensity_score,user_feature_\xff\n"
      "0,2019-11-24 00:03:13+00:00,1,1,0,0.5,ok\n");
  try {
    ReadObd(dir.file("men.csv"), Env::Default());
    FAIL() << "a header that is not UTF-8 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("men.csv:1: field 7 is not valid UTF-8 (byte 0xff"),
              std::string::npos)
        << e.what();
  }
}

TEST(BanditLog, ImportsTheOpenBanditDataset) {
  MARQUEE_REQUIRE_SHARED(random_men, "open-bandit-dataset/random/men/men.csv");
  MARQUEE_REQUIRE_SHARED(bts_men, "open-bandit-dataset/bts/men/men.csv");
  BanditLog rnd = ReadObd(random_men, Env::Default());
  BanditLog bts = ReadObd(bts_men, Env::Default());
  ASSERT_EQ(rnd.rows.size(), 10000u);
  ASSERT_EQ(rnd.action_sets.size(), 1u);
  EXPECT_EQ(rnd.action_sets[0].size(), 34u);
  const nlohmann::json st = rnd.Stats();
  EXPECT_NEAR(st["mean_reward"].get<double>(), 0.0046, 1e-12);  // 46 clicks (README)
  EXPECT_NEAR(st["propensity_min"].get<double>(), 1.0 / 34, 1e-12);
  EXPECT_EQ(st["positions"].size(), 3u);
  EXPECT_NEAR(bts.Stats()["mean_reward"].get<double>(), 0.0069, 1e-12);  // 69 clicks
  EXPECT_EQ(rnd.rows[0].ts, 1574553793);                                 // 2019-11-24 00:03:13 UTC
  // The user features are categorical context features.
  EXPECT_TRUE(std::holds_alternative<std::string>(rnd.Context(0).at(0).second));
  // Candidate = the BTS log's empirical distribution: on a uniform log with constant
  // propensities IPS is sum(pi(a_i | pos_i) r_i) * 34 / n.
  CandidateDistributions pi = EmpiricalDistributions(bts, rnd, nullptr);
  OpeOptions o;
  o.bootstrap = 50;
  OpeResult r = EvaluateOffPolicy(rnd, pi, o);
  double manual = 0;
  for (size_t i = 0; i < rnd.rows.size(); ++i) {
    manual += pi[i][rnd.rows[i].chosen] / rnd.rows[i].propensity * rnd.rows[i].reward;
  }
  EXPECT_NEAR(r.estimates["ips"].value, manual / 10000.0, 1e-15);
  EXPECT_GT(r.estimates["ips"].value, 0.0);
  EXPECT_LT(r.estimates["ips"].value, 0.05);
}

}  // namespace
}  // namespace marquee
