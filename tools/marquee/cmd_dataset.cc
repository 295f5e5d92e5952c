// marquee dataset import | list | show | generate
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "commands.h"
#include "common/log.h"
#include "data/catalog.h"
#include "data/readers.h"
#include "data/synthetic.h"
#include "events/event_log.h"
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

// `marquee dataset import --from-events --base BASE`: a new snapshot holding every row of the
// snapshot BASE followed by every event of $home/events (values and times as logged), so a model
// retrained on it knows the training data and everything served since. Errors: kNotFound when
// BASE or the event log is missing, kInvalidArgument when the log is empty.
nlohmann::json ImportEventsOverBase(const std::string& name, const std::string& base,
                                    const GlobalOptions& g) {
  const std::string home = ResolveHome(g.home);
  DatasetCatalog catalog(home, Env::Default());
  const Dataset b = catalog.Open(base);
  const std::string dir = home + "/events";
  if (!std::filesystem::exists(dir)) {
    Fail(ErrorCode::kNotFound, "no event log in '{}' (POST /v1/events to `marquee serve` first)",
         dir);
  }
  std::vector<RawInteraction> rows;
  rows.reserve(b.num_interactions());
  const auto users = b.users(), items = b.items();
  const auto values = b.values();
  const auto times = b.times();
  for (size_t k = 0; k < users.size(); ++k) {
    rows.push_back(
        {std::string(b.user_id(users[k])), std::string(b.item_id(items[k])), values[k], times[k]});
  }
  EventLogOptions o;
  o.read_only = true;  // allowed while a server appends
  auto log = EventLog::Open(dir, o);
  size_t events = 0;
  log->ForEach([&](const StoredEvent& e) {
    rows.push_back({e.user, e.item, e.value, e.ts});
    ++events;
    return true;
  });
  if (events == 0) Fail(ErrorCode::kInvalidArgument, "the event log in '{}' is empty", dir);
  Dataset ds = Dataset::FromRows(rows, /*has_values=*/true, /*has_times=*/true,
                                 fmt::format("{} + events:{}", base, dir));
  CreateRegistryIfMissing(home);  // before the catalog (commands.h)
  nlohmann::json j = catalog.Import(name, ds).ToJson();
  j["base"] = base;
  j["base_interactions"] = b.num_interactions();
  j["events"] = events;
  return j;
}

