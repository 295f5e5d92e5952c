// marquee._native: the in-process Python bindings of the SDK (python/marquee/home.py wraps them).
//
// No logic of its own: every call goes through the code the CLI and `marquee serve` run.
//   Home.model(ref)   ModelManager::GetOrLoad (the registry resolves NAME, NAME@ALIAS or
//                     NAME/VERSION; the recommender kind loads and warms the verified artifact)
//   Model.score(...)  Service::Rank, the ranking behind POST /v1/recommend and /v1/recommend/batch
//                     (history assembly, exclusions, the one top-k, the popularity fallback), over
//                     contiguous chunks of the batch on several threads
//   train(...)        ParseTrainConfig[Json] / LoadTrainConfig + TrainAndRegister, as `marquee
//                     train`
//   ope(...)          EvaluateOffPolicy over PolicyDistributions or EmpiricalDistributions, as
//                     `marquee ope`
// The GIL is released around every call that loads, scores, trains or evaluates.
//
// Errors: every marquee::Error becomes the SDK's exception for its code
// (marquee.errors.error_for(ErrorCodeName(code), message): marquee.NotFound, ...).
// Thread-safety: a Home and its Models may be used from several Python threads at once.
#include <Python.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bandits/log.h"
#include "bandits/ope.h"
#include "bandits/policy.h"
#include "common/log.h"
#include "common/thread_pool.h"
#include "data/catalog.h"
#include "kinds/builtin.h"
#include "marquee/context.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "pipeline/config.h"
#include "pipeline/train.h"
#include "registry/registry.h"
#include "serving/model_manager.h"
#include "serving/service.h"

namespace py = pybind11;

namespace marquee::native {
namespace {

// Rows per scoring thread below which more threads cost more than they save.
constexpr size_t kMinRowsPerThread = 64;

// An item id from Python: a str, or an integer (MovieLens ids look numeric; the server takes
// both and means the same id). kInvalidArgument naming `where` and the type otherwise.
std::string IdOf(PyObject* o, const std::string& where) {
  if (PyUnicode_Check(o)) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(o, &size);
    if (data == nullptr) throw py::error_already_set();  // a lone surrogate: not UTF-8
    return std::string(data, static_cast<size_t>(size));
  }
  if (!PyBool_Check(o) && !PyFloat_Check(o) && PyIndex_Check(o)) {  // int, numpy integers
    py::object n = py::reinterpret_steal<py::object>(PyNumber_Index(o));
    if (!n) throw py::error_already_set();
    return py::str(n).cast<std::string>();
  }
  Fail(ErrorCode::kInvalidArgument, "{}: must be an item id (str or int), got {}", where,
       Py_TYPE(o)->tp_name);
}

// A sequence of item ids (list, tuple, numpy array of str or integers).
std::vector<std::string> IdsOf(py::handle seq, const std::string& where) {
  if (PyUnicode_Check(seq.ptr()) || PyBytes_Check(seq.ptr())) {
    Fail(ErrorCode::kInvalidArgument, "{}: must be a sequence of item ids, got one {}", where,
         Py_TYPE(seq.ptr())->tp_name);
  }
  PyObject* fast = PySequence_Fast(seq.ptr(), "");
  if (fast == nullptr) {
    PyErr_Clear();
    Fail(ErrorCode::kInvalidArgument, "{}: must be a sequence of item ids, got {}", where,
         Py_TYPE(seq.ptr())->tp_name);
  }
  py::object hold = py::reinterpret_steal<py::object>(fast);
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  PyObject** items = PySequence_Fast_ITEMS(fast);
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) out.push_back(IdOf(items[i], fmt::format("{}[{}]", where, i)));
  return out;
}

// Raises the SDK's exception for a marquee::Error: marquee.errors.error_for(code, message).
void Translate(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const Error& e) {
    try {
      py::object err = py::module_::import("marquee.errors")
                           .attr("error_for")(std::string(ErrorCodeName(e.code())), e.what());
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(err.ptr())), err.ptr());
    } catch (py::error_already_set& inner) {
      // The SDK's errors module itself failed to import: keep the code in a RuntimeError.
      PyErr_SetString(PyExc_RuntimeError,
                      fmt::format("{}: {}", ErrorCodeName(e.code()), e.what()).c_str());
    }
  }
}

// A home directory's recommenders, loaded once and shared by its Models.
class Home {
 public:
  // `path` "" resolves as the CLI does ($MARQUEE_HOME, else ./.marquee). kNotFound when the
  // directory does not exist (a Home only reads what training wrote).
  explicit Home(const std::string& path)
      : path_(ResolveHome(path)),
        models_(std::make_unique<ModelManager>(Options(path_))),
        service_(std::make_unique<Service>(models_.get(), /*events=*/nullptr,
                                           /*metrics=*/nullptr, ApiKeys(), ServiceLimits())) {}

