#include "registry/registry.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <random>
#include <set>

#include "common/sha256.h"
#include "common/text.h"
#include "data/catalog.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {
namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Model names and aliases follow the one catalog name rule (data/catalog.h).
bool ValidName(std::string_view s) { return ValidCatalogName(s); }

// "3" or "v3" -> 3; 0 if it is neither.
int64_t ParseVersionNumber(std::string_view s) {
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) s.remove_prefix(1);
  if (!AllDigits(s) || s.size() > 15) return 0;
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string Short(const std::string& digest) { return digest.substr(0, 12); }

std::string Num(double v) { return fmt::format("{:.6g}", v); }

bool Compare(double a, const std::string& op, double b) {
  if (op == ">=") return a >= b;
  if (op == ">") return a > b;
  if (op == "<=") return a <= b;
  return a < b;
}

// The operator that holds when `op` fails.
std::string Negation(const std::string& op) {
  if (op == ">=") return "<";
  if (op == ">") return "<=";
  if (op == "<=") return ">";
  return ">=";
}

std::string VersionName(const VersionRecord& v) {
  return v.model_name + "/" + std::to_string(v.version);
}

// Flattens nested objects into dotted keys ("a.b" -> value).
void Flatten(const nlohmann::json& j, const std::string& prefix,
             std::map<std::string, nlohmann::json>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) Flatten(v, prefix.empty() ? k : prefix + "." + k, out);
  } else {
    out[prefix] = j;
  }
}

}  // namespace

// --- references and gates

std::string ModelRef::ToString() const {
  if (version > 0) return model + "/" + std::to_string(version);
  if (!alias.empty()) return model + "@" + alias;
  return model;
}

void ValidateModelName(std::string_view name) {
  if (!ValidName(name)) {
    Fail(ErrorCode::kInvalidArgument,
         "'{}' is not a valid model name: use 1-128 letters, digits, '.', '_' or '-', not "
         "starting with '-' (set [model] name = \"...\" in the config)",
         QuoteForMessage(name, 80));
  }
}

void ValidateAlias(std::string_view alias) {
  if (!ValidName(alias) || AllDigits(alias) || ParseVersionNumber(alias) > 0) {
    Fail(ErrorCode::kInvalidArgument,
         "'{}' is not a valid alias: use 1-128 letters, digits, '.', '_' or '-', not starting "
         "with '-' and not a version number (e.g. production, staging)",
         QuoteForMessage(alias, 80));
  }
}

ModelRef ParseModelRef(std::string_view text) {
  ModelRef r;
  auto bad = [&]() {
    Fail(ErrorCode::kInvalidArgument,
         "'{}' is not a model reference: use NAME, NAME@ALIAS or NAME/VERSION (e.g. "
         "recs@production, recs/3)",
         QuoteForMessage(text));
  };
  if (auto at = text.find('@'); at != std::string_view::npos) {
    r.model = std::string(text.substr(0, at));
    r.alias = std::string(text.substr(at + 1));
    if (!ValidName(r.model) || !ValidName(r.alias) || ParseVersionNumber(r.alias) > 0) bad();
  } else if (auto slash = text.find('/'); slash != std::string_view::npos) {
    r.model = std::string(text.substr(0, slash));
    r.version = ParseVersionNumber(text.substr(slash + 1));
    if (!ValidName(r.model) || r.version <= 0) bad();
  } else {
    r.model = std::string(text);
    if (!ValidName(r.model)) bad();
  }
  return r;
}

namespace {

// METRIC OP (NUMBER | ALIAS); `what` names the input in messages ("--require").
Gate ParseComparison(std::string_view text, std::string_view what) {
  Gate g;
  g.text = std::string(text);
  const size_t pos = text.find_first_of("<>");
  if (pos == std::string_view::npos) {
    Fail(ErrorCode::kInvalidArgument,
         "{} '{}': expected METRIC OP VALUE with OP one of >=, >, <=, < and VALUE a number "
         "or an alias (e.g. \"recall@20>=production\", \"ndcg@100>0.35\")",
         what, QuoteForMessage(text));
  }
  size_t rhs = pos + 1;
  g.op = std::string(1, text[pos]);
  if (rhs < text.size() && text[rhs] == '=') {
    g.op += '=';
    ++rhs;
  }
  g.metric = Trim(text.substr(0, pos));
  std::string value = Trim(text.substr(rhs));
  if (g.metric.empty() || value.empty()) {
    Fail(ErrorCode::kInvalidArgument, "{} '{}': a metric and a value are both needed", what,
         QuoteForMessage(text));
  }
  double number = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec == std::errc() && p == value.data() + value.size()) {
    g.threshold = number;
  } else {
    if (!ValidName(value) || AllDigits(value)) {
      Fail(ErrorCode::kInvalidArgument, "{} '{}': '{}' is neither a number nor an alias name", what,
           QuoteForMessage(text), QuoteForMessage(value));
    }
    g.alias = value;
  }
  return g;
}

}  // namespace

Gate ParseGate(std::string_view text) { return ParseComparison(text, "--require"); }

MetricThreshold ParseMetricThreshold(std::string_view text) {
  Gate g = ParseComparison(text, "metric filter");
  if (!g.threshold || !std::isfinite(*g.threshold)) {
    Fail(ErrorCode::kInvalidArgument,
         "metric filter '{}': compare with a finite number (e.g. \"auc>=0.7\"); comparing "
         "with an alias is for --require gates",
         QuoteForMessage(text));
  }
  return {g.metric, g.op, *g.threshold};
}

ProcessProbe DefaultProcessProbe() {
  ProcessProbe p;
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) == 0) p.host = host;
  p.pid = ::getpid();
  const std::string me = p.host;
  p.alive = [me](const std::string& host, int64_t pid) {
    if (host != me || pid <= 0) return true;  // another machine: cannot tell, assume alive
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
  };
  return p;
}

nlohmann::json PromoteResult::ToJson() const {
  return {{"model", model},
          {"alias", alias},
          {"from_version", from_version > 0 ? nlohmann::json(from_version) : nlohmann::json()},
          {"to_version", to_version},
          {"action", action},
          {"checks", checks}};
}

nlohmann::json GcReport::ToJson() const {
  return {{"dry_run", dry_run},
          {"removed", removed},
          {"temporaries", temporaries},
          {"bytes", bytes},
          {"kept", kept},
          {"skipped", skipped},
          {"interrupted_runs", interrupted_runs},
          {"warnings", warnings}};
}

