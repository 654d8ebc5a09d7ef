// backend_fixture.h - a fresh host-backend per test, and raw-ring call helpers.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "dvk/dvk.h"
#include "tests/backend/raw_client.h"

namespace vdvk::test {

constexpr int kNode = 3;

inline bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

class BackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
    sock_ = dir_ + "/node.sock";
    log_ = dir_ + "/backend.log";
  }
  void TearDown() override {
    // A clean stop after every test: the backend must still exit 0, and
    // under VDVK_SANITIZE its leak and error reports land in the log.
    if (backend_.Alive()) {
      int st = backend_.StopWith(SIGTERM);
      EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0) << "stop status " << st;
    }
    std::string log = ReadFile(log_);
    EXPECT_EQ(log.find("Sanitizer"), std::string::npos);
    EXPECT_EQ(log.find("runtime error:"), std::string::npos);
    if (HasFailure()) std::fprintf(stderr, "backend log:\n%s\n", ReadFile(log_).c_str());
    std::string cmd = "rm -rf '" + dir_ + "'";
    [[maybe_unused]] int r = std::system(cmd.c_str());
  }
  void StartBackend(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--node", std::to_string(kNode), "--socket", sock_};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(backend_.Start(args, sock_, log_)) << ReadFile(log_);
  }
  // GETDVSINFO through the ring: returns the node id on success.
  int DvsInfo(RawClient& c, vdvk_dvs_info* out = nullptr) {
    vdvk_sqe s = MakeSqe(VDVK_OP_GETDVSINFO, c.NextTag());
    s.buf_index = 1;
    s.buf_len = sizeof(vdvk_dvs_info);
    auto r = c.Call(s);
    if (!r) return -1000;
    if (out) std::memcpy(out, c.buf(1), sizeof(*out));
    return r->res;
  }
  std::optional<vdvk_proc_info> ProcInfo(RawClient& c, int dcid, int nr) {
    vdvk_sqe s = MakeSqe(VDVK_OP_GETPROCINFO, c.NextTag());
    s.arg[0] = dcid;
    s.arg[1] = nr;
    s.buf_index = 0;
    s.buf_len = sizeof(vdvk_proc_info);
    auto r = c.Call(s);
    if (!r || r->res < 0) return std::nullopt;
    vdvk_proc_info p;
    std::memcpy(&p, c.buf(0), sizeof(p));
    return p;
  }
  int Bind(RawClient& c, int cmd, int dcid, int pid, int ep, int32_t forged_pid = 0) {
    vdvk_sqe s = MakeSqe(VDVK_OP_BIND, c.NextTag());
    s.arg[0] = cmd;
    s.arg[1] = dcid;
    s.arg[2] = pid;
    s.arg[3] = ep;
    s.arg[4] = kNode;
    s.caller_pid = forged_pid;
    s.caller_tid = forged_pid;
    auto r = c.Call(s);
    return r ? r->res : -1000;
  }
  // Expects the garbage client to be dropped with `reason` while `good` is served.
  void ExpectDropped(RawClient& bad, uint32_t reason, RawClient& good) {
    ASSERT_TRUE(bad.WaitDead()) << "backend did not mark the ring DEAD";
    EXPECT_EQ(bad.hdr()->dead_reason, reason);
    EXPECT_TRUE(bad.WaitSocketEof());
    EXPECT_EQ(DvsInfo(good), kNode);
  }

  std::string dir_, sock_, log_;
  BackendProcess backend_;
};

}  // namespace vdvk::test
