// marquee demo: the quickstart's main job. Generates a synthetic dataset (nothing to download,
// nothing with licence limits), trains every recommender family on it with the same protocol,
// prints one comparison table and says what to try next.
#include <cstdio>

#include "commands.h"
#include "common/log.h"
#include "data/catalog.h"
#include "data/synthetic.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "marquee/recommender.h"
#include "pipeline/config.h"
#include "pipeline/train.h"

namespace marquee::cli {

void AddDemoCommand(CLI::App& app, GlobalOptions& g) {
  struct Flags {
    uint32_t users = 3000, items = 1500;
    uint64_t interactions = 150000;
    std::vector<std::string> families = RecommenderFamilies();
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "demo",
      "Generate a synthetic dataset, train every recommender family on it and compare them.\n"
      "This is the Quickstart's main job; it needs nothing but the build.");
  cmd->add_option("--users", f->users, "Synthetic users")->capture_default_str();
  cmd->add_option("--items", f->items, "Synthetic items")->capture_default_str();
  cmd->add_option("--interactions", f->interactions, "Synthetic interactions")
      ->capture_default_str();
  cmd->add_option("--families", f->families, "Families to train")->capture_default_str();
  cmd->add_flag("--json", f->json, "Print the results as one JSON object");
  cmd->callback([f, &g] {
    const std::string home = ResolveHome(g.home);
    // Per-family training logs would drown the comparison table; --log-level debug shows them.
    if (g.log_level != "debug") SetLogLevel("warn");
    const int threads = g.threads > 0 ? g.threads : Context::DefaultThreads();
    SyntheticOptions so;
    so.users = f->users;
    so.items = f->items;
    so.interactions = f->interactions;
    if (!g.quiet) {
      std::fprintf(stderr,
                   "Generating a synthetic dataset: %u users, %u items, %llu interactions\n",
                   so.users, so.items, static_cast<unsigned long long>(so.interactions));
    }
    DatasetCatalog catalog(home, Env::Default());
    CreateRegistryIfMissing(home);  // before the catalog (commands.h)
    DatasetEntry entry = catalog.Import("demo", GenerateSynthetic(so, threads));

    nlohmann::json results = nlohmann::json::array();
    for (const auto& family : f->families) {
      const uint32_t test_users = std::max<uint32_t>(1, so.users / 10);
      std::string toml = fmt::format(
          "[data]\ndataset = \"demo\"\npositive_threshold = 3.5\n"
          "[split]\nprotocol = \"strong-generalization\"\ntest_users = {}\nfold_in = 0.8\n"
          "seed = 98765\n[model]\nfamily = \"{}\"\nname = \"demo-{}\"\n"
          "[eval]\nmetrics = [\"recall@20\", \"ndcg@20\", \"ndcg@100\", \"coverage@20\"]\n",
          test_users, family, family);
      TrainConfig config = ParseTrainConfig(toml, "<string>", {});
      TrainOptions o;
      o.home = home;
      o.ctx.threads = threads;
      if (!g.quiet) std::fprintf(stderr, "Training %s...\n", family.c_str());
      results.push_back(RunTraining(config, o).details);
    }
    if (f->json) {
      PrintJson(nlohmann::json{{"dataset", entry.ToJson()}, {"runs", results}}.dump());
      return;
    }
    std::printf("\nMarquee demo: %u users, %u items, %llu interactions (synthetic, snapshot %s)\n",
                entry.users, entry.items, static_cast<unsigned long long>(entry.interactions),
                entry.id.substr(0, 12).c_str());
    std::printf(
        "Protocol: strong generalization, %u held-out users, 80%% of their items as input\n\n",
        std::max<uint32_t>(1, so.users / 10));
    std::printf("  %-11s %10s %9s %9s %12s %9s\n", "family", "recall@20", "ndcg@20", "ndcg@100",
                "coverage@20", "train s");
    for (const auto& r : results) {
      const auto& m = r["metrics"];
      std::printf("  %-11s %10.4f %9.4f %9.4f %12.4f %9.2f\n",
                  r["family"].get<std::string>().c_str(), m["recall@20"].get<double>(),
                  m["ndcg@20"].get<double>(), m["ndcg@100"].get<double>(),
                  m["coverage@20"].get<double>(), r["timings"]["train"].get<double>());
    }
    std::printf(
        "\nModels are saved under %s/artifacts. What to try next:\n"
        "  1. Import real data:   marquee dataset import ../shared/data/movielens-100k/u.data "
        "--name ml100k\n"
        "  2. Train from config:  marquee train examples/ml100k-ease.toml\n"
        "  3. Tune a parameter:   marquee train examples/ml100k-ease.toml --set model.lambda=300\n"
        "  4. Try another family: marquee train examples/ml100k-ease.toml --set model.family=ials\n"
        "  5. Script it:          add --json for one JSON object on stdout\n",
        home.c_str());
  });
}

}  // namespace marquee::cli
