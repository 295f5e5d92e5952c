// The typed bandit log (snapshot v2): Keyed equals hashing the FeatureMaps, v1 snapshots still
// load, the streamed import writes the same snapshot as the in-memory one with bounded memory,
// and the DSJSON and VW cb_adf readers (round trip of `decisions export`, bad input).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "bandits/bandit_log_test_util.h"
#include "bandits/log.h"
#include "bandits/ope.h"
#include "bandits/policy.h"
#include "bandits/train.h"
#include "bandits/typed_log.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "test_util.h"

namespace marquee {
namespace {

using ::marquee::testing::ExpectSameRows;

const char* kJsonl =
    R"({"context": {"country": "US", "hour": 21, "kids": false, "a0": 0.25}, "actions": [{"id": "img-1", "features": {"tone": "dark"}}, {"id": "img-2", "features": {"faces": 1}}], "chosen": "img-2", "probability": 0.5, "reward": 1, "position": 0, "user": "196", "ts": 1700000000}
{"context": {"hour": 3, "country": "FR", "zero": 0}, "actions": [{"id": "img-1", "features": {"tone": "dark"}}, {"id": "img-2", "features": {"faces": 1}}], "chosen": 0, "probability": 0.25, "reward": 0}

{"context": {}, "actions": ["x", "y", "z"], "chosen": "z", "probability": 1, "reward": 0.5, "ts": "2019-11-24 00:03:13.44+00:00"}
{"context": {"country": "US", "hour": 22, "kids": true, "a0": 0.5}, "actions": [{"id": "img-1", "features": {"tone": "dark"}}, {"id": "img-2", "features": {"faces": 1}}], "chosen": 1, "probability": 0.5, "reward": -2, "user": "7"}
)";

// Keyed(i) of `log` equals hashing Context(i) and the action set's maps (the contract).
void ExpectKeyedMatchesMaps(const BanditLog& log) {
  KeyedScratch fast, reference;
  for (size_t i = 0; i < log.rows.size(); ++i) {
    const KeyedInput& a = log.Keyed(i, &fast);
    const KeyedInput& b = reference.Key(log.Context(i), log.action_sets[log.rows[i].action_set]);
    ASSERT_EQ(a.context.size(), b.context.size()) << "row " << i;
    for (size_t j = 0; j < a.context.size(); ++j) {
      EXPECT_EQ(a.context[j].key, b.context[j].key) << "row " << i;
      EXPECT_EQ(a.context[j].value, b.context[j].value) << "row " << i;
    }
    ASSERT_EQ(a.actions.size(), b.actions.size());
    for (size_t k = 0; k < a.actions.size(); ++k) {
      EXPECT_EQ(a.actions[k].id, b.actions[k].id);
      EXPECT_EQ(a.actions[k].id_key, b.actions[k].id_key);
      ASSERT_EQ(a.actions[k].features.size(), b.actions[k].features.size());
      for (size_t j = 0; j < a.actions[k].features.size(); ++j) {
        EXPECT_EQ(a.actions[k].features[j].key, b.actions[k].features[j].key);
        EXPECT_EQ(a.actions[k].features[j].value, b.actions[k].features[j].value);
      }
    }
  }
}

TEST(TypedBanditLog, ContextsAreSortedByNameAsBeforeAndKeyedMatchesHashing) {
  BanditLog log = ParseBanditJsonl(kJsonl, "log.jsonl");
  ASSERT_NE(log.typed, nullptr);
  ASSERT_EQ(log.rows.size(), 4u);
  // The first reader (nlohmann objects) gave contexts in name order; so does the typed one.
  const FeatureMap c0 = log.Context(0);
  ASSERT_EQ(c0.size(), 4u);
  EXPECT_EQ(c0[0].first, "a0");
  EXPECT_EQ(c0[1].first, "country");
  EXPECT_EQ(std::get<std::string>(c0[1].second), "US");
  EXPECT_EQ(c0[3].first, "kids");
  EXPECT_EQ(std::get<double>(c0[3].second), 0.0);
  EXPECT_EQ(log.Context(1).size(), 3u);  // zeros are kept in the map, skipped when keyed
  KeyedScratch s;
  EXPECT_EQ(log.Keyed(1, &s).context.size(), 2u);
  ExpectKeyedMatchesMaps(log);
  // A hand-built copy (FeatureMaps, no typed core) keys the same.
  BanditLog hand = log;
  hand.typed = nullptr;
  for (size_t i = 0; i < hand.rows.size(); ++i) {
    hand.rows[i].context = log.Context(i);
    hand.rows[i].typed_row = LoggedDecision::kNoTypedRow;
  }
  ExpectKeyedMatchesMaps(hand);
  // A repeated key keeps the last value, as the nlohmann reader did (the second line takes the
  // fast path: its actions' text was seen on the first).
  const BanditLog dup = ParseBanditJsonl(
      "{\"actions\": [\"x\"], \"chosen\": 0, \"probability\": 1, \"reward\": 0}\n"
      "{\"context\": {\"a\": 1}, \"context\": {\"b\": 2}, \"actions\": [\"x\"], \"chosen\": 0, "
      "\"probability\": 1, \"reward\": 0}\n",
      "dup.jsonl");
  EXPECT_EQ(dup.Context(1), (FeatureMap{{"b", 2.0}}));
  // A copy that dropped the typed core fails loudly instead of reading empty contexts.
  BanditLog dropped = log;
  dropped.typed = nullptr;
  EXPECT_THROW(dropped.Context(0), Error);
}

TEST(TypedBanditLog, SnapshotV2RoundTripKeepsEveryField) {
  marquee::testing::TempDir dir;
  BanditLog log = ParseBanditJsonl(kJsonl, "log.jsonl");
  const std::string id = SaveBanditLog(log, dir.file("a.mqbl"), Env::Default());
  BanditLog back = LoadBanditLog(dir.file("a.mqbl"), Env::Default());
  ExpectSameRows(log, back);
  ExpectKeyedMatchesMaps(back);
  EXPECT_EQ(back.Stats(), log.Stats());
  // Saving the loaded log again gives the same bytes (the id is the sha256 of the bytes).
  EXPECT_EQ(SaveBanditLog(back, dir.file("b.mqbl"), Env::Default()), id);
  // A hand-built log (FeatureMaps) saves to the same bytes as the typed one.
  BanditLog hand = log;
  hand.typed = nullptr;
  for (size_t i = 0; i < hand.rows.size(); ++i) {
    hand.rows[i].context = log.Context(i);
    hand.rows[i].typed_row = LoggedDecision::kNoTypedRow;
  }
  EXPECT_EQ(SaveBanditLog(hand, dir.file("c.mqbl"), Env::Default()), id);
}

// tests/bandits/data/bandit_log_v1.mqbl: kJsonl above saved by the version 1 writer
// (contexts as JSON lines), committed so that the reader of the old version stays tested.
// How the fixture was written (run with --gtest_also_run_disabled_tests to write it again).
TEST(TypedBanditLog, DISABLED_WriteVersionOneFixture) {
  SaveBanditLogV1(ParseBanditJsonl(kJsonl, "log.jsonl"),
                  std::string(MARQUEE_SOURCE_DIR) + "/tests/bandits/data/bandit_log_v1.mqbl",
                  Env::Default());
}

TEST(TypedBanditLog, VersionOneSnapshotsStillLoad) {
  const std::string fixture =
      std::string(MARQUEE_SOURCE_DIR) + "/tests/bandits/data/bandit_log_v1.mqbl";
  BanditLog v1 = LoadBanditLog(fixture, Env::Default());
  ASSERT_EQ(v1.rows.size(), 4u);
  EXPECT_EQ(v1.typed, nullptr);
  BanditLog now = ParseBanditJsonl(kJsonl, "log.jsonl");
  ExpectSameRows(v1, now);
  ExpectKeyedMatchesMaps(v1);
  // And converts: saved again it is a v2 snapshot with the same decisions.
  marquee::testing::TempDir dir;
  SaveBanditLog(v1, dir.file("v2.mqbl"), Env::Default());
  ExpectSameRows(LoadBanditLog(dir.file("v2.mqbl"), Env::Default()), now);
}

TEST(TypedBanditLog, StreamedImportEqualsInMemoryImport) {
  marquee::testing::TempDir home;
  Env::Default()->WriteFileAtomic(home.file("log.jsonl"), kJsonl);
  BanditLogCatalog catalog(home.path(), Env::Default());
  nlohmann::json stats;
  BanditLogEntry e = catalog.ImportFile("d", home.file("log.jsonl"), "bandit-jsonl", "src", &stats);
  EXPECT_EQ(e.rows, 4u);
  EXPECT_EQ(stats["rows"], 4);
  BanditLog log = ReadBanditJsonl(home.file("log.jsonl"), Env::Default());
  log.source = "src";
  EXPECT_EQ(catalog.Import("e", log).id, e.id);  // the same bytes either way
  ExpectSameRows(catalog.Open("d"), log);
  EXPECT_THROW(catalog.ImportFile("x", home.file("log.jsonl"), "csv", "", nullptr), Error);
  EXPECT_THROW(catalog.ImportFile("x", home.file("nope.jsonl"), "bandit-jsonl", "", nullptr),
               Error);
}

// Bounded memory: a child process imports a log whose columns alone are larger than the address
// space it may use beyond its start (RLIMIT_AS), which a whole-log import could not do.
TEST(TypedBanditLog, SlowStreamedImportHoldsBoundedMemory) {
  marquee::testing::TempDir home;
  const std::string path = home.file("big.jsonl");
  {
    std::ofstream out(path);
    for (int i = 0; i < 200000; ++i) {
      out << "{\"context\": {";
      for (int f = 0; f < 32; ++f) {
        out << (f ? ", " : "") << "\"c" << f << "\": " << ((i * 31 + f * 7) % 1000) / 997.0;
      }
      out << "}, \"actions\": [{\"id\": \"a0\", \"features\": {\"x\": 1}}, {\"id\": \"a1\"}], "
          << "\"chosen\": " << (i % 2) << ", \"probability\": 0.5, \"reward\": " << (i % 3)
          << "}\n";
    }
  }
  // 200k rows x 32 features x 12 bytes = 77 MB of context columns alone (and the JSON text
  // is larger still); the child may grow by 64 MB.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0;
    statm >> pages;
    const rlim_t limit = pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) + (64ull << 20);
    struct rlimit rl = {limit, limit};
    setrlimit(RLIMIT_AS, &rl);
    try {
      BanditLogCatalog catalog(home.path(), Env::Default());
      BanditLogEntry e = catalog.ImportFile("big", path, "bandit-jsonl", "", nullptr);
      _exit(e.rows == 200000 ? 0 : 2);
    } catch (...) {
      _exit(3);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the streamed import failed under the memory limit";
  // The snapshot it wrote loads and holds every row.
  BanditLog log = BanditLogCatalog(home.path(), Env::Default()).Open("big");
  ASSERT_EQ(log.rows.size(), 200000u);
  EXPECT_EQ(log.Context(199999).size(), 32u);
  EXPECT_EQ(log.rows[199999].reward, 199999 % 3);
}

// DSJSON as `marquee decisions export --format dsjson` writes it (docs/formats/decisions.md).
const char* kDsjson =
    R"({"_label_cost": -1.0, "_label_probability": 0.9, "_label_Action": 2, "_labelIndex": 1, "o": [{"v": 1.0, "EventId": "e1", "ActionTaken": false, "_kind": "joined"}], "Timestamp": "2023-11-14T22:13:20.123Z", "Version": "1", "EventId": "e1", "a": [2, 1], "c": {"context": {"country": "US", "device": "tv", "hour": 21}, "user": {"id": "196"}, "_multi": [{"_id": "img-1", "action": {"faces": 1, "tone": "dark"}, "id": {"img-1": 1}}, {"_id": "img-2", "action": {"faces": 0, "tone": "light"}, "id": {"img-2": 1}}]}, "p": [0.9, 0.1], "VWState": {"m": "artwork/3"}}
{"EventId": "open-one", "c": {"_multi": [{"_id": "x"}]}}
{"_label_cost": 0, "_label_probability": 0.5, "_labelIndex": 0, "c": {"context": {"hour": 3}, "_multi": [{"_id": "img-1", "action": {"faces": 1, "tone": "dark"}}, {"_id": "img-3"}]}}
)";

