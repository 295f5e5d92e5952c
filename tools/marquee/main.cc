// marquee: the command-line interface. Parses flags, calls the library, and maps errors to exit
// codes in one place (marquee::ExitCodeFor). No logic lives here.
//
// Errors: every failure ends here, in the one catch below. It prints one readable line on stderr
// ("marquee: error: ...") and, when --json was given anywhere on the command line, also one JSON
// object on stdout: {"error": {"code": "not_found", "message": "..."}}. The exit status is the
// same either way (the table is in kExitCodeHelp, docs/cli.md and src/common/error.cc).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "common/log.h"
#include "common/text.h"
#include "marquee/error.h"

namespace marquee::cli {
namespace {

bool g_json_printed = false;  // set by PrintJson; commands print from the main thread only

}  // namespace

FatalErrorHook& OnFatalError() {
  static FatalErrorHook hook;
  return hook;
}

void PrintJson(const std::string& json_text) {
  std::printf("%s\n", json_text.c_str());
  std::fflush(stdout);
  g_json_printed = true;
}

namespace {

// Levenshtein distance, for "did you mean" suggestions (short strings only).
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string ClosestName(std::string_view word, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& n : names) {
    size_t d = EditDistance(word, n);
    // A prefix ("promo" for "promote") is a good match too.
    if (n.size() > word.size() && n.compare(0, word.size(), word) == 0 && word.size() >= 3) d = 1;
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  // Suggest only plausible typos: at most a third of the word changed (and at least 1 edit).
  if (best_d == std::string::npos || best_d > std::max<size_t>(1, (word.size() + 2) / 3)) {
    return "";
  }
  return best;
}

}  // namespace
}  // namespace marquee::cli

namespace {

constexpr const char* kExitCodeHelp =
    "Exit codes: 0 ok, 1 internal error (a bug), 2 invalid argument (bad flag, config key,\n"
    "input line; unknown command), 3 not found (file, dataset, model, run), 4 already exists,\n"
    "5 failed precondition, 6 corruption, 7 I/O error, 8 unimplemented, 9 resource exhausted,\n"
    "10 permission denied, 11 unauthenticated, 12 unavailable, 13 internal.\n"
    "With --json, an error is also printed on stdout as\n"
    "{\"error\": {\"code\": \"not_found\", \"message\": \"...\"}}. See docs/cli.md.\n";

// True when "--json" appears among the arguments (before a "--" separator). Scanned here, not
// read from the parsed flags, so that an error found while parsing is JSON too.
bool WantsJson(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) return false;
    if (std::strcmp(argv[i], "--json") == 0) return true;
  }
  return false;
}

// argv with every "--json" before a "--" removed and one "--json" put back at the end of that
// part (nothing changes without --json). The pointers stay argv's.
std::vector<char*> MoveJsonLast(int argc, char** argv) {
  std::vector<char*> head, tail;
  char* json = nullptr;
  for (int i = 0; i < argc; ++i) {
    if (!tail.empty() || (i > 0 && std::strcmp(argv[i], "--") == 0)) {
      tail.push_back(argv[i]);
    } else if (i > 0 && std::strcmp(argv[i], "--json") == 0) {
      json = argv[i];
    } else {
      head.push_back(argv[i]);
    }
  }
  if (json != nullptr) head.push_back(json);
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

// The deepest subcommand the parser entered (the root app when none).
CLI::App* DeepestParsed(CLI::App* app) {
  for (;;) {
    auto subs = app->get_subcommands();
    if (subs.empty()) return app;
    app = subs.front();
  }
}

std::string CommandPath(const CLI::App* app) {
  std::string path;
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    path = path.empty() ? a->get_name() : a->get_name() + " " + path;
  }
  return path;
}

