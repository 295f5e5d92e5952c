#include "control/views.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <chrono>
#include <filesystem>

#include "bandits/log.h"
#include "common/text.h"
#include "common/time.h"
#include "data/catalog.h"
#include "data/readers.h"
#include "experiments/analysis.h"
#include "experiments/experiment.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/json.h"
#include "serving/route_match.h"
#include "tabular/table.h"

namespace marquee {
namespace {

using json = nlohmann::json;

// Rewrites the fields `keys` of `j` that hold Unix seconds as ISO 8601 text (null for 0).
void IsoFields(json& j, std::initializer_list<const char*> keys) {
  if (!j.is_object()) return;
  for (const char* k : keys) {
    auto it = j.find(k);
    if (it != j.end() && it->is_number_integer()) *it = TimeJson(it->get<int64_t>());
  }
}

int64_t ParseCount(std::string_view name, const std::string& text, int64_t min) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < min) {
    Fail(ErrorCode::kInvalidArgument, "query parameter {}: expected an integer >= {}, got '{}'",
         name, min, QuoteForMessage(text, 64));
  }
  return v;
}

json ExperimentIso(const Experiment& e) {
  json j = ExperimentJson(e);
  IsoFields(j, {"created_at", "first_started_at", "updated_at"});
  return j;
}

}  // namespace

// --- runs

std::string RunsListQuery::ToQueryString() const {
  std::string q;
  auto add = [&q](std::string_view k, const std::string& v) {
    q += (q.empty() ? "?" : "&") + std::string(k) + "=" + PercentEncode(v);
  };
  if (!model.empty()) add("model", model);
  if (!status.empty()) add("status", status);
  if (all) {
    add("all", "1");
  } else {
    add("limit", std::to_string(limit));
  }
  if (before > 0) add("before", std::to_string(before));
  for (const auto& m : metrics) add("metric", m);
  if (!since.empty()) add("since", since);
  if (!until.empty()) add("until", until);
  if (!sort.empty()) add("sort", sort);
  for (const auto& p : params) add("param", p);
  if (offset > 0) add("offset", std::to_string(offset));
  return q;
}

RunsListQuery RunsListQuery::FromQuery(const std::vector<std::pair<std::string, std::string>>& q) {
  RunsListQuery out;
  for (const auto& [k, v] : q) {
    if (k == "model") {
      out.model = v;
    } else if (k == "status") {
      out.status = v;
    } else if (k == "limit") {
      out.limit = ParseCount("limit", v, 1);
    } else if (k == "before") {
      out.before = ParseCount("before", v, 0);
    } else if (k == "all") {
      out.all = v == "1" || v == "true";
    } else if (k == "metric") {
      out.metrics.push_back(v);
    } else if (k == "since") {
      out.since = v;
    } else if (k == "until") {
      out.until = v;
    } else if (k == "sort") {
      ParseRunsSort(v);  // named here, as the other parameters are
      out.sort = v;
    } else if (k == "param") {
      out.params.push_back(v);
    } else if (k == "offset") {
      out.offset = ParseCount("offset", v, 0);
    } else {
      Fail(ErrorCode::kInvalidArgument,
           "unknown query parameter '{}' (expected: model, status, limit, before, all, metric, "
           "since, until, sort, param, offset)",
           QuoteForMessage(k, 64));
    }
  }
  return out;
}

std::pair<RunQuery::Sort, std::string> ParseRunsSort(const std::string& text) {
  if (text.empty() || text == "-started_at") return {RunQuery::Sort::kIdDesc, ""};
  if (text == "started_at") return {RunQuery::Sort::kIdAsc, ""};
  const bool desc = text.starts_with("-metric:");
  if (desc || text.starts_with("metric:")) {
    std::string key = text.substr(desc ? 8 : 7);
    if (!key.empty()) {
      return {desc ? RunQuery::Sort::kMetricDesc : RunQuery::Sort::kMetricAsc, std::move(key)};
    }
  }
  Fail(ErrorCode::kInvalidArgument,
       "sort: '{}' is not an order (expected -started_at, started_at, metric:KEY or "
       "-metric:KEY)",
       QuoteForMessage(text, 64));
}

