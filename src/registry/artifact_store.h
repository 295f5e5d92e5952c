// ArtifactStore: the content-addressed files under $home/artifacts/<sha256>.mqm: model artifacts
// and the files logged to external runs (remote tracking), stored as given. With
// `artifacts = "file:///shared/dir"` in the home's backends (registry/backend_url.h) they live in
// that directory instead, shared by every process and machine that names it (an NFS mount in a
// cluster): a version trained on one machine loads on every replica. The home's `artifacts`
// entry is then a symbolic link to it, so every kind's writer (which writes under
// $home/artifacts) writes there too, by the same temporary-and-rename, within that directory.
// Writing a model artifact is each kind's save function (temporary file, fsync, rename to the
// digest, directory fsync; e.g. SaveModelBundle); a run's file is written through Stage + Publish
// below, the same way. This class verifies artifacts (the file's sha256 must equal its name) and
// lists and removes files for `marquee gc`. Thread-safe (it holds no state besides its paths).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace marquee {

class Env;

// A file written in full (fsynced) into the artifact directory under a temporary name
// (incoming-<pid>-<hex>.mqm, which gc leaves alone while this process lives), with its sha256.
// ArtifactStore::Publish renames it to its digest; one destroyed unpublished is removed.
// Move-only; not thread-safe.
class StagedArtifact {
 public:
  StagedArtifact(StagedArtifact&& o) noexcept;
  StagedArtifact& operator=(StagedArtifact&&) = delete;
  StagedArtifact(const StagedArtifact&) = delete;
  StagedArtifact& operator=(const StagedArtifact&) = delete;
  ~StagedArtifact();

  const std::string& digest() const { return digest_; }
  uint64_t bytes() const { return bytes_; }

 private:
  friend class ArtifactStore;
  StagedArtifact(Env* env, std::string temp_path, std::string digest, uint64_t bytes)
      : env_(env), temp_path_(std::move(temp_path)), digest_(std::move(digest)), bytes_(bytes) {}
  Env* env_;
  std::string temp_path_;  // "" once published or moved from
  std::string digest_;
  uint64_t bytes_ = 0;
};

class ArtifactStore {
 public:
  // The artifact directory of `home`: $home/artifacts, or the `artifacts =` directory of its
  // backends (ResolveBackends), which is created when missing, and then $home/artifacts is made a
  // symbolic link to it (the home is created when missing). Errors: the backends' (a bad
  // marquee.toml), kFailedPrecondition when $home/artifacts is a directory with files or a
  // link elsewhere (naming both: move the files into the shared directory), kIOError.
  ArtifactStore(std::string home, Env* env);

  const std::string& dir() const { return dir_; }
  // dir()/<digest>.mqm. kInvalidArgument unless `digest` is 64 lower-case hex digits.
  std::string PathFor(const std::string& digest) const;
  bool Exists(const std::string& digest) const;
  // Recomputes the file's sha256: kNotFound if it is missing, kCorruption if it differs.
  void Verify(const std::string& digest) const;

  // Digests of the finished artifacts present, sorted.
  std::vector<std::string> List() const;
  // Names of leftovers of interrupted writes (incoming-*, *.tmp.*), sorted.
  std::vector<std::string> ListTemporaries() const;
  // Whether `name` is a temporary file of an atomic write: "incoming-*" (model artifacts),
  // ".incoming-*" (catalog snapshots) or "*.tmp.<pid>.<n>" (Env::WriteFileAtomic and friends).
  static bool IsTemporaryName(const std::string& name);
  // The writer's process id embedded in a temporary's name ("incoming-<pid>-...",
  // ".incoming-<pid>-...", "...tmp.<pid>.<n>"), 0 if it has none (e.g. ".incoming-<hex>-<n>"
  // written before the pid was embedded).
  static int64_t WriterPid(const std::string& temporary_name);
  void Remove(const std::string& digest) const;
  void RemoveTemporary(const std::string& name) const;
  uint64_t SizeOf(const std::string& name) const;

  static bool IsDigest(const std::string& s);

  // Copies `bytes`, or the file at `path` (read through a memory map, in slices, never whole in
  // memory), into a staged artifact, computing its sha256 on the way. kNotFound / kIOError
  // name the path that failed; nothing is left behind then.
  StagedArtifact Stage(std::string_view bytes) const;
  StagedArtifact StageFile(const std::string& path) const;
  // Renames the staged file to PathFor(its digest) (when that artifact exists already, it has the
  // same content: the staged copy is removed instead). Call it holding the registry store's
  // write lock (MetadataStore::Atomically), as gc does, and record the reference in the same
  // transaction, so gc never sees the artifact unreferenced. kIOError if the rename fails.
  void Publish(StagedArtifact& staged) const;

 private:
  // Stages what `write` appends to the file it is given (chunks through `append`).
  template <typename Fn>
  StagedArtifact StageWith(Fn&& write) const;

  std::string dir_;
  Env* env_;
};

}  // namespace marquee
