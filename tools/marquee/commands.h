// Subcommand registration for the marquee CLI. Each Add*Command defines its flags on `app` and
// sets a callback that calls the library; errors propagate to main() as marquee::Error.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace marquee::cli {

// Options shared by every subcommand (declared on the root app, usable after the subcommand).
struct GlobalOptions {
  std::string home;    // --home (else $MARQUEE_HOME, else ./.marquee)
  int threads = 0;     // --threads (0: all cores)
  bool quiet = false;  // --quiet: no progress on stderr
  std::string log_level = "info";
};

void AddDatasetCommands(CLI::App& app, GlobalOptions& g);
void AddTrainCommand(CLI::App& app, GlobalOptions& g);
void AddDemoCommand(CLI::App& app, GlobalOptions& g);
// marquee runs ..., marquee models ..., marquee gc (the model registry).
void AddRegistryCommands(CLI::App& app, GlobalOptions& g);
// marquee serve (src/serving, src/events).
void AddServeCommand(CLI::App& app, GlobalOptions& g);
// `marquee dataset import --from-events`: snapshots $home/events (read-only view, allowed while
// a server runs) as dataset `name`; returns the catalog entry as JSON plus "events".
nlohmann::json ImportEventLog(const std::string& name, const GlobalOptions& g);

// Tabular data and models (cmd_tabular.cc): `dataset import --format tabular`, tabular
// `dataset show`, `models import`, and `marquee predict`.
struct TabularImportFlags {
  std::string file, name, label, time_col, id_col, delimiter;
  std::vector<std::string> types, drop;  // --type COL=TYPE, --drop COL
  bool json = false;
};
void RunTabularImport(const TabularImportFlags& f, const GlobalOptions& g);
// Shows the tabular dataset `name` and returns true, or returns false if there is none.
bool ShowTabularDataset(const std::string& name, bool json, const GlobalOptions& g);
void AddModelsImportCommand(CLI::App& models, GlobalOptions& g);
void AddPredictCommand(CLI::App& app, GlobalOptions& g);

// Prints one JSON document on stdout (the only thing --json writes there).
void PrintJson(const std::string& json_text);

}  // namespace marquee::cli