// --- Registry

Registry::Registry(RegistryOptions o)
    : home_(o.home),
      env_(o.env != nullptr ? o.env : Env::Default()),
      store_(o.store ? std::move(o.store) : OpenMetadataStore(o.home, env_)),
      artifacts_(o.home, env_),
      probe_(o.probe ? std::move(*o.probe) : DefaultProcessProbe()),
      kinds_(o.kinds) {}

Registry::Registry(const std::string& home) : Registry(RegistryOptions{home, nullptr, {}, {}}) {}

Registry::~Registry() = default;

int64_t Registry::StartTrainingRun(const RunSpec& c) {
  ValidateModelName(c.model_name);
  ValidateRegistryText(c.description, "model description", kMaxDescriptionBytes);
  RunRecord r;
  r.model_name = c.model_name;
  r.family = c.family;
  r.status = RunStatus::kRunning;
  r.config_given = c.config_given;
  r.config_resolved = c.config_resolved;
  r.params = c.params;
  r.code_version = std::string("marquee ") + MARQUEE_VERSION;
  r.host = probe_.host;
  r.pid = probe_.pid;
  r.started_at = env_->NowSeconds();
  return store_->CreateRun(r);
}

VersionRecord Registry::FinishTrainingRun(int64_t run_id, const TrainResult& result,
                                          const std::string& report) {
  const int64_t now = env_->NowSeconds();
  // The dataset entity: a catalog snapshot by its id, a file by the sha256 of its bytes.
  const TrainedDataset& td = result.dataset;
  DatasetRecord d;
  d.first_seen_at = now;
  d.id = td.id;
  d.name = td.name;
  d.source = td.source;
  d.kind = td.id.empty() ? "file" : "snapshot";
  if (td.id.empty()) d.id = Sha256File(td.file, env_);
  d.schema = td.schema;
  d.stats = td.stats;
  if (td.describe && !store_->GetDataset(d.id)) {
    // First time this snapshot is used: the kind describes it fully.
    std::tie(d.schema, d.stats) = td.describe();
  }

  // The protocol key: equal keys mean metrics were computed on the same held-out data.
  const std::string protocol_key = Sha256Hex(result.protocol_identity.dump());

  RunRecord run;
  run.id = run_id;
  run.status = RunStatus::kCompleted;
  run.ended_at = now;
  run.params = result.params;
  run.timings = result.timings;
  run.split = result.split;
  run.dataset_id = d.id;
  run.protocol = result.protocol;
  run.protocol_key = protocol_key;
  run.artifact = result.artifact_sha256;
  run.log = report;
  nlohmann::json metrics = nlohmann::json::object();
  nlohmann::json metric_order = nlohmann::json::array();
  for (const auto& [name, value] : result.metrics) {
    run.metrics.emplace_back(name, value);
    metrics[name] = value;
    metric_order.push_back(name);
  }
  std::string description;
  if (std::optional<RunRecord> started = store_->GetRun(run_id)) {
    const nlohmann::json& m = started->config_given.value("parsed", nlohmann::json::object())
                                  .value("model", nlohmann::json::object());
    if (m.is_object() && m.contains("description") && m["description"].is_string()) {
      description = m["description"].get<std::string>();
    }
  }

  NewVersion nv;
  nv.model_name = result.model_name;
  nv.description = description;
  nv.artifact = run.artifact;
  nv.run_id = run_id;
  nv.dataset_id = d.id;
  nv.family = result.family;
  nv.protocol = run.protocol;
  nv.protocol_key = protocol_key;
  nv.metrics = metrics;
  nv.metric_order = metric_order;
  nv.params = run.params;
  nv.created_at = now;

  VersionRecord v;
  store_->Atomically([&] {
    // Under the write lock gc cannot run, so the artifact checked here stays until the
    // version referring to it is committed.
    RequireArtifact(run.artifact);
    store_->PutDataset(d);
    store_->FinishRun(run);
    v = store_->RegisterVersion(nv);
  });
  return v;
}

void Registry::RequireArtifact(const std::string& digest) const {
  if (!artifacts_.Exists(digest)) {
    Fail(ErrorCode::kIOError, "the artifact '{}' vanished before it could be registered",
         artifacts_.PathFor(digest));
  }
}

VersionRecord Registry::RegisterImportedVersion(const NewVersion& nv) {
  ValidateModelName(nv.model_name);
  VersionRecord v;
  store_->Atomically([&] {
    // Under the write lock gc cannot remove the artifact before the version names it.
    RequireArtifact(nv.artifact);
    v = store_->RegisterVersion(nv);
  });
  return v;
}

void Registry::FailRun(int64_t run_id, const std::string& message) noexcept {
  try {
    std::optional<RunRecord> r = store_->GetRun(run_id);
    if (!r || r->status != RunStatus::kRunning) return;
    r->status = RunStatus::kFailed;
    r->ended_at = env_->NowSeconds();
    r->log = message;
    r->metrics.clear();
    store_->FinishRun(*r);
  } catch (...) {
    // The run stays "running" and reads as interrupted once this process has exited.
  }
}

// --- remote tracking

int64_t Registry::StartExternalRun(const ExternalRunSpec& spec) {
  ValidateModelName(spec.model_name);
  if (!spec.family.empty() && !ValidName(spec.family)) {
    Fail(ErrorCode::kInvalidArgument,
         "'{}' is not a valid family name: use 1-128 letters, digits, '.', '_' or '-'",
         QuoteForMessage(spec.family, 80));
  }
  if (!spec.params.is_object() && !spec.params.is_null()) {
    Fail(ErrorCode::kInvalidArgument, "run params must be a JSON object (name -> value), not {}",
         QuoteForMessage(spec.params.dump(), 80));
  }
  const std::string params_text = spec.params.is_null() ? "{}" : spec.params.dump();
  if (params_text.size() > kMaxRunParamsBytes) {
    Fail(ErrorCode::kInvalidArgument, "run params are {} bytes as JSON; at most {} are kept",
         params_text.size(), kMaxRunParamsBytes);
  }
  for (const auto& [key, value] : spec.tags) ValidateTag(key, value);
  ValidateRegistryText(spec.description, "run description", kMaxDescriptionBytes);
  ValidateRegistryText(spec.dataset, "dataset", kMaxTagValueBytes);
  ValidateRegistryText(spec.code_version, "code version", kMaxTagValueBytes);
  ValidateRegistryText(spec.host, "host", kMaxTagValueBytes);

  RunRecord r;
  r.source = std::string(kRunSourceExternal);
  r.model_name = spec.model_name;
  r.family = spec.family;
  r.status = RunStatus::kRunning;
  r.params = spec.params.is_null() ? nlohmann::json::object() : spec.params;
  r.tags = spec.tags;
  r.description = spec.description;
  r.dataset_given = spec.dataset;
  r.code_version = spec.code_version;
  r.host = spec.host;
  r.pid = spec.pid;
  r.started_at = env_->NowSeconds();
  // The dataset record the name or id refers to, when the registry has one.
  if (!spec.dataset.empty()) {
    std::optional<DatasetRecord> d;
    if (ArtifactStore::IsDigest(spec.dataset)) d = store_->GetDataset(spec.dataset);
    if (!d) d = store_->FindDatasetByName(spec.dataset);
    if (d) r.dataset_id = d->id;
  }
  return store_->CreateRun(r);
}

