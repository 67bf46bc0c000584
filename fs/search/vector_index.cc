#include "fs/search/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <cmath>
#include <mutex>

namespace nexus::search {
namespace {

constexpr size_t kInitialCapacity = 1024;
constexpr size_t kM = 16;  // graph degree
constexpr size_t kEfConstruction = 200;
constexpr size_t kEfSearch = 128;  // searchKnn explores max(ef, k)

// `v` scaled to unit length; empty for a zero vector.
Vector Unit(const Vector& v) {
  double norm = 0;
  for (float x : v) norm += double{x} * x;
  if (norm == 0) return {};
  Vector out(v.size());
  const double inv = 1 / std::sqrt(norm);
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i] * inv);
  return out;
}

}  // namespace

VectorIndex::VectorIndex(size_t dim)
    : dim_(dim),
      space_(std::make_unique<hnswlib::InnerProductSpace>(dim)),
      hnsw_(std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), kInitialCapacity, kM,
                                                              kEfConstruction)) {
  hnsw_->setEf(kEfSearch);
}

VectorIndex::~VectorIndex() = default;

size_t VectorIndex::size() const {
  ReaderLock lk(mu_);
  return live_.size();
}

void VectorIndex::Add(int64_t id, const Vector& v) {
  if (v.size() != dim_) return;
  Vector unit = Unit(v);
  if (unit.empty()) return Remove(id);
  WriterLock lk(mu_);
  // Removed points keep their slot, so grow on the slot count, not live_.
  if (hnsw_->cur_element_count >= hnsw_->max_elements_) {
    hnsw_->resizeIndex(hnsw_->max_elements_ * 2);
  }
  hnsw_->addPoint(unit.data(), static_cast<hnswlib::labeltype>(id));  // replaces and undeletes
  live_.insert(id);
}

void VectorIndex::Remove(int64_t id) {
  WriterLock lk(mu_);
  if (live_.erase(id) == 0) return;
  hnsw_->markDelete(static_cast<hnswlib::labeltype>(id));
}

std::vector<std::pair<int64_t, float>> VectorIndex::Search(const Vector& q, size_t k) const {
  std::vector<std::pair<int64_t, float>> out;
  Vector unit = q.size() == dim_ ? Unit(q) : Vector{};
  if (unit.empty() || k == 0) return out;
  ReaderLock lk(mu_);
  if (live_.empty()) return out;
  auto heap = hnsw_->searchKnn(unit.data(), std::min(k, live_.size()));
  out.resize(heap.size());
  // The heap pops the farthest first; distance is 1 - cosine.
  for (size_t i = heap.size(); i-- > 0; heap.pop()) {
    out[i] = {static_cast<int64_t>(heap.top().second), 1.0f - heap.top().first};
  }
  return out;
}

}  // namespace nexus::search
