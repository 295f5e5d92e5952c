// Writes the seed corpus of every harness (tests/fuzz/README.md): small, valid inputs in each
// real format, the binary ones made by the project's own writers (so they follow the format as
// the code writes it) and the text ones as the docs describe them. Only seeds are written: the
// inputs that once crashed are added by hand as crash-<name> and never regenerated.
//   build/release/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus
// Exit status 0, or 1 with a message when something cannot be written.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bandits/log.h"
#include "bandits/policy.h"
#include "kinds/recommender/model_bundle.h"
#include "marquee/context.h"
#include "marquee/dataset.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "marquee/sparse.h"
#include "models/ann_index.h"
#include "tabular/predictor.h"
#include "tabular/table.h"
#include "tabular/xgb_model.h"

namespace {

using namespace marquee;
namespace fs = std::filesystem;

std::string g_out;

void Put(const std::string& harness, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_out + "/" + harness);
  std::ofstream f(g_out + "/" + harness + "/" + name, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) Fail(ErrorCode::kIOError, "cannot write {}/{}/{}", g_out, harness, name);
}

std::string Slurp(const std::string& path) { return Env::Default()->ReadFile(path); }

// ---- text formats ------------------------------------------------------------------------

void HttpSeeds() {
  auto raw = [](const std::string& method, const std::string& target, const std::string& body,
                const std::string& headers = "") {
    std::string r = method + " " + target + " HTTP/1.1\r\nHost: x\r\n" + headers;
    if (!body.empty() || method == "POST") {
      r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
    }
    return r + "\r\n" + body;
  };
  struct Seed {
    const char* name;
    const char* method;
    const char* target;
    const char* body;
  };
  const Seed seeds[] = {
      {"healthz", "GET", "/healthz", ""},
      {"readyz", "GET", "/readyz", ""},
      {"metrics", "GET", "/metrics", ""},
      {"models", "GET", "/v1/models", ""},
      {"recommend_user", "POST", "/v1/recommend",
       R"({"model":"recs@production","user":"u1","k":5})"},
      {"recommend_history", "POST", "/v1/recommend",
       R"({"model":"recs/2","history":["i1","i3"],"k":3,"exclude_seen":false,"filter":{"allow":["i1","i2","i5"],"deny":["i2"]}})"},
      {"recommend_experiment", "POST", "/v1/recommend", R"({"experiment":"ab","user":"u7","k":4})"},
      {"batch", "POST", "/v1/recommend/batch",
       R"({"requests":[{"model":"recs@production","user":"u2"},{"model":"recs/2","history":["i4"],"k":2}]})"},
      {"similar", "POST", "/v1/similar-items", R"({"model":"recs@production","item":"i3","k":5})"},
      {"events", "POST", "/v1/events",
       R"({"events":[{"user":"u1","item":"i4","type":"click","ts":1700000000},{"user":"new","item":"i9"}]})"},
      {"reload", "POST", "/admin/reload", ""},
      {"predict", "POST", "/v1/predict",
       R"({"model":"pay@production","rows":[{"x0":3,"x1":1},{"x0":null}],"explain":true})"},
      {"decide", "POST", "/v1/decide",
       R"({"model":"artwork@production","user":"u1","context":{"hour":21,"device":"mobile"},"actions":[{"id":"a"},{"id":"b","features":{"len":3}},{"id":"c"}]})"},
      {"reward", "POST", "/v1/reward",
       R"({"decision_id":"01a2453f38a927257b0b72902d1f16b6","reward":1.0})"},
      {"unknown", "GET", "/v1/nope?x=1", ""},
  };
  for (const Seed& s : seeds) {
    // Raw mode (byte 0 = 0: open service; 2: keyed service with the writer key).
    Put("http", std::string("raw_") + s.name,
        std::string(1, '\0') + raw(s.method, s.target, s.body));
    Put("http", std::string("raw_keyed_") + s.name,
        std::string(1, '\2') +
            raw(s.method, s.target, s.body, "Authorization: Bearer writer-key-0123456789\r\n"));
  }
  // Structured mode: byte 0 = 1, then method, route index, key, "suffix\nbody".
  const std::vector<std::string> routes = {
      "/healthz",          "/readyz",       "/metrics",
      "/v1/models",        "/v1/recommend", "/v1/recommend/batch",
      "/v1/similar-items", "/v1/events",    "/admin/reload",
      "/v1/predict",       "/v1/decide",    "/v1/reward"};
  for (const Seed& s : seeds) {
    for (size_t r = 0; r < routes.size(); ++r) {
      if (routes[r] != s.target) continue;
      const char method = std::string(s.method) == "GET" ? 0 : 1;
      Put("http", std::string("st_") + s.name,
          std::string{'\1', method, static_cast<char>(r), '\2'} + "\n" + s.body);
    }
  }
  Put("http", "st_query", std::string{'\1', 0, 3, 1} + "?verbose=1&x=%ff\n");
  Put("http", "raw_pipelined",
      std::string(1, '\0') + raw("GET", "/healthz", "") + raw("GET", "/readyz", ""));
  Put("http", "raw_chunked",
      std::string(1, '\0') +
          "POST /v1/recommend HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          "1f\r\n{\"model\":\"recs/2\",\"user\":\"u1\"}\r\n0\r\n\r\n");
}

void InteractionSeeds() {
  // Byte 0: the format (see fuzz_interactions.cc), byte 1: option flags.
  auto put = [](const char* name, int format, int flags, const std::string& text) {
    Put("interactions", name,
        std::string{static_cast<char>(format), static_cast<char>(flags)} + text);
  };
  const std::string udata =
      "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n";
  const std::string csv =
      "userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n1,3,4.0,964981247\r\n"
      "2,\"1,5\",3.5,1445714835\r\n";
  const std::string dat = "1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n";
  const std::string jsonl =
      "{\"user\":\"u1\",\"item\":\"i1\",\"rating\":5,\"ts\":\"2024-01-02T03:04:05Z\"}\n"
      "{\"user_id\":\"u2\",\"item_id\":\"i2\"}\n{\"user\":\"u\\u00e9\",\"item\":\"i3\",\"value\":1."
      "5}\n";
  const std::string tsv = "user\titem\tvalue\ttime\na\tx\t1\t2024-01-01 00:00:00\nb\ty\t2\t17\n";
  put("auto_udata", 0, 0, udata);
  put("auto_ratings_csv", 1, 0, csv);
  put("auto_ratings_dat", 2, 0, dat);
  put("auto_jsonl", 3, 0, jsonl);
  put("auto_tsv", 4, 0, tsv);
  put("auto_txt_semicolon", 5, 8, "u;i;v\n1;2;3\n4;5;6\n");
  put("movielens", 6, 0, udata);
  put("movielens_csv", 7, 0, csv);
  put("movielens_dat", 8, 0, dat);
  put("csv_header_skip_bad", 9, 1 | 2 | 4, "user,item,value\nu1,i1,1\nu2,i2,notanumber\nu3,i3\n");
  put("csv_noheader_novalue", 9, 1 | 16, "u1,i1,1,5\nu2,i2,2,6\n");
  put("csv_bom_crlf", 9, 0, "\xEF\xBB\xBFuser,item\r\nu1,i1\r\n");
  put("tsv", 10, 32, tsv);
  put("jsonl", 11, 0, jsonl);
  put("jsonl_bad", 11, 4, "{\"user\":1,\"item\":2}\nnot json\n{\"user\":\"x\"}\n[1,2]\n");
}

void CsvSeeds() {
  // The first byte is the dialect (fuzz_csv.cc): bits 0-1 the delimiter (, \t ; ::), 4 no
  // quoting, 8 no trimming, 16 skip whitespace lines.
  auto put = [](const char* name, int flags, const std::string& text) {
    Put("csv", name, std::string(1, static_cast<char>(flags)) + text);
  };
  put("rfc4180", 0, "id,\"a,b\",y\r\n1,\"he said \"\"hi\"\"\",0\r\n2,\"multi\nline\",1\r\n");
  put("bom_blank_lines", 16, "\xEF\xBB\xBFuser,item\n\n  \t\nu1 , \"i1\" \n");
  put("tsv", 1, "a\t\"b\tc\"\t d\n1\t2\t3\n");
  put("semicolon_untrimmed", 2 | 8, " a ;b\rc;\"d;e\"\r");
  put("movielens_dat", 3 | 4, "1::1193::5::978300760\n1::\"661\"::3::978302109\n");
  put("errors", 0, "a,b\n1,\"x\"y\n2,\"open\n3,4\n");
}

void TabularCsvSeeds() {
  auto put = [](const char* name, int flags, const std::string& text) {
    Put("tabular_csv", name, std::string(1, static_cast<char>(flags)) + text);
  };
  put("basic", 0, "x,c,b,y\n1.5,red,true,1\n-2,blue,false,0\nNA,red,yes,1\n1.00E+05,,no,0\n");
  put("quoted_crlf_bom", 0,
      "\xEF\xBB\xBFid,\"a,b\",y\r\n1,\"he said \"\"hi\"\"\",0\r\n2,\"multi\nline\",1\r\n");
  put("time_id", 2 | 4,
      "id,t,x,y\n1,2024-01-01,3,0\n2,1700000000,4,1\n3,2024-02-01T00:00:00Z,?,1\n");
  put("forced_types", 8 | 16 | 64, "c,b,y\n1,1,0\n2,0,1\n3,1,0\n");
  put("nolabel", 1, "x,z\n1,2\n3,None\n");
  put("semicolon", 32 | 128, "x;y\n1;0\n2;1\n");
  put("tabs", 32, "x\ty\n1\t0\n2\t1\n");
}

const char* kBanditJsonl =
    "{\"context\":{\"hour\":21,\"device\":\"mobile\"},\"actions\":[{\"id\":\"a\",\"features\":"
    "{\"len\":3}},{\"id\":\"b\"}],\"chosen\":\"a\",\"probability\":0.5,\"reward\":1.0,"
    "\"position\":1,\"user\":\"u1\",\"ts\":1700000000}\n"
    "{\"context\":{\"hour\":9,\"new\":true},\"actions\":[{\"id\":\"a\"},{\"id\":\"b\"},"
    "{\"id\":\"c\"}],\"chosen\":2,\"probability\":0.25,\"reward\":0}\n";

void BanditSeeds() {
  Put("bandit_jsonl", "two_rows", kBanditJsonl);
  Put("bandit_jsonl", "one_row",
      "{\"context\":{},\"actions\":[{\"id\":\"x\"}],\"chosen\":0,\"probability\":1,\"reward\":0.5}"
      "\n");
  Put("bandit_jsonl", "bad_rows",
      "{\"context\":{},\"actions\":[{\"id\":\"x\"},{\"id\":\"x\"}],\"chosen\":\"x\","
      "\"probability\":0,\"reward\":1}\n{}\n");
  // OBD: campaign CSV, "====", item_context.csv (synthetic values in the real layout).
  const std::string header =
      ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,"
      "user-item_affinity_0,user-item_affinity_1\n";
  const std::string rows =
      "0,2019-11-24 00:03:13.442536+00:00,1,3,0,0.5,cef3,03a5,0.0,0.0\n"
      "1,2019-11-24 00:03:36.705207+00:00,0,1,1,0.5,9f4e,03a5,1.0,0.0\n";
  const std::string items =
      ",item_id,item_feature_0,item_feature_1\n0,0,-0.67,ceca\n1,1,-0.72,270d\n";
  Put("obd", "two_items", header + rows + "====\n" + items);
  Put("obd", "no_items", header + rows);
  Put("obd", "unknown_item",
      header + "0,2019-11-24 00:03:13+00:00,7,1,1,0.25,a,b,0.5,0.5\n====\n" + items);
}

void ConfigSeeds() {
  Put("config", "ease",
      "[data]\ndataset = \"ml100k\"\npositive_threshold = 3.5\n[split]\nprotocol = "
      "\"strong-generalization\"\ntest_users = 150\nfold_in = 0.8\nseed = 98765\n[model]\nfamily "
      "= \"ease\"\nlambda = 500.0\n[eval]\nmetrics = [\"recall@20\", \"ndcg@100\"]\n");
  Put("config", "file_ials",
      "[data]\ntrain = \"u.data\"\n[data.read]\nformat = \"tsv\"\n[split]\nprotocol = "
      "\"holdout\"\n[model]\nfamily = \"ials\"\nfactors = 8\n[run]\nthreads = 2\n"
      "--set\nmodel.factors=16\nsplit.seed=7\n");
  Put("config", "xgboost",
      "[data]\ntrain = \"credit.csv\"\nlabel = \"Y\"\ndrop = [\"ID\"]\n[split]\nprotocol = "
      "\"stratified-holdout\"\ntest_fraction = 0.2\n[model]\nfamily = \"xgboost\"\nname = "
      "\"payment-retry\"\nobjective = \"binary:logistic\"\nmax_depth = 4\neta = 0.05\nnum_round "
      "= 40\nearly_stopping_rounds = 5\n[eval]\nmetrics = [\"auc\", \"logloss\"]\n");
  Put("config", "bandit",
      "[data]\ndataset = \"obd-men-random\"\n[split]\nprotocol = \"temporal\"\ntest_fraction = "
      "0.2\n[model]\nfamily = \"linucb\"\nname = \"artwork\"\nalpha = 0.5\nweighting = "
      "\"inverse-propensity\"\nfeatures = { dim = 64, interactions = [[\"context\", "
      "\"action\"]] }\n[eval]\nestimators = [\"ips\", \"snips\", \"dr\"]\nbootstrap = 20\n");
  Put("config", "bad_section", "[nope]\nx = 1\n");
  Put("config", "bad_toml", "[data\ndataset = \n");
}

// ---- binary formats ----------------------------------------------------------------------

CsrMatrix Tiny(std::vector<std::string>& users, std::vector<std::string>& items) {
  std::vector<uint32_t> r, c;
  std::vector<float> v;
  for (int i = 0; i < 8; ++i) items.push_back("i" + std::to_string(i));
  for (int u = 0; u < 12; ++u) {
    users.push_back("u" + std::to_string(u));
    for (int k = 0; k < 3; ++k) {
      r.push_back(static_cast<uint32_t>(u));
      c.push_back(static_cast<uint32_t>((u % 2) * 4 + (u + k) % 4));
      v.push_back(1.0f + static_cast<float>(k));
    }
  }
  return CsrMatrix::FromTriplets(12, 8, r, c, v);
}

std::string MakeXgb(const std::string& format, XgbModel* out = nullptr) {
  std::vector<float> data, labels;
  for (int i = 0; i < 32; ++i) {
    const float a = static_cast<float>(i % 4), b = static_cast<float>((i * 3) % 4);
    data.push_back(a);
    data.push_back(b);
    labels.push_back(a > b ? 1.0f : 0.0f);
  }
  XgbDMatrix m(data, 32, 2);
  m.SetLabels(labels);
  m.SetFeatureNames({"x0", "x1"});
  m.SetFeatureTypes({"q", "q"});
  XgbModel model = XgbModel::Train(
      {{"objective", "binary:logistic"}, {"max_depth", "2"}, {"nthread", "1"}, {"seed", "1"}}, m,
      nullptr, 2, 0, nullptr);
  std::string bytes = model.Save(format);
  if (out != nullptr) *out = std::move(model);
  return bytes;
}

void ArtifactSeeds(const std::string& scratch) {
  Env* env = Env::Default();
  std::vector<std::string> users, items;
  CsrMatrix x = Tiny(users, items);
  const std::map<std::string, nlohmann::json> families = {
      {"popularity", nlohmann::json::object()},
      {"itemknn", {{"neighbors", 3}}},
      {"ease", {{"lambda", 10.0}}},
      {"ials", {{"factors", 2}, {"iterations", 2}}},
      {"bpr", {{"factors", 2}, {"epochs", 2}}},
      {"rp3beta", {{"neighbors", 3}}},
  };
  for (const auto& [family, params] : families) {
    auto rec = CreateRecommender(family, params);
    Context ctx;
    rec->Fit(x, ctx);
    TrainingHistory t{users, x};
    const std::string path =
        SaveModelBundle(*rec, items, {{"fuzz", true}}, scratch, env, nullptr, &t);
    Put("artifact", "bundle_" + family, Slurp(path));
  }
  for (const std::string& family : PolicyFamilies()) {
    PolicyConfig pc;
    pc.family = family;
    pc.features = {{"dim", 8}};  // small files: linucb/lints keep a dim x dim matrix
    try {
      auto p = MakePolicy(pc);
      DecisionInput in;
      in.context = {{"hour", 21.0}, {"device", std::string("mobile")}};
      for (const char* id : {"a", "b"}) in.actions.push_back({id, {}});
      p->Update(in, 0, 1.0, 0.5);
      p->Save(scratch + "/policy.mqm", env);
      Put("artifact", "policy_" + family, Slurp(scratch + "/policy.mqm"));
    } catch (const Error& e) {
      std::fprintf(stderr, "make_corpus: policy %s: %s\n", family.c_str(), e.what());
    }
  }
  BanditLog log = ParseBanditJsonl(kBanditJsonl, "seed.jsonl");
  SaveBanditLog(log, scratch + "/log.mqbl", env);
  Put("artifact", "bandit_log", Slurp(scratch + "/log.mqbl"));  // version 2 (typed)
  SaveBanditLogV1(log, scratch + "/log_v1.mqbl", env);
  Put("artifact", "bandit_log_v1", Slurp(scratch + "/log_v1.mqbl"));
  TabularReadOptions o;
  o.label = "y";
  o.time_col = "t";
  TabularData t = ParseTabularCsv(
      "t,x,c,b,y\n1700000000,1.5,red,true,1\n1700000100,-2,blue,false,0\n", "seed.csv", o);
  SaveTabularSnapshot(t, scratch + "/t.mqtab", env);
  Put("artifact", "tabular_snapshot", Slurp(scratch + "/t.mqtab"));
  for (const char* format : {"ubj", "json"}) {
    XgbModel model;
    const std::string bytes = MakeXgb(format, &model);
    XgbModel check;
    TabularModelInfo info = DescribeImportedModel(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, &check);
    info.model_format = format;
    std::string digest;
    const std::string path =
        SaveTabularModel(bytes, info, {{"objective", info.objective}}, scratch, env, &digest);
    Put("artifact", std::string("tabular_model_") + format, Slurp(path));
  }
}

void SnapshotSeeds(const std::string& scratch) {
  std::vector<RawInteraction> rows = {{"u1", "i1", 4.0f, 100},
                                      {"u1", "i2", 3.0f, 90},
                                      {"u2", "i1", 5.0f, 80},
                                      {"u3", "i3", 1.0f, 70}};
  for (int flags = 0; flags < 4; ++flags) {
    Dataset d = Dataset::FromRows(rows, flags & 1, flags & 2, "seed");
    d.Save(scratch + "/d.snap", Env::Default());
    const std::string bytes = Slurp(scratch + "/d.snap");
    const std::string name =
        std::string("values") + ((flags & 1) ? "1" : "0") + "_times" + ((flags & 2) ? "1" : "0");
    // Byte 0: bit 0 makes the harness fix the checksum after mutation.
    Put("snapshot", name, std::string(1, '\1') + bytes);
    if (flags == 3) Put("snapshot", name + "_checksum_kept", std::string(1, '\0') + bytes);
  }
  Dataset empty = Dataset::FromRows({}, false, false, "empty");
  empty.Save(scratch + "/e.snap", Env::Default());
  Put("snapshot", "empty", std::string(1, '\1') + Slurp(scratch + "/e.snap"));
}

void XgbSeeds() {
  Put("xgb_model", "model_ubj", MakeXgb("ubj"));
  Put("xgb_model", "model_json", MakeXgb("json"));
  Put("xgb_model", "not_a_model", "{\"learner\": {}}");
}

// A graph Save wrote for the harness's four items (m 4, ef_construction 8) behind its manifest
// and a NUL, with float rows and SQ8 codes; the manifest alone. (corpus/hnsw_manifest/
// saved_format1, a graph saved before manifests had a format 2, is kept as it was written.)
void HnswSeeds(const std::string& scratch) {
  static const std::vector<float> rows = {1, 0, 0, 1, 0.5f, 0.5f, -1, 0};
  for (HnswQuantization q : {HnswQuantization::kNone, HnswQuantization::kSq8}) {
    HnswParams p;
    p.m = 4;
    p.ef_construction = 8;
    p.threads = 1;
    p.quantization = q;
    const std::string path = scratch + "/g.hnsw";
    FactorIndex::Build({rows.data(), 4, 2}, p)->Save(path, Env::Default());
    const std::string manifest = Slurp(path + ".json");
    const bool sq8 = q == HnswQuantization::kSq8;
    Put("hnsw_manifest", sq8 ? "saved_sq8" : "saved",
        manifest + std::string(1, '\0') + Slurp(path));
    if (!sq8) Put("hnsw_manifest", "manifest_only", manifest);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_corpus OUT_DIR (tests/fuzz/corpus)\n");
    return 2;
  }
  g_out = argv[1];
  const std::string scratch = (fs::temp_directory_path() / "marquee-make-corpus").string();
  try {
    fs::remove_all(scratch);
    fs::create_directories(scratch);
    HttpSeeds();
    InteractionSeeds();
    CsvSeeds();
    TabularCsvSeeds();
    BanditSeeds();
    ConfigSeeds();
    ArtifactSeeds(scratch);
    SnapshotSeeds(scratch);
    XgbSeeds();
    HnswSeeds(scratch);
  } catch (const Error& e) {
    std::fprintf(stderr, "fuzz_make_corpus: %s\n", e.what());
    return 1;
  }
  fs::remove_all(scratch);
  return 0;
}
