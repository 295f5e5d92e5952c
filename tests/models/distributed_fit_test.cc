// The distribution seams of iALS, BPR and EASE (issue #18) without MPI: ThreadRanks runs N
// "ranks" as threads of this process over a test-only Communicator (shared buffers and a
// barrier), so these tests run wherever the families build. tests/mpi/test_mpi.py checks the
// same properties through mpirun and OpenMPI.
#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "common/communicator.h"
#include "common/shard.h"
#include "model_test_util.h"

namespace marquee {
namespace {

// N ranks as threads. Each collective publishes every rank's buffer, waits for all, reads the
// others' data, waits again (nobody writes before everybody has read), then writes its own.
// Sums run in rank order, so every rank computes the same values.
class ThreadRanks {
 public:
  explicit ThreadRanks(int n) : n_(n), buffers_(static_cast<size_t>(n)), sync_(n) {}

  class Comm final : public Communicator {
   public:
    Comm(ThreadRanks* group, int rank) : g_(group), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return g_->n_; }
    void AllReduceSum(std::span<double> d) override { Sum(d); }
    void AllReduceSum(std::span<float> d) override { Sum(d); }
    void AllGather(std::span<float> d, std::span<const uint64_t> offsets) override {
      Publish(d.data());
      std::vector<float> mine(d.begin(), d.end());
      for (int r = 0; r < size(); ++r) {
        if (r == rank_) continue;
        const auto* src = static_cast<const float*>(g_->buffers_[static_cast<size_t>(r)]);
        for (uint64_t i = offsets[static_cast<size_t>(r)]; i < offsets[static_cast<size_t>(r) + 1];
             ++i) {
          mine[i] = src[i];
        }
      }
      g_->sync_.arrive_and_wait();
      std::copy(mine.begin(), mine.end(), d.begin());
    }
    void Broadcast(std::span<std::byte> d, int root) override {
      Publish(d.data());
      std::vector<std::byte> copy(d.size());
      const auto* src = static_cast<const std::byte*>(g_->buffers_[static_cast<size_t>(root)]);
      std::copy(src, src + d.size(), copy.begin());
      g_->sync_.arrive_and_wait();
      std::copy(copy.begin(), copy.end(), d.begin());
    }
    void Barrier() override { g_->sync_.arrive_and_wait(); }
    [[noreturn]] void Abort(int) override { std::terminate(); }

   private:
    void Publish(void* p) {
      g_->buffers_[static_cast<size_t>(rank_)] = p;
      g_->sync_.arrive_and_wait();
    }
    template <typename T>
    void Sum(std::span<T> d) {
      Publish(d.data());
      std::vector<T> sum(d.size(), T(0));
      for (int r = 0; r < size(); ++r) {
        const auto* src = static_cast<const T*>(g_->buffers_[static_cast<size_t>(r)]);
        for (size_t i = 0; i < d.size(); ++i) sum[i] += src[i];
      }
      g_->sync_.arrive_and_wait();
      std::copy(sum.begin(), sum.end(), d.begin());
    }
    ThreadRanks* g_;
    int rank_;
  };

  // Runs body(rank, comm) on every rank; returns when all are done.
  void Run(const std::function<void(int, Communicator&)>& body) {
    std::vector<std::thread> threads;
    for (int r = 0; r < n_; ++r) {
      threads.emplace_back([this, r, &body] {
        Comm comm(this, r);
        body(r, comm);
      });
    }
    for (auto& t : threads) t.join();
  }

