// marquee: the command-line interface. Parses flags, calls the library, and maps errors to exit
// codes in one place (marquee::ExitCodeFor). No logic lives here.
#include <cstdio>
#include <exception>

#include "commands.h"
#include "common/log.h"
#include "marquee/error.h"

int main(int argc, char** argv) {
  using marquee::cli::GlobalOptions;
  CLI::App app{
      "Marquee: develop, deploy and improve personalization models.\n\n"
      "Start with `marquee demo` (trains every recommender family on a built-in synthetic\n"
      "dataset), then import your own data with `marquee dataset import` and train from a\n"
      "config file with `marquee train CONFIG.toml`. Every command takes --help and --json.",
      "marquee"};
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions g;
  app.add_option("--home", g.home,
                 "Home directory for datasets and models (default: $MARQUEE_HOME or ./.marquee)");
  app.add_option("--threads", g.threads, "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("-q,--quiet", g.quiet, "No progress output on stderr");
  app.add_option("--log-level", g.log_level, "error | warn | info | debug")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}));
  app.set_version_flag("--version", std::string("marquee ") + MARQUEE_VERSION);
  app.parse_complete_callback([&] { marquee::SetLogLevel(g.quiet ? "warn" : g.log_level); });

  marquee::cli::AddDatasetCommands(app, g);
  marquee::cli::AddTrainCommand(app, g);
  marquee::cli::AddDemoCommand(app, g);
  marquee::cli::AddRegistryCommands(app, g);
  marquee::cli::AddServeCommand(app, g);
  marquee::cli::AddPredictCommand(app, g);
  marquee::cli::AddDecisionsCommands(app, g);
  marquee::cli::AddBanditCommands(app, g);  // ope, simulate bandit
  // Last: joins the `simulate` and `experiments` groups whoever created them first.
  marquee::cli::AddExperimentSimCommands(app, g);
  marquee::cli::AddExperimentCommands(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "marquee: error: %s (run with --help for usage)\n", e.what());
    return marquee::ExitCodeFor(marquee::ErrorCode::kInvalidArgument);
  } catch (const marquee::Error& e) {
    std::fprintf(stderr, "marquee: error: %s\n", e.what());
    return marquee::ExitCodeFor(e.code());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "marquee: error: out of memory\n");
    return marquee::ExitCodeFor(marquee::ErrorCode::kResourceExhausted);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "marquee: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
