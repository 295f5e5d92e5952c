// Fuzzes the HTTP request path of `marquee serve`: method, target, API key and body into
// Service::Handle, the function the HTTP server (src/serving/http_server.cc) calls for every
// request, over the ServerCore that `marquee serve` runs: recommenders (EASE at
// recs@production, popularity at recs/2) through the ModelManager, an experiment ("ab", running)
// through the ExperimentRouter, a tabular XGBoost model (pay/1, alias production) through the
// PredictHandler, a bandit policy (artwork@production) through the BanditHandler and its
// DecisionLog, the event log, and the control plane (/api/v1, /ui/). Two servers, each over its own
// copy of the home: one open, one with API keys.
//
// Input: byte 0 picks the mode (bit 0) and the service (bit 1: with API keys).
//   raw (bit 0 clear): the rest are bytes on the wire, parsed by Boost.Beast's request parser
//     with the server's limits and turned into a Request as the server's session does;
//   structured (bit 0 set): byte 1 the method, byte 2 the route (Service::RouteLabels()), byte 3
//     the API key; the rest up to the first '\n' is appended to the path (a query string or a
//     suffix), everything after it is the body.
// Every request must be answered exactly once, within 30 s, with a status in 100..599; a JSON
// body must parse and be valid UTF-8, and an error (status >= 400) must carry
// {"error": {"code", "message"}}. Nothing may throw out of Handle.
//
// Expected to find: invalid UTF-8 in a request echoed into an error message made the error
// path throw (nlohmann::json refuses to dump it); fixed in the server by another change, the
// crashing inputs are kept in tests/fuzz/pending/http/ until it lands.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bandits/decision_log.h"
#include "bandits/policy.h"
#include "common/sha256.h"
#include "common/text.h"
#include "control/control_plane.h"
#include "events/event_log.h"
#include "experiments/experiment.h"
#include "fuzz_util.h"
#include "kinds/recommender/model_bundle.h"
#include "marquee/context.h"
#include "marquee/env.h"
#include "marquee/recommender.h"
#include "marquee/sparse.h"
#include "registry/registry.h"
#include "serving/server_core.h"
#include "serving/service.h"
#include "tabular/predictor.h"
#include "tabular/xgb_model.h"

