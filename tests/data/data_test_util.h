// Helpers shared by the data-layer tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "marquee/dataset.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee::testing {

// Runs `f`, which must throw marquee::Error, and returns the error (a test failure otherwise).
template <typename F>
Error CatchError(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a marquee::Error";
  return Error(ErrorCode::kInternal, "<no error thrown>");
}

inline void WriteText(const std::string& path, std::string_view text) {
  Env::Default()->WriteFileAtomic(path, text);
}

template <typename T>
std::vector<T> ToVector(std::span<const T> s) {
  return std::vector<T>(s.begin(), s.end());
}

inline std::vector<std::string> UserIds(const Dataset& ds) {
  std::vector<std::string> out;
  for (uint32_t u = 0; u < ds.num_users(); ++u) out.emplace_back(ds.user_id(u));
  return out;
}

inline std::vector<std::string> ItemIds(const Dataset& ds) {
  std::vector<std::string> out;
  for (uint32_t i = 0; i < ds.num_items(); ++i) out.emplace_back(ds.item_id(i));
  return out;
}

}  // namespace marquee::testing