json RunsListView(Registry& reg, const RunsListQuery& f) {
  RunQuery q;
  std::tie(q.sort, q.sort_metric) = ParseRunsSort(f.sort);
  if (f.before > 0 && q.sort != RunQuery::Sort::kIdDesc) {
    Fail(ErrorCode::kInvalidArgument,
         "before: pages the default order (-started_at) only; page sort={} with offset", f.sort);
  }
  if (f.before > 0 && f.offset > 0) {
    Fail(ErrorCode::kInvalidArgument, "before and offset: page with one of them, not both");
  }
  for (const std::string& p : f.params) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      Fail(ErrorCode::kInvalidArgument, "param: '{}' is not KEY=VALUE", QuoteForMessage(p, 64));
    }
    q.params.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  q.offset = f.offset;
  if (!f.model.empty()) q.model = ParseModelRef(f.model).model;
  // "running" and "interrupted" depend on whether the process is alive: filter after reading.
  const bool live_filter = f.status == "running" || f.status == "interrupted";
  if (!f.status.empty() && !live_filter) q.status = ParseRunStatus(f.status);
  q.before_id = f.before;
  q.limit = f.all || live_filter ? 0 : f.limit;
  for (const auto& m : f.metrics) q.metrics.push_back(ParseMetricThreshold(m));
  auto time_bound = [](const char* name, const std::string& text) -> int64_t {
    if (text.empty()) return 0;
    auto t = ParseTime(text);
    if (!t || *t <= 0) {
      Fail(ErrorCode::kInvalidArgument,
           "{}: '{}' is not a time (ISO 8601 like 2026-12-05T07:00:00Z, or Unix seconds)", name,
           QuoteForMessage(text, 64));
    }
    return *t;
  };
  q.started_after = time_bound("since", f.since);
  q.started_before = time_bound("until", f.until);
  if (live_filter) q.offset = 0;  // applied after the status filter below
  std::vector<RunRecord> runs = reg.ListRuns(q);
  if (live_filter) {
    const RunStatus want = ParseRunStatus(f.status);
    std::erase_if(runs, [&](const RunRecord& r) { return r.status != want; });
    runs.erase(runs.begin(), runs.begin() + std::min<int64_t>(f.offset, runs.size()));
    if (!f.all && static_cast<int64_t>(runs.size()) > f.limit) runs.resize(f.limit);
    q.limit = f.all ? 0 : f.limit;
  }
  RunQuery count = q;
  count.before_id = 0;
  const int64_t total = reg.CountRuns(count);
  const bool full_page = !f.all && static_cast<int64_t>(runs.size()) == q.limit && !runs.empty();
  const int64_t next =
      q.sort == RunQuery::Sort::kIdDesc && full_page && runs.back().id > 1 ? runs.back().id : 0;
  // The next offset when paging by offset (not by before) and runs remain after this page.
  const int64_t end = f.offset + static_cast<int64_t>(runs.size());
  json page = RunPageToJson(runs, total, next);
  page["next_offset"] = f.before == 0 && full_page && end < total ? json(end) : json(nullptr);
  return page;
}

int64_t RunIdOf(Registry& reg, const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit)) {
    return ParseCount("run id", text, 1);
  }
  VersionRecord v = reg.Resolve(text);
  if (v.run_id == 0) {
    Fail(ErrorCode::kNotFound, "{}/{} was registered without a run", v.model_name, v.version);
  }
  return v.run_id;
}

json RunShowView(Registry& reg, const std::string& id_or_ref) {
  return RunToJson(reg.GetRun(RunIdOf(reg, id_or_ref)), true);
}

json RunsCompareView(Registry& reg, const std::vector<std::string>& ids_or_refs) {
  std::vector<int64_t> ids;
  for (const auto& t : ids_or_refs) ids.push_back(RunIdOf(reg, t));
  json c = reg.CompareRuns(ids);
  for (auto& r : c["runs"]) IsoFields(r, {"started_at"});
  return c;
}

// --- models

json ModelsListView(Registry& reg) {
  json arr = json::array();
  for (const auto& m : reg.ListModels()) arr.push_back(ModelSummaryToJson(m));
  return {{"models", arr}};
}

