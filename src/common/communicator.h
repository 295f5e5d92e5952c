// Communicator: the collective operations distributed training runs on (issue #18), as one small
// interface with two implementations: LocalCommunicator (one process; every collective is the
// identity) here, and MpiCommunicator (OpenMPI, src/dist/mpi_communicator.cc) when `marquee` runs
// under mpirun. Training code reaches it through Context::comm and never calls MPI itself, so
// the families build, run and are tested without MPI.
//
// Every rank calls the same collectives in the same order with the same sizes (the usual MPI
// contract); a rank that fails calls Abort, which ends every rank. Results of AllReduceSum are
// the same on every rank for a given rank count (OpenMPI's reduction order depends only on the
// communicator size and message size), so ranks that start equal stay equal.
//
// Not thread-safe: one thread of a process calls the collectives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace marquee {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;  // 0 .. size()-1
  virtual int size() const = 0;  // >= 1

  // In place, element-wise: data[i] = Σ over ranks of data[i]; every rank gets the result.
  virtual void AllReduceSum(std::span<double> data) = 0;
  virtual void AllReduceSum(std::span<float> data) = 0;
  // In place: rank r contributes data[offsets[r], offsets[r + 1]) and every rank receives every
  // rank's block. `offsets` has size() + 1 non-decreasing entries ending at data.size().
  virtual void AllGather(std::span<float> data, std::span<const uint64_t> offsets) = 0;
  // In place: every rank receives `root`'s bytes.
  virtual void Broadcast(std::span<std::byte> data, int root) = 0;
  virtual void Barrier() = 0;
  // Ends every rank of the job with exit status `status` (MPI_Abort); the caller prints why
  // first. Never returns.
  [[noreturn]] virtual void Abort(int status) = 0;
};

// One process: rank 0 of 1. What Context::comm == nullptr means.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void AllReduceSum(std::span<double>) override {}
  void AllReduceSum(std::span<float>) override {}
  void AllGather(std::span<float>, std::span<const uint64_t>) override {}
  void Broadcast(std::span<std::byte>, int) override {}
  void Barrier() override {}
  [[noreturn]] void Abort(int status) override;
};

// The rows each of `parts` ranks owns: contiguous blocks [offsets[p], offsets[p + 1]) of the
// rows of a CSR matrix with row pointer `indptr` (rows = indptr.size() - 1), cut so that every
// block has about the same cost, a row costing its entries plus `row_cost`. Depends only on its
// arguments, so every rank computes the same blocks. Returns parts + 1 offsets.
std::vector<uint64_t> PartitionRows(std::span<const uint64_t> indptr, int parts, uint64_t row_cost);

// Test-only failure injection: when $MARQUEE_TEST_FAIL_RANK names this rank, throws kIOError
// ("injected failure on rank R ..."), so the tests can check that one failed rank fails the
// whole distributed job cleanly. Not for production use; unset, it does nothing.
void FailIfInjected(const Communicator& comm);

}  // namespace marquee
