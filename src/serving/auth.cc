#include "serving/auth.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "common/sha256.h"
#include "marquee/error.h"

namespace marquee {

std::string_view ScopeName(Scope s) {
  switch (s) {
    case kScopeRead:
      return "read";
    case kScopeWrite:
      return "write";
    case kScopeAdmin:
      return "admin";
    default:
      return "none";
  }
}

ApiKeys ApiKeys::Load(const std::string& path) {
  std::ifstream f(path);
  if (!f) Fail(ErrorCode::kNotFound, "API key file '{}' cannot be read", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return Parse(ss.str(), path);
}

ApiKeys ApiKeys::Parse(std::string_view text, const std::string& source) {
  ApiKeys k;
  k.enabled_ = true;
  std::istringstream in{std::string(text)};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream ls(line);
    std::string key, scopes, extra;
    if (!(ls >> key)) continue;
    if (!(ls >> scopes) || (ls >> extra)) {
      Fail(ErrorCode::kInvalidArgument, "{}:{}: expected 'KEY SCOPE[,SCOPE...]'", source, lineno);
    }
    if (key.size() < 16) {
      Fail(ErrorCode::kInvalidArgument, "{}:{}: key shorter than 16 characters", source, lineno);
    }
    for (char c : key) {
      if (!std::isalnum(static_cast<unsigned char>(c)) &&
          std::string_view("._~+/=-").find(c) == std::string_view::npos) {
        Fail(ErrorCode::kInvalidArgument, "{}:{}: key has a character outside [A-Za-z0-9._~+/=-]",
             source, lineno);
      }
    }
    unsigned mask = 0;
    std::istringstream ss(scopes);
    std::string s;
    while (std::getline(ss, s, ',')) {
      if (s == "read") {
        mask |= kScopeRead;
      } else if (s == "write") {
        mask |= kScopeWrite;
      } else if (s == "admin") {
        mask |= kScopeAdmin;
      } else {
        Fail(ErrorCode::kInvalidArgument, "{}:{}: unknown scope '{}' (read, write, admin)", source,
             lineno, s);
      }
    }
    const Digest digest = DigestOf(key);
    for (const Entry& e : k.keys_) {
      if (e.digest == digest) {
        Fail(ErrorCode::kInvalidArgument, "{}:{}: key given twice", source, lineno);
      }
    }
    k.keys_.push_back({digest, mask});
  }
  if (k.keys_.empty()) {
    Fail(ErrorCode::kInvalidArgument,
         "{}: no API key in the file, so every request would be refused; add 'KEY "
         "SCOPE[,SCOPE...]' lines, or leave out --api-keys to allow every request",
         source);
  }
  return k;
}

ApiKeys::Digest ApiKeys::DigestOf(std::string_view key) {
  const std::string hex = Sha256Hex(key);
  Digest d{};
  auto nibble = [](char c) -> uint8_t {
    return static_cast<uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  };
  for (size_t i = 0; i < d.size(); ++i) {
    d[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return d;
}

void ApiKeys::Check(bool has_key, std::string_view key, Scope needed,
                    std::string_view route) const {
  if (!enabled_ || needed == kScopeNone) return;
  if (!has_key) {
    Fail(ErrorCode::kUnauthenticated,
         "{} needs an API key (Authorization: Bearer KEY or X-API-Key: KEY)", route);
  }
  // Every stored digest is compared, each in full: the time taken depends on the number of keys
  // only, not on which key matched or how much of it.
  const Digest presented = DigestOf(key);
  unsigned scopes = 0;
  unsigned found = 0;
  for (const Entry& e : keys_) {
    uint8_t diff = 0;
    for (size_t i = 0; i < presented.size(); ++i) diff |= presented[i] ^ e.digest[i];
    // 1 when diff == 0, else 0, without a branch on the digest bytes.
    const unsigned match = 1u & ((static_cast<unsigned>(diff) - 1u) >> 8);
    found |= match;
    scopes |= e.scopes & (0u - match);
  }
  if (found == 0) Fail(ErrorCode::kUnauthenticated, "unknown API key");
  if ((scopes & needed) == 0) {
    Fail(ErrorCode::kPermissionDenied, "this API key lacks the '{}' scope that {} needs",
         ScopeName(needed), route);
  }
}

}  // namespace marquee
