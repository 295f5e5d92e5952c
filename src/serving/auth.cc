#include "serving/auth.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "marquee/error.h"

namespace marquee::serving {

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
    if (!k.keys_.emplace(key, mask).second) {
      Fail(ErrorCode::kInvalidArgument, "{}:{}: key given twice", source, lineno);
    }
  }
  return k;
}

void ApiKeys::Check(bool has_key, std::string_view key, Scope needed,
                    std::string_view route) const {
  if (!enabled_ || needed == kScopeNone) return;
  if (!has_key) {
    Fail(ErrorCode::kUnauthenticated,
         "{} needs an API key (Authorization: Bearer KEY or X-API-Key: KEY)", route);
  }
  auto it = keys_.find(std::string(key));
  if (it == keys_.end()) Fail(ErrorCode::kUnauthenticated, "unknown API key");
  if ((it->second & needed) == 0) {
    Fail(ErrorCode::kPermissionDenied, "this API key lacks the '{}' scope that {} needs",
         ScopeName(needed), route);
  }
}

}  // namespace marquee::serving
