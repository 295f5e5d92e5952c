// JobStore: where jobs and their logs are kept, in domain operations (create, replace, get, list,
// append to the log, read the log), never files or SQL, so that a shared backend (PostgreSQL,
// issue #16) can implement it beside the file-backed one here.
//
// FileJobStore keeps $home/jobs/ (docs/formats/jobs.md):
//   <id>.json   the job record (JobToJson), replaced whole by an atomic write (temporary file,
//               fsync, rename, directory fsync: Env::WriteFileAtomic), so a kill -9 leaves the
//               old record or the new one, never a mix
//   <id>.log    the job's log, UTF-8 lines each ending in '\n', rewritten whole by the same
//               atomic write on every append (a job's log is a few hundred lines: the runner
//               writes a progress line at most once a second)
// Temporary files a killed process left behind (`*.tmp.<pid>.<n>` of another pid) are removed
// when the store opens. One process per home writes jobs (the server, which holds
// $home/serving/serve.lock); ids are the largest id found at open plus one, then counted in
// memory.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobs/job.h"

namespace marquee {

class Env;

struct JobFilter {
  std::optional<JobState> state;  // only jobs in this state
  std::string model;              // only jobs of this [model] name ("" = any)
  bool Matches(const Job& job) const {
    return (!state || job.state == *state) && (model.empty() || job.model == model);
  }
};

// Implementations are thread-safe: every method may be called from any thread at any time; the
// caller orders the writes of one job (the runner writes a job from one thread at a time).
// Every method throws marquee::Error (kIOError from the backend, kCorruption for a damaged record).
class JobStore {
 public:
  virtual ~JobStore() = default;

  // Assigns `job` the next id (greater than every id ever assigned), stores it durably and
  // returns it with its id.
  virtual Job Create(Job job) = 0;
  // Replaces the stored record of `job.id` (which Create assigned) durably and atomically.
  virtual void Put(const Job& job) = 0;
  // The job, or nullopt when no job has that id.
  virtual std::optional<Job> Get(int64_t id) = 0;
  // Jobs matching `filter` with id < `before_id`, newest (highest id) first, at most `limit`.
  virtual std::vector<Job> List(const JobFilter& filter, size_t limit,
                                int64_t before_id = std::numeric_limits<int64_t>::max()) = 0;
  // Appends `lines` (no '\n' inside; the caller splits) to the job's log, durably and
  // atomically: after a crash the log holds all of them or none.
  virtual void AppendLog(int64_t id, const std::vector<std::string>& lines) = 0;
  // Lines [offset, offset + limit) of the job's log (fewer at its end; none for a job without a
  // log yet).
  virtual std::vector<std::string> ReadLog(int64_t id, int64_t offset,
                                           size_t limit = std::numeric_limits<size_t>::max()) = 0;
};

// The file-backed store in `dir` (normally $home/jobs), created if missing. `env` (not owned;
// nullptr: Env::Default()) does every file operation and must outlive the store.
std::unique_ptr<JobStore> OpenFileJobStore(const std::string& dir, Env* env = nullptr);

}  // namespace marquee
