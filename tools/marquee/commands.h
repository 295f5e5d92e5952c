// Subcommand registration for the marquee CLI. Each Add*Command defines its flags on `app` and
// sets a callback that calls the library; errors propagate to main() as marquee::Error.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

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

// Prints one JSON document on stdout (the only thing --json writes there).
void PrintJson(const std::string& json_text);

}  // namespace marquee::cli
