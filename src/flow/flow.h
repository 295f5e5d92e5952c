// FLOW.toml: what `marquee pipeline run` runs (docs/pipelines.md).
//
//   [pipeline]
//   name = "fresh-ml100k"        # names the pipeline's runs (catalog name rule)
//   model = "ml100k-ease"        # the registry model the flow keeps fresh
//   [server]                     # optional: for steps that need live traffic
//   url = "http://127.0.0.1:8080"
//   token_env = "MARQUEE_API_KEY"  # the API key is read from this environment variable
//   [[step]]
//   name = "data"                # unique within the flow (catalog name rule)
//   kind = "snapshot"            # a registered step kind (flow/step.h)
//   ...                          # the kind's own keys, checked by the kind
//
// ParseFlow checks everything before anything runs: unknown sections or keys, wrong types,
// duplicate step names and each kind's own keys are kInvalidArgument errors that name the file,
// the step and the key.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace marquee::flow {

struct FlowStep {
  std::string name;
  std::string kind;
  nlohmann::json spec;  // the [[step]] table as JSON, name and kind included
};

struct Flow {
  std::string origin;  // the file path (or "<string>"), for messages
  std::string dir;     // the file's directory: relative paths in steps resolve against it
  std::string text;    // the TOML as given (recorded with each pipeline run)
  std::string name;
  std::string model;
  std::string server_url;  // "" when no [server]
  std::string token_env;   // "" when none
  std::vector<FlowStep> steps;

  // Index of step `name`, or -1.
  int Find(const std::string& name) const;
};

// Parses a flow. `origin` names it in errors; `dir` resolves steps' relative paths ("" : the
// directory of `origin`). Throws kInvalidArgument "ORIGIN: step 'NAME': ..." on any problem.
Flow ParseFlow(const std::string& toml_text, const std::string& origin,
               const std::string& dir = "");
// Reads and parses the file at `path` through Env::Default(). kNotFound when it is missing.
Flow LoadFlow(const std::string& path);

}  // namespace marquee::flow
