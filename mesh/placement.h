// The placement rule: which of the eligible nodes gets the next task.
//
// Least load wins (load = queue depth the node reported at its last
// heartbeat + tasks placed on it since); ties go to the node with more free
// capacity, then to the earlier candidate (so small fleets place
// deterministically). Scanning is exact but O(n); with more than
// `sample_threshold` candidates the rule samples two distinct candidates at
// random and keeps the better one ("power of two choices": the maximum load
// stays within O(log log n) of the mean while each decision is O(1)).
//
// Before load, a task's zone narrows the candidates: a node is one only if
// it has the zone (NodeZones).
//
// Thread-safety: pure functions and value types; `rng` must not be shared
// without a lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace nexus::mesh {

// The zones a node has, as it last reported them. A node that never
// reported (a build from before zone reports) is taken to have every zone,
// as placement did before; every node of this build reports, an empty list
// included.
struct NodeZones {
  bool reported = false;
  std::vector<std::string> names;  // sorted, unique

  // Sorted and deduplicated.
  static NodeZones Of(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return NodeZones{true, std::move(names)};
  }
  bool Has(std::string_view zone) const {
    return !reported || std::binary_search(names.begin(), names.end(), zone);
  }
  bool operator==(const NodeZones&) const = default;
};

// The candidates that have `zone`, in their order. `zones_of(c)` returns
// candidate c's NodeZones.
template <typename T, typename ZonesOf>
std::vector<T> WithZone(const std::vector<T>& candidates, std::string_view zone, const ZonesOf& zones_of) {
  std::vector<T> out;
  for (const T& c : candidates)
    if (zones_of(c).Has(zone)) out.push_back(c);
  return out;
}

struct NodeLoad {
  int64_t load = 0;
  int64_t free_capacity = 0;
};

// True if `a` is strictly better than `b` for the next placement.
inline bool BetterPlacement(const NodeLoad& a, const NodeLoad& b) {
  return std::tie(a.load, b.free_capacity) < std::tie(b.load, a.free_capacity);
}

// Index in [0, n) of the candidate to place on; n must be > 0.
// `load_of(i)` returns candidate i's NodeLoad.
template <typename LoadOf>
size_t PickNode(size_t n, const LoadOf& load_of, size_t sample_threshold, std::mt19937_64& rng) {
  if (n > sample_threshold && n >= 2) {
    size_t a = rng() % n;
    size_t b = rng() % (n - 1);
    if (b >= a) ++b;  // distinct from a, uniformly
    return BetterPlacement(load_of(b), load_of(a)) ? b : a;
  }
  size_t best = 0;
  NodeLoad best_load = load_of(0);
  for (size_t i = 1; i < n; ++i) {
    NodeLoad l = load_of(i);
    if (BetterPlacement(l, best_load)) {
      best = i;
      best_load = l;
    }
  }
  return best;
}

}  // namespace nexus::mesh