  const std::string& path() const { return path_; }
  const Service& service() const { return *service_; }

  // The recommender `ref` names now: aliases are resolved again on every call (a Model keeps
  // the version it was given). Errors: the registry's (kNotFound, kInvalidArgument for a
  // malformed reference or a model of another kind) and the load's.
  std::shared_ptr<const ServableModel> Load(const std::string& ref) {
    models_->Refresh();  // loaded references follow their aliases, as the server's poll does
    return std::static_pointer_cast<const ServableModel>(models_->GetOrLoad(ref, kKindRecommender));
  }

 private:
  static ModelManagerOptions Options(const std::string& home) {
    if (!Env::Default()->FileExists(home)) {
      Fail(ErrorCode::kNotFound,
           "no Marquee home at '{}': train a model into it first (marquee --home {} train "
           "CONFIG, or marquee.train(config, home=...))",
           home, home);
    }
    ModelManagerOptions o;
    o.home = home;
    return o;
  }

  std::string path_;
  std::unique_ptr<ModelManager> models_;
  std::unique_ptr<Service> service_;  // scores through models_; no event log, no metrics
};

// One loaded recommender version.
class Model {
 public:
  Model(std::shared_ptr<Home> home, std::string ref, std::shared_ptr<const ServableModel> model)
      : home_(std::move(home)), ref_(std::move(ref)), model_(std::move(model)) {}

  const std::string& ref() const { return ref_; }
  std::string info() const {
    nlohmann::json j = model_->Describe();
    j["name"] = model_->name;
    j["ref"] = ref_;
    return j.dump();
  }
  const std::vector<std::string>& item_ids() const { return model_->bundle.item_ids; }

  // Ranks every row as POST /v1/recommend would (history = the user's training row, if any, and
  // the row's items; no event log in-process). Returns (item indices as int32 bytes, -1 padded;
  // scores as float32 bytes, NaN padded; row width = min(k, items)). The first failed row is
  // raised ("row I: ..." unless `single`).
  py::tuple Score(py::object users, py::object histories, int64_t k, bool exclude_seen, int threads,
                  bool single) const {
    if (k < 1 || k > std::numeric_limits<int32_t>::max()) {
      Fail(ErrorCode::kInvalidArgument, "k: {} is out of range [1, {}]", k,
           std::numeric_limits<int32_t>::max());
    }
    std::vector<RecommendRequest> requests = Requests(users, histories, k, exclude_seen, single);
    const size_t n = requests.size();
    const size_t width = std::min<size_t>(static_cast<size_t>(k), model_->num_items());
    std::vector<int32_t> items(n * width, -1);
    std::vector<float> scores(n * width, std::numeric_limits<float>::quiet_NaN());
    std::vector<std::optional<std::pair<ErrorCode, std::string>>> errors(n);
    {
      py::gil_scoped_release release;
      const std::vector<std::shared_ptr<const ServableModel>> resolved(n, model_);
      if (threads <= 0) threads = Context::DefaultThreads();
      threads = static_cast<int>(
          std::clamp<size_t>(n / kMinRowsPerThread, 1, static_cast<size_t>(threads)));
      ParallelFor(n, threads, [&](size_t begin, size_t end, int) {
        std::vector<Ranked> out = home_->service().Rank(
            std::span<const RecommendRequest>(requests.data() + begin, end - begin),
            std::span<const std::shared_ptr<const ServableModel>>(resolved.data() + begin,
                                                                  end - begin));
        for (size_t q = begin; q < end; ++q) {
          Ranked& r = out[q - begin];
          if (r.error) {
            errors[q] = std::move(r.error);
            continue;
          }
          std::copy(r.items.begin(), r.items.end(), items.begin() + q * width);
          std::copy(r.scores.begin(), r.scores.end(), scores.begin() + q * width);
        }
      });
    }
    for (size_t q = 0; q < n; ++q) {
      if (!errors[q]) continue;
      if (single) throw Error(errors[q]->first, errors[q]->second);
      Fail(errors[q]->first, "row {}: {}", q, errors[q]->second);
    }
    return py::make_tuple(
        py::bytes(reinterpret_cast<const char*>(items.data()), items.size() * sizeof(int32_t)),
        py::bytes(reinterpret_cast<const char*>(scores.data()), scores.size() * sizeof(float)),
        width);
  }

