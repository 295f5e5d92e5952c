// ANN retrieval benchmark (issue #18): HNSW (models/ann_index.h) against exact scoring on a
// synthetic catalogue of a trained iALS model's shape, recall and latency in the same run.
//
//   bench_ann ITEMS DIM RATINGS_CSV [HOME] [--benchmark_...]
//
//   1. iALS (DIM factors, the family's defaults) is trained on RATINGS_CSV (MovieLens
//      ratings.csv: every rating a positive), and every training user is folded in (the query
//      vectors serving computes).
//   2. The synthetic catalogue: ITEMS item rows drawn from the trained item factors'
//      distribution: a Gaussian with their mean and full covariance (so their spectrum), each
//      draw rescaled to the norm of a trained item picked at random (their norm spread).
//      Queries: 1,000 drawn the same way from the folded-in users.
//   3. Exact top-10 of every query (ScoreWithFactors over every item + common/top_k.h: the
//      exact path of serving) is the truth; the index is built with the serving defaults
//      (RetrievalSpec; HNSW_M and HNSW_EF_CONSTRUCTION in the environment override m and
//      ef_construction) on `--threads`-like BUILD_THREADS (env, default 2), timed, with the
//      process's RSS before and after.
//   4. Recall@10 of FactorIndex::TopK against it for ef_search in {50, 100, 200, 400} (or the
//      comma-separated list in EF_SEARCH); then
//      Google Benchmark per-call latencies, one query per call on one thread (a request's
//      work on an io thread): exact, and HNSW at each ef, in ROUNDS rounds (env, default 1);
//      with HUGE_AB=1 the rounds alternate the graph's bottom layer between small and huge
//      pages (FactorIndex::PlaceOnHugePages). Throughput = 1 / median.
//   With QUANTIZATION=none,sq8 (env; default HnswParams's, sq8): one index per entry
//   (HnswParams::quantization:
//      float rows, or the SQ8 graph), each with its recall per ef and its latency rounds beside
//      the others' and exact's, so that the two are compared in one run; BENCH_HTTP_QUANTIZATION
//      names the one saved for bench/ann_wrk.sh's server (default: the last).
//   With GRAPH_DIR=dir (env): the graph is read back from dir when a sound one of this
//      catalogue (named by its sha256) and these settings is saved there, else built and saved
//      there (FactorIndex::Save / Load), so that sweeps of ef need not rebuild it.
//   With L2_ITEMS=N (env): before 3, the choice of space on the first N items: hnswlib's
//      inner-product space against the MIPS-to-L2 transform (Bachrach et al. 2014: each item
//      gets the coordinate sqrt(max_norm² − |x|²), each query 0, so the L2-nearest items are the
//      inner-product best), same m and ef_construction, recall@10 per ef.
//   5. With HOME: the synthetic model is saved as an iALS artifact (item ids i0..) and
//      registered as synth-ann v1 for bench/ann_wrk.sh, and the graph is saved where a server
//      of HOME reads it back (HOME/serving/index, named by the artifact's digest); and
//      HOME/member_histories.jsonl: HIST of the exact top 50 items of each of 200 queries.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_stats.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/top_k.h"
#include "kinds/recommender/model_bundle.h"
#include "marquee/env.h"
#include "marquee/recommender.h"
#include "models/ann_index.h"
#include "models/artifact.h"
#include "models/ials/factor_math.h"
#include "registry/registry.h"