TEST(TypedBanditLog, ReadsDsjson) {
  BanditLog log = ParseDsjson(kDsjson, "d.json");
  ASSERT_EQ(log.rows.size(), 2u);  // the unlabelled decision is skipped
  EXPECT_EQ(log.format, "dsjson");
  EXPECT_EQ(log.rows[0].chosen, 1u);
  EXPECT_DOUBLE_EQ(log.rows[0].propensity, 0.9);
  EXPECT_DOUBLE_EQ(log.rows[0].reward, 1.0);
  EXPECT_EQ(log.rows[0].user.value(), "196");
  EXPECT_EQ(log.rows[0].ts, 1700000000);
  const FeatureMap c = log.Context(0);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].first, "country");
  EXPECT_EQ(c[2].first, "hour");
  const DecisionInput in = log.Input(0);
  ASSERT_EQ(in.actions.size(), 2u);
  EXPECT_EQ(in.actions[1].id, "img-2");
  EXPECT_EQ(in.actions[1].features, (FeatureMap{{"faces", 0.0}, {"tone", std::string("light")}}));
  EXPECT_EQ(log.rows[1].chosen, 0u);
  EXPECT_EQ(log.Input(1).actions[1].id, "img-3");
  ExpectKeyedMatchesMaps(log);
}