void Registry::LogMetrics(int64_t run_id, std::span<const MetricPoint> points) {
  const bool stamped = std::all_of(points.begin(), points.end(),
                                   [](const MetricPoint& p) { return p.timestamp_ms != 0; });
  if (stamped) {
    store_->LogMetrics(run_id, points);
    return;
  }
  std::vector<MetricPoint> copy(points.begin(), points.end());
  const int64_t now_ms = env_->NowSeconds() * 1000;
  for (MetricPoint& p : copy) {
    if (p.timestamp_ms == 0) p.timestamp_ms = now_ms;
  }
  store_->LogMetrics(run_id, copy);
}

std::vector<MetricPoint> Registry::MetricHistory(int64_t run_id, const std::string& key,
                                                 int64_t after_step, int64_t limit) {
  return store_->MetricHistory(run_id, key, after_step, limit);
}

std::vector<MetricSummary> Registry::MetricSummaries(int64_t run_id) {
  return store_->MetricSummaries(run_id);
}

std::map<std::string, std::string> Registry::SetRunTags(
    int64_t run_id, const std::vector<std::pair<std::string, std::string>>& set,
    const std::vector<std::string>& remove) {
  return store_->SetRunTags(run_id, set, remove);
}

RunArtifact Registry::RecordRunArtifact(int64_t run_id, const std::string& name,
                                        StagedArtifact staged) {
  RunArtifact a;
  a.name = name;
  a.digest = staged.digest();
  a.bytes = staged.bytes();
  a.created_at = env_->NowSeconds();
  // Under the write lock (which gc takes too): the file becomes an artifact and the run refers
  // to it in one step, or neither happens (the staged file is removed on an error).
  store_->Atomically([&] {
    store_->AddRunArtifact(run_id, a);
    artifacts_.Publish(staged);
  });
  return a;
}

RunArtifact Registry::LogRunArtifact(int64_t run_id, const std::string& name,
                                     const std::string& source_path) {
  ValidateRunArtifactName(name);
  GetRun(run_id);  // kNotFound before copying anything
  return RecordRunArtifact(run_id, name, artifacts_.StageFile(source_path));
}

RunArtifact Registry::LogRunArtifactBytes(int64_t run_id, const std::string& name,
                                          std::string_view bytes) {
  ValidateRunArtifactName(name);
  GetRun(run_id);
  return RecordRunArtifact(run_id, name, artifacts_.Stage(bytes));
}

std::vector<RunArtifact> Registry::RunArtifacts(int64_t run_id) {
  return store_->ListRunArtifacts(run_id);
}

std::string Registry::OpenRunArtifact(int64_t run_id, const std::string& name) {
  const RunArtifact a = FindRunArtifact(run_id, name);
  const std::string path = artifacts_.PathFor(a.digest);
  if (!artifacts_.Exists(a.digest)) {
    Fail(ErrorCode::kCorruption, "run {} artifact '{}': its file '{}' is missing", run_id, name,
         path);
  }
  return path;
}

