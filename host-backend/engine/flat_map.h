// flat_map.h - a small open-addressing hash map (linear probing, backward-shift
// deletion) for the engine's per-request indexes. Unlike std::unordered_map it
// allocates only when it grows, so steady-state IPC does no heap allocation.
//
// Pointers returned by Find() are invalidated by any Insert() or Erase().
// Keys and values must be cheap to copy. Thread safety: none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vdvk {

inline uint64_t MixBits(uint64_t v) {
  v ^= v >> 33;
  v *= 0xff51afd7ed558ccdULL;
  v ^= v >> 33;
  v *= 0xc4ceb9fe1a85ec53ULL;
  v ^= v >> 33;
  return v;
}

template <typename K, typename V, typename Hash>
class FlatMap {
 public:
  explicit FlatMap(size_t expected = 64) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    cells_.resize(cap);
    mask_ = cap - 1;
  }

  V* Find(const K& k) {
    for (size_t i = Home(k);; i = (i + 1) & mask_) {
      Cell& c = cells_[i];
      if (!c.used) return nullptr;
      if (c.key == k) return &c.val;
    }
  }
  const V* Find(const K& k) const { return const_cast<FlatMap*>(this)->Find(k); }

  // Inserts or overwrites.
  void Insert(const K& k, const V& v) {
    if ((size_ + 1) * 2 > cells_.size()) Grow();
    for (size_t i = Home(k);; i = (i + 1) & mask_) {
      Cell& c = cells_[i];
      if (!c.used) {
        c.used = true;
        c.key = k;
        c.val = v;
        ++size_;
        return;
      }
      if (c.key == k) {
        c.val = v;
        return;
      }
    }
  }

  bool Erase(const K& k) {
    size_t i = Home(k);
    for (;; i = (i + 1) & mask_) {
      if (!cells_[i].used) return false;
      if (cells_[i].key == k) break;
    }
    // Backward shift: pull later entries of the probe run into the hole so
    // lookups never need tombstones.
    for (size_t j = (i + 1) & mask_; cells_[j].used; j = (j + 1) & mask_) {
      const size_t h = Home(cells_[j].key);
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      cells_[i] = cells_[j];
      i = j;
    }
    cells_[i].used = false;
    --size_;
    return true;
  }

  size_t size() const { return size_; }

  template <typename F>
  void ForEach(F&& f) const {
    for (const Cell& c : cells_) {
      if (c.used) f(c.key, c.val);
    }
  }

 private:
  struct Cell {
    K key{};
    V val{};
    bool used = false;
  };

  size_t Home(const K& k) const { return Hash{}(k) & mask_; }

  void Grow() {
    std::vector<Cell> old;
    old.swap(cells_);
    cells_.resize(old.size() * 2);
    mask_ = cells_.size() - 1;
    size_ = 0;
    for (const Cell& c : old) {
      if (c.used) Insert(c.key, c.val);
    }
  }

  std::vector<Cell> cells_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace vdvk
