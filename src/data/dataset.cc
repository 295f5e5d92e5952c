#include <algorithm>
#include <numeric>
#include <unordered_map>

#include "common/sparse_rows.h"
#include "data/dataset_storage.h"
#include "marquee/error.h"

namespace marquee {

void Dataset::Storage::ViewOwned() {
  users = own_users;
  items = own_items;
  values = own_values;
  times = own_times;
  user_offsets = own_user_offsets;
  user_ids = {own_user_id_offsets, {own_user_blob.data(), own_user_blob.size()}};
  item_ids = {own_item_id_offsets, {own_item_blob.data(), own_item_blob.size()}};
}

Dataset::Dataset() : s_(std::make_shared<Storage>()) {
  s_->own_user_offsets = {0};
  s_->own_user_id_offsets = {0};
  s_->own_item_id_offsets = {0};
  s_->ViewOwned();
}

namespace {
void PackStrings(std::vector<std::string>& ids, std::vector<uint64_t>& offsets, std::string& blob) {
  offsets.assign(1, 0);
  size_t total = 0;
  for (const auto& s : ids) total += s.size();
  blob.clear();
  blob.reserve(total);
  for (const auto& s : ids) {
    blob += s;
    offsets.push_back(blob.size());
  }
  std::vector<std::string>().swap(ids);
}
}  // namespace

Dataset Dataset::FromColumns(std::vector<std::string> user_ids, std::vector<std::string> item_ids,
                             std::vector<uint32_t> users, std::vector<uint32_t> items,
                             std::vector<float> values, std::vector<int64_t> times,
                             std::string source) {
  const size_t n = users.size();
  if (items.size() != n || (!values.empty() && values.size() != n) ||
      (!times.empty() && times.size() != n)) {
    Fail(ErrorCode::kInvalidArgument, "dataset columns differ in length");
  }
  if (user_ids.size() > UINT32_MAX - 1 || item_ids.size() > UINT32_MAX - 1) {
    Fail(ErrorCode::kResourceExhausted, "more than 2^32-2 distinct users or items");
  }
  const uint32_t nu = static_cast<uint32_t>(user_ids.size());
  const uint32_t ni = static_cast<uint32_t>(item_ids.size());
  for (size_t k = 0; k < n; ++k) {
    if (users[k] >= nu || items[k] >= ni) {
      Fail(ErrorCode::kInvalidArgument, "row {} refers to an id outside the dictionaries", k);
    }
  }
  Dataset ds;
  Storage& s = *ds.s_;
  s.info.source = std::move(source);
  s.info.has_values = !values.empty();
  s.info.has_times = !times.empty();
  // Order rows by (user, time, item) with a stable counting sort on user, then per-user sorts.
  // The permutation is 32-bit when it can be, and each column is permuted into its final place
  // and its input freed before the next one, so the peak is the input plus one column.
  std::vector<uint64_t> offsets(static_cast<size_t>(nu) + 1, 0);
  for (uint32_t u : users) ++offsets[u + 1];
  std::partial_sum(offsets.begin(), offsets.end(), offsets.begin());
  const auto by_time_item = [&](uint64_t a, uint64_t c) {
    int64_t ta = times.empty() ? 0 : times[a], tc = times.empty() ? 0 : times[c];
    if (ta != tc) return ta < tc;
    return items[a] < items[c];
  };
  const auto build = [&]<typename Index>(std::vector<Index>& order) {
    order.resize(n);
    {
      std::vector<uint64_t> fill(offsets.begin(), offsets.end() - 1);
      for (size_t k = 0; k < n; ++k) order[fill[users[k]]++] = static_cast<Index>(k);
    }
    for (uint32_t u = 0; u < nu; ++u) {
      auto b = order.begin() + static_cast<ptrdiff_t>(offsets[u]);
      auto e = order.begin() + static_cast<ptrdiff_t>(offsets[u + 1]);
      std::stable_sort(b, e, by_time_item);
    }
    std::vector<uint32_t>().swap(users);
    // Every row of user u lies in [offsets[u], offsets[u+1]): the user column is implied.
    s.own_users.resize(n);
    for (uint32_t u = 0; u < nu; ++u) {
      std::fill(s.own_users.begin() + static_cast<ptrdiff_t>(offsets[u]),
                s.own_users.begin() + static_cast<ptrdiff_t>(offsets[u + 1]), u);
    }
    s.own_items.resize(n);
    for (size_t k = 0; k < n; ++k) s.own_items[k] = items[order[k]];
    std::vector<uint32_t>().swap(items);
    s.own_values.resize(n);
    for (size_t k = 0; k < n; ++k) s.own_values[k] = values.empty() ? 1.0f : values[order[k]];
    std::vector<float>().swap(values);
    s.own_times.resize(n);
    for (size_t k = 0; k < n; ++k) s.own_times[k] = times.empty() ? 0 : times[order[k]];
    std::vector<int64_t>().swap(times);
  };
  if (n <= UINT32_MAX) {
    std::vector<uint32_t> order;
    build(order);
  } else {
    std::vector<uint64_t> order;
    build(order);
  }
  s.own_user_offsets = std::move(offsets);
  PackStrings(user_ids, s.own_user_id_offsets, s.own_user_blob);
  PackStrings(item_ids, s.own_item_id_offsets, s.own_item_blob);
  s.ViewOwned();
  return ds;
}

Dataset Dataset::FromRows(const std::vector<RawInteraction>& rows, bool has_values, bool has_times,
                          std::string source) {
  std::unordered_map<std::string, uint32_t> uidx, iidx;
  std::vector<std::string> uids, iids;
  std::vector<uint32_t> users, items;
  std::vector<float> values;
  std::vector<int64_t> times;
  users.reserve(rows.size());
  items.reserve(rows.size());
  if (has_values) values.reserve(rows.size());
  if (has_times) times.reserve(rows.size());
  for (const auto& r : rows) {
    auto [ui, unew] = uidx.try_emplace(r.user, static_cast<uint32_t>(uids.size()));
    if (unew) uids.push_back(r.user);
    auto [ii, inew] = iidx.try_emplace(r.item, static_cast<uint32_t>(iids.size()));
    if (inew) iids.push_back(r.item);
    users.push_back(ui->second);
    items.push_back(ii->second);
    if (has_values) values.push_back(r.value);
    if (has_times) times.push_back(r.time);
  }
  return FromColumns(std::move(uids), std::move(iids), std::move(users), std::move(items),
                     std::move(values), std::move(times), std::move(source));
}

uint32_t Dataset::num_users() const { return s_->user_ids.size(); }
uint32_t Dataset::num_items() const { return s_->item_ids.size(); }
uint64_t Dataset::num_interactions() const { return s_->users.size(); }
std::span<const uint32_t> Dataset::users() const { return s_->users; }
std::span<const uint32_t> Dataset::items() const { return s_->items; }
std::span<const float> Dataset::values() const { return s_->values; }
std::span<const int64_t> Dataset::times() const { return s_->times; }
std::span<const uint64_t> Dataset::user_offsets() const { return s_->user_offsets; }
std::string_view Dataset::user_id(uint32_t u) const { return s_->user_ids.at(u); }
std::string_view Dataset::item_id(uint32_t i) const { return s_->item_ids.at(i); }
const DatasetInfo& Dataset::info() const { return s_->info; }
DatasetInfo& Dataset::mutable_info() { return s_->info; }

namespace {
void BuildIndex(const StringTable& t, std::unordered_map<std::string_view, uint32_t>& index) {
  index.reserve(t.size());
  for (uint32_t i = 0; i < t.size(); ++i) index.emplace(t.at(i), i);
}
}  // namespace

std::optional<uint32_t> Dataset::find_user(std::string_view id) const {
  std::call_once(s_->user_index_once, [&] { BuildIndex(s_->user_ids, s_->user_index); });
  auto it = s_->user_index.find(id);
  if (it == s_->user_index.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> Dataset::find_item(std::string_view id) const {
  std::call_once(s_->item_index_once, [&] { BuildIndex(s_->item_ids, s_->item_index); });
  auto it = s_->item_index.find(id);
  if (it == s_->item_index.end()) return std::nullopt;
  return it->second;
}

namespace {

// Visits every user's positives in user order, as (item, value) pairs before merging; a mapped
// snapshot's pages are released behind the scan. The one scan of ToCsr and ForEachPositiveRow.
// `mapped_env`: the Env of a mapped snapshot, else nullptr.
template <class PerUser>
void ScanPositives(const Dataset& ds, Env* mapped_env, std::optional<double> positive_threshold,
                   PerUser&& per_user) {
  const auto is = ds.items();
  const auto vs = ds.values();
  const auto offs = ds.user_offsets();
  MappedPageReleaser release_items(mapped_env, is.data(), is.size_bytes());
  MappedPageReleaser release_values(ds.info().has_values ? mapped_env : nullptr, vs.data(),
                                    vs.size_bytes());
  std::vector<std::pair<uint32_t, float>> row;
  for (uint32_t u = 0; u < ds.num_users(); ++u) {
    row.clear();
    for (uint64_t k = offs[u]; k < offs[u + 1]; ++k) {
      if (positive_threshold && !(static_cast<double>(vs[k]) > *positive_threshold)) continue;
      row.emplace_back(is[k], vs[k]);
    }
    per_user(u, row);
    release_items.ReleaseUpTo(is.data() + offs[u + 1]);
    release_values.ReleaseUpTo(vs.data() + offs[u + 1]);
  }
  release_items.ReleaseAll();
  release_values.ReleaseAll();
}

}  // namespace

CsrMatrix Dataset::ToCsr(std::optional<double> positive_threshold) const {
  // Rows are grouped by user, so each CSR row is built in place from the user's range: no
  // triplet copy of the columns. Rows merge as every CSR builder does (AppendMergedRow).
  CsrMatrix m;
  m.rows = num_users();
  m.cols = num_items();
  m.indptr.assign(static_cast<size_t>(m.rows) + 1, 0);
  // Reserved for every row; the pages past the positives are never touched.
  m.indices.reserve(num_interactions());
  m.values.reserve(num_interactions());
  ScanPositives(*this, s_->mapped ? s_->mapped_env : nullptr, positive_threshold,
                [&](uint32_t u, std::vector<std::pair<uint32_t, float>>& row) {
                  AppendMergedRow(row, m.indices, m.values);
                  m.indptr[u + 1] = m.indices.size();
                });
  return m;
}

void Dataset::ForEachPositiveRow(std::optional<double> positive_threshold,
                                 const std::function<void(uint32_t, std::span<const uint32_t>,
                                                          std::span<const float>)>& visit) const {
  std::vector<uint32_t> cols;
  std::vector<float> vals;
  ScanPositives(*this, s_->mapped ? s_->mapped_env : nullptr, positive_threshold,
                [&](uint32_t u, std::vector<std::pair<uint32_t, float>>& row) {
                  cols.clear();
                  vals.clear();
                  AppendMergedRow(row, cols, vals);
                  visit(u, cols, vals);
                });
}

}  // namespace marquee
