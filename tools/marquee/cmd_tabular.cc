// Tabular data and models: `marquee dataset import FILE --format tabular --label COL`, tabular
// `dataset show`, `marquee models import FILE --name NAME --family xgboost`, and
// `marquee predict MODEL --input ROWS`.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/text.h"
#include "data/catalog.h"
#include "kinds/builtin.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/registry.h"
#include "tabular/predictor.h"
#include "tabular/table.h"

namespace marquee::cli {
namespace {
// The tabular kind (kinds/tabular/): its families are what `models import` and `predict` take.
const ModelKind& TabularKind() { return *BuiltinKinds().ByName("tabular"); }
}  // namespace

namespace {

// The columns of a tabular snapshot as TabularColumnsJson gives them (control/views.h).
void PrintSchema(const nlohmann::json& columns) {
  std::printf("  %-28s %-12s %-8s %8s %12s %12s %12s  %s\n", "COLUMN", "TYPE", "ROLE", "MISSING",
              "MIN", "MAX", "MEAN", "DISTINCT / TOP");
  auto number = [](const nlohmann::json& v) {
    return v.is_number() ? v.get<double>() : std::nan("");  // JSON has no NaN: null
  };
  for (const auto& c : columns) {
    const std::string type = c["type"].get<std::string>(), role = c["role"].get<std::string>();
    const auto& s = c["stats"];
    std::string extra;
    if (type == "categorical") {
      extra = fmt::format("{} categories", c["categories"].size());
    } else {
      const uint64_t distinct = s["distinct"].get<uint64_t>();
      extra = distinct >= 10000 ? std::string("10000+") : fmt::format("{}", distinct);
    }
    const nlohmann::json top = s.value("top", nlohmann::json::array());
    if (!top.empty()) {
      extra += ":";
      for (size_t k = 0; k < top.size() && k < 3; ++k) {
        extra += fmt::format(" {} ({})", top[k]["value"].get<std::string>(),
                             top[k]["count"].get<uint64_t>());
      }
    }
    if (role == "ignored" || role == "id") {
      std::printf("  %-28s %-12s %-8s\n", c["name"].get<std::string>().c_str(), "-", role.c_str());
      continue;
    }
    std::printf("  %-28s %-12s %-8s %8llu %12.6g %12.6g %12.6g  %s\n",
                c["name"].get<std::string>().c_str(), type.c_str(), role.c_str(),
                static_cast<unsigned long long>(s["missing"].get<uint64_t>()), number(s["min"]),
                number(s["max"]), number(s["mean"]), extra.c_str());
  }
}

// Rows for Predictor::PredictRows from a .json array, JSONL, or a CSV read the way `info`'s model
// needs each feature (CsvRowsForModel); CSV columns the model does not use are skipped with a
// one-line notice on stderr (unless `quiet`).
std::vector<nlohmann::json> ReadRowsFile(const std::string& path, const TabularModelInfo& info,
                                         bool quiet) {
  const std::string text = Env::Default()->ReadFile(path);
  std::vector<nlohmann::json> rows;
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".json") {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) Fail(ErrorCode::kInvalidArgument, "'{}' is not valid JSON", path);
    if (j.is_object() && j.contains("rows")) j = j["rows"];
    if (!j.is_array()) {
      Fail(ErrorCode::kInvalidArgument, "'{}': expected an array of rows or {{\"rows\": [...]}}",
           path);
    }
    for (auto& r : j) rows.push_back(std::move(r));
    return rows;
  }
  if (ext == ".jsonl") {
    size_t line = 0, pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      ++line;
      std::string_view l(text.data() + pos, end - pos);
      pos = end + 1;
      if (l.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      nlohmann::json j = nlohmann::json::parse(l, nullptr, false);
      if (j.is_discarded()) Fail(ErrorCode::kInvalidArgument, "{}:{}: not valid JSON", path, line);
      rows.push_back(std::move(j));
    }
    return rows;
  }
  std::vector<std::string> ignored;
  std::vector<std::string> absent;
  rows = CsvRowsForModel(text, path, info, &ignored, &absent);
  if (!ignored.empty() && !quiet) {
    std::fprintf(stderr, "note: ignoring %zu column(s) the model does not use: %s\n",
                 ignored.size(),
                 QuoteForMessage(fmt::format("{}", fmt::join(ignored, ", "))).c_str());
  }
  if (!absent.empty() && !quiet) {
    std::fprintf(stderr,
                 "note: %zu of the model's %zu feature(s) have no column and are scored "
                 "as missing: %s\n",
                 absent.size(), info.feature_names.size(),
                 QuoteForMessage(fmt::format("{}", fmt::join(absent, ", "))).c_str());
  }
  return rows;
}

}  // namespace

void PrintTabularImport(const std::string& file, const nlohmann::json& j) {
  const std::string name = j["name"].get<std::string>();
  std::printf("Imported %s as tabular dataset '%s': %llu rows, %zu columns, label '%s'\n",
              file.c_str(), name.c_str(),
              static_cast<unsigned long long>(j["rows"].get<uint64_t>()), j["schema"].size(),
              j["label"].get<std::string>().c_str());
  std::printf("  snapshot  %s\nInferred schema:\n", j["id"].get<std::string>().c_str());
  PrintSchema(j["schema"]);
  std::printf(
      "Override a type with --type COL=numeric|categorical|boolean|ignore (re-import).\n"
      "Next: marquee dataset show %s, or train with [data] dataset = \"%s\" and [model] family = "
      "\"xgboost\"\n",
      name.c_str(), name.c_str());
}

