// MpiCommunicator: common/communicator.h over OpenMPI's MPI_COMM_WORLD, and the factory that
// picks it (dist/world.h). Built with MPI when CMake finds it (MARQUEE_HAVE_MPI); without it,
// a run under mpirun with more than one rank is refused.
#include <cstdlib>
#include <limits>
#include <string>

#include "dist/world.h"
#include "marquee/error.h"

#if MARQUEE_HAVE_MPI
// The C API only: OpenMPI's mpi.h otherwise declares its deprecated C++ bindings, which live in
// another library (libmpi_cxx).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace marquee {

namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (*end == '\0' && n > 0 && n < std::numeric_limits<int>::max()) ? static_cast<int>(n)
                                                                        : fallback;
}

#if MARQUEE_HAVE_MPI

// MPI counts are ints: buffers are sent in pieces of at most kPiece elements.
constexpr size_t kPiece = size_t{1} << 30;

void Check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  Fail(ErrorCode::kUnavailable, "MPI {} failed: {}", what, std::string(text, len));
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int provided = 0;
    // FUNNELED: worker threads compute, only the main thread calls MPI.
    Check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
    // Errors come back as codes (thrown as kUnavailable) instead of ending the process, so a
    // failed collective is reported like any other error before Abort.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCommunicator() override { MPI_Finalize(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void AllReduceSum(std::span<double> data) override {
    Reduce(data.data(), data.size(), MPI_DOUBLE);
  }
  void AllReduceSum(std::span<float> data) override { Reduce(data.data(), data.size(), MPI_FLOAT); }

  void AllGather(std::span<float> data, std::span<const uint64_t> offsets) override {
    if (offsets.size() != static_cast<size_t>(size_) + 1 || offsets.back() != data.size()) {
      Fail(ErrorCode::kInternal, "AllGather: {} offsets for {} ranks and {} floats", offsets.size(),
           size_, data.size());
    }
    if (data.size() > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
      Fail(ErrorCode::kResourceExhausted,
           "AllGather: {} floats exceed MPI's int displacements (use fewer factors)", data.size());
    }
    std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) {
      const uint64_t begin = offsets[static_cast<size_t>(r)];
      const uint64_t count = offsets[static_cast<size_t>(r) + 1] - begin;
      counts[static_cast<size_t>(r)] = static_cast<int>(count);
      displs[static_cast<size_t>(r)] = static_cast<int>(begin);
    }
    Check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data.data(), counts.data(),
                         displs.data(), MPI_FLOAT, MPI_COMM_WORLD),
          "allgather");
  }

  void Broadcast(std::span<std::byte> data, int root) override {
    for (size_t first = 0; first < data.size(); first += kPiece) {
      const size_t n = std::min(kPiece, data.size() - first);
      Check(MPI_Bcast(data.data() + first, static_cast<int>(n), MPI_BYTE, root, MPI_COMM_WORLD),
            "broadcast");
    }
  }

  void Barrier() override { Check(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }

  [[noreturn]] void Abort(int status) override {
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);  // MPI_Abort does not return; this satisfies [[noreturn]]
  }

 private:
  void Reduce(void* data, size_t n, MPI_Datatype type) {
    const size_t width = type == MPI_DOUBLE ? sizeof(double) : sizeof(float);
    for (size_t first = 0; first < n; first += kPiece) {
      const size_t count = std::min(kPiece, n - first);
      Check(MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(data) + first * width,
                          static_cast<int>(count), type, MPI_SUM, MPI_COMM_WORLD),
            "allreduce");
    }
  }

  int rank_ = 0;
  int size_ = 1;
};

#endif  // MARQUEE_HAVE_MPI

}  // namespace

bool LaunchedByMpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr; }

int LocalRanks() { return EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE", 1); }

std::unique_ptr<Communicator> OpenWorldCommunicator() {
  if (!LaunchedByMpirun()) return nullptr;
#if MARQUEE_HAVE_MPI
  return std::make_unique<MpiCommunicator>();
#else
  if (EnvInt("OMPI_COMM_WORLD_SIZE", 1) > 1) {
    Fail(ErrorCode::kUnimplemented,
         "started by mpirun with {} ranks, but this marquee was built without MPI (install "
         "libopenmpi-dev and rebuild)",
         EnvInt("OMPI_COMM_WORLD_SIZE", 1));
  }
  return nullptr;
#endif
}

}  // namespace marquee