namespace {

// VersionToJson plus the dataset's name and the artifact's path (what `models show` prints).
json VersionDetailJson(Registry& reg, const VersionDetail& d) {
  json j = VersionToJson(d);
  const VersionRecord& v = d.record;
  std::optional<DatasetRecord> ds =
      v.dataset_id.empty() ? std::nullopt : reg.GetDataset(v.dataset_id);
  j["dataset_name"] = ds && !ds->name.empty() ? json(ds->name) : json();
  j["artifact_path"] =
      ArtifactStore::IsDigest(v.artifact) ? json(reg.artifacts().PathFor(v.artifact)) : json();
  return j;
}

}  // namespace

json ModelOverviewView(Registry& reg, const std::string& name) {
  const ModelOverview o = reg.Overview(ParseModelRef(name).model);
  json j = ModelOverviewToJson(o);
  if (o.latest) j["latest"] = VersionDetailJson(reg, *o.latest);
  return j;
}

json VersionView(Registry& reg, const std::string& model, const std::string& version_text) {
  return VersionDetailJson(reg, reg.Detail(reg.ResolveIn(model, version_text)));
}

json VersionsView(Registry& reg, const std::string& model) {
  const std::string name = ParseModelRef(model).model;
  json arr = json::array();
  for (const auto& v : reg.Versions(name)) arr.push_back(VersionToJson(v));
  return {{"model", name}, {"versions", arr}};
}

json GateCheckView(Registry& reg, const std::string& model, const std::string& version_text,
                   const std::string& alias, const std::vector<std::string>& gates) {
  const VersionRecord v = reg.ResolveIn(model, version_text);
  json from = nullptr;
  if (!alias.empty()) {
    ValidateAlias(alias);
    try {
      from = reg.ResolveIn(v.model_name, alias).version;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kNotFound) throw;
    }
  }
  json checks = json::array();
  bool all = true;
  for (const std::string& text : gates) {
    const Gate gate = ParseGate(text);
    json c = {{"gate", text}};
    try {
      c["detail"] = reg.CheckGate(v, gate);
      c["passes"] = true;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kFailedPrecondition) throw;
      c["detail"] = e.what();
      c["passes"] = false;
      all = false;
    }
    checks.push_back(std::move(c));
  }
  return {{"model", v.model_name},
          {"version", v.version},
          {"alias", alias.empty() ? json() : json(alias)},
          {"from_version", from},
          {"gates", checks},
          {"passes", all}};
}

json DiffView(Registry& reg, const std::string& model_text, const std::string& a_text,
              const std::string& b_text) {
  const std::string model = ParseModelRef(model_text).model;
  json d = reg.Diff(reg.ResolveIn(model, a_text), reg.ResolveIn(model, b_text));
  for (const char* side : {"a", "b"}) {
    if (d.contains(side)) IsoFields(d[side], {"created_at"});
  }
  return d;
}

// --- experiments

json ExperimentsListView(Registry& reg) {
  json arr = json::array();
  for (const auto& e : ListExperiments(reg)) arr.push_back(ExperimentIso(e));
  return {{"experiments", arr}};
}

json ExperimentShowView(Registry& reg, const std::string& name) {
  Experiment e = GetExperiment(reg, name);
  json j = ExperimentIso(e);
  j["history"] = json::array();
  for (const auto& h : ExperimentHistory(reg, name)) {
    j["history"].push_back({{"action", h.action},
                            {"from", ExperimentStateName(h.from)},
                            {"to", ExperimentStateName(h.to)},
                            {"at", TimeJson(h.at)}});
  }
  j["source"] = e.record.source;
  return j;
}

json ExperimentAnalysisView(Registry& reg, const std::string& home, const std::string& name,
                            const std::function<void(std::string_view, uint64_t, uint64_t)>& p) {
  Experiment e = GetExperiment(reg, name);
  json a = AnalyzeFromHome(home, e, p);
  IsoFields(a, {"first_started_at"});
  return a;
}

// --- datasets

