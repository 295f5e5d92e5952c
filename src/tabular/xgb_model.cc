#include "tabular/xgb_model.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/text.h"
#include "marquee/error.h"

namespace marquee {
namespace {

// Checks an XGBoost return code; `code` is the error code a failure maps to.
void Check(int rc, const char* call, ErrorCode code = ErrorCode::kInternal) {
  if (rc != 0) Fail(code, "xgboost {} failed: {}", call, XGBGetLastError());
}

std::vector<const char*> CStrings(const std::vector<std::string>& v) {
  std::vector<const char*> out;
  out.reserve(v.size());
  for (const auto& s : v) out.push_back(s.c_str());
  return out;
}

std::string ArrayInterface(const float* data, uint64_t rows, uint64_t cols) {
  return fmt::format(R"({{"data": [{}, true], "shape": [{}, {}], "typestr": "<f4", "version": 3}})",
                     reinterpret_cast<uintptr_t>(data), rows, cols);
}

// Parses "[12]\tvalid-logloss:0.4321" (the last metric on the line).
double ParseEvalLine(const std::string& line, std::string* metric) {
  const size_t colon = line.rfind(':');
  const size_t tab = line.rfind('\t', colon);
  if (colon == std::string::npos || tab == std::string::npos) {
    Fail(ErrorCode::kInternal, "cannot parse XGBoost's evaluation line '{}'", line);
  }
  const std::string name = line.substr(tab + 1, colon - tab - 1);
  *metric = name.substr(name.find('-') + 1);
  return std::strtod(line.c_str() + colon + 1, nullptr);
}

bool HigherIsBetter(const std::string& metric) {
  return metric.rfind("auc", 0) == 0 || metric.rfind("aucpr", 0) == 0 ||
         metric.rfind("map", 0) == 0 || metric.rfind("ndcg", 0) == 0 || metric.rfind("pre", 0) == 0;
}

// Reads UBJSON bytes exactly as libxgboost's UBJReader would, but checking every length
// against the bytes left and bounding the nesting (see CheckXgbModelBytes), into a document for
// ModelChecker: numbers keep XGBoost's kind (integer markers -> integers, 'd' -> float), a
// repeated key keeps its first value (as XGBoost's map emplace does), and a typed array becomes
// a binary value whose subtype is its element marker ('d', 'U', 'l', 'L') holding the raw
// big-endian elements, so the checker can tell typed from plain arrays as XGBoost does.
class UbjReader {
 public:
  explicit UbjReader(std::span<const uint8_t> bytes) : b_(bytes) {}

  nlohmann::json Run() {
    if (b_.empty() || b_[0] != '{') Bad(0, "the model must be one object");
    nlohmann::json root = Value(0);
    if (p_ != b_.size()) {
      Bad(p_, fmt::format("{} unexpected byte(s) after the end of the model", b_.size() - p_));
    }
    return root;
  }

