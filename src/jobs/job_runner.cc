#include "jobs/job_runner.h"

#include <cmath>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/text.h"
#include "common/time.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "pipeline/config.h"
#include "pipeline/train.h"

namespace marquee {

// One follower: its queue of events and its delivery thread's state.
struct JobSubscription::State {
  State(int64_t offset, size_t buffer, JobLogCallback cb)
      : from(offset), limit(buffer), callback(std::move(cb)) {}

  // Queues line `offset` appended while following. Returns false when the follower is done
  // (ended, dropped, unsubscribed): the job forgets it. One line beyond `limit` waiting drops it.
  bool PushLine(int64_t offset, const std::string& line) EXCLUDES(mu) {
    MutexLock lock(&mu);
    if (closed || stopped) return false;
    if (offset < from) return true;  // before the line the follower asked to start at
    if (live.size() >= limit) {
      live.push_back({JobLogEvent::Type::kDropped, offset,
                      fmt::format("the follower fell {} lines behind; read the log from line {}",
                                  limit, offset),
                      JobState::kQueued});
      closed = true;
      cv.NotifyOne();
      return false;
    }
    live.push_back({JobLogEvent::Type::kLine, offset, line, JobState::kQueued});
    cv.NotifyOne();
    return true;
  }
  // Queues the last event (kEnd or kDropped); nothing is queued after it.
  void Close(JobLogEvent last) EXCLUDES(mu) {
    MutexLock lock(&mu);
    if (closed || stopped) return;
    live.push_back(std::move(last));
    closed = true;
    cv.NotifyOne();
  }

  // The delivery thread: callbacks in order until the last event or Unsubscribe.
  void Deliver() EXCLUDES(mu) {
    for (;;) {
      JobLogEvent e;
      {
        MutexLock lock(&mu);
        cv.Wait(&mu, [&] {
          mu.AssertHeld();
          return stopped || !backlog.empty() || !live.empty();
        });
        if (stopped) break;
        std::deque<JobLogEvent>& q = backlog.empty() ? live : backlog;
        e = std::move(q.front());
        q.pop_front();
      }
      try {
        callback(e);
      } catch (const std::exception& ex) {
        spdlog::warn("jobs: a log follower's callback threw ({}); it is unsubscribed", ex.what());
        break;
      }
      if (e.type != JobLogEvent::Type::kLine) break;
    }
    MutexLock lock(&mu);
    stopped = true;  // nothing more is queued for a finished delivery
    backlog.clear();
    live.clear();
  }

  Mutex mu;
  CondVar cv;
  std::deque<JobLogEvent> backlog GUARDED_BY(mu);  // lines already in the log at Follow
  std::deque<JobLogEvent> live GUARDED_BY(mu);     // appended since (+ the last event)
  const int64_t from;                              // the first line to deliver
  const size_t limit;
  bool closed GUARDED_BY(mu) = false;   // the last event is queued
  bool stopped GUARDED_BY(mu) = false;  // unsubscribed, or delivery finished
  const JobLogCallback callback;
  std::thread thread;  // set once by Follow before anything else touches it
};

JobSubscription::JobSubscription(std::shared_ptr<State> state) : state_(std::move(state)) {}

JobSubscription::~JobSubscription() { Unsubscribe(); }

void JobSubscription::Unsubscribe() {
  if (!state_) return;
  {
    MutexLock lock(&state_->mu);
    state_->stopped = true;
    state_->cv.NotifyOne();
  }
  if (state_->thread.joinable()) {
    if (state_->thread.get_id() == std::this_thread::get_id()) {
      state_->thread.detach();  // called from the callback: it returns to a stopped loop
    } else {
      state_->thread.join();
    }
  }
  state_.reset();
}

struct JobRunner::Active {
  explicit Active(Job j) : id(j.id), job(std::move(j)) {}

  const int64_t id;
  // Held while the job's log or record is written, so its writes are in order. Taken before the
  // runner's mu_ and `mu`.
  Mutex persist_mu;
  // Lines of `log` in the store: the store's log is always a prefix of `log`.
  int64_t stored_lines GUARDED_BY(persist_mu) = 0;
  Mutex mu;  // after the runner's mu_
  Job job GUARDED_BY(mu);
  std::vector<std::string> log GUARDED_BY(mu);  // every line so far
  std::vector<std::shared_ptr<JobSubscription::State>> followers GUARDED_BY(mu);
  // The last progress line logged (throttling).
  std::string logged_stage GUARDED_BY(mu);
  int logged_percent GUARDED_BY(mu) = -1;
  std::chrono::steady_clock::time_point logged_at GUARDED_BY(mu);