RunArtifact Registry::FindRunArtifact(int64_t run_id, const std::string& name) {
  std::vector<RunArtifact> all = store_->ListRunArtifacts(run_id);
  for (const RunArtifact& a : all) {
    if (a.name == name) return a;
  }
  std::vector<std::string> names;
  for (const RunArtifact& a : all) names.push_back(a.name);
  Fail(ErrorCode::kNotFound, "run {} has no artifact '{}' (it has: {})", run_id,
       QuoteForMessage(name, 80),
       names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")));
}

RunRecord Registry::FinishExternalRun(int64_t run_id, RunStatus status,
                                      const std::string& message) {
  if (status != RunStatus::kCompleted && status != RunStatus::kFailed) {
    Fail(ErrorCode::kInvalidArgument, "a run finishes as completed or failed, not {}",
         RunStatusName(status));
  }
  ValidateRegistryText(message, "run message", kMaxRunMessageBytes);
  store_->Atomically([&] {
    std::optional<RunRecord> r = store_->GetRun(run_id);
    if (!r) Fail(ErrorCode::kNotFound, "no run {} (marquee runs list shows them)", run_id);
    if (!r->external()) {
      Fail(ErrorCode::kFailedPrecondition,
           "cannot finish run {}: it was recorded by marquee train, which finishes it", run_id);
    }
    r->status = status;
    r->ended_at = env_->NowSeconds();
    r->log = message;
    store_->FinishRun(*r);  // kFailedPrecondition when it is not running
  });
  return GetRun(run_id);
}

const ModelKind& Registry::ImportingKind(const std::string& family) const {
  if (kinds_ == nullptr) {
    Fail(ErrorCode::kFailedPrecondition,
         "refused: this registry was opened without model kinds, so nothing can import a model "
         "file");
  }
  const ModelKind* kind = kinds_->Find(family);
  if (kind != nullptr && kind->can_import()) return *kind;
  std::vector<std::string> can;
  for (const auto& k : kinds_->kinds()) {
    if (!k->can_import()) continue;
    for (const auto& f : k->families()) can.push_back(f);
  }
  Fail(ErrorCode::kInvalidArgument,
       "family '{}' cannot import a model file{} (families that can: {})",
       QuoteForMessage(family, 80), kind == nullptr ? ": no kind knows it" : "",
       can.empty() ? "none" : fmt::format("{}", fmt::join(can, ", ")));
}

VersionRecord Registry::RegisterRunArtifact(int64_t run_id, const std::string& artifact_name,
                                            const std::string& family,
                                            const std::string& model_name) {
  // Refuses what can be refused before the import writes an artifact.
  auto check = [&](const RunRecord& r) {
    if (!r.external()) {
      Fail(ErrorCode::kFailedPrecondition,
           "refused: run {} was recorded by marquee train, which registers its own version",
           run_id);
    }
    if (r.status != RunStatus::kRunning && r.status != RunStatus::kCompleted) {
      Fail(ErrorCode::kFailedPrecondition,
           "refused: run {} is {}; only a running or completed run registers a version", run_id,
           RunStatusName(r.status));
    }
    if (r.version > 0) {
      Fail(ErrorCode::kFailedPrecondition,
           "refused: run {} already registered version {} of {} (one version per run)", run_id,
           r.version, r.model_name);
    }
  };
  const RunRecord run = GetRun(run_id);
  check(run);
  const std::string model = model_name.empty() ? run.model_name : model_name;
  ValidateModelName(model);
  const ModelKind& kind = ImportingKind(family);
  const RunArtifact file = FindRunArtifact(run_id, artifact_name);
  artifacts_.Verify(file.digest);  // kNotFound if missing, kCorruption if damaged
  const ImportedModel imported =
      kind.Import(artifacts_.PathFor(file.digest), family,
                  fmt::format("run {} artifact {}", run_id, artifact_name), home_, env_);

  VersionRecord v;
  store_->Atomically([&] {
    // Again under the write lock: the run may have finished, failed or registered meanwhile,
    // and its metrics are read from the same snapshot that registers them.
    std::optional<RunRecord> r = store_->GetRun(run_id);
    if (!r) Fail(ErrorCode::kNotFound, "no run {}", run_id);
    check(*r);
    RequireArtifact(imported.artifact_sha256);
    NewVersion nv;
    nv.model_name = model;
    nv.artifact = imported.artifact_sha256;
    nv.run_id = run_id;
    nv.dataset_id = r->dataset_id;
    nv.family = family;
    nv.protocol = "external";
    // Metrics of two external runs compare (alias gates) only when they name the same dataset.
    nv.protocol_key = Sha256Hex(
        nlohmann::json{{"protocol", "external"},
                       {"dataset", r->dataset_id.empty() ? r->dataset_given : r->dataset_id}}
            .dump());
    for (const auto& [name, value] : r->metrics) {
      nv.metrics[name] = value;
      nv.metric_order.push_back(name);
    }
    // What the import read (objective, rounds, ...), overridden by the params the run logged.
    nv.params = imported.params.is_object() ? imported.params : nlohmann::json::object();
    for (const auto& [k, x] : r->params.items()) nv.params[k] = x;
    nv.created_at = env_->NowSeconds();
    v = store_->RegisterVersion(nv);
  });
  return v;
}

bool Registry::IsInterrupted(const RunRecord& r) const {
  // An external run's process is a client's, somewhere else: its liveness is unknown here.
  return r.status == RunStatus::kRunning && !r.external() && probe_.alive &&
         !probe_.alive(r.host, r.pid);
}

void Registry::ApplyLiveness(RunRecord& r) const {
  if (IsInterrupted(r)) r.status = RunStatus::kInterrupted;
}

RunRecord Registry::GetRun(int64_t id) {
  std::optional<RunRecord> r = store_->GetRun(id);
  if (!r) Fail(ErrorCode::kNotFound, "no run {} (marquee runs list shows them)", id);
  ApplyLiveness(*r);
  return *r;
}

std::vector<RunRecord> Registry::ListRuns(const RunQuery& q) {
  std::vector<RunRecord> runs = store_->ListRuns(q);
  for (auto& r : runs) ApplyLiveness(r);
  return runs;
}

nlohmann::json Registry::CompareRuns(const std::vector<int64_t>& ids) {
  if (ids.empty()) Fail(ErrorCode::kInvalidArgument, "runs compare: name at least one run id");
  std::vector<RunRecord> runs = store_->GetRuns(ids);
  for (auto& r : runs) ApplyLiveness(r);

  std::vector<std::string> metric_names;
  std::set<std::string> seen;
  for (const auto& r : runs) {
    for (const auto& [name, value] : r.metrics) {
      if (seen.insert(name).second) metric_names.push_back(name);
    }
  }
  std::vector<std::map<std::string, nlohmann::json>> flat(runs.size());
  std::set<std::string> keys;
  for (size_t i = 0; i < runs.size(); ++i) {
    Flatten(runs[i].params, "", flat[i]);
    flat[i]["family"] = runs[i].family;
    for (const auto& [k, v] : flat[i]) keys.insert(k);
  }
  nlohmann::json differing = nlohmann::json::array();
  for (const auto& k : keys) {
    for (size_t i = 1; i < runs.size(); ++i) {
      auto a = flat[0].find(k), b = flat[i].find(k);
      bool differ = (a == flat[0].end()) != (b == flat[i].end()) ||
                    (a != flat[0].end() && a->second != b->second);
      if (differ) {
        differing.push_back(k);
        break;
      }
    }
  }
  nlohmann::json out_runs = nlohmann::json::array();
  bool same_dataset = true, same_protocol = true;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    nlohmann::json m = nlohmann::json::object();
    for (const auto& [name, value] : r.metrics) m[name] = value;
    nlohmann::json p = nlohmann::json::object();
    for (const auto& k : differing) {
      auto it = flat[i].find(k.get<std::string>());
      p[k.get<std::string>()] = it != flat[i].end() ? it->second : nlohmann::json();
    }
    out_runs.push_back({{"id", r.id},
                        {"model", r.model_name},
                        {"version", r.version > 0 ? nlohmann::json(r.version) : nlohmann::json()},
                        {"status", RunStatusName(r.status)},
                        {"family", r.family},
                        {"dataset_id", r.dataset_id},
                        {"protocol", r.protocol},
                        {"protocol_key", r.protocol_key},
                        {"started_at", r.started_at},
                        {"params", p},
                        {"metrics", m}});
  }
  // Runs that never finished have no dataset or protocol; they do not make the others
  // incomparable.
  const RunRecord* first = nullptr;
  for (const auto& r : runs) {
    if (r.dataset_id.empty()) continue;
    if (first == nullptr) first = &r;
    same_dataset = same_dataset && r.dataset_id == first->dataset_id;
    same_protocol = same_protocol && r.protocol_key == first->protocol_key;
  }
  nlohmann::json best = nlohmann::json::object();
  for (const auto& name : metric_names) {
    int64_t best_id = 0;
    double best_value = 0;
    for (const auto& r : runs) {
      auto v = r.metric(name);
      if (v && std::isfinite(*v) && (best_id == 0 || *v > best_value)) {
        best_id = r.id;
        best_value = *v;
      }
    }
    if (best_id != 0) best[name] = best_id;
  }
  return {{"runs", out_runs}, {"metrics", metric_names},      {"params_differing", differing},
          {"best", best},     {"same_dataset", same_dataset}, {"same_protocol", same_protocol}};
}

