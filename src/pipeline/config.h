// TrainConfig: the one config file that drives `marquee train` (docs/config.md), for any kind of
// model. Parsed from TOML; `--set section.key=value` overrides are applied before validation.
// [model] family picks the kind (core/model_kind.h), which parses and validates the sections
// itself. Unknown sections or keys and wrong types are kInvalidArgument errors naming the key.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/model_kind.h"

namespace marquee {

struct TrainConfig {
  const ModelKind* kind = nullptr;             // owns `family`
  std::shared_ptr<const KindConfig> settings;  // the kind's parsed config
  std::string family;
  std::string model_name;   // [model] name; default: the config file's stem
  std::string description;  // [model] description ("" when none)
  nlohmann::json params;    // [model] parameters as the kind records them
  int threads = 0;          // [run] threads; 0: all cores
  nlohmann::json as_given;  // the whole config (after overrides) as JSON, for records

  // The kind's settings as their concrete type; kInternal when the kind is another.
  template <class T>
  const T& As() const {
    const T* t = dynamic_cast<const T*>(settings.get());
    if (t == nullptr) ThrowNotKind(typeid(T).name());
    return *t;
  }

 private:
  [[noreturn]] void ThrowNotKind(const char* type) const;
};

// Parses TOML text. `origin` (the file path, or "<string>") resolves relative paths and names
// the model by default. `overrides` are "section.key=value" with a TOML value (strings may be
// bare). `kinds`: the kinds to choose from (default: the built-in ones).
TrainConfig ParseTrainConfig(const std::string& toml_text, const std::string& origin,
                             const std::vector<std::string>& overrides,
                             const KindRegistry* kinds = nullptr);
TrainConfig LoadTrainConfig(const std::string& path, const std::vector<std::string>& overrides,
                            const KindRegistry* kinds = nullptr);

}  // namespace marquee
