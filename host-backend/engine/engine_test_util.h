// engine_test_util.h - a recording EngineSink and a fixture with one helper per
// call, shared by the engine unit tests.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "dvk/dvk.h"
#include "host-backend/engine/engine.h"

namespace vdvk::test {

struct Done {
  RequestId id = 0;
  int32_t result = 0;
  bool has_msg = false;
  vdvk_msg msg{};
  std::vector<uint8_t> out;
};

class FakeSink : public EngineSink {
 public:
  void Complete(const Completion& c) override;
  void StartVcopy(const VcopyGrant& g) override { grants.push_back(g); }
  void ProcessBound(ProcKey who) override { bound.push_back(who); }
  void SignalProcess(ProcKey who, int signo) override { signals.push_back({who, signo}); }

  std::vector<Done> done;  // in completion order
  std::map<RequestId, int> times;
  std::vector<VcopyGrant> grants;
  std::vector<ProcKey> bound;
  std::vector<std::pair<ProcKey, int>> signals;
};

// Message helpers (dvk.h view of the wire message).
message AsMessage(const vdvk_msg& m);
vdvk_msg MakeMsg(int32_t type, int32_t i1 = 0, int32_t fake_source = 12345);
// A call of `op` by `who` with request id `id` and arg[0..] = args.
Call MakeCall(RequestId id, ProcKey who, uint32_t op, std::initializer_list<int32_t> args, int64_t timeout_ms);

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override;
  void Start();  // (re)creates the engine from cfg

  static ProcKey P(int32_t pid, uint32_t domain = 0) { return ProcKey{domain, pid}; }

  Call Mk(ProcKey who, uint32_t op, std::initializer_list<int32_t> args, int64_t timeout_ms = -1);
  RequestId Submit(const Call& c);
  // Submits and expects an immediate completion; returns its result.
  int32_t Run(const Call& c);

  bool Pending(RequestId id) const;
  std::optional<int32_t> Result(RequestId id) const;
  const Done& Get(RequestId id) const;  // fails the test if not completed
  message Msg(RequestId id) const;      // the message delivered to id

  // One helper per call. Those that may block return the RequestId.
  int32_t Bind(ProcKey who, int32_t ep, int32_t dcid = 0);
  int32_t LclBind(ProcKey caller, int32_t pid, int32_t ep, int32_t dcid = 0);
  int32_t Unbind(ProcKey who, int32_t ep, int32_t dcid = 0);
  RequestId Send(ProcKey from, int32_t dst, const vdvk_msg& m, int64_t to = -1);
  RequestId Send(ProcKey from, int32_t dst, int32_t type = 7, int64_t to = -1) {
    return Send(from, dst, MakeMsg(type), to);
  }
  RequestId Sendrec(ProcKey from, int32_t dst, int32_t type = 7, int64_t to = -1);
  RequestId Receive(ProcKey who, int32_t src = ANY, int64_t to = -1);
  RequestId Rcvrqst(ProcKey who, int64_t to = -1);
  int32_t Reply(ProcKey from, int32_t dst, int32_t type = 9);
  int32_t Notify(ProcKey from, int32_t src_nr, int32_t dst, int32_t value = 0);
  RequestId Vcopy(ProcKey who, int32_t src, int32_t dst, int32_t bytes, uint64_t src_addr = 0x1000,
                  uint64_t dst_addr = 0x2000);
  RequestId Wait4Bind(ProcKey who, int32_t cmd, int32_t ep, int64_t to = -1);
  int32_t DcInit(ProcKey who, int32_t dcid, int32_t nr_procs = 64, int32_t nr_tasks = 8,
                 int32_t nr_sysprocs = 16, int32_t nr_nodes = 4, uint64_t nodes = 0);
  vdvk_proc_info ProcInfo(int32_t nr, int32_t dcid = 0);
  vdvk_dc_info DcInfo(int32_t dcid);

  EngineConfig cfg;
  FakeSink sink;
  std::unique_ptr<Engine> eng;
  Nanos now = 1'000'000'000'000;  // 1000 s
  RequestId next_id = 1;
};

// System processes of DC 0 (nr + 34 < 64) and a user process.
inline const ProcKey kA{0, 101}, kB{0, 102}, kC{0, 103}, kD{0, 104}, kU{0, 200};
inline constexpr int32_t kEpA = 1, kEpB = 2, kEpC = 3, kEpD = 4, kEpU = 100;

// Fixture with A..D bound as system processes and U as a user process.
class BoundTest : public EngineTest {
 protected:
  void SetUp() override;
};

}  // namespace vdvk::test