  // Appends lines to the log in memory and hands them to every follower; the store gets them
  // at the next Flush.
  void Publish(const std::vector<std::string>& lines) REQUIRES(mu) {
    for (const std::string& line : lines) {
      const int64_t offset = static_cast<int64_t>(log.size());
      log.push_back(line);
      std::erase_if(followers, [&](const auto& f) { return !f->PushLine(offset, line); });
    }
    job.log_lines = static_cast<int64_t>(log.size());
  }
  // Tells every follower the last thing it will hear.
  void CloseFollowers(const JobLogEvent& last) REQUIRES(mu) {
    for (const auto& f : followers) f->Close(last);
    followers.clear();
  }
  // Appends the lines the store lacks, then `more`, to the store's log. Throws the store's
  // errors (nothing is counted as stored then). The caller publishes `more` afterwards, before
  // any other line (so the store's log stays a prefix of `log`).
  void Flush(JobStore& store, const std::vector<std::string>& more = {}) REQUIRES(persist_mu)
      EXCLUDES(mu) {
    std::vector<std::string> pending;
    {
      MutexLock lock(&mu);
      pending.assign(log.begin() + stored_lines, log.end());
    }
    pending.insert(pending.end(), more.begin(), more.end());
    store.AppendLog(id, pending);
    stored_lines += static_cast<int64_t>(pending.size());
  }
  // A change of state: stores the log so far plus `lines`, then `record` (its log_lines set),
  // then makes both visible (the log lines, and `record` as the job), so Get and List never
  // show a state the store has not taken. Returns false when the store refused (logged; the
  // change is made visible all the same). Only while no progress is reported (before or after
  // training).
  bool Change(JobStore& store, Job record, const std::vector<std::string>& lines)
      REQUIRES(persist_mu) EXCLUDES(mu) {
    bool stored = false;
    try {
      Flush(store, lines);
      record.log_lines = stored_lines;
      store.Put(record);
      stored = true;
    } catch (const Error& e) {
      spdlog::error("jobs: cannot record job {} as {}: {}", id, JobStateName(record.state),
                    e.what());
    }
    MutexLock lock(&mu);
    Publish(lines);
    record.log_lines = job.log_lines;
    job = std::move(record);
    return stored;
  }
};

namespace {

constexpr auto kProgressLineInterval = std::chrono::seconds(1);
constexpr size_t kMaxListLimit = 1000;

// Log lines of `text` (one per line of it), each stamped with the time: valid UTF-8, no CR/LF.
std::vector<std::string> Lines(int64_t now, std::string_view text) {
  const std::string stamp = IsoUtc(now) + " ";
  std::vector<std::string> out;
  const std::string clean = SanitizeUtf8(text);
  size_t begin = 0;
  while (begin <= clean.size()) {
    size_t end = clean.find('\n', begin);
    if (end == std::string::npos) end = clean.size();
    std::string line = clean.substr(begin, end - begin);
    std::erase(line, '\r');
    if (!line.empty() || end < clean.size()) out.push_back(stamp + line);
    begin = end + 1;
  }
  return out;
}

TrainConfig ParseConfig(const std::string& text, const std::string& format,
                        const std::vector<std::string>& overrides) {
  if (format == "toml") return ParseTrainConfig(text, "<string>", overrides);
  if (format == "json") return ParseTrainConfigJson(text, "<string>", overrides);
  Fail(ErrorCode::kInvalidArgument, "config format must be \"toml\" or \"json\", got {}",
       QuoteForMessage(format, 32));
}

JobError ErrorOf(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    return {std::string(ErrorCodeName(err.code())), SanitizeUtf8(err.what())};
  } catch (const std::exception& err) {
    return {std::string(ErrorCodeName(ErrorCode::kInternal)), SanitizeUtf8(err.what())};
  } catch (...) {
    return {std::string(ErrorCodeName(ErrorCode::kInternal)), "unknown exception"};
  }
}

}  // namespace

