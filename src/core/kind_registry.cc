#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "core/model_kind.h"
#include "marquee/error.h"

namespace marquee {

ImportedModel ModelKind::Import(const std::string&, const std::string& family, const std::string&,
                                const std::string&, Env*) const {
  Fail(ErrorCode::kUnimplemented, "{} models (family '{}') cannot be imported from a file", noun(),
       family);
}

TrainResult TrainResultFromDetails(nlohmann::json details, std::string family,
                                   std::string model_name, const std::string& train_file) {
  TrainResult r;
  r.family = std::move(family);
  r.model_name = std::move(model_name);
  try {
    r.params = details.at("params");
    for (const auto& k : details.at("metric_order")) {
      const std::string name = k.get<std::string>();
      r.metrics.emplace_back(name, details.at("metrics").at(name).get<double>());
    }
    r.timings = details.at("timings");
    r.protocol = details.at("protocol").get<std::string>();
    r.split = details.at("split");
    r.protocol_identity = {{"protocol", r.protocol}, {"split", r.split}};
    const auto& d = details.at("dataset");
    r.dataset.id = d.value("id", "");
    r.dataset.name = d.value("name", "");
    r.dataset.source = d.value("source", "");
    if (r.dataset.id.empty()) {  // a file: named by its stem, found by its absolute path
      r.dataset.file = train_file;
      r.dataset.name = std::filesystem::path(train_file).stem().string();
      r.dataset.source = std::filesystem::absolute(train_file).lexically_normal().string();
    }
    r.dataset.schema = d.value("schema", nlohmann::json());
    r.dataset.stats = d.contains("stats")
                          ? d.at("stats")
                          : nlohmann::json{{"users", d.value("users", 0)},
                                           {"items", d.value("items", 0)},
                                           {"interactions", d.value("interactions", uint64_t{0})}};
    r.artifact = details.at("artifact").get<std::string>();
    r.artifact_sha256 = details.at("artifact_sha256").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kInternal, "a training job's result lacks what the registry records: {}",
         e.what());
  }
  r.details = std::move(details);
  return r;
}

void KindRegistry::Add(std::unique_ptr<ModelKind> kind) {
  const std::vector<std::string> families = kind->families();
  for (const auto& family : families) {
    if (const ModelKind* owner = Find(family)) {
      Fail(ErrorCode::kInternal, "model family '{}' is claimed by both the {} and the {} kind",
           family, owner->name(), kind->name());
    }
  }
  for (const auto& family : families) {
    by_family_.emplace(family, kind.get());
    families_.push_back(family);
  }
  kinds_.push_back(std::move(kind));
}

const ModelKind* KindRegistry::Find(std::string_view family) const {
  auto it = by_family_.find(family);
  return it == by_family_.end() ? nullptr : it->second;
}

const ModelKind& KindRegistry::Get(std::string_view family) const {
  if (const ModelKind* k = Find(family)) return *k;
  Fail(ErrorCode::kInvalidArgument, "unknown model family '{}' (known: {})", family,
       fmt::join(Families(), ", "));
}

const ModelKind* KindRegistry::ByName(std::string_view name) const {
  for (const auto& k : kinds_) {
    if (k->name() == name) return k.get();
  }
  return nullptr;
}

std::vector<std::string> KindRegistry::Families() const { return families_; }

}  // namespace marquee
