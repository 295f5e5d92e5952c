#include "registry/artifact_store.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <random>
#include <system_error>

#include "common/sha256.h"
#include "marquee/env.h"
#include "marquee/error.h"
#include "registry/backend_url.h"

namespace marquee {
namespace {

constexpr std::string_view kSuffix = ".mqm";

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Makes `link` ($home/artifacts) a symbolic link to `shared`, or checks that it is one. Env has
// no symbolic links, so this one step uses std::filesystem. Two processes racing to create the
// link both succeed: the loser finds the winner's link, pointing where it wants.
void LinkToShared(const std::string& link, const std::string& shared) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const fs::file_status st = fs::symlink_status(link, ec);
    if (fs::is_symlink(st)) {
      const fs::path target = fs::read_symlink(link, ec);
      if (!ec && fs::equivalent(link, shared, ec) && !ec) return;
      Fail(ErrorCode::kFailedPrecondition,
           "'{}' is a link to '{}', but the artifacts are configured in '{}' (remove the link: "
           "it is made again, pointing there)",
           link, target.string(), shared);
    }
    if (fs::is_directory(st)) {
      if (fs::is_empty(link, ec) && !ec && fs::remove(link, ec)) continue;
      Fail(ErrorCode::kFailedPrecondition,
           "'{}' holds this home's own artifacts, but the artifacts are configured in '{}': move "
           "its files there (they are named by their sha256: `cp -n`), then remove the directory",
           link, shared);
    }
    if (fs::exists(st)) {
      Fail(ErrorCode::kFailedPrecondition,
           "'{}' is a file, but the artifacts are configured in '{}' (it should be a link there)",
           link, shared);
    }
    fs::create_directory_symlink(shared, link, ec);
    if (!ec) return;
    if (ec != std::errc::file_exists) {
      Fail(ErrorCode::kIOError, "cannot link '{}' to the shared artifacts '{}': {}", link, shared,
           ec.message());
    }
  }
  Fail(ErrorCode::kIOError, "cannot link '{}' to the shared artifacts '{}'", link, shared);
}

std::string ArtifactDir(const std::string& home, Env* env) {
  const BackendConfig backends = ResolveBackends(home, env);
  if (backends.artifacts.empty()) return home + "/artifacts";
  const std::string shared = ParseArtifactsUrl(backends.artifacts);
  env->CreateDirs(shared);
  env->CreateDirs(home);
  LinkToShared(home + "/artifacts", shared);
  return shared;
}

}  // namespace

ArtifactStore::ArtifactStore(std::string home, Env* env)
    : dir_(ArtifactDir(home, env)), env_(env) {}

