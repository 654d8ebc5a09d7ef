// flat_map_test.cc - FlatMap against std::map under random insert/erase.
#include "host-backend/engine/flat_map.h"

#include <gtest/gtest.h>

#include <map>
#include <cstdint>
#include <random>

namespace vdvk {
namespace {

struct IdentityLowBits {  // forces long probe runs and wrap-around
  size_t operator()(uint64_t k) const { return static_cast<size_t>(k % 7); }
};
struct HighEnd {  // homes at the end of the table: probe runs wrap to index 0
  size_t operator()(uint64_t k) const { return SIZE_MAX - static_cast<size_t>(k % 7); }
};
struct Mixed {
  size_t operator()(uint64_t k) const { return static_cast<size_t>(MixBits(k)); }
};

template <typename H>
void RandomOps(uint64_t key_space, int ops) {
  FlatMap<uint64_t, int, H> m(4);
  std::map<uint64_t, int> ref;
  std::mt19937_64 rng(42);
  for (int i = 0; i < ops; ++i) {
    const uint64_t k = rng() % key_space;
    switch (rng() % 3) {
      case 0:
      case 1:
        m.Insert(k, i);
        ref[k] = i;
        break;
      default:
        ASSERT_EQ(m.Erase(k), ref.erase(k) == 1);
    }
    ASSERT_EQ(m.size(), ref.size());
    const uint64_t probe = rng() % key_space;
    const int* v = m.Find(probe);
    auto it = ref.find(probe);
    ASSERT_EQ(v != nullptr, it != ref.end()) << "key " << probe;
    if (v != nullptr) {
      ASSERT_EQ(*v, it->second);
    }
  }
  size_t seen = 0;
  m.ForEach([&](uint64_t k, int v) {
    ++seen;
    EXPECT_EQ(ref.at(k), v);
  });
  EXPECT_EQ(seen, ref.size());
}

TEST(FlatMapTest, MatchesStdMapWithGoodHash) { RandomOps<Mixed>(500, 20000); }
TEST(FlatMapTest, MatchesStdMapWithCollidingHash) { RandomOps<IdentityLowBits>(60, 20000); }
TEST(FlatMapTest, MatchesStdMapWithWrappingRuns) { RandomOps<HighEnd>(60, 20000); }

TEST(FlatMapTest, EraseMissingAndOverwrite) {
  FlatMap<uint64_t, int, Mixed> m;
  EXPECT_FALSE(m.Erase(5));
  m.Insert(5, 1);
  m.Insert(5, 2);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(*m.Find(5), 2);
  EXPECT_TRUE(m.Erase(5));
  EXPECT_EQ(m.Find(5), nullptr);
}

}  // namespace
}  // namespace vdvk