JobRunner::JobRunner(JobRunnerOptions options, std::unique_ptr<JobStore> store)
    : options_(std::move(options)),
      store_(std::move(store)),
      env_(options_.ctx.env != nullptr ? options_.ctx.env : Env::Default()),
      followers_(std::make_shared<std::atomic<size_t>>(0)) {
  if (store_ == nullptr) Fail(ErrorCode::kInvalidArgument, "job runner: no job store");
  if (options_.home.empty()) Fail(ErrorCode::kInvalidArgument, "job runner: no home directory");
  if (options_.workers < 1) {
    Fail(ErrorCode::kInvalidArgument, "job runner: workers must be >= 1, got {}", options_.workers);
  }
  if (options_.follow_buffer < 1 || options_.max_followers < 1) {
    Fail(ErrorCode::kInvalidArgument, "job runner: follow_buffer and max_followers must be >= 1");
  }
  const size_t all = std::numeric_limits<size_t>::max();
  // Jobs a process was running when it ended: nothing runs them any more.
  for (Job job : store_->List({JobState::kRunning, ""}, all)) {
    const int64_t now = env_->NowSeconds();
    job.state = JobState::kInterrupted;
    job.ended_at = now;
    job.error = JobError{std::string(ErrorCodeName(ErrorCode::kUnavailable)),
                         "the process running the job ended before the job did (the server "
                         "stopped or crashed); submit it again"};
    store_->AppendLog(job.id, Lines(now, "interrupted: " + job.error->message));
    job.log_lines = static_cast<int64_t>(store_->ReadLog(job.id, 0).size());
    store_->Put(job);
    spdlog::warn("jobs: job {} was running when its process ended; marked interrupted", job.id);
  }
  // Jobs accepted but not started: queued again, oldest first.
  std::vector<Job> queued = store_->List({JobState::kQueued, ""}, all);
  for (auto it = queued.rbegin(); it != queued.rend(); ++it) {
    auto a = std::make_shared<Active>(std::move(*it));
    std::vector<std::string> log = store_->ReadLog(a->id, 0);
    MutexLock persist(&a->persist_mu);
    MutexLock lock(&mu_);
    MutexLock job_lock(&a->mu);
    a->stored_lines = static_cast<int64_t>(log.size());
    a->log = std::move(log);
    a->job.log_lines = a->stored_lines;
    queue_.push_back(a);
    active_[a->id] = a;
  }
  if (!queued.empty()) spdlog::info("jobs: {} queued job(s) queued again", queued.size());
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { Work(); });
  log_writer_ = std::thread([this] { WriteLogs(); });
}

JobRunner::~JobRunner() { Shutdown(); }

Job JobRunner::Submit(const std::string& config_text, const std::string& format,
                      const std::vector<std::string>& overrides) {
  const TrainConfig config = ParseConfig(config_text, format, overrides);
  MutexLock submit_lock(&submit_mu_);
  {
    MutexLock lock(&mu_);
    if (stopping_) Fail(ErrorCode::kUnavailable, "the job runner is shutting down");
  }
  Job job;
  job.kind = "train";
  job.state = JobState::kQueued;
  job.submitted_at = env_->NowSeconds();
  job.config_text = config_text;
  job.config_format = format;
  job.overrides = overrides;
  job.model = config.model_name;
  job.family = config.family;
  const std::vector<std::string> lines =
      Lines(job.submitted_at, fmt::format("queued: train {} model {}", job.family, job.model));
  job.log_lines = static_cast<int64_t>(lines.size());
  job = store_->Create(std::move(job));
  try {
    store_->AppendLog(job.id, lines);
  } catch (const Error&) {
    // Refused to the caller, so the stored record must not stay queued (best effort).
    job.state = JobState::kFailed;
    job.ended_at = job.submitted_at;
    job.error = ErrorOf(std::current_exception());
    try {
      store_->Put(job);
    } catch (const Error&) {  // the store refuses writes: the first error is the one to report
    }
    throw;
  }
  auto a = std::make_shared<Active>(job);
  {
    MutexLock persist(&a->persist_mu);
    MutexLock job_lock(&a->mu);
    a->log = lines;
    a->stored_lines = job.log_lines;
  }
  MutexLock lock(&mu_);
  // Queued even if Shutdown began meanwhile: the store holds it queued, so it runs next start.
  queue_.push_back(a);
  active_[job.id] = a;
  work_cv_.NotifyOne();
  return job;
}

