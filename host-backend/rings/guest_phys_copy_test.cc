// Guest-physical vcopy pieces: list validation and the copy itself, with a
// temp file standing in for the UML physical-memory file and this process as
// the host party.
#include "host-backend/rings/guest_phys_copy.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "dvk/dvk.h"

namespace vdvk::rings {
namespace {

std::vector<uint8_t> List(std::vector<vdvk_phys_extent> src, std::vector<vdvk_phys_extent> dst) {
  vdvk_phys_list h{static_cast<uint32_t>(src.size()), static_cast<uint32_t>(dst.size()), 0};
  std::vector<uint8_t> b(sizeof(h) + (src.size() + dst.size()) * sizeof(vdvk_phys_extent));
  std::memcpy(b.data(), &h, sizeof(h));
  uint8_t* p = b.data() + sizeof(h);
  for (auto* v : {&src, &dst})
    for (auto& e : *v) {
      std::memcpy(p, &e, sizeof(e));
      p += sizeof(e);
    }
  return b;
}

TEST(PhysLists, AcceptsValidSides) {
  auto b = List({{4096, 100}, {0, 28}}, {});
  PhysLists l;
  ASSERT_TRUE(ParsePhysLists(b.data(), static_cast<uint32_t>(b.size()), 128, 8192, &l));
  EXPECT_EQ(l.src.size(), 2u);
  EXPECT_TRUE(l.dst.empty());
}

TEST(PhysLists, RejectsHostileLists) {
  PhysLists l;
  auto sum_short = List({{0, 100}}, {});
  EXPECT_FALSE(ParsePhysLists(sum_short.data(), static_cast<uint32_t>(sum_short.size()), 128, 8192, &l));
  auto outside = List({{8100, 128}}, {});
  EXPECT_FALSE(ParsePhysLists(outside.data(), static_cast<uint32_t>(outside.size()), 128, 8192, &l));
  auto wrap = List({{~0ull - 10, 128}}, {});
  EXPECT_FALSE(ParsePhysLists(wrap.data(), static_cast<uint32_t>(wrap.size()), 128, 8192, &l));
  auto empty_ext = List({{0, 0}, {0, 128}}, {});
  EXPECT_FALSE(ParsePhysLists(empty_ext.data(), static_cast<uint32_t>(empty_ext.size()), 128, 8192, &l));
  auto ok = List({{0, 128}}, {});
  // Counts claiming more extents than the buffer holds.
  EXPECT_FALSE(ParsePhysLists(ok.data(), static_cast<uint32_t>(ok.size()) - 1, 128, 8192, &l));
  vdvk_phys_list h{kMaxPhysExtents + 1, 0, 0};
  EXPECT_FALSE(ParsePhysLists(reinterpret_cast<uint8_t*>(&h), sizeof(h), 0, 8192, &l));
  h = {0, 0, 1};  // reserved must be 0
  EXPECT_FALSE(ParsePhysLists(reinterpret_cast<uint8_t*>(&h), sizeof(h), 0, 8192, &l));
}

class GuestCopy : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/gvcopy_testXXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 64 * 1024), 0);
    close(fd);
    std::string err;
    ASSERT_TRUE(mem.MapPath(path, &err)) << err;
    unlink(path);
  }
  GuestMemory mem;
};

TEST_F(GuestCopy, ScatteredPagesBothWays) {
  // The "guest" buffer is pages 3 and 1 (not contiguous, out of order).
  std::vector<vdvk_phys_extent> ext{{3 * 4096 + 100, 3996}, {4096, 1004}};
  std::vector<uint8_t> host(5000), back(5000, 0);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<uint8_t>(i * 7 + 1);
  ASSERT_EQ(CopyGuestHost(mem, ext, false, getpid(), reinterpret_cast<uint64_t>(host.data()), 5000), 0);
  EXPECT_EQ(0, std::memcmp(mem.base() + 3 * 4096 + 100, host.data(), 3996));
  EXPECT_EQ(0, std::memcmp(mem.base() + 4096, host.data() + 3996, 1004));
  ASSERT_EQ(CopyGuestHost(mem, ext, true, getpid(), reinterpret_cast<uint64_t>(back.data()), 5000), 0);
  EXPECT_EQ(host, back);
}

TEST_F(GuestCopy, BadHostAddressIsFault) {
  std::vector<vdvk_phys_extent> ext{{0, 4096}};
  EXPECT_EQ(CopyGuestHost(mem, ext, true, getpid(), 16, 4096), EDVSFAULT);
  EXPECT_EQ(CopyGuestHost(mem, ext, false, getpid(), 16, 4096), EDVSFAULT);
}