json DatasetsListView(const std::string& home) {
  json arr = json::array();
  for (const auto& e : DatasetCatalog(home, Env::Default()).List()) arr.push_back(e.ToJson());
  for (const auto& e : BanditLogCatalog(home, Env::Default()).List()) arr.push_back(e.ToJson());
  return {{"datasets", arr}};
}

json DatasetShowView(const std::string& home, const std::string& name) {
  // The order `dataset show` has always looked in: tabular snapshots, bandit logs, then
  // interaction snapshots by name or id prefix (DatasetCatalog::Get, whose kNotFound names it).
  if (TabularCatalog tabular(home, Env::Default()); tabular.Has(name)) {
    const TabularEntry e = tabular.Get(name);
    const TabularData d = LoadTabularSnapshot(e.path, Env::Default());
    json j = e.ToJson();
    j["label"] = d.schema.label;
    j["time_col"] = d.schema.time_col;
    j["schema"] = TabularColumnsJson(d);
    return j;
  }
  if (BanditLogCatalog logs(home, Env::Default()); logs.Has(name)) {
    json j = logs.Get(name).ToJson();
    j["stats"] = logs.Open(name).Stats();
    return j;
  }
  DatasetCatalog catalog(home, Env::Default());
  json j = catalog.Get(name).ToJson();
  j["stats"] = ComputeStats(catalog.Open(name)).ToJson();
  return j;
}

json ImportDatasetView(const std::string& home, const std::string& name, const std::string& path,
                       const ReadOptions& options, const std::string& source) {
  const auto start = std::chrono::steady_clock::now();
  ReadResult rr = ReadInteractions(path, options, Env::Default());
  Dataset ds =
      Dataset::FromRows(rr.rows, rr.has_values, rr.has_times, source.empty() ? path : source);
  DatasetCatalog catalog(home, Env::Default());
  json j = catalog.Import(name, ds).ToJson();
  j["format"] = rr.format;
  j["lines"] = rr.lines;
  j["bad_lines"] = rr.bad_lines;
  j["bad_line_examples"] = rr.bad_line_examples;
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return j;
}

json DeleteDatasetView(const std::string& home, const std::string& name) {
  return DatasetCatalog(home, Env::Default()).Remove(name).ToJson();
}

namespace {

bool TruthText(std::string_view v) { return v == "1" || v == "true" || v == "True"; }

// One character, or "tab" / "\\t" for a tab (the CLI's --delimiter).
char DelimiterOf(const std::string& v) {
  const std::string d = v == "\\t" || v == "tab" ? "\t" : v;
  if (d.size() != 1) {
    Fail(ErrorCode::kInvalidArgument, "delimiter: one character (or 'tab'), got '{}'",
         QuoteForMessage(v, 16));
  }
  return d[0];
}

// The reader options of `dataset import` (interaction files), from query parameters (or a JSON
// body's fields).
ReadOptions ReaderOptions(const ImportParams& params) {
  ReadOptions ro;
  for (const auto& [k, v] : params) {
    if (k == "format") {
      ro.format = v;
    } else if (k == "user_col") {
      ro.user_col = v;
    } else if (k == "item_col") {
      ro.item_col = v;
    } else if (k == "value_col") {
      ro.value_col = v;
    } else if (k == "time_col") {
      ro.time_col = v;
    } else if (k == "header") {
      ro.header = TruthText(v);
    } else if (k == "skip_bad_lines") {
      ro.skip_bad_lines = TruthText(v);
    } else if (k == "delimiter") {
      ro.delimiter = DelimiterOf(v);
    } else if (k != "path" && k != "source" && k != "origin") {
      Fail(ErrorCode::kInvalidArgument,
           "unknown reader option '{}' (expected: format, delimiter, header, user_col, item_col, "
           "value_col, time_col, skip_bad_lines, source, origin, path; format=tabular takes "
           "label, "
           "id_col, time_col, type, drop, delimiter)",
           QuoteForMessage(k, 64));
    }
  }
  return ro;
}

// The options of `dataset import --format tabular`: label (required), id_col, time_col,
// type=COL=TYPE and drop=COL (both repeatable), delimiter.
TabularReadOptions TabularOptions(const ImportParams& params) {
  TabularReadOptions o;
  for (const auto& [k, v] : params) {
    if (k == "label") {
      o.label = v;
    } else if (k == "id_col") {
      o.id_col = v;
    } else if (k == "time_col") {
      o.time_col = v;
    } else if (k == "drop") {
      o.drop.push_back(v);
    } else if (k == "type") {
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) {
        Fail(ErrorCode::kInvalidArgument, "type '{}': expected COLUMN=TYPE",
             QuoteForMessage(v, 64));
      }
      o.types[v.substr(0, eq)] = v.substr(eq + 1);
    } else if (k == "delimiter") {
      o.delimiter = DelimiterOf(v);
    } else if (k != "format" && k != "path" && k != "source" && k != "origin") {
      Fail(ErrorCode::kInvalidArgument,
           "format=tabular: unknown option '{}' (expected: label, id_col, time_col, type, drop, "
           "delimiter, source, origin, path)",
           QuoteForMessage(k, 64));
    }
  }
  if (o.label.empty()) {
    Fail(ErrorCode::kInvalidArgument, "format=tabular: give the label column as label=COLUMN");
  }
  return o;
}