 private:
  [[noreturn]] void Bad(size_t at, std::string_view what) const {
    Fail(ErrorCode::kInvalidArgument,
         "damaged XGBoost UBJSON model: {} (at byte {} of {}); re-save it with "
         "booster.save_model()",
         what, at, b_.size());
  }
  size_t Left() const { return b_.size() - p_; }
  uint8_t Next(std::string_view inside) {
    if (p_ >= b_.size()) Bad(p_, fmt::format("the file ends inside {}", inside));
    return b_[p_++];
  }
  // The next `n` bytes as a big-endian signed integer.
  int64_t BigEndian(size_t n, std::string_view what) {
    if (n > Left()) {
      Bad(p_, fmt::format("{} needs {} byte(s) but only {} are left", what, n, Left()));
    }
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v = (v << 8) | b_[p_++];
    if (n < 8 && (v >> (8 * n - 1)) != 0) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  // XGBoost sizes keys, strings and counts with an 'L' (big-endian int64) only.
  uint64_t Length(std::string_view what) {
    const size_t at = p_;
    if (Next(what) != 'L') Bad(at, fmt::format("{} must be sized by an int64 ('L')", what));
    if (Left() < 8) Bad(p_, fmt::format("the file ends inside the size of {}", what));
    const int64_t v = BigEndian(8, what);
    if (v < 0) Bad(at, fmt::format("{} has a negative size {}", what, v));
    return static_cast<uint64_t>(v);
  }
  std::string Bytes(uint64_t n, std::string_view what) {
    if (n > Left()) {
      Bad(p_, fmt::format("{} needs {} byte(s) but only {} are left", what, n, Left()));
    }
    std::string out(reinterpret_cast<const char*>(b_.data() + p_), static_cast<size_t>(n));
    p_ += static_cast<size_t>(n);
    return out;
  }
  nlohmann::json Value(int depth) {
    if (depth > kMaxModelDepth) {
      Bad(p_, fmt::format("values nested deeper than {} levels", kMaxModelDepth));
    }
    const size_t at = p_;
    const uint8_t c = Next("a value");
    switch (c) {
      case 'Z':
        return nullptr;
      case 'T':
        return true;
      case 'F':
        return true;  // sic: libxgboost 1.7 reads 'F' as true
      case 'i':
      case 'C':
        return BigEndian(1, "an 8-bit value");
      case 'U':
        return BigEndian(1, "an 8-bit value") & 0xff;
      case 'I':
        return BigEndian(2, "a 16-bit integer");
      case 'l':
        return BigEndian(4, "a 32-bit integer");
      case 'L':
        return BigEndian(8, "a 64-bit integer");
      case 'd': {
        const uint32_t bits = static_cast<uint32_t>(BigEndian(4, "a float32"));
        float f;
        std::memcpy(&f, &bits, 4);
        return nlohmann::json::number_float_t{f};
      }
      case 'S':
        return Bytes(Length("a string"), "a string");
      case '{':
        return Object(depth);
      case '[':
        return Array(depth);
      default:
        Bad(at, fmt::format("value marker 0x{:02x} is not one XGBoost reads", c));
    }
  }
  nlohmann::json Object(int depth) {
    nlohmann::json o = nlohmann::json::object();
    for (;;) {
      if (p_ >= b_.size()) Bad(p_, "the file ends inside an object (no closing '}')");
      if (b_[p_] == '}') {
        ++p_;
        return o;
      }
      std::string key = Bytes(Length("an object key"), "an object key");
      nlohmann::json v = Value(depth + 1);
      if (!o.contains(key)) o[std::move(key)] = std::move(v);
    }
  }
  nlohmann::json Array(int depth) {
    if (p_ >= b_.size()) Bad(p_, "the file ends inside an array");
    if (b_[p_] == '$') {  // typed: [$<type>#L<count><count elements>
      ++p_;
      const size_t at = p_;
      const uint8_t type = Next("a typed array");
      const uint64_t width = type == 'U'                    ? 1
                             : (type == 'd' || type == 'l') ? 4
                             : type == 'L'                  ? 8
                                                            : 0;
      if (width == 0) Bad(at, fmt::format("typed array of unsupported type 0x{:02x}", type));
      if (Next("a typed array") != '#') Bad(p_ - 1, "a typed array must have a count ('#')");
      const uint64_t n = Length("a typed array");
      if (n > Left() / width) {
        Bad(p_, fmt::format("a typed array of {} element(s) of {} byte(s) runs past the end", n,
                            width));
      }
      std::vector<uint8_t> raw(b_.begin() + static_cast<std::ptrdiff_t>(p_),
                               b_.begin() + static_cast<std::ptrdiff_t>(p_ + n * width));
      p_ += static_cast<size_t>(n * width);
      return nlohmann::json::binary(std::move(raw), type);
    }
    nlohmann::json a = nlohmann::json::array();
    if (b_[p_] == '#') {  // counted: [#L<count><count values>, no closing ']'
      ++p_;
      const uint64_t n = Length("a counted array");
      if (n > Left()) {
        Bad(p_,
            fmt::format("an array of {} value(s) cannot fit in the {} byte(s) left", n, Left()));
      }
      for (uint64_t i = 0; i < n; ++i) a.push_back(Value(depth + 1));
      return a;
    }
    for (;;) {
      if (p_ >= b_.size()) Bad(p_, "the file ends inside an array (no closing ']')");
      if (b_[p_] == ']') {
        ++p_;
        return a;
      }
      a.push_back(Value(depth + 1));
    }
  }

  std::span<const uint8_t> b_;
  size_t p_ = 0;
};

// Syntax check only: no document is built (nlohmann's SAX parser is iterative).
struct JsonSyntaxCheck : nlohmann::json_sax<nlohmann::json> {
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return Enter(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return Leave(); }
  bool start_array(std::size_t) override { return Enter(); }
  bool end_array() override { return Leave(); }
  bool parse_error(std::size_t /*position*/, const std::string&,
                   const nlohmann::detail::exception& e) override {
    error = e.what();
    return false;
  }
  bool Enter() {
    if (++depth > kMaxModelDepth) {
      error = fmt::format("values nested deeper than {} levels", kMaxModelDepth);
      return false;
    }
    return true;
  }
  bool Leave() {
    --depth;
    return true;
  }
  int depth = 0;
  std::string error;
};

// XGBoost writes non-finite floats as the bare words NaN, Infinity and -Infinity, which are not
// JSON: replace them (outside strings) with numbers of the same length, so nlohmann can check
// and parse the rest. Their values do not matter to the checks below.
std::string WithoutNonFiniteWords(std::span<const uint8_t> bytes) {
  std::string s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (s.compare(i, 3, "NaN") == 0) {
      s.replace(i, 3, "0.0");
      i += 2;
    } else if (s.compare(i, 8, "Infinity") == 0) {
      s.replace(i, 8, "0.000000");
      i += 7;
    }
  }
  return s;
}

// Semantic checks of a parsed model: everything libxgboost 1.7 indexes without a bounds check
// when it loads a model (RegTree::LoadModel, LoadCategoricalSplit, GBTreeModel::LoadModel) or
// walks it to predict (children, split features, tree groups, dart weights).
class ModelChecker {
 public:
  void Run(const nlohmann::json& root) {
    const nlohmann::json& learner = At(root, "learner", "the model");
    const nlohmann::json& lmp = At(learner, "learner_model_param", "learner");
    num_feature_ = IntString(At(lmp, "num_feature", "learner_model_param"),
                             "learner_model_param.num_feature", 0, int64_t{1} << 31);
    const int64_t num_class =
        lmp.contains("num_class")
            ? IntString(lmp["num_class"], "learner_model_param.num_class", 0, int64_t{1} << 20)
            : 0;
    // Output groups: classes, or targets of a multi-output regression (XGBoost takes the larger).
    const int64_t num_target =
        lmp.contains("num_target")
            ? IntString(lmp["num_target"], "learner_model_param.num_target", 0, int64_t{1} << 20)
            : 1;
    groups_ = std::max<int64_t>({1, num_class, num_target});
    const nlohmann::json& gb = At(learner, "gradient_booster", "learner");
    const nlohmann::json& name = At(gb, "name", "gradient_booster");
    if (!name.is_string()) Bad("gradient_booster.name", "expected a string");
    const std::string booster = name.get<std::string>();
    if (booster == "gbtree") return GbTree(At(gb, "model", "gradient_booster"), nullptr);
    if (booster == "dart") {
      return GbTree(At(At(gb, "gbtree", "gradient_booster"), "model", "gradient_booster.gbtree"),
                    &At(gb, "weight_drop", "gradient_booster"));
    }
    if (booster == "gblinear") {
      const nlohmann::json& w = At(At(gb, "model", "gradient_booster"), "weights", "model");
      const uint64_t need =
          static_cast<uint64_t>(num_feature_ + 1) * static_cast<uint64_t>(groups_);
      // UBJSON: a typed float32 array; JSON: a plain array.
      const uint64_t have = w.is_binary() ? w.get_binary().size() / 4 : w.is_array() ? w.size() : 0;
      if (have < need) {
        Bad("gradient_booster.model.weights", fmt::format("expected {} numbers", need));
      }
      return;
    }
    Bad("gradient_booster.name", "unknown booster (gbtree, dart or gblinear expected)");
  }

