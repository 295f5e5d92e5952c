// Model artifacts: a versioned, type-tagged binary container of named tensors plus a JSON
// header (docs/formats/model-artifact.md). Writers stream the file atomically; readers
// memory-map it and verify every tensor lies inside the file.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "marquee/env.h"
#include "marquee/error.h"

namespace marquee {

enum class DType : uint8_t { kF32 = 1, kF64 = 2, kU32 = 3, kU64 = 4, kI64 = 5, kU8 = 6 };

template <typename T>
constexpr DType DTypeOf();
template <>
constexpr DType DTypeOf<float>() {
  return DType::kF32;
}
template <>
constexpr DType DTypeOf<double>() {
  return DType::kF64;
}
template <>
constexpr DType DTypeOf<uint32_t>() {
  return DType::kU32;
}
template <>
constexpr DType DTypeOf<uint64_t>() {
  return DType::kU64;
}
template <>
constexpr DType DTypeOf<int64_t>() {
  return DType::kI64;
}
template <>
constexpr DType DTypeOf<uint8_t>() {
  return DType::kU8;
}

size_t DTypeSize(DType t);

inline constexpr uint32_t kArtifactFormatVersion = 1;

// Collects tensors (by reference: the spans must stay valid until Write) and writes them.
class ArtifactWriter {
 public:
  ArtifactWriter(std::string family, nlohmann::json header)
      : family_(std::move(family)), header_(std::move(header)) {}

  template <typename T>
  void Add(const std::string& name, std::span<const T> data, std::vector<uint64_t> shape = {}) {
    if (shape.empty()) shape = {data.size()};
    AddRaw(name, DTypeOf<T>(), std::move(shape),
           {reinterpret_cast<const uint8_t*>(data.data()), data.size() * sizeof(T)});
  }
  void AddRaw(const std::string& name, DType dtype, std::vector<uint64_t> shape,
              std::span<const uint8_t> bytes);
  // A tensor of `nbytes` bytes produced while writing: `produce(put)` calls put with its bytes
  // in order (at most nbytes in all; kInternal otherwise), so large tensors stream from disk.
  using Producer = std::function<void(const std::function<void(std::string_view)>& put)>;
  void AddProduced(const std::string& name, DType dtype, std::vector<uint64_t> shape,
                   uint64_t nbytes, Producer produce);
  nlohmann::json& header() { return header_; }

  // Writes the artifact atomically to `path`; returns the sha256 of the file's bytes.
  std::string Write(const std::string& path, Env* env) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<uint64_t> shape;
    std::span<const uint8_t> bytes;
    uint64_t nbytes = 0;
    Producer produce;  // when set, the bytes come from it
  };
  std::string family_;
  nlohmann::json header_;
  std::vector<Entry> entries_;
};

// Reads an artifact by memory-mapping it. Tensor spans stay valid while the reader lives.
class ArtifactReader {
 public:
  static std::unique_ptr<ArtifactReader> Open(const std::string& path, Env* env);

  const std::string& family() const { return family_; }
  uint32_t format_version() const { return version_; }
  const nlohmann::json& header() const { return header_; }
  bool Has(const std::string& name) const { return tensors_.count(name) > 0; }
  std::vector<uint64_t> Shape(const std::string& name) const;

  // Typed view of a tensor; kCorruption if it is missing or of another dtype.
  template <typename T>
  std::span<const T> Get(const std::string& name) const {
    const Tensor& t = Find(name, DTypeOf<T>());
    return {reinterpret_cast<const T*>(t.bytes.data()), t.bytes.size() / sizeof(T)};
  }
  template <typename T>
  std::vector<T> GetVector(const std::string& name) const {
    auto s = Get<T>(name);
    return {s.begin(), s.end()};
  }

 private:
  struct Tensor {
    DType dtype;
    std::vector<uint64_t> shape;
    std::span<const uint8_t> bytes;
  };
  const Tensor& Find(const std::string& name, DType want) const;

  std::unique_ptr<MappedFile> file_;
  std::string path_;
  std::string family_;
  uint32_t version_ = 0;
  nlohmann::json header_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace marquee