TEST(TypedBanditLog, ReadsVwAdf) {
  const char* text =
      "shared |c hour:21 country=US\n"
      "'img-1 |a tone=dark faces:1\n"
      "'img-2 0:-1:0.4 |a tone=light\n"
      "\n"
      "shared |c hour:3\n"
      "0:0.5:0.25 |a f:2\n"
      "|a f:1\n"
      "\n";
  BanditLog log = ParseVwAdf(text, "x.vw");
  ASSERT_EQ(log.rows.size(), 2u);
  EXPECT_EQ(log.rows[0].chosen, 1u);
  EXPECT_DOUBLE_EQ(log.rows[0].reward, 1.0);  // cost -1
  EXPECT_DOUBLE_EQ(log.rows[0].propensity, 0.4);
  EXPECT_EQ(log.Context(0), (FeatureMap{{"c^country=US", 1.0}, {"c^hour", 21.0}}));
  EXPECT_EQ(log.Input(0).actions[0].id, "img-1");
  EXPECT_EQ(log.Input(0).actions[0].features, (FeatureMap{{"a^faces", 1.0}, {"a^tone=dark", 1.0}}));
  EXPECT_EQ(log.rows[1].chosen, 0u);
  EXPECT_DOUBLE_EQ(log.rows[1].reward, -0.5);
  EXPECT_EQ(log.Input(1).actions[1].id, "1");  // no tag: the index
  ExpectKeyedMatchesMaps(log);
}