namespace {

using namespace marquee;
namespace http = boost::beast::http;

constexpr char kReaderKey[] = "reader-key-0123456789";
constexpr char kWriterKey[] = "writer-key-0123456789";

void SetAlias(Registry& reg, const std::string& model, const std::string& alias, int64_t version) {
  AliasMove m;
  m.alias = alias;
  m.to_version = version;
  m.action = "promote";
  m.at = 1;
  reg.store().MoveAlias(model, m);
}

void Register(Registry& reg, const std::string& model, const std::string& digest,
              const std::string& family) {
  NewVersion nv;
  nv.model_name = model;
  nv.artifact = digest;
  nv.family = family;
  nv.created_at = 1;
  reg.store().RegisterVersion(nv);
}

// Two taste groups (as tests/serving/serving_test_util.h): users u0..u59, items i0..i19.
void RegisterRecommender(const std::string& home, Registry& reg, const std::string& family,
                         const nlohmann::json& params) {
  std::vector<std::string> users, items;
  std::vector<uint32_t> r, c;
  std::vector<float> v;
  for (int i = 0; i < 20; ++i) items.push_back("i" + std::to_string(i));
  for (int u = 0; u < 60; ++u) {
    users.push_back("u" + std::to_string(u));
    for (int k = 0; k < 5; ++k) {
      r.push_back(static_cast<uint32_t>(u));
      c.push_back(static_cast<uint32_t>((u % 2) * 10 + (u * 3 + k * 7) % 10));
      v.push_back(1.0f);
    }
  }
  CsrMatrix x = CsrMatrix::FromTriplets(60, 20, r, c, v);
  auto rec = CreateRecommender(family, params);
  Context ctx;
  rec->Fit(x, ctx);
  TrainingHistory t{users, x};
  std::string digest;
  SaveModelBundle(*rec, items, {{"fuzz", true}}, home, Env::Default(), &digest, &t);
  Register(reg, "recs", digest, family);
}

// A small binary:logistic model on two numeric features x0, x1 (label: x0 > x1).
void RegisterTabular(const std::string& home, Registry& reg) {
  std::vector<float> data, labels;
  for (int i = 0; i < 64; ++i) {
    const float a = static_cast<float>(i % 8), b = static_cast<float>((i * 5) % 8);
    data.push_back(a);
    data.push_back(b);
    labels.push_back(a > b ? 1.0f : 0.0f);
  }
  XgbDMatrix m(data, 64, 2);
  m.SetLabels(labels);
  m.SetFeatureNames({"x0", "x1"});
  m.SetFeatureTypes({"q", "q"});
  XgbModel model =
      XgbModel::Train({{"objective", "binary:logistic"}, {"max_depth", "2"}, {"nthread", "1"}}, m,
                      nullptr, 4, 0, nullptr);
  const std::string bytes = model.Save("ubj");
  XgbModel check;
  TabularModelInfo info =
      DescribeImportedModel({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, &check);
  std::string digest;
  SaveTabularModel(bytes, info, {{"objective", info.objective}}, home, Env::Default(), &digest);
  Register(reg, "pay", digest, "xgboost");
  SetAlias(reg, "pay", "production", 1);
}

void RegisterPolicy(const std::string& home, Registry& reg) {
  PolicyConfig pc;
  pc.family = "softmax";
  pc.params = {{"temperature", 0.25}};
  auto p = MakePolicy(pc);
  DecisionInput in;
  in.context = {{"hour", 21.0}};
  for (const char* id : {"a", "b", "c"}) in.actions.push_back({id, {}});
  for (int i = 0; i < 10; ++i) p->Update(in, 0, 1.0, 1.0 / 3);
  const std::string tmp = fuzz::ScratchDir() + "/policy.mqm";
  p->Save(tmp, Env::Default());
  const std::string bytes = Env::Default()->ReadFile(tmp);
  const std::string digest = Sha256Hex(bytes);
  Env::Default()->WriteFileAtomic(home + "/artifacts/" + digest + ".mqm", bytes);
  Register(reg, "artwork", digest, "softmax");
  SetAlias(reg, "artwork", "production", 1);
}

// Makes a home with every kind of model: recommenders (recs v1 ease, v2 popularity, alias
// production -> 1), an A/B experiment "ab" (running), a tabular model and a bandit policy.
void MakeHome(const std::string& home) {
  Registry reg(home);
  RegisterRecommender(home, reg, "ease", {{"lambda", 10.0}});
  RegisterRecommender(home, reg, "popularity", nlohmann::json::object());
  SetAlias(reg, "recs", "production", 1);
  RegisterTabular(home, reg);
  RegisterPolicy(home, reg);
  const std::string toml =
      "[experiment]\nname = \"ab\"\nsalt = \"s\"\nmode = \"ab\"\n"
      "attribution_window = \"1h\"\n[[cell]]\nname = \"control\"\nmodel = \"recs/1\"\n"
      "[[cell]]\nname = \"treatment\"\nmodel = \"recs/2\"\n";
  CreateExperiment(reg, ParseExperimentToml(toml, "ab.toml"), toml, 1);
  StartExperiment(reg.store(), "ab", 1);
}

// The server `marquee serve` runs (ServerCore, not listening) over its own copy of the home.
std::unique_ptr<ServerCore> MakeServer(const std::string& home, ApiKeys keys) {
  MakeHome(home);
  ServerCoreOptions o;
  o.home = home;
  o.models = {"recs@production", "recs/2"};
  o.bandits = {"artwork@production"};
  o.keys = std::move(keys);
  o.limits.max_k = 100;
  o.limits.max_batch = 64;
  o.limits.max_events = 64;
  o.limits.max_history = 256;
  o.http.port = 0;
  o.poll_interval = std::chrono::milliseconds(0);
  o.load_before_start = true;
  o.score_cache_bytes = 1 << 20;
  o.event_log.sync = false;
  o.exposure_log.sync = false;
  o.decision_log.sync = false;
  o.decision_log.sweep_interval = std::chrono::milliseconds(0);
  o.max_actions = 16;
  // The control plane (/api/v1: runs, tracking, models, experiments, datasets, decisions, the
  // dashboard's views and /ui/), as `marquee serve` adds it; training jobs are off (a fuzzed
  // config must not start minutes of training), so the jobs routes answer 503.
  ControlPlaneOptions control;
  control.home = home;
  control.jobs = false;
  control.ui_dir = home + "/no-ui";
  AddControlPlane(o, std::move(control));
  auto core = std::make_unique<ServerCore>(std::move(o));
  core->Start();  // the pollers (POST /admin/reload); it listens on a free loopback port
  return core;
}

// Two servers, one open and one with API keys; built once per process and never destroyed
// (libFuzzer exits without unwinding; the scratch folder goes at exit).
struct World {
  std::unique_ptr<ServerCore> open, keyed;

  World() {
    open = MakeServer(fuzz::ScratchDir() + "/home", ApiKeys());
    keyed = MakeServer(
        fuzz::ScratchDir() + "/home-keyed",
        ApiKeys::Parse(std::string(kReaderKey) + " read\n" + kWriterKey + " read,write,admin\n",
                       "keys.txt"));
  }
};

World& TheWorld() {
  static World* w = new World();  // intentionally leaked: see World
  return *w;
}

// One answer, delivered on any thread.
struct Answer {
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  Response response;
};

void CheckResponse(const Response& r) {
  fuzz::Check(r.status >= 100 && r.status <= 599, "status in 100..599");
  fuzz::Check(IsValidUtf8(r.body), "response body is valid UTF-8");
  if (r.content_type != "application/json") return;
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  fuzz::Check(!j.is_discarded(), "a JSON response parses");
  if (r.status >= 400) {
    fuzz::Check(j.is_object() && j.contains("error") && j["error"].is_object() &&
                    j["error"].contains("code") && j["error"]["code"].is_string() &&
                    j["error"].contains("message") && j["error"]["message"].is_string(),
                "an error response is {\"error\": {\"code\", \"message\"}}");
  }
}

void Serve(ServerCore& server, const Request& req) {
  Service& service = *server.service();
  auto answer = std::make_shared<Answer>();
  const auto start = std::chrono::steady_clock::now();
  service.Handle(req, [answer](Response resp) {
    std::lock_guard lock(answer->mu);
    fuzz::Check(++answer->calls == 1, "a request is answered exactly once");
    answer->response = std::move(resp);
    answer->cv.notify_all();
  });
  std::unique_lock lock(answer->mu);
  if (!answer->cv.wait_for(lock, std::chrono::seconds(30), [&] { return answer->calls > 0; })) {
    fuzz::Check(false, "a request is answered within 30 s");
  }
  CheckResponse(answer->response);
  static const bool verbose = std::getenv("MARQUEE_FUZZ_VERBOSE") != nullptr;
  if (verbose) {  // to see what the seeds reach: MARQUEE_FUZZ_VERBOSE=1 fuzz_http_regress DIR
    std::fprintf(stderr, "%s %s -> %d %.200s\n", req.method.c_str(), req.target.c_str(),
                 answer->response.status, answer->response.body.c_str());
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  server.metrics()->Observe(service.RouteIndex(req.target), answer->response.status, secs);
}

// As the server's session: Beast's parser with the server's header limit and a body limit.
void ServeRaw(ServerCore& server, const uint8_t* data, size_t size) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  parser.header_limit(16 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = 0;
  while (used < size && !parser.is_done()) {
    const size_t n = parser.put(boost::asio::buffer(data + used, size - used), ec);
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (ec) break;
    if (n == 0) break;
    used += n;
  }
  // Beast asserts that end of input comes after some bytes; an empty request is simply no request.
  if (!ec && !parser.is_done() && parser.got_some()) parser.put_eof(ec);
  if (ec || !parser.is_done()) {
    if (ec && ec != http::error::partial_message) {
      CheckResponse(Service::ErrorResponse(400, ErrorCode::kInvalidArgument,
                                           "malformed HTTP request: " + ec.message()));
    }
    return;
  }
  auto& msg = parser.get();
  Request r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  r.body = std::move(msg.body());
  if (auto it = msg.find(http::field::authorization); it != msg.end()) {
    std::string_view v(it->value().data(), it->value().size());
    if (v.starts_with("Bearer ")) {
      r.has_api_key = true;
      r.api_key = std::string(v.substr(7));
    }
  }
  if (auto it = msg.find("X-API-Key"); it != msg.end() && !r.has_api_key) {
    r.has_api_key = true;
    r.api_key = std::string(it->value());
  }
  Serve(server, r);
}

void ServeStructured(ServerCore& server, const uint8_t* data, size_t size) {
  if (size < 3) return;
  static const char* kMethods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"};
  const std::vector<std::string> routes = server.service()->RouteLabels();
  Request r;
  r.method = kMethods[data[0] % std::size(kMethods)];
  const std::string& route = routes[data[1] % routes.size()];
  r.target = route == "other" ? "/v1/unknown" : route;
  switch (data[2] % 4) {
    case 0:
      break;
    case 1:
      r.has_api_key = true;
      r.api_key = kReaderKey;
      break;
    case 2:
      r.has_api_key = true;
      r.api_key = kWriterKey;
      break;
    default:
      r.has_api_key = true;
      r.api_key = "wrong-key";
  }
  std::string_view rest = fuzz::AsText(data + 3, size - 3);
  const size_t nl = rest.find('\n');
  if (nl != std::string_view::npos) {
    r.target += rest.substr(0, nl);
    r.body = std::string(rest.substr(nl + 1));
  } else {
    r.body = std::string(rest);
  }
  Serve(server, r);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)TheWorld();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  World& w = TheWorld();
  ServerCore& server = (data[0] & 2) ? *w.keyed : *w.open;
  if (data[0] & 1) {
    ServeStructured(server, data + 1, size - 1);
  } else {
    ServeRaw(server, data + 1, size - 1);
  }
  return 0;
}
