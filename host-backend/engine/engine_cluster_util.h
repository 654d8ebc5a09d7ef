// engine_cluster_util.h - several engines (nodes 0..n-1) wired together in
// process for the node-link tests (engine_remote_test.cc,
// engine_resolve_test.cc). What one engine sends to another node (forwarded
// ops, acknowledgements, withdrawals, lookup questions) moves only when the
// test pumps the wire, so every "still waiting for the other node" state is
// observable.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "host-backend/engine/engine_test_util.h"

namespace vdvk::test {

class ClusterTest;

// Records completions like FakeSink and puts link traffic on the cluster's wire.
class ClusterSink : public FakeSink {
 public:
  ClusterSink(ClusterTest* c, int node) : cluster_(c), node_(node) {}
  void ForwardToNode(const RemoteOp& op) override;
  void RemoteDone(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply) override;
  void CancelForward(int32_t node, uint64_t op_id) override;
  void StartRemoteVcopy(const RemoteVcopyGrant& g) override { rgrants.push_back(g); }
  void LookupOnNode(int32_t node, uint64_t id, int32_t dcid, int32_t ep) override;
  std::vector<RemoteOp> forwarded;
  std::vector<RemoteVcopyGrant> rgrants;
  std::vector<std::tuple<int32_t, int32_t, int32_t>> asked;  // lookups: node, dcid, ep
  int cancels = 0;

 private:
  ClusterTest* cluster_;
  int node_;
};

class ClusterTest : public ::testing::Test {
 protected:
  static constexpr int kMaxNodes = 3;
  explicit ClusterTest(int nodes) : nodes_(nodes) {}
  // Every engine has every other node in DC 0, with its link up.
  void SetUp() override;
  // Every completed request completed exactly once.
  void TearDown() override;

 public:
  void Post(std::function<void()> f) { wire.push_back(std::move(f)); }
  // Delivers everything on the wire, including what that delivery produces.
  void Pump();
  void ForwardFrom(int from, const RemoteOp& op);
  void WithdrawFrom(int from, int32_t node, uint64_t id);
  void DoneFrom(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply);
  // Node.lookup: the callee's LookupEndpoint; a node marked down[] never answers.
  void LookupFrom(int from, int32_t node, uint64_t id, int32_t dcid, int32_t ep);

 protected:
  static ProcKey P(int32_t pid) { return ProcKey{0, pid}; }
  Call Mk(ProcKey who, uint32_t op, std::initializer_list<int32_t> args, int64_t to = -1);
  Call MkMsg(ProcKey who, uint32_t op, int32_t ep, int32_t type, int32_t i1, int64_t to = -1);
  RequestId Submit(int n, const Call& c);
  // Submits and expects an immediate completion; returns its result.
  int32_t Run(int n, const Call& c);
  std::optional<int32_t> Result(int n, RequestId id) const;
  message Msg(int n, RequestId id) const;
  std::string SlotName(int n, int32_t ep);  // getprocinfo's p_name

  int nodes_;
  std::unique_ptr<ClusterSink> sink[kMaxNodes];
  std::unique_ptr<Engine> eng[kMaxNodes];
  bool down[kMaxNodes] = {};
  std::deque<std::function<void()>> wire;
  Nanos now = 1'000'000'000'000;
  RequestId next_id = 1;
};

}  // namespace vdvk::test