bool ArtifactStore::IsDigest(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string ArtifactStore::PathFor(const std::string& digest) const {
  if (!IsDigest(digest)) {
    Fail(ErrorCode::kInvalidArgument, "'{}' is not an artifact digest (64 hex digits)", digest);
  }
  return dir_ + "/" + digest + std::string(kSuffix);
}

bool ArtifactStore::Exists(const std::string& digest) const {
  return env_->FileExists(PathFor(digest));
}

void ArtifactStore::Verify(const std::string& digest) const {
  const std::string path = PathFor(digest);
  if (!env_->FileExists(path)) Fail(ErrorCode::kNotFound, "artifact '{}' is missing", path);
  auto file = env_->MapFile(path);
  auto bytes = file->data();
  Sha256 sha;
  // Hash in slices so a huge artifact is not touched twice by the page cache at once.
  constexpr size_t kSlice = 64 << 20;
  for (size_t off = 0; off < bytes.size(); off += kSlice) {
    const size_t n = std::min(kSlice, bytes.size() - off);
    sha.Update(std::string_view(reinterpret_cast<const char*>(bytes.data()) + off, n));
  }
  const std::string actual = sha.HexDigest();
  if (actual != digest) {
    Fail(ErrorCode::kCorruption, "artifact '{}' is damaged: its sha256 is {}", path, actual);
  }
}

std::vector<std::string> ArtifactStore::List() const {
  std::vector<std::string> out;
  if (!env_->FileExists(dir_)) return out;
  for (const auto& name : env_->ListDir(dir_)) {
    if (!EndsWith(name, kSuffix)) continue;
    std::string stem = name.substr(0, name.size() - kSuffix.size());
    if (IsDigest(stem)) out.push_back(std::move(stem));
  }
  return out;
}

std::vector<std::string> ArtifactStore::ListTemporaries() const {
  std::vector<std::string> out;
  if (!env_->FileExists(dir_)) return out;
  for (const auto& name : env_->ListDir(dir_)) {
    if (IsTemporaryName(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool ArtifactStore::IsTemporaryName(const std::string& name) {
  return name.rfind("incoming-", 0) == 0 || name.rfind(".incoming-", 0) == 0 ||
         name.find(".tmp.") != std::string::npos;
}

namespace {

// A decimal process id at the start of `s` ending at `stop` (a pid has at most 10 digits: a
// longer run of digits is something else, such as a random hex number). 0 if there is none.
int64_t PidPrefix(std::string_view s, char stop) {
  int64_t pid = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), pid);
  const size_t digits = static_cast<size_t>(p - s.data());
  if (ec != std::errc() || digits == 0 || digits > 10 || digits == s.size() || *p != stop) {
    return 0;
  }
  return pid > 0 ? pid : 0;
}

}  // namespace

int64_t ArtifactStore::WriterPid(const std::string& name) {
  // incoming-<pid>-<hex>.mqm[.tmp.<pid>.<n>]
  if (name.rfind("incoming-", 0) == 0) return PidPrefix(std::string_view(name).substr(9), '-');
  // .incoming-<pid>-<hex16>-<n><ext>[.tmp.<pid>.<n>]; the old .incoming-<hex16>-<n><ext> has
  // none (16 hex digits may all be decimal digits, hence the length bound in PidPrefix).
  if (name.rfind(".incoming-", 0) == 0) {
    if (int64_t pid = PidPrefix(std::string_view(name).substr(10), '-'); pid > 0) return pid;
  }
  // <file>.tmp.<pid>.<n>
  if (const size_t tmp = name.rfind(".tmp."); tmp != std::string::npos) {
    return PidPrefix(std::string_view(name).substr(tmp + 5), '.');
  }
  return 0;
}

void ArtifactStore::Remove(const std::string& digest) const { env_->RemoveFile(PathFor(digest)); }

// --- staging

StagedArtifact::StagedArtifact(StagedArtifact&& o) noexcept
    : env_(o.env_),
      temp_path_(std::exchange(o.temp_path_, std::string())),
      digest_(std::move(o.digest_)),
      bytes_(o.bytes_) {}

StagedArtifact::~StagedArtifact() {
  if (temp_path_.empty()) return;
  try {
    env_->RemoveFile(temp_path_);
  } catch (const Error&) {
    // gc removes it once this process has exited (its pid is in the name).
  }
}

template <typename Fn>
StagedArtifact ArtifactStore::StageWith(Fn&& write) const {
  env_->CreateDirs(dir_);
  std::random_device rd;
  const std::string temp =
      fmt::format("{}/incoming-{}-{:08x}{:08x}{}", dir_, ::getpid(), rd(), rd(), kSuffix);
  Sha256 sha;
  std::unique_ptr<WritableFile> f = env_->NewWritableFile(temp);
  write([&](std::string_view chunk) {
    sha.Update(chunk);
    f->Append(chunk);
  });
  f->Commit();
  return StagedArtifact(env_, temp, sha.HexDigest(), f->Size());
}

StagedArtifact ArtifactStore::Stage(std::string_view bytes) const {
  return StageWith([&](auto&& append) { append(bytes); });
}

StagedArtifact ArtifactStore::StageFile(const std::string& path) const {
  std::unique_ptr<MappedFile> in = env_->MapFile(path);
  const std::span<const uint8_t> data = in->data();
  return StageWith([&](auto&& append) {
    constexpr size_t kSlice = 1 << 20;
    for (size_t off = 0; off < data.size(); off += kSlice) {
      append(std::string_view(reinterpret_cast<const char*>(data.data()) + off,
                              std::min(kSlice, data.size() - off)));
    }
  });
}

void ArtifactStore::Publish(StagedArtifact& staged) const {
  if (staged.temp_path_.empty()) {
    Fail(ErrorCode::kInternal, "artifact {} was published already", staged.digest_);
  }
  const std::string path = PathFor(staged.digest_);
  if (env_->FileExists(path)) {
    env_->RemoveFile(staged.temp_path_);  // the same bytes are there already
  } else {
    env_->RenameFile(staged.temp_path_, path);
  }
  staged.temp_path_.clear();
}

void ArtifactStore::RemoveTemporary(const std::string& name) const {
  if (name.find('/') != std::string::npos) {
    Fail(ErrorCode::kInvalidArgument, "'{}' is not a file name", name);
  }
  env_->RemoveFile(dir_ + "/" + name);
}

uint64_t ArtifactStore::SizeOf(const std::string& name) const {
  return env_->FileSize(dir_ + "/" + (IsDigest(name) ? name + std::string(kSuffix) : name));
}

}  // namespace marquee