ModelRecord Registry::RequireModel(const std::string& name) {
  std::optional<ModelRecord> m = store_->GetModel(name);
  if (!m) Fail(ErrorCode::kNotFound, "no model named '{}' (marquee models list shows them)", name);
  return *m;
}

VersionRecord Registry::Resolve(const ModelRef& ref) {
  const ModelRecord m = RequireModel(ref.model);
  int64_t version = ref.version;
  if (!ref.alias.empty()) {
    std::optional<int64_t> a = store_->GetAlias(ref.model, ref.alias);
    if (!a) {
      std::string known;
      for (const auto& [name, v] : store_->ListAliases(ref.model)) {
        known += (known.empty() ? "" : ", ") + name;
      }
      Fail(ErrorCode::kNotFound, "model '{}' has no alias '{}' (aliases: {})", ref.model, ref.alias,
           known.empty() ? "none yet" : known);
    }
    version = *a;
  } else if (version == 0) {
    version = m.latest_version;
    if (version == 0) Fail(ErrorCode::kNotFound, "model '{}' has no versions", ref.model);
  }
  std::optional<VersionRecord> v = store_->GetVersion(ref.model, version);
  if (!v) {
    Fail(ErrorCode::kNotFound, "model '{}' has no version {} (latest is {})", ref.model, version,
         m.latest_version);
  }
  return *v;
}

VersionRecord Registry::ResolveIn(const std::string& model, const std::string& text) {
  if (text.find_first_of("@/") != std::string::npos) {
    ModelRef r = ParseModelRef(text);
    if (r.model != model) {
      Fail(ErrorCode::kInvalidArgument, "'{}' names model '{}', not '{}'", text, r.model, model);
    }
    return Resolve(r);
  }
  ModelRef r;
  r.model = model;
  if (int64_t n = ParseVersionNumber(text); n > 0) {
    r.version = n;
  } else if (ValidName(text)) {
    r.alias = text;
  } else {
    Fail(ErrorCode::kInvalidArgument, "'{}' is neither a version (3, v3) nor an alias",
         QuoteForMessage(text));
  }
  return Resolve(r);
}

namespace {

std::vector<std::string> AliasesAt(const std::map<std::string, int64_t>& aliases, int64_t version) {
  std::vector<std::string> out;
  for (const auto& [alias, v] : aliases) {
    if (v == version) out.push_back(alias);
  }
  return out;
}

}  // namespace

std::vector<std::string> Registry::AliasesOf(const VersionRecord& v) {
  return AliasesAt(store_->ListAliases(v.model_name), v.version);
}

VersionDetail Registry::Detail(const VersionRecord& v) {
  return {v, AliasesOf(v), store_->GetTags(v.model_name, v.version)};
}

std::vector<ModelSummary> Registry::ListModels() {
  std::vector<ModelSummary> out;
  for (ModelRecord& m : store_->ListModels()) {
    auto aliases = store_->ListAliases(m.name);
    out.push_back({std::move(m), std::move(aliases)});
  }
  return out;
}

ModelOverview Registry::Overview(const std::string& name) {
  ModelOverview o;
  o.model = RequireModel(name);
  o.aliases = store_->ListAliases(name);
  o.alias_history = store_->AliasHistory(name, "");
  o.tags = store_->GetTags(name, 0);
  if (o.model.latest_version > 0) {
    if (std::optional<VersionRecord> v = store_->GetVersion(name, o.model.latest_version)) {
      o.latest =
          VersionDetail{*v, AliasesAt(o.aliases, v->version), store_->GetTags(name, v->version)};
    }
  }
  return o;
}

std::vector<VersionDetail> Registry::Versions(const std::string& name) {
  RequireModel(name);
  std::map<std::string, int64_t> aliases = store_->ListAliases(name);
  std::vector<VersionDetail> out;
  for (VersionRecord& v : store_->ListVersions(name)) {
    std::vector<std::string> names = AliasesAt(aliases, v.version);
    auto tags = store_->GetTags(name, v.version);
    out.push_back({std::move(v), std::move(names), std::move(tags)});
  }
  return out;
}

TagSet Registry::SetTags(const ModelRef& ref,
                         const std::vector<std::pair<std::string, std::string>>& set,
                         const std::vector<std::string>& remove) {
  TagSet out;
  out.model = ref.model;
  if (ref.version > 0 || !ref.alias.empty()) {
    out.version = Resolve(ref).version;
  } else {
    RequireModel(ref.model);
  }
  // Every tag is checked before any is written: one bad tag sets none.
  for (const auto& [key, value] : set) ValidateTag(key, value);
  store_->Atomically([&] {
    for (const auto& [key, value] : set) store_->SetTag(out.model, out.version, key, value);
    for (const auto& key : remove) {
      if (!store_->RemoveTag(out.model, out.version, key)) {
        Fail(ErrorCode::kNotFound, "{} has no tag '{}'", ref.ToString(), QuoteForMessage(key));
      }
    }
  });
  out.tags = store_->GetTags(out.model, out.version);
  return out;
}

void Registry::SetDescription(const std::string& name, const std::string& text) {
  store_->SetModelDescription(name, text);
}

int64_t Registry::CountRuns(const RunQuery& q) { return store_->CountRuns(q); }

std::optional<DatasetRecord> Registry::GetDataset(const std::string& id) {
  return store_->GetDataset(id);
}

std::string Registry::DescribeStore() const { return store_->Describe(); }

