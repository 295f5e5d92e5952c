#include "models/artifact.h"

#include <cstring>

#include "common/sha256.h"

namespace marquee {
namespace {
constexpr char kMagic[8] = {'M', 'Q', 'M', 'O', 'D', 'E', 'L', '\0'};
constexpr uint64_t kAlign = 64;
uint64_t AlignUp(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kF32:
      return "f32";
    case DType::kF64:
      return "f64";
    case DType::kU32:
      return "u32";
    case DType::kU64:
      return "u64";
    case DType::kI64:
      return "i64";
    case DType::kU8:
      return "u8";
  }
  return "?";
}
}  // namespace

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32:
      return 4;
    case DType::kF64:
      return 8;
    case DType::kU32:
      return 4;
    case DType::kU64:
      return 8;
    case DType::kI64:
      return 8;
    case DType::kU8:
      return 1;
  }
  return 0;
}

void ArtifactWriter::AddRaw(const std::string& name, DType dtype, std::vector<uint64_t> shape,
                            std::span<const uint8_t> bytes) {
  AddProduced(name, dtype, std::move(shape), bytes.size(), nullptr);
  entries_.back().bytes = bytes;
}

void ArtifactWriter::AddProduced(const std::string& name, DType dtype, std::vector<uint64_t> shape,
                                 uint64_t nbytes, Producer produce) {
  uint64_t elems = 1;
  for (uint64_t d : shape) elems *= d;
  if (elems * DTypeSize(dtype) != nbytes) {
    Fail(ErrorCode::kInternal, "tensor '{}': shape does not match its {} bytes", name, nbytes);
  }
  for (const Entry& e : entries_) {
    if (e.name == name) Fail(ErrorCode::kInternal, "tensor '{}' added twice", name);
  }
  entries_.push_back({name, dtype, std::move(shape), {}, nbytes, std::move(produce)});
}

std::string ArtifactWriter::Write(const std::string& path, Env* env) const {
  nlohmann::json header = header_;
  header["family"] = family_;
  header["format_version"] = kArtifactFormatVersion;
  nlohmann::json tensors = nlohmann::json::array();
  uint64_t offset = 0;
  for (const Entry& e : entries_) {
    tensors.push_back({{"name", e.name},
                       {"dtype", static_cast<int>(e.dtype)},
                       {"dtype_name", DTypeName(e.dtype)},
                       {"shape", e.shape},
                       {"offset", offset},
                       {"nbytes", e.nbytes}});
    offset = AlignUp(offset + e.nbytes);
  }
  header["tensors"] = tensors;
  std::string hjson = header.dump();

  auto file = env->NewWritableFile(path);
  Sha256 sha;
  auto put = [&](std::string_view s) {
    file->Append(s);
    sha.Update(s);
  };
  put(std::string_view(kMagic, 8));
  uint32_t fixed[2] = {kArtifactFormatVersion, static_cast<uint32_t>(hjson.size())};
  put(std::string_view(reinterpret_cast<const char*>(fixed), sizeof(fixed)));
  put(hjson);
  const std::string zeros(kAlign, '\0');
  uint64_t pos = 16 + hjson.size();
  put(std::string_view(zeros.data(), AlignUp(pos) - pos));
  for (const Entry& e : entries_) {
    if (e.produce) {
      uint64_t got = 0;
      e.produce([&](std::string_view s) {
        got += s.size();
        if (got > e.nbytes) Fail(ErrorCode::kInternal, "tensor '{}': too many bytes", e.name);
        put(s);
      });
      if (got != e.nbytes) {
        Fail(ErrorCode::kInternal, "tensor '{}': {} bytes of {}", e.name, got, e.nbytes);
      }
    } else {
      put(std::string_view(reinterpret_cast<const char*>(e.bytes.data()), e.bytes.size()));
    }
    put(std::string_view(zeros.data(), AlignUp(e.nbytes) - e.nbytes));
  }
  file->Commit();
  return sha.HexDigest();
}

std::unique_ptr<ArtifactReader> ArtifactReader::Open(const std::string& path, Env* env) {
  auto r = std::unique_ptr<ArtifactReader>(new ArtifactReader());
  r->path_ = path;
  r->file_ = env->MapFile(path);
  auto data = r->file_->data();
  if (data.size() < 16 || std::memcmp(data.data(), kMagic, 8) != 0) {
    Fail(ErrorCode::kCorruption, "'{}' is not a Marquee model artifact (bad magic)", path);
  }
  uint32_t fixed[2];
  std::memcpy(fixed, data.data() + 8, sizeof(fixed));
  r->version_ = fixed[0];
  if (r->version_ == 0 || r->version_ > kArtifactFormatVersion) {
    Fail(ErrorCode::kCorruption, "'{}' has artifact format version {}; this build reads up to {}",
         path, r->version_, kArtifactFormatVersion);
  }
  if (16 + static_cast<uint64_t>(fixed[1]) > data.size()) {
    Fail(ErrorCode::kCorruption, "'{}' is truncated (header)", path);
  }
  try {
    r->header_ = nlohmann::json::parse(
        std::string_view(reinterpret_cast<const char*>(data.data() + 16), fixed[1]));
    r->family_ = r->header_.at("family").get<std::string>();
    uint64_t base = AlignUp(16 + fixed[1]);
    for (const auto& t : r->header_.at("tensors")) {
      Tensor tensor;
      tensor.dtype = static_cast<DType>(t.at("dtype").get<int>());
      tensor.shape = t.at("shape").get<std::vector<uint64_t>>();
      uint64_t off = base + t.at("offset").get<uint64_t>();
      uint64_t n = t.at("nbytes").get<uint64_t>();
      uint64_t elems = 1;
      for (uint64_t d : tensor.shape) elems *= d;
      if (DTypeSize(tensor.dtype) == 0 || elems * DTypeSize(tensor.dtype) != n ||
          off + n > data.size() || off + n < off ||
          off % kAlign != 0) {  // the writer aligns every tensor; typed views need it
        Fail(ErrorCode::kCorruption, "'{}' is truncated or damaged (tensor '{}')", path,
             t.at("name").get<std::string>());
      }
      tensor.bytes = data.subspan(off, n);
      r->tensors_[t.at("name").get<std::string>()] = tensor;
    }
  } catch (const nlohmann::json::exception& e) {
    Fail(ErrorCode::kCorruption, "'{}' has a damaged header: {}", path, e.what());
  }
  return r;
}

std::vector<uint64_t> ArtifactReader::Shape(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) Fail(ErrorCode::kCorruption, "artifact has no tensor '{}'", name);
  return it->second.shape;
}

const ArtifactReader::Tensor& ArtifactReader::Find(const std::string& name, DType want) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    Fail(ErrorCode::kCorruption, "artifact '{}' has no tensor '{}'", path_, name);
  }
  if (it->second.dtype != want) {
    Fail(ErrorCode::kCorruption, "artifact '{}': tensor '{}' is {}, expected {}", path_, name,
         DTypeName(it->second.dtype), DTypeName(want));
  }
  return it->second;
}

}  // namespace marquee
