// marquee dataset import | list | show | delete | generate
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "commands.h"
#include "common/log.h"
#include "control_source.h"
#include "data/catalog.h"
#include "data/readers.h"
#include "data/synthetic.h"
#include "flow/snapshots.h"
#include "marquee/context.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee::cli {

namespace {

struct ImportFlags {
  std::string file, name, format = "auto", user_col, item_col, value_col, time_col, delimiter;
  std::string label, id_col;             // --format tabular
  std::vector<std::string> types, drop;  // --format tabular
  bool header = false, no_header = false, skip_bad_lines = false, json = false;
  bool from_events = false;  // --from-events: the serving event log instead of a file
  std::string base;          // --base NAME with --from-events: that snapshot's rows + the events
};

// `marquee dataset import --from-events --base BASE` (flow/snapshots.h, shared with the
// pipeline's snapshot step).
nlohmann::json ImportEventsOverBase(const std::string& name, const std::string& base,
                                    const GlobalOptions& g) {
  const std::string home = ResolveHome(g.home);
  return marquee::ImportEventsOverBase(home, Env::Default(), name, base,
                                       [&] { CreateRegistryIfMissing(home); });
}

// An interaction import as ImportDatasetView gives it.
void PrintInteractionImport(const std::string& file, const nlohmann::json& j) {
  const std::string name = j["name"].get<std::string>();
  std::printf("Imported %s as '%s' (format %s)\n", file.c_str(), name.c_str(),
              j["format"].get<std::string>().c_str());
  std::printf("  snapshot  %s\n  users     %u\n  items     %u\n  rows      %llu\n",
              j["id"].get<std::string>().c_str(), j["users"].get<unsigned>(),
              j["items"].get<unsigned>(), j["interactions"].get<unsigned long long>());
  const uint64_t bad = j["bad_lines"].get<uint64_t>();
  if (bad > 0) {
    std::printf("  skipped   %llu bad lines, e.g.\n", static_cast<unsigned long long>(bad));
    for (const auto& m : j["bad_line_examples"]) {
      std::printf("    %s\n", m.get<std::string>().c_str());
    }
  }
  std::printf("Next: marquee dataset show %s, or train on it with [data] dataset = \"%s\"\n",
              name.c_str(), name.c_str());
}

void RunImport(const ImportFlags& f, const GlobalOptions& g) {
  if (f.from_events) {
    if (!g.server.empty()) {
      Fail(ErrorCode::kInvalidArgument,
           "dataset import --from-events has no --server form (the API has no route for it); run "
           "it where the home is");
    }
    if (!f.file.empty()) Fail(ErrorCode::kInvalidArgument, "give FILE or --from-events, not both");
    nlohmann::json j =
        f.base.empty()
            ? ImportEventLog(f.name.empty() ? "events" : f.name, g)
            : ImportEventsOverBase(f.name.empty() ? f.base + "-with-events" : f.name, f.base, g);
    if (f.json) {
      PrintJson(j.dump());
    } else if (!f.base.empty()) {
      std::printf(
          "Imported '%s' and the event log as '%s'\n  snapshot  %s\n  users     %u\n"
          "  items     %u\n  rows      %llu (%llu from %s, %llu events)\n",
          f.base.c_str(), j["name"].get<std::string>().c_str(), j["id"].get<std::string>().c_str(),
          j["users"].get<unsigned>(), j["items"].get<unsigned>(),
          j["interactions"].get<unsigned long long>(),
          j["base_interactions"].get<unsigned long long>(), f.base.c_str(),
          j["events"].get<unsigned long long>());
    } else {
      std::printf(
          "Imported the event log as '%s'\n  snapshot  %s\n  users     %u\n  items     %u\n"
          "  rows      %llu\n",
          j["name"].get<std::string>().c_str(), j["id"].get<std::string>().c_str(),
          j["users"].get<unsigned>(), j["items"].get<unsigned>(),
          j["interactions"].get<unsigned long long>());
    }
    return;
  }
  if (!f.base.empty()) Fail(ErrorCode::kInvalidArgument, "--base needs --from-events");
  const bool tabular = f.format == "tabular", bandit = f.format == "obd" ||
                                                       f.format == "bandit-jsonl" ||
                                                       f.format == "dsjson" || f.format == "vw-adf";
  if (f.file.empty()) {
    Fail(ErrorCode::kInvalidArgument, "{}",
         bandit ? "give the log FILE to import" : "give an interaction FILE or --from-events");
  }
  // The options as POST /api/v1/datasets/{name} takes them (control/views.h ImportParams), and
  // where the data came from as a local import records it.
  ImportParams p = {{"format", f.format}};
  auto add = [&p](const char* key, const std::string& value) {
    if (!value.empty()) p.emplace_back(key, value);
  };
  const std::filesystem::path absolute = std::filesystem::absolute(f.file);
  if (tabular) {
    add("label", f.label);
    add("id_col", f.id_col);
    add("time_col", f.time_col);
    for (const auto& t : f.types) p.emplace_back("type", t);
    for (const auto& d : f.drop) p.emplace_back("drop", d);
    add("source", absolute.lexically_normal().string());
  } else if (bandit) {
    add("source", absolute.lexically_normal().string());
  } else {
    add("user_col", f.user_col);
    add("item_col", f.item_col);
    add("value_col", f.value_col);
    add("time_col", f.time_col);
    if (f.header) p.emplace_back("header", "true");
    if (f.no_header) p.emplace_back("header", "false");
    if (f.skip_bad_lines) p.emplace_back("skip_bad_lines", "true");
    add("source", absolute.string());
  }
  if (!bandit) add("delimiter", f.delimiter);
  add("origin", f.file);  // an upload is read under this name (views.h ImportParams)
  const std::string name = f.name.empty() ? std::filesystem::path(f.file).stem().string() : f.name;
  // One progress line for the read (lines of the file; local interaction files, which the reader
  // reports every 64Ki lines).
  std::unique_ptr<Progress> progress;
  ControlSource source(g);
  nlohmann::json j = source.DatasetImport(name, f.file, p, [&](uint64_t done, uint64_t total) {
    if (!progress) {
      progress = std::make_unique<Progress>("import " + name, total, "lines", ProgressOptions(g));
    }
    progress->Set(done);
  });
  if (progress && j.contains("lines")) progress->Set(j["lines"].get<uint64_t>());
  progress.reset();  // prints the final line (files under 64Ki lines print nothing)
  if (f.json) {
    PrintJson(j.dump());
  } else if (tabular) {
    PrintTabularImport(f.file, j);
  } else if (bandit) {
    PrintBanditImport(f.file, j);
  } else {
    PrintInteractionImport(f.file, j);
  }
}

// An interaction snapshot as DatasetShowView gives it.
void PrintInteractionDataset(const nlohmann::json& j) {
  const auto& st = j["stats"];
  std::printf("Dataset '%s'  snapshot %s\n  source        %s\n  created       %s\n",
              j["name"].get<std::string>().c_str(), j["id"].get<std::string>().c_str(),
              j["source"].get<std::string>().c_str(), j["created_at"].get<std::string>().c_str());
  std::printf(
      "  users         %u\n  items         %u\n  interactions  %llu\n  density       %.4f%%\n",
      st["users"].get<unsigned>(), st["items"].get<unsigned>(),
      st["interactions"].get<unsigned long long>(), st["density"].get<double>() * 100.0);
  std::printf("  per user      mean %.1f, max %u\n  per item      mean %.1f, max %u\n",
              st["mean_per_user"].get<double>(), st["max_per_user"].get<unsigned>(),
              st["mean_per_item"].get<double>(), st["max_per_item"].get<unsigned>());
  if (st["has_times"].get<bool>()) {
    std::printf("  time range    %s .. %s\n", st["time_min_iso"].get<std::string>().c_str(),
                st["time_max_iso"].get<std::string>().c_str());
  } else {
    std::printf("  time range    (no time column)\n");
  }
  if (st["has_values"].get<bool>()) {
    std::printf("  values\n");
    uint64_t maxc = 1;
    for (const auto& [k, v] : st["value_histogram"].items())
      maxc = std::max(maxc, v.get<uint64_t>());
    for (const auto& [k, v] : st["value_histogram"].items()) {
      const uint64_t c = v.get<uint64_t>();
      int bar = static_cast<int>(40.0 * static_cast<double>(c) / static_cast<double>(maxc));
      std::printf("    %-14s %10llu  %s\n", k.c_str(), static_cast<unsigned long long>(c),
                  std::string(static_cast<size_t>(bar), '#').c_str());
    }
  } else {
    std::printf("  values        (none: every row is a positive)\n");
  }
}

void RunShow(const std::string& name, bool json, const GlobalOptions& g) {
  ControlSource source(g);
  const nlohmann::json j = source.DatasetShow(name);
  if (json) {
    PrintJson(j.dump());
    return;
  }
  const std::string kind = j.value("kind", "");
  if (kind == "tabular") {
    PrintTabularDataset(j);  // cmd_tabular.cc
  } else if (kind == "bandit") {
    PrintBanditDataset(j);  // cmd_bandit.cc
  } else {
    PrintInteractionDataset(j);
  }
}

void RunList(bool json, const GlobalOptions& g) {
  ControlSource source(g);
  const nlohmann::json list = source.DatasetsList();
  if (json) {
    PrintJson(list.dump());
    return;
  }
  nlohmann::json entries = nlohmann::json::array(), bandit_logs = nlohmann::json::array();
  for (const auto& e : list["datasets"]) {
    (e.value("kind", "") == "bandit" ? bandit_logs : entries).push_back(e);
  }
  if (!bandit_logs.empty()) {
    std::printf("%-24s %-14s %9s %9s %13s  %s\n", "BANDIT LOG", "SNAPSHOT", "FORMAT", "ACTIONS",
                "DECISIONS", "CREATED");
    for (const auto& e : bandit_logs) {
      std::printf("%-24s %-14s %9s %9u %13llu  %s\n", e["name"].get<std::string>().c_str(),
                  e["id"].get<std::string>().substr(0, 12).c_str(),
                  e["format"].get<std::string>().c_str(), e["actions"].get<unsigned>(),
                  e["rows"].get<unsigned long long>(), e["created_at"].get<std::string>().c_str());
    }
    if (entries.empty()) return;
    std::printf("\n");
  }
  if (entries.empty()) {
    std::printf("No datasets yet. Import one with: marquee dataset import FILE --name NAME\n");
    return;
  }
  std::printf("%-24s %-14s %9s %9s %13s  %s\n", "NAME", "SNAPSHOT", "USERS", "ITEMS", "ROWS",
              "CREATED");
  for (const auto& e : entries) {
    std::printf("%-24s %-14s %9u %9u %13llu  %s\n", e["name"].get<std::string>().c_str(),
                e["id"].get<std::string>().substr(0, 12).c_str(), e["users"].get<unsigned>(),
                e["items"].get<unsigned>(), e["interactions"].get<unsigned long long>(),
                e["created_at"].get<std::string>().c_str());
  }
}

}  // namespace

