// Env: every operating-system touch (files, directories, clocks) goes through this interface so
// tests can substitute an in-memory or fault-injecting implementation (see tests/common).
// All methods throw marquee::Error (kNotFound, kIOError) on failure. Env::Default() is
// thread-safe; implementations must be too.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace marquee {

// A file being written. Data becomes visible at `path` only after Commit(), which flushes it to
// disk (fsync), renames it into place atomically and syncs the directory. Destroying a file that
// was not committed removes the partial data, so a failure never leaves a half-written file.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual void Append(std::string_view data) = 0;
  virtual uint64_t Size() const = 0;
  virtual void Commit() = 0;
};

// A read-only view of a whole file; the memory stays valid while the object lives.
class MappedFile {
 public:
  virtual ~MappedFile() = default;
  virtual std::span<const uint8_t> data() const = 0;
};

// A file read from start to end in pieces, so a reader of a large file holds only its buffer
// (ReadFile holds the whole file; the pages of a MappedFile stay resident once touched).
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to `n` bytes into `buf`; returns how many (0 at the end). kIOError on failure.
  virtual size_t Read(char* buf, size_t n) = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX environment. Never null; not owned by the caller.
  static Env* Default();

  virtual std::string ReadFile(const std::string& path) = 0;
  // Writes `data` to `path` atomically (temporary file, fsync, rename, directory fsync).
  virtual void WriteFileAtomic(const std::string& path, std::string_view data) = 0;
  // Starts an atomic write of `path`; see WritableFile. The caller owns the result.
  virtual std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) = 0;
  virtual std::unique_ptr<MappedFile> MapFile(const std::string& path) = 0;
  // Opens `path` for reading in pieces (kNotFound / kIOError). The default reads through
  // MapFile; the POSIX Env reads with read(2), so memory stays bounded by the caller's buffer.
  virtual std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& path);
  virtual bool FileExists(const std::string& path) = 0;
  virtual uint64_t FileSize(const std::string& path) = 0;
  // Creates `path` and missing parents; succeeds if it already exists.
  virtual void CreateDirs(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, sorted. kNotFound if it is missing.
  virtual std::vector<std::string> ListDir(const std::string& path) = 0;
  virtual void RemoveFile(const std::string& path) = 0;
  virtual void RenameFile(const std::string& from, const std::string& to) = 0;
  // Seconds since the Unix epoch.
  virtual int64_t NowSeconds() = 0;
};

}  // namespace marquee
