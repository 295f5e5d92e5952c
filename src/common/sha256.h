// SHA-256 digests (OpenSSL's EVP) used to content-address snapshots and artifacts.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace marquee {

class Env;

// Incremental hasher. Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  // Lower-case hex digest (64 characters). Call once.
  std::string HexDigest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string Sha256Hex(std::string_view data);
// The sha256 of a file's bytes (memory-mapped through `env`). Errors as Env::MapFile's.
std::string Sha256File(const std::string& path, Env* env);

}  // namespace marquee