std::shared_ptr<JobRunner::Active> JobRunner::Find(int64_t id) {
  MutexLock lock(&mu_);
  auto it = active_.find(id);
  return it == active_.end() ? nullptr : it->second;
}

Job JobRunner::Get(int64_t id) {
  if (std::shared_ptr<Active> a = Find(id)) {
    MutexLock lock(&a->mu);
    return a->job;
  }
  std::optional<Job> job = store_->Get(id);
  if (!job) Fail(ErrorCode::kNotFound, "no job {}", id);
  return *job;
}

std::vector<Job> JobRunner::List(const JobFilter& filter, size_t limit, int64_t before_id) {
  if (limit < 1 || limit > kMaxListLimit) {
    Fail(ErrorCode::kInvalidArgument, "limit must be 1..{}, got {}", kMaxListLimit, limit);
  }
  // The store's records, with the live state of this runner's jobs (fresher progress) on top.
  std::vector<Job> out;
  for (Job& job : store_->List(filter, limit, before_id)) {
    if (std::shared_ptr<Active> a = Find(job.id)) {
      MutexLock lock(&a->mu);
      job = a->job;
    }
    if (filter.Matches(job)) out.push_back(std::move(job));
  }
  return out;
}

Job JobRunner::Cancel(int64_t id) {
  std::shared_ptr<Active> a = Find(id);
  if (a == nullptr) {
    const Job job = Get(id);  // kNotFound, or an ended job
    Fail(ErrorCode::kFailedPrecondition, "job {} has already ended ({})", id,
         JobStateName(job.state));
  }
  MutexLock persist(&a->persist_mu);
  {
    MutexLock lock(&mu_);
    auto it = std::find(queue_.begin(), queue_.end(), a);
    if (it == queue_.end()) {
      MutexLock job_lock(&a->mu);
      if (IsFinal(a->job.state)) {
        Fail(ErrorCode::kFailedPrecondition, "job {} has already ended ({})", id,
             JobStateName(a->job.state));
      }
      Fail(ErrorCode::kFailedPrecondition,
           "job {} is running and cannot be cancelled: training offers no cancellation hook, so "
           "a running job runs to its end",
           id);
    }
    queue_.erase(it);  // no worker can take it now
  }
  Job job;
  {
    MutexLock job_lock(&a->mu);
    job = a->job;
  }
  job.state = JobState::kCancelled;
  job.ended_at = env_->NowSeconds();
  const std::vector<std::string> lines = Lines(job.ended_at, "cancelled before it started");
  try {
    a->Flush(*store_, lines);
    job.log_lines = a->stored_lines;
    store_->Put(job);
  } catch (...) {
    // Not cancelled after all: back at its place in the queue.
    MutexLock lock(&mu_);
    auto pos =
        std::find_if(queue_.begin(), queue_.end(), [&](const auto& q) { return q->id > id; });
    queue_.insert(pos, a);
    work_cv_.NotifyOne();
    throw;
  }
  MutexLock lock(&mu_);
  MutexLock job_lock(&a->mu);
  a->Publish(lines);
  a->job = job;
  a->CloseFollowers({JobLogEvent::Type::kEnd, job.log_lines, "", job.state});
  active_.erase(id);
  ended_cv_.NotifyAll();
  return job;
}

Job JobRunner::Wait(int64_t id, std::chrono::milliseconds timeout) {
  {
    MutexLock lock(&mu_);
    ended_cv_.WaitFor(&mu_, timeout, [&] {
      mu_.AssertHeld();
      auto it = active_.find(id);
      if (it == active_.end()) return true;
      MutexLock job_lock(&it->second->mu);
      return IsFinal(it->second->job.state);
    });
  }
  return Get(id);
}

JobLogPage JobRunner::ReadLog(int64_t id, int64_t offset, size_t limit) {
  if (offset < 0) Fail(ErrorCode::kInvalidArgument, "log offset must be >= 0, got {}", offset);
  JobLogPage page;
  if (std::shared_ptr<Active> a = Find(id)) {
    MutexLock lock(&a->mu);
    for (int64_t i = offset; i < static_cast<int64_t>(a->log.size()) && page.lines.size() < limit;
         ++i) {
      page.lines.push_back(a->log[i]);
    }
    page.state = a->job.state;
  } else {
    page.state = Get(id).state;  // kNotFound; read before the log, so no line is missed
    page.lines = store_->ReadLog(id, offset, limit);
  }
  page.next_offset = offset + static_cast<int64_t>(page.lines.size());
  return page;
}

