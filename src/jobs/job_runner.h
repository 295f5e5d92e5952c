// JobRunner: the server's job pool. Train configs are submitted as jobs, validated at once, kept
// in a JobStore, and run first-in first-out by `workers` threads through TrainAndRegister
// (src/pipeline/train.h), exactly as `marquee train` runs them: each ends in a registry run and a
// version of the config's model. Each job has a log that can be read from any line and followed
// live (the HTTP layer turns Follow into Server-Sent Events).
//
// Choices (docs/formats/jobs.md has the record and log formats):
// - Restart: when a runner opens a store, jobs found "running" are marked "interrupted" (the
//   process that ran them ended; their registry run is marked by the registry's own liveness
//   check) and jobs found "queued" are queued again in id order: they were accepted, nothing of
//   them ran, and running them is what their submitter asked for. One runner per home at a time
//   (the server holds $home/serving/serve.lock); a second one would mark the first's jobs.
// - Cancel: a queued job is cancelled. A running one is refused with kFailedPrecondition: the
//   trainers offer no cancellation hook, so a running job cannot be stopped short of ending the
//   process (it is then marked interrupted at the next start).
// - Shutdown: no new jobs; running jobs finish (training cannot be interrupted), queued ones stay
//   queued in the store and run when a runner opens it again. A process that must stop at once
//   simply exits: its running jobs are marked interrupted at the next start.
// - Paths: a config's relative paths ([data] train, eval files) resolve against the server's
//   working directory, and named datasets are the server home's: the config runs on the server.
//   A config without [model] name trains the model "model" (a config given as text has no file
//   name to take the default from).
// - The log: progress becomes a line on a stage change, else at most once a second when the
//   whole percentage moved. Lines reach followers at once and the store within a second (a log
//   writer thread), so training never waits for a disk; a state change (started, ended,
//   cancelled) stores the log and the record before Get or List show it. A crash can lose the
//   progress lines of the last second.
// - Times are Unix seconds from the context's Env clock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "jobs/job.h"
#include "jobs/job_store.h"
#include "marquee/context.h"

namespace marquee {

struct JobRunnerOptions {
  std::string home;  // the resolved home directory: its registry, datasets and artifacts
  int workers = 1;   // jobs run at the same time (>= 1)
  // What every job trains with: threads per job (a config's [run] threads wins; <= 0: all
  // cores; note Context's default is 1, `marquee train` uses all cores), seed, env (also the
  // clock of job times). Its `progress`, when set, is called too, from the training threads,
  // after the runner's own.
  Context ctx;
  // Lines a follower may have waiting before it is dropped (see Follow); >= 1.
  size_t follow_buffer = 1024;
  // Followers at the same time, all jobs together (each has a delivery thread); >= 1.
  size_t max_followers = 64;
};

// One event of a followed log.
struct JobLogEvent {
  enum class Type {
    kLine,     // `line` is log line number `offset` (0-based)
    kEnd,      // the job ended in `state`; `offset` is the number of lines in its log
    kDropped,  // delivery stopped: the follower fell `follow_buffer` lines behind, or the
               // runner shut down before the job ended. `offset` is the first line not
               // delivered: read the rest with ReadLog or Follow again from there. `line` says
               // why.
  };
  Type type = Type::kLine;
  int64_t offset = 0;
  std::string line;
  JobState state = JobState::kQueued;  // kEnd: the final state
};

using JobLogCallback = std::function<void(const JobLogEvent&)>;

// A live Follow. Destroying it (or Unsubscribe) stops delivery; it waits for a callback in
// progress to return, unless called from inside the callback (then it does not wait). May
// outlive the runner.
class JobSubscription {
 public:
  struct State;  // shared with the runner and the delivery thread
  explicit JobSubscription(std::shared_ptr<State> state);
  ~JobSubscription();
  JobSubscription(const JobSubscription&) = delete;
  JobSubscription& operator=(const JobSubscription&) = delete;
  void Unsubscribe();

 private:
  std::shared_ptr<State> state_;
};

struct JobLogPage {
  std::vector<std::string> lines;      // lines [offset, offset + lines.size())
  int64_t next_offset = 0;             // offset + lines.size()
  JobState state = JobState::kQueued;  // the job's state when read
};

class JobRunner {
 public:
  // Opens the jobs of `store` (marks running ones interrupted, queues queued ones again) and
  // starts the workers. Throws kInvalidArgument for bad options, or the store's errors.
  JobRunner(JobRunnerOptions options, std::unique_ptr<JobStore> store);
  // Shutdown(), then releases everything.
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Validates `config_text` ("toml" or "json" `format`, with "section.key=value" `overrides`)
  // as `marquee train` parses it (syntax, sections, keys, types, the family), then stores the
  // job as queued and queues it. Returns the stored job (its id set). Throws kInvalidArgument
  // naming the key for a bad config or format (nothing is stored then), kUnavailable after
  // Shutdown, or the store's errors. A family's hyperparameters ([model] keys of recommenders)
  // are checked when the model is built, as by `marquee train`: a bad one fails the job with
  // kInvalidArgument naming it. Thread-safe; waits for two store writes.
  Job Submit(const std::string& config_text, const std::string& format,
             const std::vector<std::string>& overrides = {});

