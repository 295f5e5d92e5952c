// ApiKeys: optional API keys with scopes for `marquee serve --api-keys FILE`.
//
// File format (docs/api/openapi.yaml, "security"): one key per line, `KEY SCOPE[,SCOPE...]`,
// optionally followed by `# comment`; blank lines and lines starting with # are ignored.
// Scopes: read (recommend, similar-items, models), write (events), admin (reload). Keys are at
// least 16 characters of [A-Za-z0-9._~+/=-]. Clients send `Authorization: Bearer KEY` or
// `X-API-Key: KEY`. A file with no key is refused (it would refuse every request).
//
// Only SHA-256 digests of the keys are kept. A presented key is hashed and compared with every
// stored digest in constant time (no early exit, no hash-table probe), so response timing does
// not reveal how much of a key, or of its digest, was right.
// Thread-safe after construction (read-only).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace marquee {

enum Scope : unsigned { kScopeNone = 0, kScopeRead = 1, kScopeWrite = 2, kScopeAdmin = 4 };

class ApiKeys {
 public:
  ApiKeys() = default;  // disabled: every request is allowed
  // kNotFound for a missing file, kInvalidArgument naming FILE:LINE for a bad line and naming
  // the file when it holds no key.
  static ApiKeys Load(const std::string& path);
  static ApiKeys Parse(std::string_view text, const std::string& source);

  bool enabled() const { return enabled_; }
  size_t size() const { return keys_.size(); }
  // Throws kUnauthenticated when enabled and `key` is absent or unknown, kPermissionDenied when
  // the key lacks `needed`.
  void Check(bool has_key, std::string_view key, Scope needed, std::string_view route) const;

 private:
  using Digest = std::array<uint8_t, 32>;
  static Digest DigestOf(std::string_view key);
  struct Entry {
    Digest digest;
    unsigned scopes;
  };
  bool enabled_ = false;
  std::vector<Entry> keys_;
};

std::string_view ScopeName(Scope s);

}  // namespace marquee