namespace {

using marquee::CsrMatrix;
using marquee::RowMatrixXf;

double RssMiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

CsrMatrix ReadRatings(const std::string& path) {
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "bench_ann: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::string line;
  std::getline(f, line);  // header
  std::unordered_map<std::string, uint32_t> users, items;
  std::vector<uint32_t> r, c;
  while (std::getline(f, line)) {
    std::stringstream s(line);
    std::string u, i;
    if (!std::getline(s, u, ',') || !std::getline(s, i, ',')) continue;
    r.push_back(users.emplace(u, static_cast<uint32_t>(users.size())).first->second);
    c.push_back(items.emplace(i, static_cast<uint32_t>(items.size())).first->second);
  }
  return CsrMatrix::FromTriplets(static_cast<uint32_t>(users.size()),
                                 static_cast<uint32_t>(items.size()), r, c, {});
}

// Rows drawn from the distribution of `rows` (n x d): N(mean, covariance), each rescaled to the
// norm of a row of `rows` picked at random.
RowMatrixXf DrawLike(const RowMatrixXf& rows, size_t n, uint64_t seed) {
  const Eigen::Index d = rows.cols();
  const Eigen::MatrixXd x = rows.cast<double>();
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const Eigen::MatrixXd centred = x.rowwise() - mean;
  Eigen::MatrixXd cov = centred.transpose() * centred / static_cast<double>(x.rows() - 1);
  cov.diagonal().array() += 1e-12;
  const Eigen::MatrixXd l = Eigen::LLT<Eigen::MatrixXd>(cov).matrixL();
  std::vector<double> norms(static_cast<size_t>(x.rows()));
  for (Eigen::Index i = 0; i < x.rows(); ++i) norms[static_cast<size_t>(i)] = x.row(i).norm();
  marquee::Rng rng(seed);
  RowMatrixXf out(static_cast<Eigen::Index>(n), d);
  Eigen::VectorXd g(d);
  for (size_t i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < d; ++j) g[j] = rng.Normal();
    const Eigen::RowVectorXd v = mean + (l * g).transpose();
    const double target = norms[rng.Uniform(norms.size())];
    out.row(static_cast<Eigen::Index>(i)) = (v * (target / v.norm())).cast<float>();
  }
  return out;
}

