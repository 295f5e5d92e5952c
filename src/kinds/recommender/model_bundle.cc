#include "kinds/recommender/model_bundle.h"

#include <unistd.h>

#include <filesystem>
#include <random>
#include <span>
#include <string_view>

#include "marquee/env.h"
#include "marquee/error.h"
#include "models/artifact.h"
#include "registry/artifact_store.h"

namespace marquee {

std::string SaveModelBundle(const Recommender& model, const std::vector<std::string>& item_ids,
                            const nlohmann::json& meta, const std::string& home, Env* env,
                            std::string* digest, const TrainingHistory* training) {
  if (item_ids.size() != model.num_items()) {
    Fail(ErrorCode::kInternal, "model has {} items but the dictionary {}", model.num_items(),
         item_ids.size());
  }
  std::vector<uint64_t> offsets{0};
  std::string blob;
  for (const auto& id : item_ids) {
    blob += id;
    offsets.push_back(blob.size());
  }
  ArtifactWriter w(std::string(model.family()),
                   {{"params", model.params()}, {"meta", meta}, {"num_items", model.num_items()}});
  w.Add<uint64_t>("item_ids.offsets", offsets);
  w.Add<uint8_t>("item_ids.blob", std::span<const uint8_t>(
                                      reinterpret_cast<const uint8_t*>(blob.data()), blob.size()));
  std::vector<uint64_t> user_offsets{0};
  std::string user_blob;
  if (training != nullptr) {
    const CsrMatrix& h = training->history;
    if (h.rows != training->user_ids.size() || h.cols != item_ids.size() ||
        h.values.size() != h.indices.size()) {
      Fail(ErrorCode::kInternal, "training history is {}x{} for {} users and {} items", h.rows,
           h.cols, training->user_ids.size(), item_ids.size());
    }
    for (const auto& id : training->user_ids) {
      user_blob += id;
      user_offsets.push_back(user_blob.size());
    }
    w.Add<uint64_t>("users.offsets", user_offsets);
    w.Add<uint8_t>("users.blob",
                   std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(user_blob.data()),
                                            user_blob.size()));
    w.Add<uint64_t>("history.indptr", h.indptr);
    w.Add<uint32_t>("history.indices", h.indices);
    w.Add<float>("history.values", h.values);
  }
  model.Save(w);
  // The home's artifact directory, or the shared one its backends name (artifacts = file://).
  const std::string dir = ArtifactStore(home, env).dir();
  env->CreateDirs(dir);
  // Write under a unique temporary name, then rename to the digest: readers never see a
  // partial artifact, and identical models share one file.
  std::random_device rd;
  const std::string tmp = fmt::format("{}/incoming-{}-{:08x}.mqm", dir, ::getpid(), rd());
  std::string sha = w.Write(tmp, env);
  const std::string path = dir + "/" + sha + ".mqm";
  env->RenameFile(tmp, path);
  if (digest != nullptr) *digest = sha;
  return path;
}

namespace {

// The strings of a dictionary stored as offsets into a blob (item or user ids). Every offset is
// checked before it is used: a damaged one must not make the loader read past the mapped file.
std::vector<std::string> ReadDictionary(std::span<const uint64_t> offsets,
                                        std::span<const uint8_t> blob, const std::string& path,
                                        std::string_view what) {
  if (offsets.empty()) Fail(ErrorCode::kCorruption, "'{}': damaged {} dictionary", path, what);
  std::vector<std::string> out;
  out.reserve(offsets.size() - 1);
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    if (offsets[i] > offsets[i + 1] || offsets[i + 1] > blob.size()) {
      Fail(ErrorCode::kCorruption, "'{}': damaged {} dictionary", path, what);
    }
    out.emplace_back(reinterpret_cast<const char*>(blob.data()) + offsets[i],
                     offsets[i + 1] - offsets[i]);
  }
  return out;
}

}  // namespace

ModelBundle LoadModelBundle(const std::string& path, Env* env) {
  auto r = ArtifactReader::Open(path, env);
  ModelBundle b;
  const auto& h = r->header();
  try {
    b.meta = h.value("meta", nlohmann::json::object());
    b.model = CreateRecommender(r->family(), h.at("params"));
    b.model->Load(*r);  // a family reads its own header keys: one catch for all of them
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "'{}': damaged header: {}", path, e.what());
  }
  auto offsets = r->Get<uint64_t>("item_ids.offsets");
  auto blob = r->Get<uint8_t>("item_ids.blob");
  b.item_ids = ReadDictionary(offsets, blob, path, "item");
  if (b.item_ids.size() != b.model->num_items()) {
    Fail(ErrorCode::kCorruption, "'{}': {} item ids for a model of {} items", path,
         b.item_ids.size(), b.model->num_items());
  }
  if (r->Has("users.offsets")) {
    TrainingHistory t;
    auto uoff = r->Get<uint64_t>("users.offsets");
    auto ublob = r->Get<uint8_t>("users.blob");
    t.user_ids = ReadDictionary(uoff, ublob, path, "user");
    CsrMatrix& h = t.history;
    h.rows = static_cast<uint32_t>(t.user_ids.size());
    h.cols = static_cast<uint32_t>(b.item_ids.size());
    h.indptr = r->GetVector<uint64_t>("history.indptr");
    h.indices = r->GetVector<uint32_t>("history.indices");
    h.values = r->GetVector<float>("history.values");
    bool ok = h.indptr.size() == size_t{h.rows} + 1 && h.indptr.front() == 0 &&
              h.indptr.back() == h.indices.size() && h.values.size() == h.indices.size();
    for (size_t i = 0; ok && i + 1 < h.indptr.size(); ++i) ok = h.indptr[i] <= h.indptr[i + 1];
    for (size_t i = 0; ok && i < h.indices.size(); ++i) ok = h.indices[i] < h.cols;
    if (!ok) Fail(ErrorCode::kCorruption, "'{}': damaged training history", path);
    b.training = std::move(t);
  }
  b.digest = std::filesystem::path(path).stem().string();
  return b;
}

}  // namespace marquee