std::vector<std::string> Registry::SmokeTest(const VersionRecord& v) {
  std::vector<std::string> checks;
  try {
    artifacts_.Verify(v.artifact);
    checks.push_back(fmt::format("artifact {} present and its sha256 verified", Short(v.artifact)));
    if (kinds_ == nullptr) {
      Fail(ErrorCode::kFailedPrecondition,
           "this registry was opened without model kinds, so nothing can load the artifact");
    }
    const ModelKind* kind = kinds_->OfVersion(v.family);
    if (kind == nullptr) {
      Fail(ErrorCode::kFailedPrecondition, "no model kind serves family '{}' (known: {})", v.family,
           fmt::join(kinds_->Families(), ", "));
    }
    for (auto& c : kind->SmokeTest(artifacts_.PathFor(v.artifact), v.family, env_)) {
      checks.push_back(std::move(c));
    }
  } catch (const Error& e) {
    Fail(ErrorCode::kFailedPrecondition, "refused: {} failed the publish check: {}", VersionName(v),
         e.what());
  }
  return checks;
}

std::string Registry::CheckGate(const VersionRecord& v, const Gate& g) {
  auto metric_list = [](const VersionRecord& x) {
    std::string s;
    for (const auto& [k, val] : x.metrics.items()) s += (s.empty() ? "" : ", ") + k;
    return s.empty() ? std::string("none") : s;
  };
  std::optional<double> cand = v.metric(g.metric);
  if (!cand) {
    Fail(ErrorCode::kFailedPrecondition, "refused: {} has no metric {} (it has: {})",
         VersionName(v), g.metric, metric_list(v));
  }
  if (g.threshold) {
    if (!Compare(*cand, g.op, *g.threshold)) {
      Fail(ErrorCode::kFailedPrecondition, "refused: {} {} {} {} (required: {} {} {})", g.metric,
           Num(*cand), Negation(g.op), Num(*g.threshold), g.metric, g.op, Num(*g.threshold));
    }
    return fmt::format("gate {} {} {}: {} passes", g.metric, g.op, Num(*g.threshold), Num(*cand));
  }
  std::optional<int64_t> holder = store_->GetAlias(v.model_name, g.alias);
  if (!holder) {
    return fmt::format("gate {} {} {}: {}@{} is not set yet, nothing to compare with (passes)",
                       g.metric, g.op, g.alias, v.model_name, g.alias);
  }
  std::optional<VersionRecord> base = store_->GetVersion(v.model_name, *holder);
  if (!base) Fail(ErrorCode::kCorruption, "{}@{} names a missing version", v.model_name, g.alias);
  const std::string bar = fmt::format("{} (v{})", g.alias, base->version);
  if (base->dataset_id != v.dataset_id) {
    auto describe = [&](const std::string& id) {
      std::optional<DatasetRecord> d = id.empty() ? std::nullopt : store_->GetDataset(id);
      std::string name = d && !d->name.empty() ? " '" + d->name + "'" : "";
      return id.empty() ? std::string("an unrecorded dataset") : Short(id) + name;
    };
    Fail(ErrorCode::kFailedPrecondition,
         "refused: cannot compare {} with {}: it was evaluated on dataset {}, {} on {}; retrain "
         "one of them on the same dataset",
         g.metric, bar, describe(base->dataset_id), VersionName(v), describe(v.dataset_id));
  }
  if (base->protocol_key != v.protocol_key) {
    std::string why;
    std::optional<RunRecord> ra, rb;
    if (base->run_id > 0) ra = store_->GetRun(base->run_id);
    if (v.run_id > 0) rb = store_->GetRun(v.run_id);
    if (ra && rb) {
      std::map<std::string, nlohmann::json> fa, fb;
      Flatten(ra->split, "", fa);
      Flatten(rb->split, "", fb);
      std::set<std::string> keys;
      for (const auto& [k, x] : fa) keys.insert(k);
      for (const auto& [k, x] : fb) keys.insert(k);
      for (const auto& k : keys) {
        nlohmann::json x = fa.count(k) ? fa[k] : nlohmann::json(),
                       y = fb.count(k) ? fb[k] : nlohmann::json();
        if (x != y)
          why += fmt::format("{}{} {} vs {}", why.empty() ? "" : ", ", k, x.dump(), y.dump());
      }
    }
    if (why.empty()) why = fmt::format("{} vs {}", base->protocol, v.protocol);
    Fail(ErrorCode::kFailedPrecondition,
         "refused: cannot compare {} with {}: the evaluation protocols differ ({})", g.metric, bar,
         why);
  }
  std::optional<double> theirs = base->metric(g.metric);
  if (!theirs) {
    Fail(ErrorCode::kFailedPrecondition,
         "refused: {} has no metric {} to compare with (it has: {})", bar, g.metric,
         metric_list(*base));
  }
  if (!Compare(*cand, g.op, *theirs)) {
    Fail(ErrorCode::kFailedPrecondition, "refused: {} {} {} {} {}", g.metric, Num(*cand),
         Negation(g.op), bar, Num(*theirs));
  }
  return fmt::format("gate {} {} {}: {} {} {}", g.metric, g.op, bar, Num(*cand), g.op,
                     Num(*theirs));
}

PromoteResult Registry::MoveAlias(const VersionRecord& v, const std::string& alias, int64_t from,
                                  const std::string& action, const std::string& note,
                                  std::vector<std::string> checks) {
  AliasMove move;
  move.alias = alias;
  move.from_version = from;
  move.to_version = v.version;
  move.action = action;
  move.note = note;
  move.at = env_->NowSeconds();
  store_->MoveAlias(v.model_name, move);
  PromoteResult r;
  r.model = v.model_name;
  r.alias = alias;
  r.from_version = from;
  r.to_version = v.version;
  r.action = action;
  r.checks = std::move(checks);
  return r;
}

PromoteResult Registry::Promote(const std::string& ref, const std::string& alias,
                                const std::vector<std::string>& gate_texts,
                                const std::string& note) {
  ValidateAlias(alias);
  ValidateRegistryText(note, "note", kMaxNoteBytes);
  std::vector<Gate> gates;
  for (const auto& t : gate_texts) gates.push_back(ParseGate(t));
  VersionRecord v = Resolve(ParseModelRef(ref));
  const int64_t from = store_->GetAlias(v.model_name, alias).value_or(0);
  if (from == v.version) {
    PromoteResult r;
    r.model = v.model_name;
    r.alias = alias;
    r.from_version = from;
    r.to_version = from;
    r.action = "none";
    r.checks.push_back(
        fmt::format("{}@{} already holds v{}; nothing to do", v.model_name, alias, from));
    return r;
  }
  std::vector<std::string> checks = SmokeTest(v);
  for (const auto& g : gates) checks.push_back(CheckGate(v, g));
  return MoveAlias(v, alias, from, "promote", note, std::move(checks));
}

