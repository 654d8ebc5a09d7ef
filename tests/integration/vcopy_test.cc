// vcopy_test.cc - vcopy between real address spaces: sizes, both directions,
// the 1 MiB limit and the rule that the other party must be blocked.
#include <unistd.h>

#include <cstring>
#include <vector>

#include "proxies/common/checksum.h"
#include "tests/integration/harness.h"

namespace vdvk::itest {
namespace {

using tools::FillPattern;

constexpr int kDc = 0;
constexpr int kServer = 10;
constexpr int kIdle = 12;    // bound, never blocked in a DVK call
constexpr int kClient = 40;
constexpr int kToClient = 1, kFromClient = 2, kStop = 3;

using VcopyTest = DvkProcTest;

// The server copies while the client waits in sendrec (the m3ftp pattern).
int ServeCopies() {
  std::vector<char> buf(MAXCOPYLEN + 1), expect(MAXCOPYLEN + 1);
  for (;;) {
    message m{};
    CHILD_EXPECT_RC(dvk_receive(ANY, &m), 0);
    message r{};
    const int bytes = m.m1_i1;
    if (m.m_type == kStop) {
      // The idle process is not blocked: a copy to it is refused.
      long rc = dvk_vcopy(SELF, buf.data(), kIdle, buf.data(), 16);
      r.m_type = static_cast<int>(rc);
      CHILD_EXPECT_RC(dvk_reply(m.m_source, &r), 0);
      return 0;
    }
    CHILD_CHECK(bytes >= 0 && bytes <= MAXCOPYLEN + 1, "bad size %d", bytes);
    if (m.m_type == kToClient) {
      FillPattern(buf.data(), static_cast<size_t>(bytes), static_cast<uint64_t>(bytes));
      r.m_type = static_cast<int>(dvk_vcopy(kServer, buf.data(), m.m_source, m.m1_p1, bytes));
    } else {
      std::memset(buf.data(), 0, static_cast<size_t>(bytes));
      r.m_type = static_cast<int>(dvk_vcopy(m.m_source, m.m1_p1, SELF, buf.data(), bytes));
      if (r.m_type == 0) {
        FillPattern(expect.data(), static_cast<size_t>(bytes), static_cast<uint64_t>(bytes) + 1);
        r.m1_i2 = std::memcmp(buf.data(), expect.data(), static_cast<size_t>(bytes)) == 0 ? 1 : 0;
      }
    }
    CHILD_EXPECT_RC(dvk_reply(m.m_source, &r), 0);
  }
}

int RequestCopies() {
  std::vector<char> buf(MAXCOPYLEN + 1), expect(MAXCOPYLEN + 1);
  for (int bytes : {1, 4096, MAXCOPYLEN}) {
    // server -> client
    std::memset(buf.data(), 0, buf.size());
    FillPattern(expect.data(), static_cast<size_t>(bytes), static_cast<uint64_t>(bytes));
    message m{};
    m.m_type = kToClient;
    m.m1_i1 = bytes;
    m.m1_p1 = buf.data();
    CHILD_EXPECT_RC(dvk_sendrec(kServer, &m), 0);
    CHILD_CHECK(m.m_type == 0, "copy of %d bytes to the client: %d (%s)", bytes, m.m_type, dvk_strerror(m.m_type));
    CHILD_CHECK(std::memcmp(buf.data(), expect.data(), static_cast<size_t>(bytes)) == 0, "content of %d bytes", bytes);
    CHILD_CHECK(buf[static_cast<size_t>(bytes)] == 0, "copy of %d bytes wrote past its end", bytes);
    // client -> server
    FillPattern(buf.data(), static_cast<size_t>(bytes), static_cast<uint64_t>(bytes) + 1);
    m = message{};
    m.m_type = kFromClient;
    m.m1_i1 = bytes;
    m.m1_p1 = buf.data();
    CHILD_EXPECT_RC(dvk_sendrec(kServer, &m), 0);
    CHILD_CHECK(m.m_type == 0, "copy of %d bytes from the client: %d (%s)", bytes, m.m_type, dvk_strerror(m.m_type));
    CHILD_CHECK(m.m1_i2 == 1, "server saw different content for %d bytes", bytes);
  }
  // One byte over the limit is refused and copies nothing.
  std::memset(buf.data(), 0, buf.size());
  message m{};
  m.m_type = kToClient;
  m.m1_i1 = MAXCOPYLEN + 1;
  m.m1_p1 = buf.data();
  CHILD_EXPECT_RC(dvk_sendrec(kServer, &m), 0);
  CHILD_CHECK(m.m_type == EDVSRANGE, "1 MiB + 1: %d (%s)", m.m_type, dvk_strerror(m.m_type));
  CHILD_CHECK(buf[0] == 0 && buf[MAXCOPYLEN] == 0, "a refused copy wrote data");
  m = message{};
  m.m_type = kStop;
  CHILD_EXPECT_RC(dvk_sendrec(kServer, &m), 0);
  CHILD_CHECK(m.m_type == EDVSPROCSTS, "copy to a process not blocked: %d (%s)", m.m_type, dvk_strerror(m.m_type));
  return 0;
}

TEST_F(VcopyTest, SizesDirectionsLimitAndBlockedRule) {
  Gate bound, done;
  pid_t idle = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kIdle), kIdle);
    CHILD_CHECK(done.Wait(60000), "test never finished");
    return 0;
  });
  ASSERT_TRUE(WaitBound(kDc, kIdle));
  pid_t server = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kServer), kServer);
    bound.Open();
    return ServeCopies();
  });
  ASSERT_TRUE(bound.Wait(10000));
  pid_t client = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(kDc, kClient), kClient);
    return RequestCopies();
  });
  EXPECT_EQ(Wait(client, 60000), 0);
  EXPECT_EQ(Wait(server), 0);
  done.Open();
  EXPECT_EQ(Wait(idle), 0);
}

}  // namespace
}  // namespace vdvk::itest
