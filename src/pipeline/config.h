// TrainConfig: the one config file that drives `marquee train` (docs/config.md), for any kind of
// model. Parsed from TOML (or the same document as JSON); `--set section.key=value` overrides are
// applied before validation. [model] family picks the kind (core/model_kind.h), which parses and
// validates the sections itself. Unknown sections or keys and wrong types are kInvalidArgument
// errors naming the key.
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
// Parses a config given as JSON text (as an API request sends it): one object whose members are
// the sections, each an object of the same keys and values as in TOML, e.g.
// {"data": {"dataset": "ml100k"}, "model": {"family": "ease", "lambda": 500.0}} is the TOML
// `[data] dataset = "ml100k"` + `[model] family = "ease"` `lambda = 500.0`. Integers stay
// integers (`64` is TOML's `64`, `64.0` a float); null (no TOML counterpart), integers beyond
// int64 and documents nested deeper than 64 levels are kInvalidArgument naming the key. Then
// exactly as ParseTrainConfig: the same overrides, checks and errors.
TrainConfig ParseTrainConfigJson(const std::string& json_text, const std::string& origin,
                                 const std::vector<std::string>& overrides,
                                 const KindRegistry* kinds = nullptr);
// A TOML document as JSON (tables -> objects, dates as text): what the config parsers read.
// kInvalidArgument "origin:line:column: what" on a syntax error.
nlohmann::json ParseTomlDocument(const std::string& toml_text, const std::string& origin);
// The inverse for configs written by tools (e.g. a study's best configuration): objects of
// objects become [section] tables. kInvalidArgument for null values.
std::string JsonToTomlText(const nlohmann::json& document);
TrainConfig LoadTrainConfig(const std::string& path, const std::vector<std::string>& overrides,
                            const KindRegistry* kinds = nullptr);

}  // namespace marquee