template <typename F>
void ExpectInvalid(F parse, const std::string& text, const std::string& needle) {
  try {
    parse(text);
    FAIL() << "expected an error mentioning " << needle << " for " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(TypedBanditLog, BadDsjsonNamesLineAndField) {
  auto p = [](const std::string& t) { return ParseDsjson(t, "d.json"); };
  const std::string multi = R"("c": {"_multi": [{"_id": "a"}, {"_id": "b"}]})";
  ExpectInvalid(p, "not json", "d.json:1: not a JSON object");
  ExpectInvalid(p, R"({"_label_cost": 0, "_label_probability": 1, "_labelIndex": 0})",
                "d.json:1: c: the shared example");
  ExpectInvalid(p, R"({"_label_cost": 0, "_label_probability": 1, "_labelIndex": 0, "c": {}})",
                "d.json:1: c._multi");
  ExpectInvalid(p,
                R"({"_label_cost": 0, "_label_probability": 1, "_labelIndex": 2, )" + multi + "}",
                "d.json:1: _labelIndex: action 2 outside the 2 actions");
  ExpectInvalid(p, R"({"_label_cost": 0, "_label_probability": 1, )" + multi + "}",
                "_labelIndex or _label_Action is required");
  ExpectInvalid(p,
                R"({"_label_cost": 0, "_label_probability": 0, "_labelIndex": 0, )" + multi + "}",
                "d.json:1: _label_probability must be in (0, 1]");
  ExpectInvalid(p,
                R"({"_label_cost": "x", "_label_probability": 1, "_labelIndex": 0, )" + multi + "}",
                "d.json:1: _label_cost: a number is required");
  ExpectInvalid(
      p,
      R"({"_label_cost": 0, "_label_probability": 1, "_labelIndex": 0, "c": {"_multi": [{"_id": "a"}, {"_id": "a"}]}})",
      "d.json:1: c._multi: actions[1].id: duplicate action id");
  ExpectInvalid(
      p,
      R"({"_label_cost": 0, "_label_probability": 1, "_labelIndex": 0, "Timestamp": "soon", )" +
          multi + "}",
      "d.json:1: Timestamp: unreadable time");
  ExpectInvalid(
      p,
      R"({"_label_cost": 0, "_label_probability": 1, "_labelIndex": 0, "c": {"context": {"x": [1]}, "_multi": [{"_id": "a"}]}})",
      "d.json:1: c.context.x: a feature must be a number");
  ExpectInvalid(p, "{\"EventId\": \"e\"}\n", "no decisions with a label");
}

TEST(TypedBanditLog, BadVwAdfNamesLineAndField) {
  auto p = [](const std::string& t) { return ParseVwAdf(t, "x.vw"); };
  ExpectInvalid(p, "shared |c a:1\n|a b\n\n", "x.vw:1: no action line has a label");
  ExpectInvalid(p, "0:1:0.5 |a b\n0:1:0.5 |a c\n", "x.vw:2: a second labelled action");
  ExpectInvalid(p, "0:1:0 |a b\n", "x.vw:1: label probability must be in (0, 1]");
  ExpectInvalid(p, "0:x:0.5 |a b\n", "x.vw:1: label cost 'x' is not a number");
  ExpectInvalid(p, "0:1 |a b\n", "x.vw:1: label '0:1': expected index:cost:probability");
  ExpectInvalid(p, "0:1:0.5 |a b:y\n", "x.vw:1: feature 'b': value 'y' is not a number");
  ExpectInvalid(p, "0:1:0.5 no bar\n", "x.vw:1: no '|'");
  ExpectInvalid(p, "0:1:0.5 |a b\nshared |c x\n", "x.vw:2: a shared line must come first");
  ExpectInvalid(p, "'a 0:1:0.5 |a b\n'a |a c\n", "x.vw:2: duplicate action id 'a'");
  ExpectInvalid(p, "0:1:0.5 |a b:1 b:2\n", "x.vw:1: duplicate feature 'a^b'");
  ExpectInvalid(p, "\n\n", "x.vw: no examples");
}

// A log of `n` rows built in memory through the builder: 8 context features (one categorical),
// two action sets, positions, users on every third row.
BanditLog SyntheticTypedLog(size_t n) {
  BanditLogBuilder b("bandit-jsonl", "synthetic");
  const uint32_t s0 = b.ActionSet({{"a", {{"tone", std::string("dark")}}}, {"b", {{"f", 0.5}}}});
  const uint32_t s1 = b.ActionSet({{"a", {{"tone", std::string("dark")}}}, {"c", {}}, {"d", {}}});
  std::vector<BanditLogBuilder::Feature> ctx;
  std::mt19937_64 rng(3);
  for (size_t i = 0; i < n; ++i) {
    ctx.clear();
    for (int f = 0; f < 7; ++f) {
      ctx.push_back({b.Key(fmt::format("x{}", f), false, {}, "ctx"),
                     static_cast<double>(rng() % 1000) / 500.0 - 1.0});
    }
    ctx.push_back({b.Key("country", true, i % 2 ? "US" : "FR", "ctx"), 1.0});
    const bool big = i % 5 == 0;
    const uint32_t chosen = static_cast<uint32_t>(rng() % (big ? 3 : 2));
    const double x0 = ctx[0].value;
    const double reward = (chosen == 0) == (x0 > 0) ? 1.0 : 0.0;
    b.AddRow(big ? s1 : s0, chosen, big ? 1.0 / 3 : 0.5, reward, static_cast<int32_t>(i % 3) - 1,
             static_cast<int64_t>(1700000000 + i),
             i % 3 == 0 ? b.User(fmt::format("u{}", i % 17), "user") : BanditLogBuilder::kNoUser,
             ctx);
  }
  return b.Finish();
}

void ExpectSameRowRefs(const BanditLog& lazy, const BanditLog& eager) {
  ASSERT_EQ(lazy.size(), eager.size());
  ASSERT_EQ(eager.lazy, nullptr);
  KeyedScratch a, b;
  for (size_t i = 0; i < eager.size(); ++i) {
    const BanditLog::RowRef r = lazy.row(i);
    const LoggedDecision& e = eager.rows[i];
    ASSERT_EQ(r.action_set, e.action_set) << "row " << i;
    ASSERT_EQ(r.chosen, e.chosen) << "row " << i;
    ASSERT_EQ(r.propensity, e.propensity) << "row " << i;
    ASSERT_EQ(r.reward, e.reward) << "row " << i;
    ASSERT_EQ(r.position, e.position) << "row " << i;
    ASSERT_EQ(r.ts, e.ts) << "row " << i;
    ASSERT_EQ(lazy.user(i) != nullptr, e.user.has_value()) << "row " << i;
    if (e.user) {
      ASSERT_EQ(*lazy.user(i), *e.user) << "row " << i;
    }
    const KeyedInput& x = lazy.Keyed(i, &a);
    const KeyedInput& y = eager.Keyed(i, &b);
    ASSERT_EQ(x.context.size(), y.context.size()) << "row " << i;
    for (size_t j = 0; j < x.context.size(); ++j) {
      ASSERT_EQ(x.context[j].key, y.context[j].key) << "row " << i;
      ASSERT_EQ(x.context[j].value, y.context[j].value) << "row " << i;
    }
    ASSERT_EQ(x.actions.size(), y.actions.size()) << "row " << i;
  }
}

// The lazy form (what `marquee train` reads) serves the same rows, slices, selections, keyed
// inputs and off-policy estimates as the eager load, also after its pages were released.
TEST(TypedBanditLog, LazyOpenReadsWhatTheEagerLoadReads) {
  marquee::testing::TempDir dir;
  const size_t n = 3 * kReleaseRows + 123;  // several release windows
  const std::string path = dir.file("s.mqbl");
  SaveBanditLog(SyntheticTypedLog(n), path, Env::Default());
  const BanditLog eager = LoadBanditLog(path, Env::Default());
  const BanditLog lazy = OpenBanditLogLazily(path, Env::Default());
  ASSERT_NE(lazy.lazy, nullptr);
  EXPECT_TRUE(lazy.rows.empty());
  ExpectSameRowRefs(lazy, eager);
  EXPECT_EQ(lazy.Stats(), eager.Stats());
  EXPECT_TRUE(lazy.has_positions());
  lazy.ReleasePages(0, n);  // read back from the file
  ExpectSameRowRefs(lazy, eager);
  // Saved again, the lazy log gives the same bytes.
  EXPECT_EQ(SaveBanditLog(lazy, dir.file("t.mqbl"), Env::Default()),
            SaveBanditLog(eager, dir.file("u.mqbl"), Env::Default()));

  // Slices and selections (of slices) are the eager ones.
  ExpectSameRowRefs(lazy.Slice(100, 20000), eager.Slice(100, 20000));
  std::vector<size_t> pick;
  for (size_t i = 7; i < 20000 - 100; i += 13) pick.push_back(i);
  ExpectSameRowRefs(lazy.Slice(100, 20000).Select(pick), eager.Slice(100, 20000).Select(pick));
  EXPECT_EQ(lazy.Slice(100, 20000).Select(pick).row(1).typed_row, 100u + 20u);
  EXPECT_THROW(lazy.Slice(5, n + 1), Error);
  EXPECT_THROW(lazy.Select({3, 3}), Error);
  EXPECT_THROW(eager.Select({n}), Error);

  // A policy learned from the lazy rows and valued on a lazy holdout: every estimator (the
  // ridge reward model included) as on the eager rows.
  PolicyConfig pc;
  pc.family = "cb-adf";
  auto learned = MakePolicy(pc);
  const BanditLog train = lazy.Slice(0, n - 4000);
  KeyedScratch scratch;
  for (size_t i = 0; i < train.size(); ++i) {
    const BanditLog::RowRef r = train.row(i);
    learned->Update(train.Keyed(i, &scratch), r.chosen, r.reward, r.propensity);
  }
  OpeOptions o;
  o.bootstrap = 2;
  const BanditLog lazy_test = lazy.Slice(n - 4000, n), eager_test = eager.Slice(n - 4000, n);
  const CandidateDistributions pl = PolicyDistributions(*learned, lazy_test, 9);
  const CandidateDistributions pe = PolicyDistributions(*learned, eager_test, 9);
  ASSERT_EQ(pl, pe);
  const OpeResult a = EvaluateOffPolicy(lazy_test, pl, o), b = EvaluateOffPolicy(eager_test, pe, o);
  EXPECT_EQ(a.reward_model, "ridge");
  for (const auto& e : a.order) {
    EXPECT_EQ(a.estimates.at(e).value, b.estimates.at(e).value) << e;
    EXPECT_EQ(a.estimates.at(e).lo, b.estimates.at(e).lo) << e;
  }
  EXPECT_GT(a.estimates.at("ips").value, a.logged_reward);  // it learned something
}

// Peak resident memory of the process, in bytes (VmHWM), and the current one (VmRSS).
uint64_t StatusBytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) << 10;
  }
  return 0;
}