 private:
  [[noreturn]] static void Bad(const std::string& where, const std::string& what) {
    Fail(ErrorCode::kInvalidArgument, "damaged XGBoost model: {}: {}", where, what);
  }
  static const nlohmann::json& At(const nlohmann::json& o, const char* key,
                                  const std::string& where) {
    if (!o.is_object()) Bad(where, "expected an object");
    auto it = o.find(key);
    if (it == o.end()) Bad(where, fmt::format("'{}' is missing", key));
    return *it;
  }
  // XGBoost stores its parameters as decimal strings ("7").
  static int64_t IntString(const nlohmann::json& v, const std::string& where, int64_t lo,
                           int64_t hi) {
    if (!v.is_string()) Bad(where, "expected a decimal string");
    const std::string& s = v.get_ref<const std::string&>();
    int64_t x = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (ec != std::errc() || end != s.data() + s.size() || x < lo || x > hi) {
      Bad(where, fmt::format("'{}' is not an integer in [{}, {}]", QuoteText(s), lo, hi));
    }
    return x;
  }
  static std::string QuoteText(const std::string& s) { return QuoteForMessage(s, 40); }
  static int64_t Int(const nlohmann::json& v, const std::string& where) {
    if (!v.is_number_integer()) Bad(where, "expected an integer");
    return v.get<int64_t>();
  }
  static const nlohmann::json& Array(const nlohmann::json& o, const char* key,
                                     const std::string& where, int64_t size) {
    const nlohmann::json& a = At(o, key, where);
    if (!a.is_array()) Bad(where + "." + key, "expected an array");
    if (size >= 0 && a.size() != static_cast<uint64_t>(size)) {
      Bad(where + "." + key, fmt::format("{} entries for {}", a.size(), size));
    }
    return a;
  }