 private:
  // One request per row: users (None, or one str/None per row) and histories (None, or one
  // sequence of ids per row). Messages name "user" and "history" for a `single` request, else
  // "users[i]" and "histories[i]".
  std::vector<RecommendRequest> Requests(py::object users, py::object histories, int64_t k,
                                         bool exclude_seen, bool single) const {
    auto where = [single](const char* field, size_t i) {
      return single ? std::string(field) : fmt::format("{}s[{}]", field, i);
    };
    std::vector<std::optional<std::string>> user_rows;
    std::vector<std::optional<std::vector<std::string>>> history_rows;
    if (!users.is_none()) {
      for (py::handle u : py::iter(users)) {
        const std::string w = where("user", user_rows.size());
        user_rows.push_back(u.is_none() ? std::nullopt : std::optional(IdOf(u.ptr(), w)));
      }
    }
    if (!histories.is_none()) {
      for (py::handle h : py::iter(histories)) {
        const std::string w = where("history", history_rows.size());
        history_rows.push_back(h.is_none() ? std::nullopt : std::optional(IdsOf(h, w)));
      }
    }
    if (!users.is_none() && !histories.is_none() && user_rows.size() != history_rows.size()) {
      Fail(ErrorCode::kInvalidArgument, "users: {} rows, histories: {} rows (one each per row)",
           user_rows.size(), history_rows.size());
    }
    const size_t n = std::max(user_rows.size(), history_rows.size());
    std::vector<RecommendRequest> out(n);
    for (size_t q = 0; q < n; ++q) {
      RecommendRequest& r = out[q];
      r.model = ref_;
      r.k = static_cast<uint32_t>(k);
      r.exclude_seen = exclude_seen;
      if (q < user_rows.size()) r.user = std::move(user_rows[q]);
      if (q < history_rows.size()) r.history = std::move(history_rows[q]);
      if (!r.user && !r.history) {
        Fail(ErrorCode::kInvalidArgument, "{}give a user, a history or both",
             single ? "" : fmt::format("row {}: ", q));
      }
    }
    return out;
  }

  std::shared_ptr<Home> home_;
  std::string ref_;
  std::shared_ptr<const ServableModel> model_;  // the version the reference named at load
};

// `marquee train` in-process: `form` says what `config` holds ("path": a TOML file, read as the
// CLI reads it; "toml": TOML text; "json": a JSON object of the sections). Returns what
// `marquee train --json` prints.
std::string Train(const std::string& home_flag, const std::string& config, const std::string& form,
                  const std::vector<std::string>& sets, int threads) {
  py::gil_scoped_release release;
  TrainConfig c = form == "path"   ? LoadTrainConfig(config, sets)
                  : form == "json" ? ParseTrainConfigJson(config, "<string>", sets)
                                   : ParseTrainConfig(config, "<string>", sets);
  TrainOptions o;
  o.home = ResolveHome(home_flag);
  o.ctx.threads = threads > 0 ? threads : Context::DefaultThreads();
  Registry registry = OpenRegistry(o.home);
  return TrainAndRegister(c, o, registry, form == "path" ? config : "", sets).ToJson().dump();
}

// A bandit log: "name" (a dataset of the home's bandit catalog) or "jsonl" (the text of a JSONL
// decision log, read by the reader `marquee dataset import --format bandit-jsonl` uses).
BanditLog OpenLog(BanditLogCatalog& catalog, const std::string& form, const std::string& value,
                  const std::string& what) {
  if (form == "name") return catalog.Open(value);
  BanditLog log = ParseBanditJsonl(value, what);
  log.Validate();
  return log;
}

struct OpeArgs {
  std::string home, log_form, log, policy, from_form, from_log;
  std::vector<std::string> estimators;
  int bootstrap = 200, folds = 2;
  uint64_t seed = 42;
  double tau = 10.0, reward_l2 = 1.0;
  uint32_t reward_dim = 256;
  std::string reward_model = "auto";
};

