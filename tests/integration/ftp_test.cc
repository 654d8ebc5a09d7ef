// ftp_test.cc - m3ftpd's request handling against a hostile or broken client:
// short puts, overruns, out-of-order offsets and oversized names, over real
// vcopy between processes.
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "proxies/common/checksum.h"
#include "proxies/m3ftp/ftp_proto.h"
#include "proxies/m3ftp/ftp_server.h"
#include "tests/integration/harness.h"

namespace vdvk::itest {
namespace {

namespace fp = tools::ftpproto;
constexpr int kServer = 12, kClient = 42;

class FtpTest : public DvkProcTest {
 protected:
  void SetUp() override {
    DvkProcTest::SetUp();
    char templ[] = "/tmp/vdvk-ftptest.XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    char real[PATH_MAX];
    ASSERT_NE(realpath(templ, real), nullptr);
    root_ = real;
  }
  void TearDown() override {
    DvkProcTest::TearDown();
    std::string cmd = "rm -rf '" + root_ + "'";
    EXPECT_EQ(system(cmd.c_str()), 0);
  }
  // m3ftpd (FtpServer) serving root_ in a child, bound as kServer; with a
  // file size limit (RLIMIT_FSIZE) when max_file > 0. -1 if it did not bind.
  pid_t StartServer(rlim_t max_file = 0) {
    Gate bound;
    const std::string root = root_;
    pid_t pid = Spawn([&] {
      CHILD_EXPECT_RC(dvk_bind(0, kServer), kServer);
      if (max_file > 0) {
        signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead
        struct rlimit rl = {max_file, max_file};
        CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");
      }
      bound.Open();
      tools::FtpServer s(kServer, root, false);
      return s.Serve(0) == 0 ? 0 : 1;
    });
    return bound.Wait(10000) ? pid : -1;
  }
  // Names in the root, to check nothing partial was left behind.
  std::vector<std::string> Listing() {
    std::vector<std::string> names;
    DIR* d = opendir(root_.c_str());
    while (dirent* e = d != nullptr ? readdir(d) : nullptr)
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
    if (d != nullptr) closedir(d);
    return names;
  }
  std::string root_;
};

long Open(int type, const std::string& name, int64_t declared, message* m) {
  *m = message{};
  m->m_type = type;
  m->m2_p1 = const_cast<char*>(name.data());
  m->m2_i1 = static_cast<int>(name.size());
  m->m2_l1 = declared;
  return dvk_sendrec(kServer, m);
}

// A read or write request of n bytes at off, buf being the vcopy range.
long Chunk(int type, char* buf, int n, int64_t off, message* m) {
  *m = message{};
  m->m_type = type;
  m->m2_p1 = buf;
  m->m2_i2 = n;
  m->m2_l1 = off;
  return dvk_sendrec(kServer, m);
}

long Write(char* buf, int n, int64_t off, message* m) { return Chunk(fp::kWrite, buf, n, off, m); }
long Read(char* buf, int n, int64_t off, message* m) { return Chunk(fp::kRead, buf, n, off, m); }

long CloseSession(message* m) {
  *m = message{};
  m->m_type = fp::kClose;
  return dvk_sendrec(kServer, m);
}

TEST_F(FtpTest, ShortPutOverrunAndBadRequestsLeaveNothingBehind) {
  pid_t server = StartServer();
  ASSERT_GT(server, 0);
  pid_t client = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(0, kClient), kClient);
    char data[100];
    std::memset(data, 'x', sizeof(data));
    message m{};
    // Short put: 50 of 100 declared bytes, then close.
    CHILD_EXPECT_RC(Open(fp::kOpenPut, "short.bin", 100, &m), 0);
    CHILD_CHECK(m.m_type == 0, "open put: %d", m.m_type);
    CHILD_EXPECT_RC(Write(data, 50, 0, &m), 0);
    CHILD_CHECK(m.m_type == 0 && m.m2_i2 == 50, "write: %d/%d", m.m_type, m.m2_i2);
    CHILD_EXPECT_RC(CloseSession(&m), 0);
    CHILD_CHECK(m.m_type == EDVSIO && m.m2_l1 == 50, "short close: %d after %lld bytes", m.m_type,
                static_cast<long long>(m.m2_l1));
    // Overrun: more than declared.
    CHILD_EXPECT_RC(Open(fp::kOpenPut, "over.bin", 10, &m), 0);
    CHILD_EXPECT_RC(Write(data, 11, 0, &m), 0);
    CHILD_CHECK(m.m_type == EDVSOVERRUN, "overrun: %d", m.m_type);
    // A failed write ends the session.
    CHILD_EXPECT_RC(CloseSession(&m), 0);
    CHILD_CHECK(m.m_type == EDVSBADREQUEST, "close after failure: %d", m.m_type);
    // Out-of-order offset.
    CHILD_EXPECT_RC(Open(fp::kOpenPut, "order.bin", 100, &m), 0);
    CHILD_EXPECT_RC(Write(data, 10, 20, &m), 0);
    CHILD_CHECK(m.m_type == EDVSBADVALUE, "offset 20 first: %d", m.m_type);
    // Names: too long (declared length beyond the limit), '..', NUL inside.
    std::string longname(fp::kMaxPath + 1, 'a');
    CHILD_EXPECT_RC(Open(fp::kOpenGet, longname, 0, &m), 0);
    CHILD_CHECK(m.m_type == EDVSNAMETOOLONG, "long name: %d", m.m_type);
    CHILD_EXPECT_RC(Open(fp::kOpenGet, "../x", 0, &m), 0);
    CHILD_CHECK(m.m_type == EDVSACCES, "'..': %d", m.m_type);
    CHILD_EXPECT_RC(Open(fp::kOpenPut, std::string("a\0b", 3), 1, &m), 0);
    CHILD_CHECK(m.m_type == EDVSINVAL, "NUL in name: %d", m.m_type);
    // Reads and writes without a session, unknown request types.
    CHILD_EXPECT_RC(Write(data, 1, 0, &m), 0);
    CHILD_CHECK(m.m_type == EDVSBADREQUEST, "write without open: %d", m.m_type);
    m = message{};
    m.m_type = 0x4699;
    CHILD_EXPECT_RC(dvk_sendrec(kServer, &m), 0);
    CHILD_CHECK(m.m_type == EDVSBADREQUEST, "unknown type: %d", m.m_type);
    // A complete put still works afterwards.
    CHILD_EXPECT_RC(Open(fp::kOpenPut, "good.bin", 100, &m), 0);
    CHILD_EXPECT_RC(Write(data, 100, 0, &m), 0);
    CHILD_EXPECT_RC(CloseSession(&m), 0);
    CHILD_CHECK(m.m_type == 0 && m.m2_l1 == 100, "good close: %d", m.m_type);
    return 0;
  });
  EXPECT_EQ(Wait(client), 0);
  Kill(server);
  // Only the complete file exists: no short, overrun or temp files.
  EXPECT_EQ(Listing(), std::vector<std::string>{"good.bin"});
}