  void GbTree(const nlohmann::json& model, const nlohmann::json* weight_drop) {
    const nlohmann::json& param = At(model, "gbtree_model_param", "model");
    const int64_t num_trees = IntString(At(param, "num_trees", "gbtree_model_param"),
                                        "gbtree_model_param.num_trees", 0, int64_t{1} << 24);
    if (param.contains("num_parallel_tree")) {  // absent in models older than 1.6
      IntString(param["num_parallel_tree"], "gbtree_model_param.num_parallel_tree", 1,
                int64_t{1} << 16);
    }
    const nlohmann::json& trees = Array(model, "trees", "model", num_trees);
    const nlohmann::json& info = Array(model, "tree_info", "model", num_trees);
    if (weight_drop != nullptr &&
        (!weight_drop->is_array() || weight_drop->size() != static_cast<uint64_t>(num_trees))) {
      Bad("gradient_booster.weight_drop", fmt::format("expected {} weights", num_trees));
    }
    std::vector<bool> seen(static_cast<size_t>(num_trees), false);
    for (int64_t t = 0; t < num_trees; ++t) {
      const std::string where = fmt::format("trees[{}]", t);
      const int64_t group = Int(info[static_cast<size_t>(t)], fmt::format("tree_info[{}]", t));
      if (group < 0 || group >= groups_) {
        Bad(fmt::format("tree_info[{}]", t), fmt::format("group {} of {}", group, groups_));
      }
      const int64_t id = Int(At(trees[static_cast<size_t>(t)], "id", where), where + ".id");
      if (id < 0 || id >= num_trees || seen[static_cast<size_t>(id)]) {
        Bad(where + ".id", fmt::format("{} is out of range or repeated", id));
      }
      seen[static_cast<size_t>(id)] = true;
      Tree(trees[static_cast<size_t>(t)], where);
    }
  }