void AddDatasetCommands(CLI::App& app, GlobalOptions& g) {
  auto* ds = app.add_subcommand("dataset", "Import, list and inspect immutable dataset snapshots");
  ds->require_subcommand(1);

  auto f = std::make_shared<ImportFlags>();
  auto* imp = ds->add_subcommand(
      "import",
      "Read an interaction file into a named, content-addressed snapshot.\n"
      "Formats: MovieLens u.data (TSV), ratings.csv, ratings.dat (::), generic CSV/TSV/JSONL.\n"
      "Examples:\n"
      "  marquee dataset import ../shared/data/movielens-100k/u.data --name ml100k\n"
      "  marquee dataset import plays.csv --user-col member --item-col title --no-header\n"
      "  marquee dataset import --from-events --base ml100k --name ml100k-plus-events");
  imp->add_option("file", f->file, "Interaction file");
  imp->add_flag("--from-events", f->from_events,
                "Import the event log of `marquee serve` ($home/events) instead of a file "
                "(default name: events)");
  imp->add_option("--base", f->base,
                  "With --from-events: start from this snapshot's rows and add the events, to\n"
                  "retrain on the training data plus what was logged since (default name:\n"
                  "BASE-with-events). Event values are kept (default 1), so a config with\n"
                  "positive_threshold counts only events whose value is above it");
  imp->add_option("--name", f->name, "Snapshot name (default: the file's stem)");
  imp->add_option("--format", f->format,
                  "auto | movielens | movielens-csv | movielens-dat | csv | tsv | jsonl | tabular\n"
                  "| obd | bandit-jsonl | dsjson | vw-adf\n"
                  "(tabular: a CSV of features and a label, for XGBoost; needs --label;\n"
                  " obd: an Open Bandit Dataset campaign CSV with item_context.csv beside it;\n"
                  " bandit-jsonl: a decision log, docs/formats/bandit.md; dsjson: Vowpal\n"
                  " Wabbit's DSJSON (what `decisions export` writes); vw-adf: VW's text cb_adf)")
      ->check(CLI::IsMember({"auto", "movielens", "movielens-csv", "movielens-dat", "csv", "tsv",
                             "jsonl", "tabular", "obd", "bandit-jsonl", "dsjson", "vw-adf"}));
  imp->add_option("--label", f->label, "tabular: the label column");
  imp->add_option("--id-col", f->id_col, "tabular: an id column (kept out of the features)");
  imp->add_option("--type", f->types,
                  "tabular: override an inferred type, COL=numeric|categorical|boolean|ignore "
                  "(repeatable)");
  imp->add_option("--drop", f->drop, "tabular: leave a column out (repeatable)");
  imp->add_option("--user-col", f->user_col,
                  "User column: header name, JSONL key or 0-based index");
  imp->add_option("--item-col", f->item_col, "Item column");
  imp->add_option("--value-col", f->value_col, "Value (rating, play count) column");
  imp->add_option("--time-col", f->time_col, "Time column (Unix seconds or ISO-8601)");
  imp->add_flag("--header", f->header, "The first line is a header");
  imp->add_flag("--no-header", f->no_header, "The first line is data");
  imp->add_option("--delimiter", f->delimiter,
                  "Field delimiter for csv/tsv (one character, or 'tab')");
  imp->add_flag("--skip-bad-lines", f->skip_bad_lines,
                "Count and skip malformed lines instead of stopping at the first");
  imp->add_flag("--json", f->json, "Print the result as one JSON object");
  imp->callback([f, imp, &g] {
    // A --name given explicitly is checked as given: '' must not fall back to the file's stem.
    if (imp->count("--name") > 0) ValidateCatalogName(f->name, "dataset");
    if (f->header && f->no_header) {
      Fail(ErrorCode::kInvalidArgument, "--header and --no-header are mutually exclusive");
    }
    if (f->format != "tabular" &&
        (!f->label.empty() || !f->id_col.empty() || !f->types.empty() || !f->drop.empty())) {
      Fail(ErrorCode::kInvalidArgument,
           "--label, --id-col, --type and --drop need --format tabular");
    }
    RunImport(*f, g);
  });

  auto show_name = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  auto* show = ds->add_subcommand("show", "Counts, density, value histogram and time range");
  show->add_option("name", *show_name, "Snapshot name or id (prefix)")->required();
  show->add_flag("--json", *show_json, "Print as JSON");
  show->callback([show_name, show_json, &g] { RunShow(*show_name, *show_json, g); });

  auto list_json = std::make_shared<bool>(false);
  auto* list = ds->add_subcommand("list", "List snapshots by name");
  list->add_flag("--json", *list_json, "Print as JSON");
  list->callback([list_json, &g] { RunList(*list_json, g); });

  auto del_name = std::make_shared<std::string>();
  auto del_json = std::make_shared<bool>(false);
  auto* del = ds->add_subcommand(
      "delete",
      "Remove the name of an interaction snapshot. The snapshot itself stays (runs and model\n"
      "versions refer to it by id); the name can be imported again.");
  del->add_option("name", *del_name, "Snapshot name")->required();
  del->add_flag("--json", *del_json, "Print the entry the name had as JSON");
  del->callback([del_name, del_json, &g] {
    ControlSource source(g);
    const nlohmann::json e = source.DatasetDelete(*del_name);
    if (*del_json) {
      PrintJson(e.dump());
    } else {
      std::printf("Deleted dataset name '%s' (snapshot %s stays)\n",
                  e["name"].get<std::string>().c_str(), e["id"].get<std::string>().c_str());
    }
  });

  auto so = std::make_shared<SyntheticOptions>();
  auto gen_name = std::make_shared<std::string>("synthetic");
  auto gen_json = std::make_shared<bool>(false);
  auto* gen = ds->add_subcommand(
      "generate",
      "Generate a synthetic dataset (power-law popularity, latent taste clusters) and import it.\n"
      "Example (MovieLens-20M shape):\n"
      "  marquee dataset generate --name ml20m-shape --users 138000 --items 27000 "
      "--interactions 20000000");
  gen->add_option("--name", *gen_name, "Snapshot name")->capture_default_str();
  gen->add_option("--users", so->users, "Users")->capture_default_str();
  gen->add_option("--items", so->items, "Items")->capture_default_str();
  gen->add_option("--interactions", so->interactions, "Interactions")->capture_default_str();
  gen->add_option("--clusters", so->clusters, "Latent taste clusters")->capture_default_str();
  gen->add_option("--popularity-exponent", so->popularity_exponent, "Zipf exponent")
      ->capture_default_str();
  gen->add_option("--seed", so->seed, "Random seed")->capture_default_str();
  gen->add_flag("--json", *gen_json, "Print as JSON");
  gen->callback([so, gen_name, gen_json, &g] {
    Stopwatch sw;
    Dataset d = GenerateSynthetic(*so, g.threads > 0 ? g.threads : Context::DefaultThreads());
    DatasetCatalog catalog(ResolveHome(g.home), Env::Default());
    CreateRegistryIfMissing(ResolveHome(g.home));  // before the catalog (commands.h)
    DatasetEntry e = catalog.Import(*gen_name, d);
    nlohmann::json j = e.ToJson();
    j["seconds"] = sw.Seconds();
    if (*gen_json) {
      PrintJson(j.dump());
    } else {
      std::printf("Generated '%s': %u users, %u items, %llu interactions (snapshot %s) in %.1fs\n",
                  e.name.c_str(), e.users, e.items, static_cast<unsigned long long>(e.interactions),
                  e.id.substr(0, 12).c_str(), sw.Seconds());
    }
  });
}

}  // namespace marquee::cli