int64_t Registry::RollbackTarget(const std::string& model, const std::string& alias) {
  std::vector<AliasMove> history = store_->AliasHistory(model, alias);
  // The history is a stack: a promotion pushes, a rollback pops. Walking back from the newest
  // move, each rollback cancels the promotion before it.
  int64_t pending_rollbacks = 0;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (it->action == "rollback") {
      ++pending_rollbacks;
    } else if (pending_rollbacks > 0) {
      --pending_rollbacks;
    } else {
      return it->from_version;
    }
  }
  return 0;
}

PromoteResult Registry::Rollback(const std::string& model, const std::string& alias,
                                 const std::string& note) {
  ValidateModelName(model);
  ValidateAlias(alias);
  ValidateRegistryText(note, "note", kMaxNoteBytes);
  RequireModel(model);
  std::optional<int64_t> current = store_->GetAlias(model, alias);
  if (!current) {
    Fail(ErrorCode::kFailedPrecondition, "refused: {}@{} is not set; there is nothing to roll back",
         model, alias);
  }
  const int64_t target = RollbackTarget(model, alias);
  if (target == 0) {
    Fail(ErrorCode::kFailedPrecondition,
         "refused: {}@{} (v{}) has no earlier version to roll back to", model, alias, *current);
  }
  std::optional<VersionRecord> v = store_->GetVersion(model, target);
  if (!v)
    Fail(ErrorCode::kCorruption, "{}: the alias history names a missing version {}", model, target);
  std::vector<std::string> checks = SmokeTest(*v);
  return MoveAlias(*v, alias, *current, "rollback", note, std::move(checks));
}

nlohmann::json Registry::Diff(const VersionRecord& a, const VersionRecord& b) {
  auto side = [&](const VersionRecord& v) {
    return nlohmann::json{{"ref", VersionName(v)},
                          {"version", v.version},
                          {"run_id", v.run_id > 0 ? nlohmann::json(v.run_id) : nlohmann::json()},
                          {"family", v.family},
                          {"artifact", v.artifact},
                          {"dataset_id", v.dataset_id},
                          {"protocol", v.protocol},
                          {"protocol_key", v.protocol_key},
                          {"created_at", v.created_at},
                          {"aliases", AliasesOf(v)}};
  };
  std::map<std::string, nlohmann::json> pa, pb;
  Flatten(a.params, "", pa);
  Flatten(b.params, "", pb);
  pa["family"] = a.family;
  pb["family"] = b.family;
  std::set<std::string> keys;
  for (const auto& [k, x] : pa) keys.insert(k);
  for (const auto& [k, x] : pb) keys.insert(k);
  nlohmann::json params = nlohmann::json::array();
  nlohmann::json same_params = nlohmann::json::object();
  for (const auto& k : keys) {
    nlohmann::json x = pa.count(k) ? pa[k] : nlohmann::json();
    nlohmann::json y = pb.count(k) ? pb[k] : nlohmann::json();
    if (x != y) {
      params.push_back({{"name", k}, {"a", x}, {"b", y}});
    } else {
      same_params[k] = x;
    }
  }
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto* v : {&a, &b}) {
    for (const auto& k : v->metric_order) {
      if (seen.insert(k.get<std::string>()).second) names.push_back(k.get<std::string>());
    }
    for (const auto& [k, x] : v->metrics.items()) {
      if (seen.insert(k).second) names.push_back(k);
    }
  }
  nlohmann::json metrics = nlohmann::json::array();
  for (const auto& n : names) {
    auto x = a.metric(n), y = b.metric(n);
    metrics.push_back({{"name", n},
                       {"a", x ? nlohmann::json(*x) : nlohmann::json()},
                       {"b", y ? nlohmann::json(*y) : nlohmann::json()},
                       {"delta", x && y ? nlohmann::json(*y - *x) : nlohmann::json()}});
  }
  auto dataset = [&](const std::string& id) {
    std::optional<DatasetRecord> d = id.empty() ? std::nullopt : store_->GetDataset(id);
    if (!d) return nlohmann::json{{"id", id}};
    return nlohmann::json{{"id", d->id},
                          {"kind", d->kind},
                          {"name", d->name},
                          {"source", d->source},
                          {"stats", d->stats}};
  };
  nlohmann::json split_diff = nlohmann::json::array();
  if (a.protocol_key != b.protocol_key && a.run_id > 0 && b.run_id > 0) {
    auto ra = store_->GetRun(a.run_id), rb = store_->GetRun(b.run_id);
    if (ra && rb) {
      std::map<std::string, nlohmann::json> fa, fb;
      Flatten(ra->split, "", fa);
      Flatten(rb->split, "", fb);
      std::set<std::string> sk;
      for (const auto& [k, x] : fa) sk.insert(k);
      for (const auto& [k, x] : fb) sk.insert(k);
      for (const auto& k : sk) {
        nlohmann::json x = fa.count(k) ? fa[k] : nlohmann::json();
        nlohmann::json y = fb.count(k) ? fb[k] : nlohmann::json();
        if (x != y) split_diff.push_back({{"name", k}, {"a", x}, {"b", y}});
      }
    }
  }
  return {{"model", a.model_name},
          {"a", side(a)},
          {"b", side(b)},
          {"params", params},
          {"same_params", same_params},
          {"metrics", metrics},
          {"dataset",
           {{"same", a.dataset_id == b.dataset_id},
            {"a", dataset(a.dataset_id)},
            {"b", dataset(b.dataset_id)}}},
          {"protocol",
           {{"same", a.protocol_key == b.protocol_key},
            {"a", a.protocol},
            {"b", b.protocol},
            {"split_differences", split_diff}}}};
}

namespace {

// The directories of a home where atomic writes leave temporaries when they are interrupted,
// relative to the home: artifacts first (they get the live-run rule), then the catalogs.
constexpr const char* kTemporaryDirs[] = {
    "artifacts",     "datasets/objects", "datasets/names", "tabular/objects",
    "tabular/names", "bandit/objects",   "bandit/names",
    "serving/index",  // HNSW graphs a server was saving when it died (models/ann_index.h)
};

// Every file some process on this host holds open, as /proc/*/fd shows it (the processes this
// one may inspect; as root, all of them). Empty where /proc is unavailable.
std::set<std::string> OpenFilesOnThisHost() {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename().string();
    if (!AllDigits(pid)) continue;
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      auto target = std::filesystem::read_symlink(fd.path(), link_ec);
      if (!link_ec) out.insert(target.string());
    }
  }
  return out;
}

