// VectorIndex: approximate nearest neighbours over chunk vectors (hnswlib's
// HNSW graph, inner product over unit vectors, i.e. cosine), keyed by chunk
// id. SearchIndex uses it for the semantic lane once enough vectors are
// stored (Options::hnsw_min_vectors); below that, and whenever filters leave
// it short of results, the lane is an exact scan.
//
// Threading: Search calls run concurrently (shared lock); Add and Remove
// take the lock exclusively (guarded by mu_).
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "fs/search/embedding.h"

namespace hnswlib {
template <typename T>
class HierarchicalNSW;
class InnerProductSpace;
}  // namespace hnswlib

namespace nexus::search {

class VectorIndex {
 public:
  explicit VectorIndex(size_t dim);
  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  size_t dim() const { return dim_; }
  size_t size() const;  // live vectors

  // Adds or replaces the vector of `id`. Vectors of another dimension and
  // zero vectors are ignored (they have no direction to compare).
  void Add(int64_t id, const Vector& v);
  void Remove(int64_t id);  // no-op for an unknown id

  // Up to `k` ids, best first, with their cosine similarity to `q`.
  std::vector<std::pair<int64_t, float>> Search(const Vector& q, size_t k) const;

 private:
  const size_t dim_;
  mutable SharedMutex mu_;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_ GUARDED_BY(mu_);
  std::unordered_set<int64_t> live_ GUARDED_BY(mu_);
};

}  // namespace nexus::search