// The server reads each next chunk ahead, sized like the last request: a
// client that changes its chunk size, or asks again at EOF, still gets exactly
// the file, and the server's checksum covers exactly the bytes sent.
TEST_F(FtpTest, GetWithChangingChunkSizesGetsTheExactFile) {
  std::string file(5000, '\0');
  for (size_t i = 0; i < file.size(); ++i) file[i] = static_cast<char>(i * 7 + i / 251);
  const std::string path = root_ + "/data.bin";
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(fwrite(file.data(), 1, file.size(), f), file.size());
  fclose(f);
  tools::Checksum64 want;
  want.Update(file.data(), file.size());
  const uint64_t want_sum = want.Value();
  pid_t server = StartServer();
  ASSERT_GT(server, 0);
  pid_t client = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(0, kClient), kClient);
    for (int round = 0; round < 2; ++round) {  // twice: a new session starts clean
      message m{};
      CHILD_EXPECT_RC(Open(fp::kOpenGet, "data.bin", 0, &m), 0);
      CHILD_CHECK(m.m_type == 0 && m.m2_l1 == 5000, "open get: %d size %lld", m.m_type,
                  static_cast<long long>(m.m2_l1));
      std::string got;
      char buf[2048];
      const int sizes[] = {100, 300, 300, 50, 2048, 1000, 2048, 2048};
      for (int n : sizes) {
        CHILD_EXPECT_RC(Read(buf, n, static_cast<int64_t>(got.size()), &m), 0);
        CHILD_CHECK(m.m_type == 0 && m.m2_i2 >= 0 && m.m2_i2 <= n, "read %d: %d/%d", n, m.m_type, m.m2_i2);
        got.append(buf, static_cast<size_t>(m.m2_i2));
      }
      CHILD_CHECK(got == file, "round %d: got %zu bytes, not the file", round, got.size());
      CHILD_EXPECT_RC(Read(buf, 10, 5000, &m), 0);  // at EOF, again
      CHILD_CHECK(m.m_type == 0 && m.m2_i2 == 0, "read at EOF: %d/%d", m.m_type, m.m2_i2);
      CHILD_EXPECT_RC(CloseSession(&m), 0);
      CHILD_CHECK(m.m_type == 0 && m.m2_l1 == 5000 && static_cast<uint64_t>(m.m2_l2) == want_sum,
                  "close: %d, %lld bytes, checksum %llx", m.m_type, static_cast<long long>(m.m2_l1),
                  static_cast<unsigned long long>(m.m2_l2));
    }
    return 0;
  });
  EXPECT_EQ(Wait(client), 0);
  Kill(server);
}

