// Shared helpers of the fuzz harnesses (tests/fuzz/README.md): a per-process scratch folder
// (removed at exit), writing an input to a file for the readers that take a path, and the
// rule for exceptions. A harness lets marquee::Error pass (the documented answer to bad input)
// and lets anything else escape, so libFuzzer (or the standalone driver) reports it as a crash:
// the project's one error model says bad input is a marquee::Error naming the problem, never a
// std::out_of_range or a json::type_error.
// Thread-safety: none needed (libFuzzer calls LLVMFuzzerTestOneInput from one thread).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "marquee/error.h"

namespace marquee::fuzz {

// A scratch folder for this process ($TMPDIR, else /dev/shm, else /tmp), created on first use,
// removed at exit.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    // /dev/shm by default: the loaders under test fsync what they write (atomic writes), which
    // on a disk would cost more than the parsing being fuzzed; on tmpfs fsync is free.
    const char* base = std::getenv("TMPDIR");
    std::string root = base != nullptr && *base != '\0' ? base : "/tmp";
    if ((base == nullptr || *base == '\0') && ::access("/dev/shm", W_OK) == 0) root = "/dev/shm";
    std::string tmpl = root + "/marquee-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    static std::string cleanup;
    cleanup = tmpl;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(cleanup, ec);
    });
    return tmpl;
  }();
  return dir;
}

// Writes `bytes` to ScratchDir()/name (plainly: the loaders under test do the checking) and
// returns the path.
inline std::string WriteInput(const std::string& name, std::string_view bytes) {
  std::string path = ScratchDir() + "/" + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Fails the run (abort: libFuzzer saves the input) when `ok` is false.
inline void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace marquee::fuzz