TEST_F(GuestCopy, GuestToGuestAcrossMisalignedExtents) {
  // Source: pages 2 then 0 (unaligned start); destination: page 9 + 5 + 7,
  // split at other offsets, so every overlap case of the walk is taken.
  std::vector<vdvk_phys_extent> src{{2 * 4096 + 10, 4086}, {0, 914}};
  std::vector<vdvk_phys_extent> dst{{9 * 4096, 1000}, {5 * 4096 + 7, 3000}, {7 * 4096, 1000}};
  uint8_t* m = mem.base();
  for (int i = 0; i < 4086; ++i) m[2 * 4096 + 10 + i] = static_cast<uint8_t>(i * 13 + 5);
  for (int i = 0; i < 914; ++i) m[i] = static_cast<uint8_t>((4086 + i) * 13 + 5);
  ASSERT_EQ(CopyGuestGuest(mem, src, mem, dst, 5000), 0);
  std::vector<uint8_t> got;
  got.insert(got.end(), m + 9 * 4096, m + 9 * 4096 + 1000);
  got.insert(got.end(), m + 5 * 4096 + 7, m + 5 * 4096 + 7 + 3000);
  got.insert(got.end(), m + 7 * 4096, m + 7 * 4096 + 1000);
  for (int i = 0; i < 5000; ++i)
    ASSERT_EQ(got[i], static_cast<uint8_t>(i * 13 + 5)) << "byte " << i;
}

TEST_F(GuestCopy, GuestToGuestRejectsShortAndOutsideLists) {
  std::vector<vdvk_phys_extent> a{{0, 4096}}, b{{4096, 4096}};
  std::vector<vdvk_phys_extent> outside{{mem.size() - 100, 4096}};
  EXPECT_EQ(CopyGuestGuest(mem, a, mem, b, 4097), EDVSFAULT);  // lists too short
  EXPECT_EQ(CopyGuestGuest(mem, outside, mem, b, 4096), EDVSFAULT);
  EXPECT_EQ(CopyGuestGuest(mem, a, mem, outside, 4096), EDVSFAULT);
  GuestMemory unmapped;
  EXPECT_EQ(CopyGuestGuest(unmapped, a, mem, b, 4096), EDVSNOSYS);
}

TEST_F(GuestCopy, BufferChunksAtAnyOffset) {
  // A cross-node vcopy moves a guest range in chunks that start anywhere in
  // its extent list: every chunk lands where the whole copy would put it.
  std::vector<vdvk_phys_extent> ext{{6 * 4096 + 50, 1000}, {2 * 4096, 4096}, {11 * 4096, 904}};
  std::vector<uint8_t> whole(6000);
  for (size_t i = 0; i < whole.size(); ++i) whole[i] = static_cast<uint8_t>(i * 29 + 3);
  for (uint64_t chunk : {1u, 7u, 1000u, 4096u, 6000u}) {
    std::memset(mem.base(), 0, mem.size());
    for (uint64_t off = 0; off < whole.size(); off += chunk) {
      const uint64_t n = std::min<uint64_t>(chunk, whole.size() - off);
      ASSERT_EQ(CopyGuestBuffer(mem, ext, off, whole.data() + off, n, true), 0) << chunk << " at " << off;
    }
    EXPECT_EQ(0, std::memcmp(mem.base() + 6 * 4096 + 50, whole.data(), 1000)) << chunk;
    EXPECT_EQ(0, std::memcmp(mem.base() + 2 * 4096, whole.data() + 1000, 4096)) << chunk;
    EXPECT_EQ(0, std::memcmp(mem.base() + 11 * 4096, whole.data() + 5096, 904)) << chunk;
    std::vector<uint8_t> back(whole.size(), 0);
    for (uint64_t off = 0; off < back.size(); off += chunk) {
      const uint64_t n = std::min<uint64_t>(chunk, back.size() - off);
      ASSERT_EQ(CopyGuestBuffer(mem, ext, off, back.data() + off, n, false), 0) << chunk << " at " << off;
    }
    EXPECT_EQ(back, whole) << chunk;
  }
}

TEST_F(GuestCopy, BufferRefusesRangesBeyondTheExtents) {
  std::vector<vdvk_phys_extent> ext{{0, 4096}, {8192, 100}};
  std::vector<uint8_t> buf(8192);
  EXPECT_EQ(CopyGuestBuffer(mem, ext, 4100, buf.data(), 100, true), EDVSFAULT);  // 4 bytes past the end
  EXPECT_EQ(CopyGuestBuffer(mem, ext, 5000, buf.data(), 1, false), EDVSFAULT);
  std::vector<vdvk_phys_extent> outside{{mem.size() - 10, 100}};
  EXPECT_EQ(CopyGuestBuffer(mem, outside, 0, buf.data(), 20, false), EDVSFAULT);
  GuestMemory unmapped;
  EXPECT_EQ(CopyGuestBuffer(unmapped, ext, 0, buf.data(), 1, false), EDVSNOSYS);
}

TEST(GuestMemoryMap, RefusesNonRegularFiles) {
  GuestMemory m;
  std::string err;
  EXPECT_FALSE(m.MapPath("/dev/null", &err));
  EXPECT_FALSE(err.empty());
  EXPECT_FALSE(m.MapPath("/nonexistent/x", &err));
}

TEST(GuestMemoryMap, RefusesFilesOfOtherFileSystems) {
  // A regular, non-empty file on sysfs stands in for FUSE or NFS: a page
  // fault there could stall the backend on someone else's server.
  const char* sysfs_file = "/sys/kernel/mm/transparent_hugepage/enabled";
  if (access(sysfs_file, R_OK | W_OK) != 0) GTEST_SKIP() << "cannot open " << sysfs_file << " read-write";
  GuestMemory m;
  std::string err;
  EXPECT_FALSE(m.MapPath(sysfs_file, &err));
  EXPECT_NE(err.find("f_type"), std::string::npos) << err;
  EXPECT_FALSE(m.mapped());
}

}  // namespace
}  // namespace vdvk::rings