// Recall@10 per ef and build time of hnswlib's inner-product space and of the MIPS-to-L2
// transform (HnswParams::l2_transform) on the first n rows of `cat`.
void CompareSpaces(const RowMatrixXf& cat, size_t n, const RowMatrixXf& queries, int threads) {
  const int d = static_cast<int>(cat.cols());
  const size_t nq = std::min<size_t>(200, static_cast<size_t>(queries.rows()));
  std::vector<std::vector<uint32_t>> truth(nq);
  std::vector<float> s(n);
  for (size_t q = 0; q < nq; ++q) {
    marquee::ScoreWithFactors(queries.row(static_cast<Eigen::Index>(q)).data(), 1, cat.data(),
                              static_cast<Eigen::Index>(n), d, s.data(), n);
    marquee::TopK(s, {}, 10, truth[q]);
  }
  for (bool l2 : {false, true}) {
    marquee::HnswParams p;
    p.threads = threads;
    p.l2_transform = l2;
    auto index = marquee::FactorIndex::Build(
        {cat.data(), static_cast<uint32_t>(n), static_cast<uint32_t>(d)}, p);
    for (uint32_t ef : {50, 100, 200, 400, 800}) {
      size_t hit = 0;
      std::vector<uint32_t> got;
      std::vector<float> scores;
      marquee::Stopwatch qs;
      for (size_t q = 0; q < nq; ++q) {
        index->TopK(queries.row(static_cast<Eigen::Index>(q)).data(), 10, {}, nullptr, got, scores,
                    ef);
        for (uint32_t i : got) hit += std::count(truth[q].begin(), truth[q].end(), i);
      }
      std::printf("space %s on %zu items (built in %.1f s): ef %u recall@10 %.4f, %.3f ms/query\n",
                  l2 ? "l2-transform" : "inner-product", n, index->build_seconds(), ef,
                  static_cast<double>(hit) / static_cast<double>(nq * 10),
                  qs.Seconds() * 1000 / static_cast<double>(nq));
    }
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_ann ITEMS DIM RATINGS_CSV [HOME] [--benchmark_...]\n");
    return 2;
  }
  const size_t items = std::stoul(argv[1]);
  const int dim = std::stoi(argv[2]);
  const std::string ratings = argv[3];
  const std::string home = argc > 4 ? argv[4] : "";
  const int build_threads =
      std::getenv("BUILD_THREADS") ? std::atoi(std::getenv("BUILD_THREADS")) : 2;
  constexpr size_t kQueries = 1000;
  constexpr uint32_t kK = 10;

  // 1. The trained model whose shape the catalogue takes.
  const CsrMatrix x = ReadRatings(ratings);
  auto ials = marquee::CreateRecommender("ials", {{"factors", dim}});
  marquee::Context ctx;
  ctx.threads = 2;
  marquee::Stopwatch fit;
  ials->Fit(x, ctx);
  const marquee::ItemFactors tf = ials->item_factors();
  const RowMatrixXf trained_items = Eigen::Map<const RowMatrixXf>(
      tf.data, static_cast<Eigen::Index>(tf.items), static_cast<Eigen::Index>(tf.dim));
  RowMatrixXf trained_users(x.rows, dim);
  ials->FoldIn(x, {trained_users.data(), static_cast<size_t>(trained_users.size())}, ctx);
  std::printf("trained: iALS %d factors on %s (%u users x %u items, %zu positives) in %.1f s\n",
              dim, ratings.c_str(), x.rows, x.cols, static_cast<size_t>(x.nnz()), fit.Seconds());

  // 2. The synthetic catalogue and queries.
  marquee::Stopwatch draw;
  const RowMatrixXf cat = DrawLike(trained_items, items, 1);
  const RowMatrixXf queries = DrawLike(trained_users, kQueries, 2);
  std::printf("catalogue: %zu items x %d factors (%.0f MiB) and %zu queries drawn in %.1f s\n",
              items, dim, static_cast<double>(cat.size()) * 4 / 1048576.0, kQueries,
              draw.Seconds());
  const marquee::ItemFactors f{cat.data(), static_cast<uint32_t>(items),
                               static_cast<uint32_t>(dim)};

  if (const char* l2 = std::getenv("L2_ITEMS"); l2 != nullptr && std::atol(l2) > 0) {
    CompareSpaces(cat, std::min<size_t>(items, std::stoul(l2)), queries, build_threads);
  }

  // 3. Exact truth, then the index.
  std::vector<std::vector<uint32_t>> truth(kQueries);
  {
    marquee::Stopwatch sw;
    marquee::ParallelFor(kQueries, 2, [&](size_t b, size_t e, int) {
      std::vector<float> s(items);
      for (size_t q = b; q < e; ++q) {
        marquee::ScoreWithFactors(queries.row(static_cast<Eigen::Index>(q)).data(), 1, cat.data(),
                                  static_cast<Eigen::Index>(items), dim, s.data(), items);
        marquee::TopK(s, {}, kK, truth[q]);
      }
    });
    std::printf("exact top-%u of %zu queries on 2 threads: %.1f s\n", kK, kQueries, sw.Seconds());
  }
  marquee::HnswParams p;      // the serving defaults (core/servable.h RetrievalSpec) unless
  p.threads = build_threads;  // HNSW_M / HNSW_EF_CONSTRUCTION say otherwise
  if (const char* m = std::getenv("HNSW_M")) p.m = static_cast<uint32_t>(std::atoi(m));
  if (const char* ef = std::getenv("HNSW_EF_CONSTRUCTION")) {
    p.ef_construction = static_cast<uint32_t>(std::atoi(ef));
  }
  if (const char* h = std::getenv("HUGE_PAGES")) p.huge_pages = std::atoi(h) != 0;
  std::vector<marquee::HnswQuantization> kinds;
  {
    std::stringstream in(std::getenv("QUANTIZATION")
                             ? std::getenv("QUANTIZATION")
                             : marquee::HnswQuantizationName(p.quantization));
    for (std::string v; std::getline(in, v, ',');) {
      kinds.push_back(marquee::ParseHnswQuantization(v));
    }
  }
  std::vector<std::unique_ptr<marquee::FactorIndex>> indexes;
  for (marquee::HnswQuantization kind : kinds) {
    p.quantization = kind;
    const double rss_before = RssMiB();
    std::unique_ptr<marquee::FactorIndex> index;
    std::string graph_path;
    if (const char* dir = std::getenv("GRAPH_DIR")) {
      const std::string digest = marquee::Sha256Hex(std::string_view(
          reinterpret_cast<const char*>(cat.data()), static_cast<size_t>(cat.size()) * 4));
      graph_path = marquee::SavedGraphPath(dir, digest, p);
      index = marquee::FactorIndex::Load(f, p, graph_path, marquee::Env::Default());
    }
    if (index == nullptr) {
      index = marquee::FactorIndex::Build(f, p);
      if (!graph_path.empty()) {
        std::filesystem::create_directories(std::filesystem::path(graph_path).parent_path());
        marquee::Stopwatch sw;
        index->Save(graph_path, marquee::Env::Default());
        std::printf("saved the graph to %s in %.1f s\n", graph_path.c_str(), sw.Seconds());
      }
    }
    const double rss_after = RssMiB();
    std::printf(
        "index %s: HNSW m %u, ef_construction %u, %d build threads: %s %.1f s; RSS %.0f -> %.0f "
        "MiB (+%.0f MiB; the index counts %.0f MiB, %zu bytes)\n",
        marquee::HnswQuantizationName(kind), p.m, p.ef_construction, p.threads,
        index->loaded() ? "read back in" : "built in",
        index->loaded() ? index->load_seconds() : index->build_seconds(), rss_before, rss_after,
        rss_after - rss_before, static_cast<double>(index->memory_bytes()) / 1048576.0,
        index->memory_bytes());
    std::fflush(stdout);
    indexes.push_back(std::move(index));
  }
  // The name of an index in the output: "hnsw" for float rows (as before), "sq8" for SQ8.
  auto label = [&](size_t x) {
    return std::string(kinds[x] == marquee::HnswQuantization::kSq8 ? "sq8" : "hnsw");
  };

  // 4. Recall per ef, then latencies.
  std::vector<uint32_t> efs = {50, 100, 200, 400};
  if (const char* list = std::getenv("EF_SEARCH")) {  // e.g. EF_SEARCH=150,200,250
    efs.clear();
    std::stringstream in(list);
    for (std::string v; std::getline(in, v, ',');) {
      if (std::atoi(v.c_str()) > 0) efs.push_back(static_cast<uint32_t>(std::atoi(v.c_str())));
    }
  }
  for (size_t x = 0; x < indexes.size(); ++x) {
    for (uint32_t ef : efs) {
      size_t hit = 0;
      std::vector<uint32_t> got;
      std::vector<float> scores;
      for (size_t q = 0; q < kQueries; ++q) {
        indexes[x]->TopK(queries.row(static_cast<Eigen::Index>(q)).data(), kK, {}, nullptr, got,
                         scores, ef);
        for (uint32_t i : got) hit += std::count(truth[q].begin(), truth[q].end(), i);
      }
      std::printf("%s recall@%u ef_search %u: %.4f\n", label(x).c_str(), kK, ef,
                  static_cast<double>(hit) / static_cast<double>(kQueries * kK));
    }
  }
  std::fflush(stdout);
  // Latency rounds (ROUNDS, default 1): exact, then HNSW at each ef. With HUGE_AB=1 the rounds
  // alternate the graph's bottom layer between small pages and huge pages
  // (FactorIndex::PlaceOnHugePages), so the two placements are measured on one graph.
  const int rounds = std::getenv("ROUNDS") ? std::max(1, std::atoi(std::getenv("ROUNDS"))) : 1;
  const bool huge_ab = std::getenv("HUGE_AB") && std::atoi(std::getenv("HUGE_AB")) == 1;
  size_t next = 0;
  std::vector<float> scores_buf(items);
  std::vector<uint32_t> top;
  for (int round = 0; round < 2 * rounds; ++round) {
    if (!huge_ab && round >= rounds) break;
    std::string suffix;
    if (huge_ab) {
      const bool huge = round % 2 == 1;
      suffix = huge ? "/pages:huge" : "/pages:small";
    }
    if (rounds > 1 || huge_ab) suffix += "/round:" + std::to_string(huge_ab ? round / 2 : round);
    if (huge_ab) {
      // Benchmarks run in the order registered (one RunSpecifiedBenchmarks: Debian's Google
      // Benchmark crashes when it is called twice), so the move is a one-iteration
      // benchmark of its own ahead of the round: its time is the copy's.
      const bool huge = round % 2 == 1;
      benchmark::RegisterBenchmark(("place" + suffix).c_str(),
                                   [&indexes, huge](benchmark::State& state) {
                                     for (auto _ : state) {
                                       for (auto& index : indexes) index->PlaceOnHugePages(huge);
                                     }
                                   })
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
    }
    marquee::bench::RegisterPerCall(
        "exact/items:" + std::to_string(items) + suffix,
        [&] {
          const float* q = queries.row(static_cast<Eigen::Index>(next++ % kQueries)).data();
          marquee::ScoreWithFactors(q, 1, cat.data(), static_cast<Eigen::Index>(items), dim,
                                    scores_buf.data(), items);
          marquee::TopK(scores_buf, {}, kK, top);
          benchmark::DoNotOptimize(top.data());
        },
        60, 3)
        ->Unit(benchmark::kMillisecond);
    for (size_t x = 0; x < indexes.size(); ++x) {
      for (uint32_t ef : efs) {
        marquee::bench::RegisterPerCall(
            label(x) + "/items:" + std::to_string(items) + "/ef:" + std::to_string(ef) + suffix,
            [&, ef, x] {
              std::vector<uint32_t> got;
              std::vector<float> scores;
              indexes[x]->TopK(queries.row(static_cast<Eigen::Index>(next++ % kQueries)).data(), kK,
                               {}, nullptr, got, scores, ef);
              benchmark::DoNotOptimize(got.data());
            },
            2000, 50)
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  // 5. The synthetic model for the HTTP benchmark.
  if (!home.empty()) {
    const std::string tmp = home + "/synth-ann.mqa";
    std::filesystem::create_directories(home);
    {
      marquee::ArtifactWriter w("ials", {{"params", {{"factors", dim}}}});
      w.Add<float>("item_factors", {cat.data(), static_cast<size_t>(cat.size())},
                   {static_cast<uint64_t>(items), static_cast<uint64_t>(dim)});
      w.Add<float>("user_factors", {queries.data(), static_cast<size_t>(dim)},
                   {1, static_cast<uint64_t>(dim)});
      w.Write(tmp, marquee::Env::Default());
    }
    auto model = marquee::CreateRecommender("ials", {{"factors", dim}});
    model->Load(*marquee::ArtifactReader::Open(tmp, marquee::Env::Default()));
    std::vector<std::string> ids(items);
    for (size_t i = 0; i < items; ++i) ids[i] = "i" + std::to_string(i);
    marquee::Registry reg(home);
    std::string digest;
    marquee::SaveModelBundle(*model, ids, {{"synthetic", "bench_ann"}}, home,
                             marquee::Env::Default(), &digest);
    std::filesystem::remove(tmp);
    marquee::NewVersion nv;
    nv.model_name = "synth-ann";
    nv.artifact = digest;
    nv.family = "ials";
    nv.created_at = 1;
    std::printf("registered synth-ann v%lld in %s\n",
                static_cast<long long>(reg.store().RegisterVersion(nv).version), home.c_str());
    // The graph measured above (BENCH_HTTP_QUANTIZATION's, default the last), saved where a
    // server of this home looks for it (kinds/recommender/servable.cc), so bench/ann_wrk.sh's
    // server reads it instead of building it again: the same rows, the same settings.
    size_t served = indexes.size() - 1;
    if (const char* q = std::getenv("BENCH_HTTP_QUANTIZATION")) {
      const auto want = marquee::ParseHnswQuantization(q);
      for (size_t x = 0; x < kinds.size(); ++x) {
        if (kinds[x] == want) served = x;
      }
    }
    p.quantization = kinds[served];
    const std::string graph = marquee::SavedGraphPath(home + "/serving/index", digest, p);
    std::filesystem::create_directories(home + "/serving/index");
    indexes[served]->Save(graph, marquee::Env::Default());
    std::printf("saved the graph for serving to %s\n", graph.c_str());

    // Member-like histories for bench/ann_wrk.sh (HOME/member_histories.jsonl, one JSON array
    // of item ids a line): for each of the first 200 queries, HIST (env, default 10) items drawn
    // from its exact top 50, as a member's plays are items their taste ranks high. Their
    // fold-ins point where the in-process queries do, unlike histories of random items.
    const size_t hist = std::getenv("HIST") != nullptr ? std::stoul(std::getenv("HIST")) : 10;
    std::mt19937_64 rng(17);
    std::ofstream out(home + "/member_histories.jsonl");
    std::vector<float> s(items);
    std::vector<uint32_t> top;
    for (size_t q = 0; q < std::min<size_t>(200, kQueries); ++q) {
      marquee::ScoreWithFactors(queries.row(static_cast<Eigen::Index>(q)).data(), 1, cat.data(),
                                static_cast<Eigen::Index>(items), dim, s.data(), items);
      marquee::TopK(s, {}, 50, top);
      std::shuffle(top.begin(), top.end(), rng);
      out << '[';
      for (size_t j = 0; j < std::min(hist, top.size()); ++j) {
        out << (j > 0 ? "," : "") << "\"i" << top[j] << '"';
      }
      out << "]\n";
    }
    std::printf("wrote %s/member_histories.jsonl\n", home.c_str());
  }
  return 0;
}