 private:
  int n_;
  std::vector<void*> buffers_;
  std::barrier<> sync_;
};

// Fits `family` on `ranks` thread-ranks; returns every rank's model. `sharded`: each rank is
// given only its share of x (BuildShard with the family's plan), as `marquee train` does under
// mpirun; otherwise every rank is given all of x. `held`, when given, gets each rank's entries
// held (its users' rows plus its items' rows).
std::vector<std::unique_ptr<Recommender>> FitOnRanks(const std::string& family,
                                                     const nlohmann::json& params,
                                                     const CsrMatrix& x, int ranks,
                                                     bool sharded = false,
                                                     std::vector<uint64_t>* held = nullptr) {
  std::vector<std::unique_ptr<Recommender>> models(static_cast<size_t>(ranks));
  if (held != nullptr) held->assign(static_cast<size_t>(ranks), 0);
  ThreadRanks group(ranks);
  group.Run([&](int rank, Communicator& comm) {
    auto m = CreateRecommender(family, params);
    Context ctx;
    ctx.threads = 1;
    ctx.comm = &comm;
    if (sharded) {
      CsrMatrix local;
      const InteractionShard shard = BuildShard(x, rank, ranks, m->shard_plan(), local);
      if (held != nullptr) {
        (*held)[static_cast<size_t>(rank)] = local.nnz() + shard.item_rows.nnz();
      }
      ctx.shard = &shard;
      m->Fit(local, ctx);
    } else {
      m->Fit(x, ctx);
    }
    models[static_cast<size_t>(rank)] = std::move(m);
  });
  return models;
}

std::vector<float> Tensor(const Recommender& m, const std::string& name) {
  testing::TempDir dir;
  return testing::SaveArtifact(m, dir.file("m.mqa"))->GetVector<float>(name);
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float d = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

CsrMatrix Data() { return testing::PlantedClusters(400, 160, 8, 25, 0.8, 3); }

TEST(PartitionRows, CutsContiguousBlocksOfAboutEqualCost) {
  // 6 rows with 1, 1, 1, 1, 10, 2 entries.
  const std::vector<uint64_t> indptr = {0, 1, 2, 3, 4, 14, 16};
  EXPECT_EQ(PartitionRows(indptr, 1, 0), (std::vector<uint64_t>{0, 6}));
  EXPECT_EQ(PartitionRows(indptr, 2, 0), (std::vector<uint64_t>{0, 5, 6}));
  const auto three = PartitionRows(indptr, 3, 1);
  ASSERT_EQ(three.size(), 4u);
  EXPECT_EQ(three.front(), 0u);
  EXPECT_EQ(three.back(), 6u);
  for (size_t p = 0; p + 1 < three.size(); ++p) EXPECT_LE(three[p], three[p + 1]);
  // More parts than rows: some blocks are empty, every row is owned once.
  const auto many = PartitionRows(indptr, 10, 0);
  EXPECT_EQ(many.back(), 6u);
  EXPECT_EQ(PartitionRows(std::vector<uint64_t>{0}, 3, 5), (std::vector<uint64_t>{0, 0, 0, 0}));
}

TEST(LocalCommunicator, IsOneRankWhoseCollectivesKeepTheData) {
  LocalCommunicator c;
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  std::vector<double> d = {1.5, 2.5};
  c.AllReduceSum(std::span<double>(d));
  EXPECT_EQ(d, (std::vector<double>{1.5, 2.5}));
}

TEST(FailIfInjected, ThrowsOnlyOnTheNamedRank) {
  LocalCommunicator c;
  EXPECT_NO_THROW(FailIfInjected(c));
  setenv("MARQUEE_TEST_FAIL_RANK", "0", 1);
  EXPECT_THROW(FailIfInjected(c), Error);
  setenv("MARQUEE_TEST_FAIL_RANK", "1", 1);
  EXPECT_NO_THROW(FailIfInjected(c));
  unsetenv("MARQUEE_TEST_FAIL_RANK");
}

TEST(DistributedFit, IalsOnRanksEqualsOneProcessToFloatTolerance) {
  const CsrMatrix x = Data();
  for (const char* solver : {"cg", "cholesky"}) {
    const nlohmann::json p = {{"factors", 12}, {"iterations", 5}, {"solver", solver}};
    const auto one = testing::FitFamily("ials", p, x);
    for (int ranks : {2, 3}) {
      const auto models = FitOnRanks("ials", p, x, ranks);
      for (const char* t : {"item_factors", "user_factors"}) {
        // Every rank holds the same factors (allgathered), bit for bit.
        for (int r = 1; r < ranks; ++r) {
          EXPECT_EQ(Tensor(*models[static_cast<size_t>(r)], t), Tensor(*models[0], t));
        }
        const float d = MaxAbsDiff(Tensor(*models[0], t), Tensor(*one, t));
        EXPECT_LE(d, 1e-4f) << solver << " " << ranks << " ranks " << t;
      }
    }
  }
}

TEST(DistributedFit, EaseOnRanksEqualsOneProcessBitForBit) {
  const CsrMatrix x = Data();
  const nlohmann::json p = {{"lambda", 50.0}};
  const auto one = testing::FitFamily("ease", p, x);
  const auto models = FitOnRanks("ease", p, x, 3);
  testing::TempDir dir;
  EXPECT_EQ(testing::SaveArtifact(*models[0], dir.file("a.mqa"))->GetVector<float>("B"),
            testing::SaveArtifact(*one, dir.file("b.mqa"))->GetVector<float>("B"));
}

TEST(DistributedFit, BprOnRanksIsDeterministicAndAsGoodAsOneProcess) {
  const CsrMatrix all = Data();
  const auto split = testing::StrongGeneralizationSplit(all, 60, 0.8, 5);
  const nlohmann::json p = {{"factors", 16}, {"epochs", 30}};
  const auto one = testing::FitFamily("bpr", p, split.train);
  const auto a = FitOnRanks("bpr", p, split.train, 2);
  const auto b = FitOnRanks("bpr", p, split.train, 2);
  for (const char* t : {"item_factors", "user_factors", "item_bias"}) {
    EXPECT_EQ(Tensor(*a[0], t), Tensor(*b[0], t)) << t;
    EXPECT_EQ(Tensor(*a[0], t), Tensor(*a[1], t)) << t;
  }
  const double r1 = testing::Evaluate(*one, split).recall_at_20;
  const double r2 = testing::Evaluate(*a[0], split).recall_at_20;
  EXPECT_GT(r2, r1 - 0.05) << "2 ranks " << r2 << ", one process " << r1;
}

// Given only its share (its users' rows, and for iALS its items' rows of Xᵀ), every rank fits
// the same model as when given all of X: the blocks are cut from the same global counts.
TEST(DistributedFit, ShardedRanksFitWhatWholeRanksFitHoldingOnlyTheirShare) {
  const CsrMatrix x = Data();
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"ials", {{"factors", 12}, {"iterations", 3}}},
      {"ials", {{"factors", 8}, {"iterations", 2}, {"solver", "cholesky"}}},
      {"ease", {{"lambda", 50.0}, {"max_items", 100}}},
      {"bpr", {{"factors", 8}, {"epochs", 3}}}};
  for (const auto& [family, p] : cases) {
    const bool item_rows = CreateRecommender(family, p)->shard_plan().item_rows;
    for (int ranks : {2, 4}) {
      SCOPED_TRACE(family + " " + p.dump() + " " + std::to_string(ranks) + " ranks");
      std::vector<uint64_t> held;
      const auto whole = FitOnRanks(family, p, x, ranks);
      const auto shared = FitOnRanks(family, p, x, ranks, true, &held);
      for (const char* t : {"item_factors", "user_factors", "B"}) {
        if (family == "ease" ? std::string(t) != "B" : std::string(t) == "B") continue;
        // (EASE's B lives on rank 0 only: it alone inverts the Gram matrix.)
        for (int r = 0; r < (family == "ease" ? 1 : ranks); ++r) {
          EXPECT_EQ(Tensor(*shared[static_cast<size_t>(r)], t), Tensor(*whole[0], t)) << t;
        }
      }
      // Each rank holds its share: the users' rows (and the items' rows) sum to X's entries.
      // One process holds X (and Xᵀ for iALS); a rank holds at most 3/4 of that.
      const uint64_t one_process = (item_rows ? 2 : 1) * x.nnz();
      uint64_t sum = 0;
      for (uint64_t h : held) {
        EXPECT_LE(4 * h, 3 * one_process) << h << " of " << one_process;
        sum += h;
      }
      EXPECT_EQ(sum, one_process);
    }
  }
}

}  // namespace
}  // namespace marquee