  // The job as it is now (progress live while it runs). kNotFound for an unknown id.
  // Thread-safe; never waits for training or a store write of a running job.
  Job Get(int64_t id);
  // Jobs matching `filter` with id < `before_id`, newest first, at most `limit` (1..1000, else
  // kInvalidArgument). Page with before_id = the last id returned. Thread-safe.
  std::vector<Job> List(const JobFilter& filter, size_t limit,
                        int64_t before_id = std::numeric_limits<int64_t>::max());
  // Cancels a queued job and returns it (state cancelled). kFailedPrecondition for a running job
  // (training offers no cancellation hook: it runs to its end) or one that has ended;
  // kNotFound for an unknown id. Thread-safe.
  Job Cancel(int64_t id);
  // Waits up to `timeout` for the job to end; returns it as it is then (ended or not).
  // kNotFound for an unknown id. Thread-safe.
  Job Wait(int64_t id, std::chrono::milliseconds timeout);

  // Lines [offset, offset + limit) of the job's log and its state. kNotFound for an unknown id,
  // kInvalidArgument for a negative offset. Thread-safe.
  JobLogPage ReadLog(int64_t id, int64_t offset, size_t limit = std::numeric_limits<size_t>::max());

  // Follows the job's log from line `offset`: `callback` receives every line from there once and
  // in order, the lines appended later as they come, then one kEnd (with the final state), or
  // one kDropped, after which it is never called again. Callbacks of one subscription run one at
  // a time on that subscription's own thread, never on the training thread: a slow callback
  // delays only its own subscription. Lines already in the log are delivered however many; of
  // the lines appended while following, at most `follow_buffer` wait undelivered: one more drops
  // the follower (kDropped after the waiting lines), so a follower that never drains costs
  // bounded memory and never blocks the job. Throws kNotFound for an unknown id,
  // kInvalidArgument for a negative offset, kResourceExhausted beyond `max_followers`.
  std::unique_ptr<JobSubscription> Follow(int64_t id, int64_t offset, JobLogCallback callback);

  // Stops taking jobs (Submit: kUnavailable), waits for the running jobs to end, and drops the
  // followers of queued jobs (kDropped); queued jobs stay queued in the store. Idempotent;
  // thread-safe; must not be called from a training progress callback (it waits for training).
  void Shutdown();

 private:
  struct Active;  // a queued or running job of this runner

  void Work();
  // The log writer thread: every second, stores the log lines of running jobs not yet stored.
  void WriteLogs();
  void Run(const std::shared_ptr<Active>& a);
  void OnProgress(const std::shared_ptr<Active>& a, std::string_view stage, double fraction);
  // Ends a job: `final` is its ended state (lines appended), persisted, followers told.
  void Finish(const std::shared_ptr<Active>& a, Job final, std::vector<std::string> lines);
  std::shared_ptr<Active> Find(int64_t id) EXCLUDES(mu_);

  const JobRunnerOptions options_;
  const std::unique_ptr<JobStore> store_;
  Env* const env_;  // the clock of record times and log lines

  Mutex shutdown_mu_;  // one Shutdown at a time (it joins the threads); before every other
  Mutex submit_mu_;    // orders Create + enqueue, so the queue is in id order
  Mutex mu_;           // after submit_mu_ and an Active's persist_mu
  CondVar work_cv_;    // a job was queued, or stopping_
  CondVar ended_cv_;   // a job ended (Wait)
  bool stopping_ GUARDED_BY(mu_) = false;
  std::deque<std::shared_ptr<Active>> queue_ GUARDED_BY(mu_);
  std::map<int64_t, std::shared_ptr<Active>> active_ GUARDED_BY(mu_);  // queued + running
  // Delivery threads alive (max_followers); shared with subscriptions, which may outlive us.
  std::shared_ptr<std::atomic<size_t>> followers_;
  std::vector<std::thread> workers_;
  CondVar log_writer_cv_;
  bool log_writer_stop_ GUARDED_BY(mu_) = false;
  std::thread log_writer_;
};

}  // namespace marquee