// `marquee ope` in-process: the candidate is a bandit policy version of the home's registry
// (`policy`) or the empirical action distribution of another log (`from_log`). Returns what
// `marquee ope --json` prints (without its timing).
std::string Ope(const OpeArgs& a) {
  py::gil_scoped_release release;
  if (a.policy.empty() == a.from_form.empty()) {
    Fail(ErrorCode::kInvalidArgument, "give exactly one of policy or policy_from_log");
  }
  std::string joined;
  for (const std::string& e : a.estimators) joined += (joined.empty() ? "" : ",") + e;
  OpeOptions o;
  o.estimators = ParseEstimators(joined);
  CheckRewardModel(a.reward_model);
  o.bootstrap = a.bootstrap;
  o.seed = a.seed;
  o.tau = a.tau;
  o.folds = a.folds;
  o.reward_model = a.reward_model;
  o.reward_l2 = a.reward_l2;
  o.reward_dim = a.reward_dim;
  const std::string home = ResolveHome(a.home);
  Env* env = Env::Default();
  BanditLogCatalog catalog(home, env);
  const BanditLog log = OpenLog(catalog, a.log_form, a.log, "log");
  std::vector<std::string> warnings;
  CandidateDistributions pi;
  std::string candidate;
  if (!a.from_form.empty()) {
    const BanditLog cand = OpenLog(catalog, a.from_form, a.from_log, "policy_from_log");
    pi = EmpiricalDistributions(cand, log, &warnings);
    candidate = fmt::format("empirical action distribution of {} ({} rows)",
                            a.from_form == "name" ? "'" + a.from_log + "'" : "a logged policy",
                            cand.rows.size());
  } else {
    Registry registry = OpenRegistry(home);
    const VersionRecord v = registry.Resolve(a.policy);
    if (!BuiltinKinds().IsKind(v.family, kKindBandit)) {
      Fail(ErrorCode::kInvalidArgument,
           "policy {}: {} version {} is a {} model, not a bandit policy", a.policy, v.model_name,
           v.version, v.family);
    }
    candidate = fmt::format("{} version {} ({})", v.model_name, v.version, v.family);
    pi = PolicyDistributions(*LoadPolicy(registry.artifacts().PathFor(v.artifact), env), log,
                             a.seed);
    if (a.log_form == "name" && !v.dataset_id.empty() && v.dataset_id == catalog.Get(a.log).id) {
      warnings.push_back(
          "the candidate learned from this very log: the estimates are in-sample (optimistic); "
          "evaluate on a held-out log, or see the held-out metrics of `marquee train`");
    }
  }
  OpeResult r = EvaluateOffPolicy(log, pi, o);
  r.warnings.insert(r.warnings.begin(), warnings.begin(), warnings.end());
  nlohmann::json j = r.ToJson();
  if (a.log_form == "name") j["log"] = a.log;
  j["candidate"] = candidate;
  return j.dump();
}

}  // namespace
}  // namespace marquee::native

PYBIND11_MODULE(_native, m) {
  using namespace marquee::native;
  m.doc() =
      "Marquee in-process bindings (use them through marquee.Home, marquee.train, marquee.ope)";
  py::register_exception_translator(&Translate);
  // The library logs to stderr at "info" (model loads); in a notebook only warnings and errors
  // are news. set_log_level("info") brings the rest back.
  marquee::SetLogLevel("warn");
  m.def("set_log_level", &marquee::SetLogLevel, py::arg("level"));

  py::class_<Home, std::shared_ptr<Home>>(m, "Home")
      .def(py::init<const std::string&>(), py::arg("path"),
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("path", &Home::path)
      .def(
          "model",
          [](const std::shared_ptr<Home>& h, const std::string& ref) {
            std::shared_ptr<const marquee::ServableModel> loaded;
            {
              py::gil_scoped_release release;
              loaded = h->Load(ref);
            }
            return std::make_shared<Model>(h, ref, std::move(loaded));
          },
          py::arg("ref"));

  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def_property_readonly("ref", &Model::ref)
      .def("info", &Model::info)
      .def("item_ids", &Model::item_ids)
      .def("score", &Model::Score, py::arg("users"), py::arg("histories"), py::arg("k"),
           py::arg("exclude_seen"), py::arg("threads"), py::arg("single"));

  m.def("train", &Train, py::arg("home"), py::arg("config"), py::arg("form"), py::arg("sets"),
        py::arg("threads"));
  m.def(
      "ope",
      [](const std::string& home, const std::string& log_form, const std::string& log,
         const std::string& policy, const std::string& from_form, const std::string& from_log,
         const std::vector<std::string>& estimators, int bootstrap, uint64_t seed, double tau,
         int folds, const std::string& reward_model, double reward_l2, uint32_t reward_dim) {
        return Ope({home, log_form, log, policy, from_form, from_log, estimators, bootstrap, folds,
                    seed, tau, reward_l2, reward_dim, reward_model});
      },
      py::arg("home"), py::arg("log_form"), py::arg("log"), py::arg("policy"), py::arg("from_form"),
      py::arg("from_log"), py::arg("estimators"), py::arg("bootstrap"), py::arg("seed"),
      py::arg("tau"), py::arg("folds"), py::arg("reward_model"), py::arg("reward_l2"),
      py::arg("reward_dim"));
}
