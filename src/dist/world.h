// The communicator of this process (issue #18): OpenMPI's world when `marquee` was started by
// mpirun, else none. MPI is initialised only in the first case, so a plain `marquee` never
// loads or starts MPI's runtime. The implementation (src/dist/mpi_communicator.cc) is built
// when CMake finds MPI (libopenmpi-dev); the families see only common/communicator.h.
#pragma once

#include <memory>

#include "common/communicator.h"

namespace marquee {

// Whether mpirun started this process (OpenMPI sets OMPI_COMM_WORLD_SIZE in every rank).
bool LaunchedByMpirun();

// The ranks started on this machine (OMPI_COMM_WORLD_LOCAL_SIZE), 1 without mpirun: what the
// default thread count divides the cores by.
int LocalRanks();

// MPI's world communicator (initialising MPI; finalised when the object is destroyed) when
// launched by mpirun, else nullptr. Throws kUnimplemented when launched by mpirun with more than
// one rank and this build has no MPI, and kUnavailable when MPI fails to start. Call once.
std::unique_ptr<Communicator> OpenWorldCommunicator();

}  // namespace marquee