void RunImport(const ImportFlags& f, const GlobalOptions& g) {
  if (f.from_events) {
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
  if (f.file.empty())
    Fail(ErrorCode::kInvalidArgument, "give an interaction FILE or --from-events");
  ReadOptions ro;
  ro.format = f.format;
  ro.user_col = f.user_col;
  ro.item_col = f.item_col;
  ro.value_col = f.value_col;
  ro.time_col = f.time_col;
  ro.skip_bad_lines = f.skip_bad_lines;
  if (f.header) ro.header = true;
  if (f.no_header) ro.header = false;
  if (!f.delimiter.empty()) {
    std::string d = f.delimiter == "\\t" || f.delimiter == "tab" ? "\t" : f.delimiter;
    if (d.size() != 1) {
      Fail(ErrorCode::kInvalidArgument, "--delimiter must be one character (or 'tab'), got '{}'",
           f.delimiter);
    }
    ro.delimiter = d[0];
  }
  std::string name = f.name.empty() ? std::filesystem::path(f.file).stem().string() : f.name;
  Stopwatch sw;
  // One progress line for the read (lines of the file); the reader reports every 64Ki lines.
  std::unique_ptr<Progress> progress;
  ro.progress = [&](uint64_t done, uint64_t total) {
    if (!progress)
      progress = std::make_unique<Progress>("import " + name, total, "lines", ProgressOptions(g));
    progress->Set(done);
  };
  ReadResult rr = ReadInteractions(f.file, ro, Env::Default());
  if (progress) progress->Set(rr.lines);
  progress.reset();  // prints the final line (files under 64Ki lines print nothing)
  Dataset ds = Dataset::FromRows(rr.rows, rr.has_values, rr.has_times,
                                 std::filesystem::absolute(f.file).string());
  DatasetCatalog catalog(ResolveHome(g.home), Env::Default());
  CreateRegistryIfMissing(ResolveHome(g.home));  // before the catalog (commands.h)
  DatasetEntry e = catalog.Import(name, ds);
  nlohmann::json j = e.ToJson();
  j["format"] = rr.format;
  j["lines"] = rr.lines;
  j["bad_lines"] = rr.bad_lines;
  j["bad_line_examples"] = rr.bad_line_examples;
  j["seconds"] = sw.Seconds();
  if (f.json) {
    PrintJson(j.dump());
    return;
  }
  std::printf("Imported %s as '%s' (format %s)\n", f.file.c_str(), e.name.c_str(),
              rr.format.c_str());
  std::printf("  snapshot  %s\n  users     %u\n  items     %u\n  rows      %llu\n", e.id.c_str(),
              e.users, e.items, static_cast<unsigned long long>(e.interactions));
  if (rr.bad_lines > 0) {
    std::printf("  skipped   %llu bad lines, e.g.\n",
                static_cast<unsigned long long>(rr.bad_lines));
    for (const auto& m : rr.bad_line_examples) std::printf("    %s\n", m.c_str());
  }
  std::printf("Next: marquee dataset show %s, or train on it with [data] dataset = \"%s\"\n",
              e.name.c_str(), e.name.c_str());
}

void RunShow(const std::string& name, bool json, const GlobalOptions& g) {
  if (ShowTabularDataset(name, json, g)) return;  // a tabular snapshot (cmd_tabular.cc)
  if (ShowBanditDataset(name, json, g)) return;   // a bandit log (cmd_bandit.cc)
  DatasetCatalog catalog(ResolveHome(g.home), Env::Default());
  DatasetEntry e = catalog.Get(name);
  Dataset ds = catalog.Open(name);
  DatasetStats st = ComputeStats(ds);
  if (json) {
    nlohmann::json j = e.ToJson();
    j["stats"] = st.ToJson();
    PrintJson(j.dump());
    return;
  }
  std::printf("Dataset '%s'  snapshot %s\n  source        %s\n  created       %s\n", e.name.c_str(),
              e.id.c_str(), e.source.c_str(), e.created_at.c_str());
  std::printf(
      "  users         %u\n  items         %u\n  interactions  %llu\n  density       %.4f%%\n",
      st.users, st.items, static_cast<unsigned long long>(st.interactions), st.density * 100.0);
  std::printf("  per user      mean %.1f, max %u\n  per item      mean %.1f, max %u\n",
              st.mean_per_user, st.max_per_user, st.mean_per_item, st.max_per_item);
  if (st.has_times) {
    std::printf("  time range    %s .. %s\n", IsoUtc(st.time_min).c_str(),
                IsoUtc(st.time_max).c_str());
  } else {
    std::printf("  time range    (no time column)\n");
  }
  if (st.has_values) {
    std::printf("  values\n");
    uint64_t maxc = 1;
    for (const auto& [k, v] : st.value_histogram) maxc = std::max(maxc, v);
    for (const auto& [k, v] : st.value_histogram) {
      int bar = static_cast<int>(40.0 * static_cast<double>(v) / static_cast<double>(maxc));
      std::printf("    %-14s %10llu  %s\n", k.c_str(), static_cast<unsigned long long>(v),
                  std::string(static_cast<size_t>(bar), '#').c_str());
    }
  } else {
    std::printf("  values        (none: every row is a positive)\n");
  }
}

void RunList(bool json, const GlobalOptions& g) {
  DatasetCatalog catalog(ResolveHome(g.home), Env::Default());
  auto entries = catalog.List();
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& e : entries) arr.push_back(e.ToJson());
    for (const auto& e : ListBanditDatasets(g)) arr.push_back(e);
    PrintJson(nlohmann::json{{"datasets", arr}}.dump());
    return;
  }
  const nlohmann::json bandit_logs = ListBanditDatasets(g);
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
    std::printf("%-24s %-14s %9u %9u %13llu  %s\n", e.name.c_str(), e.id.substr(0, 12).c_str(),
                e.users, e.items, static_cast<unsigned long long>(e.interactions),
                e.created_at.c_str());
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
                  "| obd | bandit-jsonl\n"
                  "(tabular: a CSV of features and a label, for XGBoost; needs --label;\n"
                  " obd: an Open Bandit Dataset campaign CSV with item_context.csv beside it;\n"
                  " bandit-jsonl: a decision log, docs/formats/bandit.md)")
      ->check(CLI::IsMember({"auto", "movielens", "movielens-csv", "movielens-dat", "csv", "tsv",
                             "jsonl", "tabular", "obd", "bandit-jsonl"}));
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
    if (f->format == "tabular") {
      TabularImportFlags t{f->file,      f->name,  f->label, f->time_col, f->id_col,
                           f->delimiter, f->types, f->drop,  f->json};
      RunTabularImport(t, g);
      return;
    }
    if (!f->label.empty() || !f->id_col.empty() || !f->types.empty() || !f->drop.empty()) {
      Fail(ErrorCode::kInvalidArgument,
           "--label, --id-col, --type and --drop need --format tabular");
    }
    if (f->format == "obd" || f->format == "bandit-jsonl") {
      RunBanditImport({f->file, f->name, f->format, f->json}, g);
      return;
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