  // Tree array `key` checked the way RegTree::LoadModel reads it: in a typed tree (UBJSON typed
  // arrays) a typed array of element `type`; otherwise a plain array whose elements are floats
  // ('d'), integers ('l', 'L', 'u') or booleans / integers ('U'). `n` < 0: any length. Returns
  // the integer elements (nothing for float arrays). Any mismatch would make libxgboost throw
  // inside an OpenMP region, which aborts the process.
  static std::vector<int64_t> TreeArray(const nlohmann::json& t, const char* key,
                                        const std::string& where, bool typed, char type,
                                        int64_t n) {
    const nlohmann::json& a = At(t, key, where);
    const std::string at = where + "." + key;
    std::vector<int64_t> out;
    if (typed) {
      const char want = type == 'u' ? 'U' : type;
      if (!a.is_binary() || !a.get_binary().has_subtype() ||
          a.get_binary().subtype() != static_cast<uint8_t>(want)) {
        Bad(at, fmt::format("expected a typed array of '{}'", want));
      }
      const std::vector<uint8_t>& raw = a.get_binary();
      const size_t width = want == 'U' ? 1 : want == 'L' ? 8 : 4;
      const size_t count = raw.size() / width;
      if (n >= 0 && count != static_cast<size_t>(n)) {
        Bad(at, fmt::format("{} entries for {}", count, n));
      }
      if (want == 'd') return out;
      out.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        uint64_t v = 0;
        for (size_t k = 0; k < width; ++k) v = (v << 8) | raw[i * width + k];
        if (want == 'l') v = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v)));
        out.push_back(static_cast<int64_t>(v));
      }
      return out;
    }
    if (!a.is_array()) Bad(at, "expected an array");
    if (n >= 0 && a.size() != static_cast<size_t>(n)) {
      Bad(at, fmt::format("{} entries for {}", a.size(), n));
    }
    for (size_t i = 0; i < a.size(); ++i) {
      const nlohmann::json& e = a[i];
      if (type == 'd') {
        if (!e.is_number_float()) Bad(fmt::format("{}[{}]", at, i), "expected a float");
        continue;
      }
      if (type == 'U' && e.is_boolean()) {
        out.push_back(e.get<bool>() ? 1 : 0);
        continue;
      }
      if (!e.is_number_integer()) Bad(fmt::format("{}[{}]", at, i), "expected an integer");
      out.push_back(e.get<int64_t>());
    }
    return out;
  }

  void Tree(const nlohmann::json& t, const std::string& where) {
    // TreeParam: every value a decimal string; the known ones in range.
    const nlohmann::json& tp = At(t, "tree_param", where);
    if (!tp.is_object()) Bad(where + ".tree_param", "expected an object");
    for (const auto& [k, v] : tp.items()) {
      if (!v.is_string()) Bad(where + ".tree_param." + QuoteForMessage(k, 40), "expected a string");
    }
    const int64_t n = IntString(At(tp, "num_nodes", where + ".tree_param"),
                                where + ".tree_param.num_nodes", 1, int64_t{1} << 28);
    const int64_t num_deleted =
        tp.contains("num_deleted")
            ? IntString(tp["num_deleted"], where + ".tree_param.num_deleted", 0, n)
            : 0;
    if (tp.contains("num_feature")) {
      IntString(tp["num_feature"], where + ".tree_param.num_feature", 0, int64_t{1} << 31);
    }
    if (tp.contains("size_leaf_vector")) {
      IntString(tp["size_leaf_vector"], where + ".tree_param.size_leaf_vector", 0, 0);
    }
    const nlohmann::json& lc = At(t, "loss_changes", where);
    const bool typed = lc.is_binary();
    const nlohmann::json& si = At(t, "split_indices", where);
    const char index_type =
        si.is_binary() && si.get_binary().has_subtype() && si.get_binary().subtype() == uint8_t{'L'}
            ? 'L'
            : 'l';
    for (const char* k : {"loss_changes", "sum_hessian", "base_weights", "split_conditions"}) {
      TreeArray(t, k, where, typed, 'd', n);
    }
    const std::vector<int64_t> left = TreeArray(t, "left_children", where, typed, 'l', n);
    const std::vector<int64_t> right = TreeArray(t, "right_children", where, typed, 'l', n);
    const std::vector<int64_t> parents = TreeArray(t, "parents", where, typed, 'l', n);
    const std::vector<int64_t> split = TreeArray(t, "split_indices", where, typed, index_type, n);
    const std::vector<int64_t> dleft = TreeArray(t, "default_left", where, typed, 'U', n);
    const bool has_types = t.contains("split_type");
    std::vector<int64_t> types;
    if (has_types) types = TreeArray(t, "split_type", where, typed, 'u', n);
    int64_t deleted = 0;
    for (int64_t i = 1; i < n; ++i) {
      const int64_t p = parents[static_cast<size_t>(i)];
      if (p < 0 || p >= n) Bad(fmt::format("{}.parents[{}]", where, i), "out of range");
      // A deleted node: split index 2^31-1 with default-left set (sindex_ all ones).
      const uint32_t sindex = static_cast<uint32_t>(split[static_cast<size_t>(i)]) |
                              (dleft[static_cast<size_t>(i)] != 0 ? 1u << 31 : 0u);
      if (sindex == ~uint32_t{0}) ++deleted;
    }
    if (deleted != num_deleted) {
      Bad(where, fmt::format("{} deleted node(s), tree_param says {}", deleted, num_deleted));
    }
    // Categorical splits: node ids ascending, each segment inside `categories`.
    std::vector<bool> categorical(static_cast<size_t>(n), false);
    if (has_types) {
      const std::vector<int64_t> nodes = TreeArray(t, "categories_nodes", where, typed, 'l', -1);
      const int64_t k = static_cast<int64_t>(nodes.size());
      const std::vector<int64_t> segs = TreeArray(t, "categories_segments", where, typed, 'L', k);
      const std::vector<int64_t> sizes = TreeArray(t, "categories_sizes", where, typed, 'L', k);
      const std::vector<int64_t> cats = TreeArray(t, "categories", where, typed, 'l', -1);
      int64_t last = -1;
      for (size_t j = 0; j < nodes.size(); ++j) {
        const int64_t id = nodes[j], b = segs[j], len = sizes[j];
        if (id <= last || id >= n || b < 0 || len < 1 ||
            b > static_cast<int64_t>(cats.size()) - len) {
          Bad(fmt::format("{}.categories_nodes[{}]", where, j),
              "node or category segment out of range");
        }
        last = id;
        categorical[static_cast<size_t>(id)] = true;
        for (int64_t c = b; c < b + len; ++c) {
          const int64_t v = cats[static_cast<size_t>(c)];
          if (v < 0 || v >= (int64_t{1} << 24)) {
            Bad(fmt::format("{}.categories[{}]", where, c), "category out of range");
          }
        }
      }
      for (int64_t i = 0; i < n; ++i) {
        const int64_t ty = types[static_cast<size_t>(i)];
        if (ty != 0 && ty != 1) Bad(fmt::format("{}.split_type[{}]", where, i), "not 0 or 1");
      }
    }
    // Walk from the root: every reachable split has two distinct children inside the tree, each
    // reached once (no cycles), a feature the model has, and a category list if categorical.
    std::vector<bool> visited(static_cast<size_t>(n), false);
    std::vector<int64_t> stack = {0};
    visited[0] = true;
    while (!stack.empty()) {
      const int64_t i = stack.back();
      stack.pop_back();
      const int64_t l = left[static_cast<size_t>(i)], r = right[static_cast<size_t>(i)];
      if (l == -1 && r == -1) continue;  // a leaf
      const std::string at = fmt::format("{} node {}", where, i);
      if (l < 1 || l >= n || r < 1 || r >= n || l == r) Bad(at, "children out of range");
      if (visited[static_cast<size_t>(l)] || visited[static_cast<size_t>(r)]) {
        Bad(at, "a child is reached twice (the tree has a cycle)");
      }
      const int64_t f = split[static_cast<size_t>(i)];
      if (f < 0 || f >= num_feature_) {
        Bad(at, fmt::format("split feature {} of {}", f, num_feature_));
      }
      if (has_types && types[static_cast<size_t>(i)] == 1 && !categorical[static_cast<size_t>(i)]) {
        Bad(at, "categorical split without categories");
      }
      visited[static_cast<size_t>(l)] = visited[static_cast<size_t>(r)] = true;
      stack.push_back(l);
      stack.push_back(r);
    }
  }

  int64_t num_feature_ = 0;
  int64_t groups_ = 1;
};

