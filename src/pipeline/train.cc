#include "pipeline/train.h"

#include <filesystem>

#include "common/communicator.h"
#include "kinds/builtin.h"
#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {

Registry OpenRegistry(const std::string& home) {
  RegistryOptions o;
  o.home = home;
  o.kinds = &BuiltinKinds();
  return Registry(std::move(o));
}

TrainResult RunTraining(const TrainConfig& config, const TrainOptions& options) {
  if (const Communicator* comm = options.ctx.comm;
      comm != nullptr && comm->size() > 1 && !config.kind->can_train_distributed()) {
    Fail(ErrorCode::kUnimplemented,
         "{} models ({}) cannot train across {} ranks; run `marquee train` without mpirun",
         config.kind->noun(), config.family, comm->size());
  }
  TrainJob job{options.home, options.ctx};
  return config.kind->Train(*config.settings, job);
}

std::string FormatTrainReport(const TrainConfig& config, const TrainResult& result) {
  return config.kind->FormatReport(result.details);
}

RunSpec RunSpecOf(const TrainConfig& c, const std::string& config_path,
                  const std::vector<std::string>& overrides, Env* env) {
  RunSpec r;
  r.model_name = c.model_name;
  r.family = c.family;
  r.description = c.description;
  r.params = c.params;
  r.config_given = {{"overrides", overrides}};
  if (!config_path.empty()) {
    r.config_given["file"] = std::filesystem::absolute(config_path).lexically_normal().string();
    r.config_given["text"] = env->ReadFile(config_path);
  }
  r.config_given["parsed"] = c.as_given;
  r.config_resolved = c.settings->Resolved();
  return r;
}

nlohmann::json RegisteredTraining::ToJson() const {
  nlohmann::json j = result.details;
  j["run_id"] = run_id;
  j["model"] = version.model_name;
  j["version"] = version.version;
  return j;
}

RegisteredTraining TrainAndRegister(const TrainConfig& config, const TrainOptions& options,
                                    Registry& registry, const std::string& config_path,
                                    const std::vector<std::string>& overrides) {
  return TrainAndRegister(config, options, registry,
                          RunSpecOf(config, config_path, overrides, registry.env()));
}

RegisteredTraining TrainAndRegister(const TrainConfig& config, const TrainOptions& options,
                                    Registry& registry, const RunSpec& spec) {
  RegisteredTraining out;
  out.run_id = registry.StartTrainingRun(spec);
  try {
    out.result = RunTraining(config, options);
    out.report = FormatTrainReport(config, out.result);
    out.version = registry.FinishTrainingRun(out.run_id, out.result, out.report);
  } catch (const std::exception& e) {
    registry.FailRun(out.run_id, e.what());
    throw;
  }
  return out;
}

}  // namespace marquee