// A put chunk is written after its reply: a write that fails then is the
// answer to the next request or to the close, and nothing is left behind.
TEST_F(FtpTest, PutWriteFailingAfterItsReplyFailsTheClose) {
  // Files may not grow past 150 bytes: the second 100-byte chunk fails.
  pid_t server = StartServer(150);
  ASSERT_GT(server, 0);
  pid_t client = Spawn([&] {
    CHILD_EXPECT_RC(dvk_bind(0, kClient), kClient);
    char data[100];
    std::memset(data, 'y', sizeof(data));
    message m{};
    // Two chunks then close: the failure shows at the close.
    CHILD_EXPECT_RC(Open(fp::kOpenPut, "big1.bin", 200, &m), 0);
    CHILD_EXPECT_RC(Write(data, 100, 0, &m), 0);
    CHILD_CHECK(m.m_type == 0, "write 1: %d", m.m_type);
    CHILD_EXPECT_RC(Write(data, 100, 100, &m), 0);
    CHILD_CHECK(m.m_type == 0, "write 2 is answered before it reaches the file: %d", m.m_type);
    CHILD_EXPECT_RC(CloseSession(&m), 0);
    CHILD_CHECK(m.m_type == EDVSIO, "close after a failed write: %d", m.m_type);
    // Three chunks: the third request gets the failure, the session is gone.
    CHILD_EXPECT_RC(Open(fp::kOpenPut, "big2.bin", 300, &m), 0);
    CHILD_EXPECT_RC(Write(data, 100, 0, &m), 0);
    CHILD_EXPECT_RC(Write(data, 100, 100, &m), 0);
    CHILD_EXPECT_RC(Write(data, 100, 200, &m), 0);
    CHILD_CHECK(m.m_type == EDVSIO, "write after a failed write: %d", m.m_type);
    CHILD_EXPECT_RC(CloseSession(&m), 0);
    CHILD_CHECK(m.m_type == EDVSBADREQUEST, "close after the failure ended the session: %d", m.m_type);
    return 0;
  });
  EXPECT_EQ(Wait(client), 0);
  Kill(server);
  EXPECT_EQ(Listing(), std::vector<std::string>{});
}

}  // namespace
}  // namespace vdvk::itest