void CheckJsonModel(std::span<const uint8_t> bytes) {
  const std::string text = WithoutNonFiniteWords(bytes);
  JsonSyntaxCheck check;
  if (!nlohmann::json::sax_parse(text, &check)) {
    Fail(ErrorCode::kInvalidArgument, "damaged XGBoost JSON model: {}",
         check.error.empty() ? std::string("invalid JSON") : check.error);
  }
  ModelChecker().Run(nlohmann::json::parse(text));
}

void CheckUbjModel(std::span<const uint8_t> bytes) { ModelChecker().Run(UbjReader(bytes).Run()); }

}  // namespace

void CheckXgbModelBytes(std::span<const uint8_t> bytes) {
  if (bytes.empty()) Fail(ErrorCode::kInvalidArgument, "the XGBoost model is empty");
  if (bytes[0] != '{' || bytes.size() < 2) {
    Fail(ErrorCode::kInvalidArgument,
         "not an XGBoost JSON or UBJSON model (it does not start with '{{'); legacy binary "
         "models are not accepted: re-save it with booster.save_model('model.json')");
  }
  // The dispatch libxgboost itself uses: '"' after the brace is JSON, a letter UBJSON.
  if (bytes[1] == '"') return CheckJsonModel(bytes);
  if (bytes[1] == 'L') return CheckUbjModel(bytes);
  Fail(ErrorCode::kInvalidArgument,
       "not an XGBoost JSON or UBJSON model (byte 0x{:02x} after the opening brace); save it "
       "with booster.save_model('model.json') or ('model.ubj')",
       bytes[1]);
}

std::string XgboostVersion() {
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return fmt::format("{}.{}.{}", major, minor, patch);
}

// --- XgbDMatrix

XgbDMatrix::XgbDMatrix(std::span<const float> data, uint64_t rows, uint64_t cols) {
  if (data.size() != rows * cols) {
    Fail(ErrorCode::kInternal, "dense matrix of {}x{} given {} values", rows, cols, data.size());
  }
  DMatrixHandle h = nullptr;
  Check(
      XGDMatrixCreateFromMat(data.data(), rows, cols, std::numeric_limits<float>::quiet_NaN(), &h),
      "XGDMatrixCreateFromMat");
  h_ = h;
}

XgbDMatrix::~XgbDMatrix() {
  if (h_ != nullptr) XGDMatrixFree(h_);
}

void XgbDMatrix::SetLabels(std::span<const float> labels) {
  Check(XGDMatrixSetFloatInfo(h_, "label", labels.data(), labels.size()), "XGDMatrixSetFloatInfo");
}

void XgbDMatrix::SetFeatureNames(const std::vector<std::string>& names) {
  auto c = CStrings(names);
  Check(XGDMatrixSetStrFeatureInfo(h_, "feature_name", c.data(), c.size()),
        "XGDMatrixSetStrFeatureInfo(feature_name)", ErrorCode::kInvalidArgument);
  names_ = names;
}

void XgbDMatrix::SetFeatureTypes(const std::vector<std::string>& types) {
  auto c = CStrings(types);
  Check(XGDMatrixSetStrFeatureInfo(h_, "feature_type", c.data(), c.size()),
        "XGDMatrixSetStrFeatureInfo(feature_type)", ErrorCode::kInvalidArgument);
  types_ = types;
}

