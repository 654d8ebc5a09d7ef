// checksum_test.cc - Checksum64: independent of how the stream is split,
// sensitive to every byte and to the length.
#include "proxies/common/checksum.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace vdvk::tools {
namespace {

std::vector<unsigned char> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> v(n);
  for (auto& b : v) b = static_cast<unsigned char>(rng());
  return v;
}

uint64_t Whole(const std::vector<unsigned char>& v) {
  Checksum64 c;
  c.Update(v.data(), v.size());
  return c.Value();
}

TEST(Checksum64, SameValueHoweverTheStreamIsSplit) {
  const auto data = RandomBytes(5000, 1);
  const uint64_t whole = Whole(data);
  for (size_t piece : {1u, 3u, 7u, 31u, 32u, 33u, 64u, 1000u, 4999u}) {
    Checksum64 c;
    for (size_t off = 0; off < data.size(); off += piece)
      c.Update(data.data() + off, std::min(piece, data.size() - off));
    EXPECT_EQ(c.Value(), whole) << "pieces of " << piece;
  }
  Checksum64 c;  // empty updates change nothing
  c.Update(data.data(), 0);
  c.Update(data.data(), data.size());
  c.Update(data.data(), 0);
  EXPECT_EQ(c.Value(), whole);
}

TEST(Checksum64, EveryByteAndBitCounts) {
  const auto data = RandomBytes(200, 2);
  const uint64_t base = Whole(data);
  for (size_t i = 0; i < data.size(); ++i) {
    for (int bit : {0, 7}) {
      auto v = data;
      v[i] ^= static_cast<unsigned char>(1u << bit);
      EXPECT_NE(Whole(v), base) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(Checksum64, LengthAndOrderCount) {
  std::vector<unsigned char> a(64, 0), b(65, 0);
  EXPECT_NE(Whole(a), Whole(b));  // trailing zeros are not free
  EXPECT_NE(Whole({}), Whole(std::vector<unsigned char>(1, 0)));
  // Two 32-byte blocks swapped: same words, other lanes/order.
  auto v = RandomBytes(64, 3), w = v;
  std::swap_ranges(w.begin(), w.begin() + 32, w.begin() + 32);
  EXPECT_NE(Whole(v), Whole(w));
}

}  // namespace
}  // namespace vdvk::tools
