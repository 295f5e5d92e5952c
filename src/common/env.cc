#include "marquee/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "common/mapped_pages.h"
#include "common/temp_name.h"
#include "marquee/error.h"

namespace marquee {
namespace {

[[noreturn]] void ThrowErrno(const std::string& what, const std::string& path) {
  int e = errno;
  ErrorCode code = (e == ENOENT || e == ENOTDIR) ? ErrorCode::kNotFound : ErrorCode::kIOError;
  Fail(code, "{} '{}': {}", what, path, std::strerror(e));
}

std::string DirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

void SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: some filesystems refuse directory fds
  ::fsync(fd);
  ::close(fd);
}

class PosixWritableFile final : public WritableFile {
 public:
  explicit PosixWritableFile(std::string path) : path_(std::move(path)), tmp_(TempName(path_)) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) ThrowErrno("cannot create", tmp_);
    buffer_.reserve(kBufferSize);
  }
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  void Append(std::string_view data) override {
    size_ += data.size();
    if (buffer_.size() + data.size() <= kBufferSize) {
      buffer_.append(data);
      return;
    }
    Flush();
    if (data.size() >= kBufferSize) {
      WriteAll(data);
    } else {
      buffer_.append(data);
    }
  }
  uint64_t Size() const override { return size_; }
  void Commit() override {
    Flush();
    if (::fsync(fd_) != 0) ThrowErrno("cannot sync", tmp_);
    if (::close(fd_) != 0) {
      fd_ = -1;
      ThrowErrno("cannot close", tmp_);
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) ThrowErrno("cannot rename into", path_);
    committed_ = true;
    SyncDir(DirName(path_));
  }

 private:
  static constexpr size_t kBufferSize = 1 << 20;
  void Flush() {
    WriteAll(buffer_);
    buffer_.clear();
  }
  void WriteAll(std::string_view data) {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        ThrowErrno("cannot write", tmp_);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  std::string path_, tmp_;
  std::string buffer_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool committed_ = false;
};

class PosixMappedFile final : public MappedFile {
 public:
  explicit PosixMappedFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) ThrowErrno("cannot open", path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      ThrowErrno("cannot stat", path);
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        ThrowErrno("cannot map", path);
      }
      data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
  }
  ~PosixMappedFile() override {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  std::span<const uint8_t> data() const override { return {data_, size_}; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  explicit PosixSequentialFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) ThrowErrno("cannot open", path_);
  }
  ~PosixSequentialFile() override { ::close(fd_); }
  size_t Read(char* buf, size_t n) override {
    for (;;) {
      const ssize_t got = ::read(fd_, buf, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) ThrowErrno("cannot read", path_);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// The default: a mapping read in pieces (for Envs that only map files).
class MappedSequentialFile final : public SequentialFile {
 public:
  explicit MappedSequentialFile(std::unique_ptr<MappedFile> file) : file_(std::move(file)) {}
  size_t Read(char* buf, size_t n) override {
    const auto d = file_->data();
    const size_t take = std::min(n, d.size() - pos_);
    if (take > 0) std::memcpy(buf, d.data() + pos_, take);
    pos_ += take;
    return take;
  }

 private:
  std::unique_ptr<MappedFile> file_;
  size_t pos_ = 0;
};

class PosixEnv final : public Env {
 public:
  std::unique_ptr<SequentialFile> NewSequentialFile(const std::string& path) override {
    return std::make_unique<PosixSequentialFile>(path);
  }
  std::string ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) ThrowErrno("cannot open", path);
    std::string out;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        ::close(fd);
        ThrowErrno("cannot read", path);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }
  void WriteFileAtomic(const std::string& path, std::string_view data) override {
    PosixWritableFile f(path);
    f.Append(data);
    f.Commit();
  }
  std::unique_ptr<WritableFile> NewWritableFile(const std::string& path) override {
    return std::make_unique<PosixWritableFile>(path);
  }
  std::unique_ptr<MappedFile> MapFile(const std::string& path) override {
    return std::make_unique<PosixMappedFile>(path);
  }
  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
  uint64_t FileSize(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) ThrowErrno("cannot stat", path);
    return static_cast<uint64_t>(st.st_size);
  }
  void CreateDirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) Fail(ErrorCode::kIOError, "cannot create directory '{}': {}", path, ec.message());
  }
  std::vector<std::string> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) ThrowErrno("cannot list", path);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
  void RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) ThrowErrno("cannot remove", path);
  }
  void RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) ThrowErrno("cannot rename", from);
    SyncDir(DirName(to));
  }
  int64_t NowSeconds() override { return static_cast<int64_t>(::time(nullptr)); }
};

}  // namespace

std::string TempName(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter.fetch_add(1));
}

std::unique_ptr<SequentialFile> Env::NewSequentialFile(const std::string& path) {
  return std::make_unique<MappedSequentialFile>(MapFile(path));
}

Env* Env::Default() {
  static PosixEnv env;
  return &env;
}

size_t PageSize() noexcept {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

void ReleaseMappedPages(const void* begin, const void* end) noexcept {
  const uintptr_t page = PageSize();
  const uintptr_t b = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const uintptr_t e = reinterpret_cast<uintptr_t>(end) / page * page;
  if (e > b) (void)::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

}  // namespace marquee