// --- XgbModel

XgbModel::XgbModel() {
  BoosterHandle h = nullptr;
  Check(XGBoosterCreate(nullptr, 0, &h), "XGBoosterCreate");
  h_ = h;
}

XgbModel& XgbModel::operator=(XgbModel&& o) noexcept {
  if (this != &o) {
    if (h_ != nullptr) XGBoosterFree(h_);
    h_ = std::exchange(o.h_, nullptr);
  }
  return *this;
}

XgbModel::~XgbModel() {
  if (h_ != nullptr) XGBoosterFree(h_);
}

XgbModel XgbModel::FromBuffer(std::span<const uint8_t> bytes) {
  CheckXgbModelBytes(bytes);
  XgbModel m;
  Check(XGBoosterLoadModelFromBuffer(m.h_, bytes.data(), bytes.size()),
        "XGBoosterLoadModelFromBuffer", ErrorCode::kInvalidArgument);
  return m;
}

XgbModel XgbModel::Train(const std::vector<std::pair<std::string, std::string>>& params,
                         const XgbDMatrix& train, const XgbDMatrix* valid, int num_round,
                         int early_stopping_rounds, XgbEvalLog* log,
                         const std::function<void(double)>& progress) {
  if (num_round < 1) Fail(ErrorCode::kInvalidArgument, "[model] num_round must be >= 1");
  DMatrixHandle cache[2] = {train.handle(), valid != nullptr ? valid->handle() : nullptr};
  BoosterHandle h = nullptr;
  Check(XGBoosterCreate(cache, valid != nullptr ? 2 : 1, &h), "XGBoosterCreate");
  XgbModel m(h);
  for (const auto& [k, v] : params) {
    Check(XGBoosterSetParam(h, k.c_str(), v.c_str()),
          fmt::format("XGBoosterSetParam({}={})", k, v).c_str(), ErrorCode::kInvalidArgument);
  }
  // As python's Booster does: the model carries its training data's feature names and types.
  if (!train.feature_names().empty()) m.SetFeatureNames(train.feature_names());
  if (!train.feature_types().empty()) m.SetFeatureTypes(train.feature_types());
  XgbEvalLog local;
  XgbEvalLog& lg = log != nullptr ? *log : local;
  int since_best = 0;
  for (int it = 0; it < num_round; ++it) {
    Check(XGBoosterUpdateOneIter(h, it, train.handle()), "XGBoosterUpdateOneIter",
          ErrorCode::kInvalidArgument);
    if (valid != nullptr) {
      DMatrixHandle dm[1] = {valid->handle()};
      const char* names[1] = {"valid"};
      const char* out = nullptr;
      Check(XGBoosterEvalOneIter(h, it, dm, names, 1, &out), "XGBoosterEvalOneIter");
      const double score = ParseEvalLine(out, &lg.metric);
      lg.valid_scores.push_back(score);
      const bool better =
          lg.best_iteration < 0 ||
          (HigherIsBetter(lg.metric) ? score > lg.best_score : score < lg.best_score);
      if (better) {
        lg.best_iteration = it;
        lg.best_score = score;
        since_best = 0;
      } else if (early_stopping_rounds > 0 && ++since_best >= early_stopping_rounds) {
        break;
      }
    }
    if (progress) progress(static_cast<double>(it + 1) / num_round);
  }
  if (valid != nullptr && early_stopping_rounds > 0 && lg.best_iteration + 1 < m.BoostedRounds()) {
    BoosterHandle sliced = nullptr;
    Check(XGBoosterSlice(h, 0, lg.best_iteration + 1, 1, &sliced), "XGBoosterSlice");
    XgbModel best(sliced);
    // A slice shares the parameters; round-trip through the model format so the result is a
    // standalone booster that serializes exactly the kept trees.
    const std::string bytes = best.Save("ubj");
    XgbModel clean = FromBuffer({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
    for (const auto& [k, v] : params) {
      if (k == "nthread") clean.SetParam(k, v);
    }
    if (!train.feature_names().empty()) clean.SetFeatureNames(train.feature_names());
    if (!train.feature_types().empty()) clean.SetFeatureTypes(train.feature_types());
    return clean;
  }
  return m;
}

void XgbModel::SetParam(const std::string& key, const std::string& value) {
  Check(XGBoosterSetParam(h_, key.c_str(), value.c_str()),
        fmt::format("XGBoosterSetParam({}={})", key, value).c_str(), ErrorCode::kInvalidArgument);
}

std::string XgbModel::Save(std::string_view format) const {
  const std::string config = fmt::format(R"({{"format": "{}"}})", format);
  bst_ulong len = 0;
  const char* out = nullptr;
  Check(XGBoosterSaveModelToBuffer(h_, config.c_str(), &len, &out), "XGBoosterSaveModelToBuffer");
  return std::string(out, len);
}

int XgbModel::BoostedRounds() const {
  int n = 0;
  Check(XGBoosterBoostedRounds(h_, &n), "XGBoosterBoostedRounds");
  return n;
}

uint64_t XgbModel::NumFeatures() const {
  bst_ulong n = 0;
  Check(XGBoosterGetNumFeature(h_, &n), "XGBoosterGetNumFeature");
  return n;
}

namespace {
std::vector<std::string> GetStrInfo(void* h, const char* field) {
  bst_ulong len = 0;
  const char** out = nullptr;
  Check(XGBoosterGetStrFeatureInfo(h, field, &len, &out), "XGBoosterGetStrFeatureInfo");
  std::vector<std::string> v;
  for (bst_ulong i = 0; i < len; ++i) v.emplace_back(out[i]);
  return v;
}
}  // namespace

std::vector<std::string> XgbModel::FeatureNames() const { return GetStrInfo(h_, "feature_name"); }
std::vector<std::string> XgbModel::FeatureTypes() const { return GetStrInfo(h_, "feature_type"); }

void XgbModel::SetFeatureNames(const std::vector<std::string>& names) {
  auto c = CStrings(names);
  Check(XGBoosterSetStrFeatureInfo(h_, "feature_name", c.data(), c.size()),
        "XGBoosterSetStrFeatureInfo(feature_name)", ErrorCode::kInvalidArgument);
}

void XgbModel::SetFeatureTypes(const std::vector<std::string>& types) {
  auto c = CStrings(types);
  Check(XGBoosterSetStrFeatureInfo(h_, "feature_type", c.data(), c.size()),
        "XGBoosterSetStrFeatureInfo(feature_type)", ErrorCode::kInvalidArgument);
}

nlohmann::json XgbModel::Config() const {
  bst_ulong len = 0;
  const char* out = nullptr;
  Check(XGBoosterSaveJsonConfig(h_, &len, &out), "XGBoosterSaveJsonConfig");
  return nlohmann::json::parse(std::string_view(out, len), nullptr, false);
}

std::vector<float> XgbModel::PredictDense(const float* data, uint64_t rows, bool margin,
                                          uint64_t* width) const {
  const uint64_t cols = NumFeatures();
  const std::string values = ArrayInterface(data, rows, cols);
  const std::string config =
      fmt::format(R"({{"type": {}, "training": false, "iteration_begin": 0, "iteration_end": 0, )"
                  R"("strict_shape": false, "missing": NaN, "cache_id": 0}})",
                  margin ? 1 : 0);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  Check(XGBoosterPredictFromDense(h_, values.c_str(), config.c_str(), nullptr, &shape, &dim, &out),
        "XGBoosterPredictFromDense", ErrorCode::kInvalidArgument);
  uint64_t total = 1;
  for (bst_ulong i = 0; i < dim; ++i) total *= shape[i];
  if (width != nullptr) *width = rows > 0 ? total / rows : 1;
  return std::vector<float>(out, out + total);
}

std::vector<float> XgbModel::Contributions(const XgbDMatrix& m, uint64_t rows) const {
  const char* config =
      R"({"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0, )"
      R"("strict_shape": false})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  Check(XGBoosterPredictFromDMatrix(h_, m.handle(), config, &shape, &dim, &out),
        "XGBoosterPredictFromDMatrix(contribs)", ErrorCode::kInvalidArgument);
  if (dim != 2) {
    Fail(ErrorCode::kUnimplemented, "explanations are supported for single-output models only");
  }
  const uint64_t total = static_cast<uint64_t>(shape[0]) * shape[1];
  if (shape[0] != rows) Fail(ErrorCode::kInternal, "contribs for {} rows of {}", shape[0], rows);
  return std::vector<float>(out, out + total);
}

std::vector<std::pair<std::string, double>> XgbModel::Importance(const std::string& type) const {
  const std::string config = fmt::format(R"({{"importance_type": "{}"}})", type);
  bst_ulong n = 0, dim = 0;
  const char** names = nullptr;
  const bst_ulong* shape = nullptr;
  const float* scores = nullptr;
  Check(XGBoosterFeatureScore(h_, config.c_str(), &n, &names, &dim, &shape, &scores),
        "XGBoosterFeatureScore");
  std::vector<std::pair<std::string, double>> out;
  for (bst_ulong i = 0; i < n; ++i) out.emplace_back(names[i], scores[i]);
  return out;
}

}  // namespace marquee