// Bounded memory of training: a child process trains and evaluates (held-out IPS, refit) from
// a snapshot whose context columns alone are 77 MB; its resident memory may grow by 40 MB (the
// eager load held every page it read plus 112 bytes of record per row).
TEST(TypedBanditLog, SlowTrainingFromASnapshotHoldsAWindowOfIt) {
  marquee::testing::TempDir home;
  {
    BanditLogBuilder b("bandit-jsonl", "big");
    const uint32_t set = b.ActionSet({{"a0", {{"x", 1.0}}}, {"a1", {}}});
    std::vector<BanditLogBuilder::Feature> ctx;
    for (int i = 0; i < 200000; ++i) {
      ctx.clear();
      for (int f = 0; f < 32; ++f) {
        ctx.push_back({b.Key(fmt::format("c{}", f), false, {}, "ctx"),
                       ((i * 31 + f * 7) % 1000) / 997.0 + 0.001});
      }
      b.AddRow(set, static_cast<uint32_t>(i % 2), 0.5, i % 3, -1, kNoTime,
               BanditLogBuilder::kNoUser, ctx);
    }
    BanditLogCatalog(home.path(), Env::Default()).Import("big", b.Finish());
  }
  nlohmann::json root = {{"data", {{"dataset", "big"}}},
                         {"model", {{"family", "cb-adf"}}},
                         {"eval", {{"estimators", {"ips", "snips"}}, {"bootstrap", 0}}}};
  const BanditTrainConfig c = ParseBanditConfig(root, "", "big");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const uint64_t start = StatusBytes("VmRSS");
    try {
      const nlohmann::json r = RunBanditTraining(c, home.path(), Context{});
      const uint64_t grew = StatusBytes("VmHWM") - start;
      std::fprintf(stderr, "training grew resident memory by %.1f MB\n", grew / 1048576.0);
      if (r["split"]["train_rows"] != 160000) _exit(2);
      _exit(grew < (40ull << 20) ? 0 : 4);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      _exit(3);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "training failed or held more than 40 MB more";
}

}  // namespace
}  // namespace marquee
