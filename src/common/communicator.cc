#include "common/communicator.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "marquee/error.h"

namespace marquee {

void FailIfInjected(const Communicator& comm) {
  const char* v = std::getenv("MARQUEE_TEST_FAIL_RANK");
  if (v == nullptr || std::to_string(comm.rank()) != v) return;
  Fail(ErrorCode::kIOError,
       "injected failure on rank {} of {} (MARQUEE_TEST_FAIL_RANK, tests only)", comm.rank(),
       comm.size());
}

void LocalCommunicator::Abort(int status) { std::exit(status); }

std::vector<uint64_t> PartitionRows(std::span<const uint64_t> indptr, int parts,
                                    uint64_t row_cost) {
  if (parts < 1 || indptr.empty()) {
    Fail(ErrorCode::kInternal, "PartitionRows: {} parts of {} row pointers", parts, indptr.size());
  }
  const uint64_t rows = indptr.size() - 1;
  const uint64_t nnz = indptr.back() - indptr.front();
  const auto cost_before = [&](uint64_t r) { return indptr[r] - indptr.front() + r * row_cost; };
  const unsigned __int128 total = nnz + rows * row_cost;
  std::vector<uint64_t> offsets(static_cast<size_t>(parts) + 1, rows);
  offsets[0] = 0;
  uint64_t r = 0;
  for (int p = 1; p < parts; ++p) {
    // The first row whose cost-before reaches p/parts of the total.
    const auto target =
        static_cast<uint64_t>(total * static_cast<unsigned>(p) / static_cast<unsigned>(parts));
    while (r < rows && cost_before(r) < target) ++r;
    offsets[static_cast<size_t>(p)] = r;
  }
  return offsets;
}

}  // namespace marquee