std::unique_ptr<JobSubscription> JobRunner::Follow(int64_t id, int64_t offset,
                                                   JobLogCallback callback) {
  if (offset < 0) Fail(ErrorCode::kInvalidArgument, "log offset must be >= 0, got {}", offset);
  if (!callback) Fail(ErrorCode::kInvalidArgument, "Follow needs a callback");
  if (followers_->fetch_add(1) >= options_.max_followers) {
    followers_->fetch_sub(1);
    Fail(ErrorCode::kResourceExhausted, "{} job log followers already; try again later",
         options_.max_followers);
  }
  auto state =
      std::make_shared<JobSubscription::State>(offset, options_.follow_buffer, std::move(callback));
  try {
    std::vector<std::string> lines;
    std::optional<JobLogEvent> last;
    bool found = false;  // a job of this runner: it has the follower now, or `last` is set
    {
      MutexLock lock(&mu_);
      auto it = active_.find(id);
      if (it != active_.end()) {
        found = true;
        Active& a = *it->second;
        MutexLock job_lock(&a.mu);
        for (size_t i = offset; i < a.log.size(); ++i) lines.push_back(a.log[i]);
        const int64_t end = std::max<int64_t>(offset, a.job.log_lines);
        if (IsFinal(a.job.state)) {  // ended, but the store refused its end (see Finish)
          last = JobLogEvent{JobLogEvent::Type::kEnd, end, "", a.job.state};
        } else if (stopping_ && a.job.state == JobState::kQueued) {
          last = JobLogEvent{JobLogEvent::Type::kDropped, end,
                             "the job runner shut down; the job stays queued", a.job.state};
        } else {
          a.followers.push_back(state);  // under a.mu: no line is missed or repeated
        }
      }
    }
    if (!found) {
      // Not this runner's: ended (or another process's). Its record first, then the log.
      const Job job = Get(id);
      lines = store_->ReadLog(id, offset);
      const int64_t end = offset + static_cast<int64_t>(lines.size());
      last = IsFinal(job.state) ? JobLogEvent{JobLogEvent::Type::kEnd, end, "", job.state}
                                : JobLogEvent{JobLogEvent::Type::kDropped, end,
                                              "the job is not run by this server", job.state};
    }
    {
      MutexLock lock(&state->mu);
      for (size_t i = 0; i < lines.size(); ++i) {
        state->backlog.push_back({JobLogEvent::Type::kLine, offset + static_cast<int64_t>(i),
                                  std::move(lines[i]), JobState::kQueued});
      }
    }
    if (last) state->Close(*last);
    state->thread = std::thread([state, count = followers_] {
      state->Deliver();
      count->fetch_sub(1);
    });
  } catch (...) {
    followers_->fetch_sub(1);
    throw;
  }
  return std::make_unique<JobSubscription>(state);
}

void JobRunner::Shutdown() {
  MutexLock shutdown(&shutdown_mu_);
  {
    MutexLock submit_lock(&submit_mu_);
    MutexLock lock(&mu_);
    stopping_ = true;
    work_cv_.NotifyAll();
  }
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  {
    MutexLock lock(&mu_);
    log_writer_stop_ = true;
    log_writer_cv_.NotifyAll();
  }
  if (log_writer_.joinable()) log_writer_.join();
  MutexLock lock(&mu_);
  for (auto& [id, a] : active_) {
    MutexLock job_lock(&a->mu);
    a->CloseFollowers({JobLogEvent::Type::kDropped, a->job.log_lines,
                       "the job runner shut down; the job stays queued", a->job.state});
  }
}

void JobRunner::Work() {
  for (;;) {
    std::shared_ptr<Active> a;
    {
      MutexLock lock(&mu_);
      work_cv_.Wait(&mu_, [&] {
        mu_.AssertHeld();
        return stopping_ || !queue_.empty();
      });
      if (stopping_) return;
      a = std::move(queue_.front());
      queue_.pop_front();
    }
    Run(a);
  }
}