void PrintTabularDataset(const nlohmann::json& j) {
  std::printf(
      "Tabular dataset '%s'  snapshot %s\n  source   %s\n  created  %s\n  rows     %llu\n"
      "  label    %s\n",
      j["name"].get<std::string>().c_str(), j["id"].get<std::string>().c_str(),
      j["source"].get<std::string>().c_str(), j["created_at"].get<std::string>().c_str(),
      static_cast<unsigned long long>(j["rows"].get<uint64_t>()),
      j["label"].get<std::string>().c_str());
  PrintSchema(j["schema"]);
}

void AddModelsImportCommand(CLI::App& models, GlobalOptions& g) {
  struct Flags {
    std::string file, name, family = TabularKind().families().front(), description;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = models.add_subcommand(
      "import",
      "Register a model trained elsewhere as the next version of NAME, so it can be promoted\n"
      "and served like any other. XGBoost JSON or UBJSON, saved with its feature names\n"
      "(e.g. booster.save_model('model.json') after training on a DMatrix with feature_names).\n"
      "Example:\n"
      "  marquee models import model.json --name payment-retry --family xgboost --json");
  cmd->add_option("file", f->file, "Model file")->required();
  cmd->add_option("--name", f->name, "Model name")->required();
  cmd->add_option("--family", f->family, "Model family (xgboost)")
      ->check(CLI::IsMember(TabularKind().families()))
      ->capture_default_str();
  cmd->add_option("--description", f->description, "Set the model's description");
  cmd->add_flag("--json", f->json, "Print {\"model\": NAME, \"version\": N, ...}");
  cmd->callback([f, &g] {
    ValidateModelName(f->name);
    Env* env = Env::Default();
    const std::string home = ResolveHome(g.home);
    const std::string bytes = env->ReadFile(f->file);
    XgbModel model;
    TabularModelInfo info = DescribeImportedModel(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, &model);
    const std::string source = std::filesystem::absolute(f->file).lexically_normal().string();
    info.meta = {{"imported_from", source}, {"file_sha256", Sha256Hex(bytes)}};
    nlohmann::json params = {{"objective", info.objective},
                             {"rounds", model.BoostedRounds()},
                             {"features", info.feature_names.size()},
                             {"imported_from", source}};
    Registry registry =
        OpenRegistry(home);  // before the artifact: a home with one but no registry is damaged
    std::string digest;
    SaveTabularModel(bytes, info, params, home, env, &digest);
    NewVersion nv;
    nv.model_name = f->name;
    nv.description = f->description;
    nv.artifact = digest;
    nv.family = f->family;
    nv.protocol = "imported";
    nv.params = params;
    nv.created_at = env->NowSeconds();
    const VersionRecord v = registry.RegisterImportedVersion(nv);
    nlohmann::json out = {{"model", v.model_name},
                          {"version", v.version},
                          {"artifact", digest},
                          {"objective", info.objective},
                          {"features", info.feature_names.size()},
                          {"rounds", model.BoostedRounds()}};
    if (f->json) {
      PrintJson(out.dump());
      return;
    }
    std::printf(
        "Imported %s as %s version %lld (xgboost %s, %zu features, %d rounds).\n"
        "Next: marquee models promote %s %lld --alias production\n",
        f->file.c_str(), v.model_name.c_str(), static_cast<long long>(v.version),
        info.objective.c_str(), info.feature_names.size(), model.BoostedRounds(),
        v.model_name.c_str(), static_cast<long long>(v.version));
  });
}

void AddPredictCommand(CLI::App& app, GlobalOptions& g) {
  struct Flags {
    std::string model, input;
    bool explain = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "predict",
      "Score rows with a tabular (xgboost) model version, as POST /v1/predict does.\n"
      "MODEL is NAME, NAME@ALIAS or NAME/VERSION; rows come from a CSV (header = feature\n"
      "names), a JSON array of objects, or JSONL. Prints one JSON object:\n"
      "{\"model\": ..., \"version\": N, \"predictions\": [{\"score\": ..., \"contributions\": "
      "...}]}\n"
      "Example:\n"
      "  marquee predict payment-retry@production --input rows.csv --explain");
  cmd->add_option("model", f->model, "Model reference")->required();
  cmd->add_option("--input", f->input, "Rows: .csv, .json or .jsonl")->required();
  cmd->add_flag("--explain", f->explain, "Add SHAP contributions per feature (and the bias)");
  cmd->callback([f, &g] {
    const std::string home = ResolveHome(g.home);
    Registry registry = OpenRegistry(home);
    VersionRecord v = registry.Resolve(f->model);
    if (!BuiltinKinds().IsKind(v.family, "tabular")) {
      Fail(ErrorCode::kInvalidArgument, "{} is a {} model; predict serves tabular models ({})",
           f->model, v.family, fmt::join(TabularKind().families(), ", "));
    }
    registry.artifacts().Verify(v.artifact);
    auto predictor = Predictor::Load(registry.artifacts().PathFor(v.artifact), Env::Default());
    nlohmann::json rows = ReadRowsFile(f->input, predictor->info(), g.quiet);
    Predictor::Result r = predictor->PredictRows(rows, f->explain);
    nlohmann::json out = {
        {"model", v.model_name}, {"version", v.version}, {"predictions", predictor->ToJson(r)}};
    PrintJson(out.dump());
  });
}

}  // namespace marquee::cli
