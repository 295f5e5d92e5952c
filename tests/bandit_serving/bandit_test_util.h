// Helpers for the bandit serving suites: register a policy as a registry version.
#pragma once

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "bandits/policy.h"
#include "common/sha256.h"
#include "marquee/env.h"
#include "registry/registry.h"
#include "test_util.h"

namespace marquee::testing {

// Saves `policy` into $home/artifacts under its sha256 and registers it as the next version of
// `model`; returns the version.
inline int64_t RegisterPolicy(const std::string& home, const std::string& model,
                              const Policy& policy) {
  Registry reg(home);  // first: a home with artifacts but no registry is refused as damaged
  TempDir tmp;
  const std::string path = tmp.file("policy.mqm");
  policy.Save(path, Env::Default());
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string digest = Sha256Hex(bytes);
  std::filesystem::create_directories(home + "/artifacts");
  std::filesystem::copy_file(path, home + "/artifacts/" + digest + ".mqm",
                             std::filesystem::copy_options::overwrite_existing);
  NewVersion nv;
  nv.model_name = model;
  nv.artifact = digest;
  nv.family = policy.config().family;
  nv.created_at = 1;
  return reg.store().RegisterVersion(nv).version;
}

// Points `alias` of `model` at `version` directly in the store (no promotion checks).
inline void SetAlias(const std::string& home, const std::string& model, const std::string& alias,
                     int64_t version) {
  Registry reg(home);
  AliasMove m;
  m.alias = alias;
  auto aliases = reg.store().ListAliases(model);
  for (const auto& [a, v] : aliases) {
    if (a == alias) m.from_version = v;
  }
  m.to_version = version;
  m.action = "promote";
  m.at = 1;
  reg.store().MoveAlias(model, m);
}

// A softmax policy over three actions a, b, c trained a little with these rewards (by default
// it prefers the first), so its distribution is not uniform.
inline std::unique_ptr<Policy> SkewedPolicy(std::array<double, 3> rewards = {1.0, 0.0, 0.5},
                                            double temperature = 0.25) {
  PolicyConfig c;
  c.family = "softmax";
  c.params = {{"temperature", temperature}};
  auto p = MakePolicy(c);
  DecisionInput in;
  in.context = {{"hour", 21.0}};
  for (const char* id : {"a", "b", "c"}) in.actions.push_back({id, {}});
  for (int i = 0; i < 30; ++i) {
    for (size_t a = 0; a < 3; ++a) p->Update(in, a, rewards[a], 1.0 / 3);
  }
  return p;
}

}  // namespace marquee::testing