// Seconds since the file was last written; 0 when it cannot be told (then it counts as fresh).
int64_t AgeSeconds(const std::string& path, int64_t now) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return std::max<int64_t>(0, now - static_cast<int64_t>(st.st_mtime));
}

}  // namespace

GcReport Registry::Gc(const GcOptions& options) {
  GcReport rep;
  rep.dry_run = options.dry_run;
  const bool dry_run = options.dry_run;

  // 1. Runs whose process died become "interrupted". A separate transaction, so a full disk
  // (which refuses this write) does not stop gc from freeing space below.
  RunQuery running;
  running.status = RunStatus::kRunning;
  running.limit = 0;
  std::vector<RunRecord> dead;
  for (RunRecord& r : store_->ListRuns(running)) {
    if (IsInterrupted(r)) dead.push_back(std::move(r));
  }
  for (const RunRecord& r : dead) rep.interrupted_runs.push_back(r.id);
  if (!dry_run && !dead.empty()) {
    try {
      store_->Atomically([&] {
        for (RunRecord r : dead) {
          r.status = RunStatus::kInterrupted;
          r.ended_at = env_->NowSeconds();
          r.log = fmt::format("interrupted: process {} on {} ended without finishing the run",
                              r.pid, r.host);
          try {
            store_->FinishRun(r);
          } catch (const Error& e) {
            if (e.code() != ErrorCode::kFailedPrecondition) throw;  // finished meanwhile
          }
        }
      });
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kResourceExhausted && e.code() != ErrorCode::kIOError) throw;
      rep.warnings.push_back(
          fmt::format("could not mark {} run(s) interrupted: {}", dead.size(), e.what()));
    }
  }

  // 2. Under the write lock (no run can register an artifact meanwhile): remove what nothing
  // refers to. Removing files needs no space, and this transaction writes nothing.
  store_->Atomically([&] {
    // External runs do not count: their artifacts are published and recorded in one
    // transaction (RecordRunArtifact), so none is ever unreferenced on its way in.
    bool live_run = false;
    for (const RunRecord& r : store_->ListRuns(running)) {
      if (!r.external() && !IsInterrupted(r)) live_run = true;
    }
    const std::set<std::string> referenced = store_->ReferencedArtifacts();
    std::vector<std::string> unreferenced;
    for (const auto& digest : artifacts_.List()) {
      if (referenced.count(digest)) {
        ++rep.kept;
      } else {
        unreferenced.push_back(digest);
      }
    }
    if (rep.kept == 0 && !unreferenced.empty() && !options.force && !live_run) {
      Fail(ErrorCode::kFailedPrecondition,
           "refused: the registry {} refers to none of the {} artifact(s) in '{}' (it is empty, "
           "new, or not this home's); removing them would delete every model. Nothing was "
           "removed. If they really are garbage, run `marquee gc --force`",
           store_->Describe(), unreferenced.size(), artifacts_.dir());
    }
    for (const auto& digest : unreferenced) {
      if (live_run) {
        rep.skipped.push_back(digest + " (a training run is in progress and may register it)");
        continue;
      }
      rep.bytes += artifacts_.SizeOf(digest);
      if (!dry_run) artifacts_.Remove(digest);
      rep.removed.push_back(digest);
    }

    const int64_t now = env_->NowSeconds();
    std::optional<std::set<std::string>> open_files;  // read lazily: only pid-less files need it
    for (const char* sub : kTemporaryDirs) {
      const std::string dir = home_ + "/" + sub;
      if (!env_->FileExists(dir)) continue;
      std::vector<std::string> names = env_->ListDir(dir);
      std::sort(names.begin(), names.end());
      const bool is_artifacts = std::string_view(sub) == "artifacts";
      for (const auto& name : names) {
        if (!ArtifactStore::IsTemporaryName(name)) continue;
        const std::string rel = std::string(sub) + "/" + name;
        const std::string path = dir + "/" + name;
        const int64_t pid = ArtifactStore::WriterPid(name);
        std::string keep_why;
        if (is_artifacts && live_run) {
          // A live run anywhere may own it (another host's pid means nothing here).
          keep_why = "a training run is in progress and may own it";
        } else if (pid > 0) {
          if (probe_.alive(probe_.host, pid)) {
            keep_why = fmt::format("its writer, process {}, is still running", pid);
          }
        } else {
          const int64_t age = AgeSeconds(path, now);
          if (age < options.unowned_temporary_age_s) {
            keep_why = fmt::format("no writer pid in its name and written {}s ago (< {}s)", age,
                                   options.unowned_temporary_age_s);
          } else {
            if (!open_files) open_files = OpenFilesOnThisHost();
            std::error_code ec;
            const auto canonical = std::filesystem::weakly_canonical(path, ec).string();
            if (open_files->count(path) || open_files->count(canonical)) {
              keep_why = "a process on this host has it open";
            }
          }
        }
        if (!keep_why.empty()) {
          rep.skipped.push_back(rel + " (" + keep_why + ")");
          continue;
        }
        uint64_t size = 0;
        try {
          size = env_->FileSize(path);
          if (!dry_run) env_->RemoveFile(path);
        } catch (const Error& e) {
          if (e.code() == ErrorCode::kNotFound) continue;  // renamed or removed meanwhile
          throw;
        }
        rep.bytes += size;
        rep.temporaries.push_back(rel);
      }
    }
  });
  return rep;
}

std::vector<std::string> Registry::CheckConsistency(bool verify_digests) {
  std::vector<std::string> problems = store_->CheckIntegrity();
  for (const auto& m : store_->ListModels()) {
    for (const auto& v : store_->ListVersions(m.name)) {
      if (!artifacts_.Exists(v.artifact)) {
        problems.push_back(fmt::format("{}: artifact {} is missing", VersionName(v), v.artifact));
        continue;
      }
      if (!verify_digests) continue;
      try {
        artifacts_.Verify(v.artifact);
      } catch (const Error& e) {
        problems.push_back(fmt::format("{}: {}", VersionName(v), e.what()));
      }
    }
  }
  return problems;
}

}  // namespace marquee