void JobRunner::WriteLogs() {
  for (;;) {
    std::vector<std::shared_ptr<Active>> jobs;
    {
      MutexLock lock(&mu_);
      log_writer_cv_.WaitFor(&mu_, kProgressLineInterval, [&] {
        mu_.AssertHeld();
        return log_writer_stop_;
      });
      if (log_writer_stop_) return;  // the workers are done: their jobs' logs are flushed
      for (const auto& [id, a] : active_) jobs.push_back(a);
    }
    for (const auto& a : jobs) {
      MutexLock persist(&a->persist_mu);
      try {
        a->Flush(*store_);
      } catch (const Error& e) {
        spdlog::warn("jobs: cannot write the log of job {} (trying again in a second): {}", a->id,
                     e.what());
      }
    }
  }
}

void JobRunner::Run(const std::shared_ptr<Active>& a) {
  Job job;
  {
    MutexLock persist(&a->persist_mu);
    {
      MutexLock lock(&a->mu);
      job = a->job;
      a->logged_at = std::chrono::steady_clock::now();
    }
    job.state = JobState::kRunning;
    job.started_at = env_->NowSeconds();
    // Should the store refuse, the job goes on: its end is written in full.
    a->Change(*store_, job, Lines(job.started_at, "started"));
  }
  std::vector<std::string> end_lines;
  try {
    const TrainConfig config = ParseConfig(job.config_text, job.config_format, job.overrides);
    TrainOptions options;
    options.home = options_.home;
    options.ctx = options_.ctx;
    options.ctx.env = env_;
    if (options.ctx.threads <= 0) options.ctx.threads = Context::DefaultThreads();
    options.ctx.progress = [this, a, user = options_.ctx.progress](std::string_view stage,
                                                                   double fraction) {
      OnProgress(a, stage, fraction);
      if (user) user(stage, fraction);
    };
    Registry registry = OpenRegistry(options_.home);
    const RegisteredTraining t = TrainAndRegister(config, options, registry, "", job.overrides);
    const int64_t now = env_->NowSeconds();
    job.state = JobState::kSucceeded;
    job.outcome = t.ToJson();
    end_lines = Lines(now, t.report);
    for (std::string& l : Lines(now, fmt::format("succeeded: run {}, {} version {}", t.run_id,
                                                 t.version.model_name, t.version.version))) {
      end_lines.push_back(std::move(l));
    }
  } catch (...) {
    job.state = JobState::kFailed;
    job.error = ErrorOf(std::current_exception());
    end_lines = Lines(env_->NowSeconds(), "failed: " + job.error->code + ": " + job.error->message);
  }
  Finish(a, std::move(job), std::move(end_lines));
}

void JobRunner::OnProgress(const std::shared_ptr<Active>& a, std::string_view stage,
                           double fraction) {
  if (!std::isfinite(fraction)) fraction = 0.0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int percent = static_cast<int>(std::floor(fraction * 100.0));
  const auto now = std::chrono::steady_clock::now();
  // Memory only: the log writer thread stores the line within a second, so training never
  // waits for a disk.
  MutexLock lock(&a->mu);
  a->job.progress = {std::string(stage), fraction};
  const bool new_stage = stage != a->logged_stage;
  if (new_stage || (now - a->logged_at >= kProgressLineInterval && percent != a->logged_percent)) {
    a->logged_stage = std::string(stage);
    a->logged_percent = percent;
    a->logged_at = now;
    a->Publish(Lines(env_->NowSeconds(), fmt::format("stage {} {}%", stage, percent)));
  }
}

void JobRunner::Finish(const std::shared_ptr<Active>& a, Job final,
                       std::vector<std::string> lines) {
  MutexLock persist(&a->persist_mu);
  {
    MutexLock lock(&a->mu);
    final.progress = a->job.progress;
  }
  final.ended_at = env_->NowSeconds();
  // When the store does not take the end, the job stays "running" there and is marked
  // interrupted at the next start. Until then this runner keeps it in memory, so Get, Wait and
  // followers see the end.
  const bool stored = a->Change(*store_, std::move(final), lines);
  MutexLock lock(&mu_);
  MutexLock job_lock(&a->mu);
  a->CloseFollowers({JobLogEvent::Type::kEnd, a->job.log_lines, "", a->job.state});
  if (stored) active_.erase(a->id);
  ended_cv_.NotifyAll();
}

}  // namespace marquee
