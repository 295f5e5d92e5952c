// ArtifactStore: the content-addressed model files under $home/artifacts/<sha256>.mqm.
// Writing is each kind's save function (temporary file, fsync, rename to the digest, directory
// fsync; e.g. SaveModelBundle); this class verifies artifacts (the file's sha256 must equal its
// name) and lists and removes files for `marquee gc`. Thread-safe (it holds no state besides its
// paths).
#pragma once

#include <string>
#include <vector>

namespace marquee {

class Env;

class ArtifactStore {
 public:
  ArtifactStore(std::string home, Env* env);

  const std::string& dir() const { return dir_; }
  // $home/artifacts/<digest>.mqm. kInvalidArgument unless `digest` is 64 lower-case hex digits.
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

 private:
  std::string dir_;
  Env* env_;
};

}  // namespace marquee