// After a parse error: when the deepest command entered is a group (it has subcommands) and
// the first word left over is not an option, that word is an unknown command. Returns the
// message naming it (with the closest known name), or "" when that is not the case.
std::string UnknownCommandMessage(CLI::App& app) {
  CLI::App* group = DeepestParsed(&app);
  auto subs = group->get_subcommands([](const CLI::App*) { return true; });
  if (subs.empty()) return "";
  std::string word;
  for (const auto& r : app.remaining(true)) {
    if (!r.empty() && r[0] != '-') {
      word = r;
      break;
    }
    if (!r.empty() && r[0] == '-') return "";  // an unknown option comes first: CLI11 names it
  }
  if (word.empty()) return "";
  std::vector<std::string> names;
  for (const CLI::App* s : subs) {
    if (!s->get_name().empty()) names.push_back(s->get_name());
  }
  std::string msg = fmt::format("unknown command '{}'", marquee::QuoteForMessage(word, 64));
  if (group != &app) msg += fmt::format(" for '{}'", CommandPath(group));
  const std::string best = marquee::cli::ClosestName(word, names);
  if (!best.empty()) {
    msg += fmt::format(" (did you mean '{}'?)", best);
  } else {
    msg += fmt::format(" (known: {})", fmt::join(names, ", "));
  }
  return msg;
}