// The last value of `key` in `params`, or `fallback`.
std::string ParamOr(const ImportParams& params, std::string_view key, std::string fallback) {
  for (const auto& [k, v] : params) {
    if (k == key) fallback = v;
  }
  return fallback;
}

}  // namespace

namespace {

// `text` with every occurrence of `from` replaced by `to`.
std::string ReplaceAll(std::string text, std::string_view from, std::string_view to) {
  if (from.empty()) return text;
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

json ImportByKind(const std::string& home, const std::string& name, const std::string& path,
                  const ImportParams& params, bool upload,
                  const std::function<void(uint64_t, uint64_t)>& progress) {
  const std::string format = ParamOr(params, "format", "auto");
  const std::string source = ParamOr(params, "source", path);
  if (format == "tabular") {
    return ImportTabularView(home, name, path, TabularOptions(params), source);
  }
  if (format == "bandit-jsonl" || format == "obd" || format == "dsjson" || format == "vw-adf") {
    if (format == "obd" && upload) {
      Fail(ErrorCode::kInvalidArgument,
           "format=obd reads item_context.csv beside the campaign file: import it from a path "
           "on the server ({{\"path\": ...}}), or upload it converted to bandit-jsonl");
    }
    for (const auto& [k, v] : params) {
      if (k != "format" && k != "path" && k != "source" && k != "origin") {
        Fail(ErrorCode::kInvalidArgument, "format={}: unknown option '{}' (it takes none)", format,
             QuoteForMessage(k, 64));
      }
    }
    return ImportBanditLogView(home, name, path, format, ParamOr(params, "source", ""));
  }
  ReadOptions ro = ReaderOptions(params);
  ro.progress = progress;
  return ImportDatasetView(home, name, path, ro, source);
}

}  // namespace

json ImportDatasetFileView(const std::string& home, const std::string& name,
                           const std::string& path, const ImportParams& params, bool upload,
                           const std::function<void(uint64_t, uint64_t)>& progress) {
  const std::string origin = ParamOr(params, "origin", "");
  if (!upload || origin.empty()) return ImportByKind(home, name, path, params, upload, progress);
  // An upload with the name the client read it from ("origin"): the spool file is read under
  // that file name (so "auto" picks the format by it, as a local import does) and messages name
  // the origin, not the spool file. The spool file gets its own name back afterwards.
  std::string base = std::filesystem::path(origin).filename().string();
  std::erase_if(base, [](char c) {
    return !(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  });
  const std::string named = path + "-" + base;
  Env* env = Env::Default();
  env->RenameFile(path, named);
  struct RenameBack {
    Env* env;
    const std::string &from, &to;
    ~RenameBack() {
      try {
        env->RenameFile(from, to);
      } catch (const std::exception&) {  // the transport removes what it can of its spool
      }
    }
  } back{env, named, path};
  try {
    json j = ImportByKind(home, name, named, params, upload, progress);
    if (j.contains("bad_line_examples")) {
      for (auto& m : j["bad_line_examples"]) m = ReplaceAll(m.get<std::string>(), named, origin);
    }
    return j;
  } catch (const Error& e) {
    throw Error(e.code(), ReplaceAll(e.what(), named, origin));
  }
}

json TabularColumnsJson(const TabularData& d) {
  const std::vector<ColumnStats> st = d.Stats();
  json cols = json::array();
  for (size_t i = 0; i < d.schema.columns.size(); ++i) {
    json c = d.schema.columns[i].ToJson();
    c["stats"] = st[i].ToJson();
    cols.push_back(std::move(c));
  }
  return cols;
}

json ImportTabularView(const std::string& home, const std::string& name, const std::string& path,
                       const TabularReadOptions& options, const std::string& source) {
  const auto start = std::chrono::steady_clock::now();
  TabularData d = ReadTabularCsv(path, options, Env::Default());
  d.source = source;
  json j = TabularCatalog(home, Env::Default()).Import(name, d).ToJson();
  j["label"] = d.schema.label;
  j["schema"] = TabularColumnsJson(d);
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return j;
}

json ImportBanditLogView(const std::string& home, const std::string& name, const std::string& path,
                         const std::string& format, const std::string& source) {
  const auto& formats = BanditLogFormats();
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    Fail(ErrorCode::kInvalidArgument, "bandit log format '{}': expected {}",
         QuoteForMessage(format, 32), fmt::join(formats, ", "));
  }
  const auto start = std::chrono::steady_clock::now();
  json stats;  // streamed: the log is never held whole
  json j = BanditLogCatalog(home, Env::Default())
               .ImportFile(name, path, format, source, &stats)
               .ToJson();
  j["stats"] = stats;
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return j;
}

json Log2Histogram(const std::vector<uint64_t>& counts) {
  // Bucket 0 is [0, 1); bucket b >= 1 is [2^(b-1), 2^b).
  std::vector<uint64_t> buckets;
  bool zero = false;
  for (uint64_t c : counts) {
    const size_t b = static_cast<size_t>(std::bit_width(c));
    if (b >= buckets.size()) buckets.resize(b + 1, 0);
    ++buckets[b];
    zero = zero || c == 0;
  }
  json out = json::array();
  for (size_t b = zero ? 0 : 1; b < buckets.size(); ++b) {
    out.push_back({{"lo", b == 0 ? 0 : uint64_t{1} << (b - 1)},
                   {"hi", uint64_t{1} << b},
                   {"count", buckets[b]}});
  }
  return {{"buckets", out}};
}

json DatasetHistogramsView(const std::string& home, const std::string& name) {
  // Resolved as DatasetShowView resolves it.
  const char* other = TabularCatalog(home, Env::Default()).Has(name)     ? "a tabular dataset"
                      : BanditLogCatalog(home, Env::Default()).Has(name) ? "a bandit log"
                                                                         : nullptr;
  if (other != nullptr) {
    Fail(ErrorCode::kInvalidArgument,
         "'{}' is {}: histograms of interactions per user and per item need an interaction "
         "dataset",
         QuoteForMessage(name, 128), other);
  }
  DatasetCatalog catalog(home, Env::Default());
  const DatasetEntry e = catalog.Get(name);
  const Dataset ds = catalog.Open(name);
  const DatasetStats st = ComputeStats(ds);  // the time range, as `dataset show` computes it
  std::vector<uint64_t> per_user(ds.num_users()), per_item(ds.num_items(), 0);
  const auto offsets = ds.user_offsets();
  for (uint32_t u = 0; u < ds.num_users(); ++u) per_user[u] = offsets[u + 1] - offsets[u];
  for (uint32_t i : ds.items()) ++per_item[i];
  return {{"dataset", e.name},
          {"snapshot", e.id},
          {"kind", "interactions"},
          {"users", st.users},
          {"items", st.items},
          {"interactions", st.interactions},
          {"time_range",
           {{"min", st.has_times ? json(IsoUtc(st.time_min)) : json()},
            {"max", st.has_times ? json(IsoUtc(st.time_max)) : json()}}},
          {"activity", Log2Histogram(per_user)},
          {"popularity", Log2Histogram(per_item)}};
}

}  // namespace marquee
