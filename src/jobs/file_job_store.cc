// FileJobStore: jobs as JSON files under $home/jobs (see job_store.h).
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/mutex.h"
#include "jobs/job_store.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {
namespace {

// docs/formats/jobs.md: the version of the record layout, stored in every record.
constexpr int kFormatVersion = 1;

// The id of a file named "<id>.json" (digits only, > 0), or 0 for any other name.
int64_t RecordId(std::string_view name) {
  constexpr std::string_view kExt = ".json";
  if (name.size() <= kExt.size() || !name.ends_with(kExt)) return 0;
  name.remove_suffix(kExt.size());
  if (name.front() == '0') return 0;
  int64_t id = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
  return ec == std::errc() && end == name.data() + name.size() ? id : 0;
}

// The writer pid of Env's temporary file "<file>.tmp.<pid>.<n>", or -1 for any other name.
long TempWriterPid(std::string_view name) {
  const size_t tmp = name.rfind(".tmp.");
  if (tmp == std::string_view::npos) return -1;
  name.remove_prefix(tmp + 5);
  long pid = -1;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
  return ec == std::errc() && end != name.data() + name.size() && *end == '.' ? pid : -1;
}

class FileJobStore final : public JobStore {
 public:
  FileJobStore(std::string dir, Env* env) : dir_(std::move(dir)), env_(env) {
    env_->CreateDirs(dir_);
    int64_t max_id = 0;
    for (const std::string& name : env_->ListDir(dir_)) {
      max_id = std::max(max_id, RecordId(name));
      const long pid = TempWriterPid(name);
      if (pid >= 0 && pid != static_cast<long>(::getpid())) {
        spdlog::info("jobs: removing {}/{}, left by process {} that ended mid-write", dir_, name,
                     pid);
        env_->RemoveFile(dir_ + "/" + name);
      }
    }
    next_id_ = max_id + 1;
  }

  Job Create(Job job) override {
    MutexLock lock(&mu_);  // ids in creation order: two creates never write one id
    job.id = next_id_;
    Put(job);
    ++next_id_;
    return job;
  }

  void Put(const Job& job) override {
    if (job.id <= 0) Fail(ErrorCode::kInternal, "job store: Put of a job without an id");
    nlohmann::json record = JobToJson(job);
    record["format_version"] = kFormatVersion;
    env_->WriteFileAtomic(RecordPath(job.id), record.dump(2) + "\n");
  }

  std::optional<Job> Get(int64_t id) override {
    const std::string path = RecordPath(id);
    if (id <= 0 || !env_->FileExists(path)) return std::nullopt;
    return Read(path);
  }

  std::vector<Job> List(const JobFilter& filter, size_t limit, int64_t before_id) override {
    std::vector<int64_t> ids;
    for (const std::string& name : env_->ListDir(dir_)) {
      const int64_t id = RecordId(name);
      if (id > 0 && id < before_id) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end(), std::greater<>());
    std::vector<Job> out;
    for (int64_t id : ids) {
      if (out.size() >= limit) break;
      Job job = Read(RecordPath(id));
      if (filter.Matches(job)) out.push_back(std::move(job));
    }
    return out;
  }

  void AppendLog(int64_t id, const std::vector<std::string>& lines) override {
    if (lines.empty()) return;
    const std::string path = LogPath(id);
    std::string text = env_->FileExists(path) ? env_->ReadFile(path) : std::string();
    for (const std::string& line : lines) {
      text += line;
      text += '\n';
    }
    env_->WriteFileAtomic(path, text);
  }

  std::vector<std::string> ReadLog(int64_t id, int64_t offset, size_t limit) override {
    std::vector<std::string> out;
    const std::string path = LogPath(id);
    if (id <= 0 || !env_->FileExists(path)) return out;
    const std::string text = env_->ReadFile(path);
    int64_t line = 0;
    size_t begin = 0;
    while (begin < text.size() && out.size() < limit) {
      size_t end = text.find('\n', begin);
      if (end == std::string::npos) end = text.size();  // not written by AppendLog; keep it
      if (line++ >= offset) out.emplace_back(text, begin, end - begin);
      begin = end + 1;
    }
    return out;
  }

 private:
  std::string RecordPath(int64_t id) const { return dir_ + "/" + std::to_string(id) + ".json"; }
  std::string LogPath(int64_t id) const { return dir_ + "/" + std::to_string(id) + ".log"; }

  Job Read(const std::string& path) {
    const nlohmann::json j = nlohmann::json::parse(env_->ReadFile(path), nullptr, false);
    if (j.is_discarded()) Fail(ErrorCode::kCorruption, "{}: not a JSON job record", path);
    const auto v = j.is_object() ? j.find("format_version") : j.end();
    if (j.is_object() && (v == j.end() || !v->is_number_integer() || *v != kFormatVersion)) {
      Fail(ErrorCode::kCorruption, "{}: job record format_version {} (this build reads {})", path,
           v != j.end() ? v->dump() : "missing", kFormatVersion);
    }
    return JobFromJson(j, path);
  }

  const std::string dir_;
  Env* const env_;
  Mutex mu_;
  int64_t next_id_ GUARDED_BY(mu_) = 1;
};

}  // namespace

std::unique_ptr<JobStore> OpenFileJobStore(const std::string& dir, Env* env) {
  return std::make_unique<FileJobStore>(dir, env != nullptr ? env : Env::Default());
}

}  // namespace marquee