// Prints the error (stderr line; JSON on stdout with --json) and returns the exit status.
int ReportError(bool json, marquee::ErrorCode code, const std::string& message, int status,
                const char* prefix = "error") {
  const std::string line = marquee::EscapeForTerminal(message);
  std::fprintf(stderr, "marquee: %s: %s\n", prefix, line.c_str());
  const auto& hook = marquee::cli::OnFatalError();
  if (json && !marquee::cli::g_json_printed && !hook.quiet_stdout) {
    nlohmann::json j = {{"error",
                         {{"code", std::string(marquee::ErrorCodeName(code))},
                          {"message", marquee::SanitizeUtf8(message)}}}};
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  std::fflush(stderr);
  if (hook.abort) hook.abort(status);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  using marquee::ErrorCode;
  using marquee::ExitCodeFor;
  using marquee::cli::GlobalOptions;
  CLI::App app{
      "Marquee: develop, deploy and improve personalization models.\n\n"
      "Start with `marquee demo` (trains every recommender family on a built-in synthetic\n"
      "dataset), then import your own data with `marquee dataset import` and train from a\n"
      "config file with `marquee train CONFIG.toml`. Every command takes --help and --json.",
      "marquee"};
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(kExitCodeHelp);
  GlobalOptions g;
  app.add_option("--home", g.home,
                 "Home directory for datasets and models (default: $MARQUEE_HOME or ./.marquee)");
  app.add_option("--threads", g.threads, "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("-q,--quiet", g.quiet, "No progress output on stderr");
  app.add_option("--log-level", g.log_level, "error | warn | info | debug")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}));
  // Commands with their own --json take it first; the others (whose output is JSON anyway, or
  // which print nothing on success) accept it here, so --json is valid everywhere.
  app.add_flag("--json", g.json, "Machine-readable output: one JSON document on stdout");
  app.add_option("--server", g.server,
                 "Act on a running `marquee serve` (http://HOST:PORT) instead of the local home:\n"
                 "runs list|show|compare, models list|show|versions|diff|tag|promote|rollback,\n"
                 "experiments list|show|create|start|stop|analyze, train (as a job), dataset\n"
                 "list|show|import|delete and decisions export print what they print locally\n"
                 "(default: $MARQUEE_SERVER)");
  app.add_option("--api-key", g.api_key,
                 "The key sent to --server (Authorization: Bearer; default: $MARQUEE_API_KEY)");
  // The backends (registry/backend_url.h): passed on through the environment, so every command,
  // `marquee serve` and the processes they start resolve them in the one place.
  std::string registry_url, state_url, backends_file;
  app.add_option("--registry", registry_url,
                 "The registry: sqlite:///path/registry.db or postgresql://user@host:port/db\n"
                 "(default: $MARQUEE_REGISTRY, else `registry =` in the config, else the home's)");
  app.add_option("--state", state_url,
                 "The online state (events, decisions): redis://host:port[/db] or rocksdb://\n"
                 "(default: $MARQUEE_STATE, else `state =` in the config, else the home's)");
  app.add_option("--config", backends_file,
                 "The backends' config file (default: $MARQUEE_CONFIG, else HOME/marquee.toml)");
  app.set_version_flag("--version", std::string("marquee ") + MARQUEE_VERSION);

  marquee::cli::AddDatasetCommands(app, g);
  marquee::cli::AddTrainCommand(app, g);
  marquee::cli::AddDemoCommand(app, g);
  marquee::cli::AddRegistryCommands(app, g);
  marquee::cli::AddServeCommand(app, g);
  marquee::cli::AddDeployCommands(app, g);
  marquee::cli::AddPredictCommand(app, g);
  marquee::cli::AddDecisionsCommands(app, g);
  marquee::cli::AddTuneCommands(app, g);
  marquee::cli::AddPipelineCommands(app, g);
  marquee::cli::AddBanditCommands(app, g);  // ope, simulate bandit
  // Last: joins the `simulate` and `experiments` groups whoever created them first.
  marquee::cli::AddExperimentSimCommands(app, g);
  marquee::cli::AddExperimentCommands(app, g);

  const bool json = WantsJson(argc, argv);
  g.json = json;
  // `marquee --json runs list` means the same as `marquee runs list --json`: the flag moves to
  // the end (before a "--"), where the command's own --json flag, if it has one, takes it.
  std::vector<char*> args = MoveJsonLast(argc, argv);
  if (const char* s = std::getenv("MARQUEE_SERVER"); s != nullptr) g.server = s;
  if (const char* k = std::getenv("MARQUEE_API_KEY"); k != nullptr) g.api_key = k;
  // Commands with a remote form (tools/marquee/control_source.h); any other command refuses
  // --server rather than quietly acting on the local home.
  app.parse_complete_callback([&] {
    marquee::SetLogLevel(g.quiet ? "warn" : g.log_level);
    if (!registry_url.empty()) setenv("MARQUEE_REGISTRY", registry_url.c_str(), 1);
    if (!state_url.empty()) setenv("MARQUEE_STATE", state_url.c_str(), 1);
    if (!backends_file.empty()) setenv("MARQUEE_CONFIG", backends_file.c_str(), 1);
    if (g.server.empty()) return;
    const std::string path = CommandPath(DeepestParsed(&app));
    static const char* const kRemote[] = {"marquee runs list",
                                          "marquee runs show",
                                          "marquee runs compare",
                                          "marquee models list",
                                          "marquee models show",
                                          "marquee models versions",
                                          "marquee models diff",
                                          "marquee models tag",
                                          "marquee models promote",
                                          "marquee models rollback",
                                          "marquee experiments list",
                                          "marquee experiments show",
                                          "marquee experiments create",
                                          "marquee experiments start",
                                          "marquee experiments stop",
                                          "marquee experiments analyze",
                                          "marquee train",
                                          "marquee dataset list",
                                          "marquee dataset show",
                                          "marquee dataset import",
                                          "marquee dataset delete",
                                          "marquee decisions export"};
    for (const char* r : kRemote) {
      if (path == r) return;
    }
    marquee::Fail(ErrorCode::kInvalidArgument,
                  "'{}' has no --server form (the API has no route for it); run it where the "
                  "home is (remote: runs list|show|compare, models "
                  "list|show|versions|diff|tag|promote|rollback, experiments "
                  "list|show|create|start|stop|analyze, train, dataset list|show|import|delete, "
                  "decisions export)",
                  path);
  });
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string unknown = UnknownCommandMessage(app);
    std::string message =
        unknown.empty() ? fmt::format("{} (run with --help for usage)", e.what()) : unknown;
    return ReportError(json, ErrorCode::kInvalidArgument, message,
                       ExitCodeFor(ErrorCode::kInvalidArgument));
  } catch (const marquee::Error& e) {
    return ReportError(json, e.code(), e.what(), ExitCodeFor(e.code()));
  } catch (const std::bad_alloc&) {
    return ReportError(json, ErrorCode::kResourceExhausted, "out of memory",
                       ExitCodeFor(ErrorCode::kResourceExhausted));
  } catch (const std::exception& e) {
    return ReportError(json, ErrorCode::kInternal, e.what(), 1, "internal error");
  }
  return 0;
}
