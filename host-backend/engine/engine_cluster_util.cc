// engine_cluster_util.cc - the in-process cluster of engines (see the header).
#include "host-backend/engine/engine_cluster_util.h"

namespace vdvk::test {

void ClusterSink::ForwardToNode(const RemoteOp& op) { cluster_->ForwardFrom(node_, op); }
void ClusterSink::RemoteDone(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply) {
  cluster_->DoneFrom(node, id, result, reply);
}
void ClusterSink::CancelForward(int32_t node, uint64_t op_id) {
  ++cancels;
  cluster_->WithdrawFrom(node_, node, op_id);
}
void ClusterSink::LookupOnNode(int32_t node, uint64_t id, int32_t dcid, int32_t ep) {
  asked.emplace_back(node, dcid, ep);
  cluster_->LookupFrom(node_, node, id, dcid, ep);
}

void ClusterTest::SetUp() {
  ASSERT_LE(nodes_, kMaxNodes);
  for (int n = 0; n < nodes_; ++n) {
    sink[n] = std::make_unique<ClusterSink>(this, n);
    EngineConfig cfg;
    cfg.node_id = n;
    eng[n] = std::make_unique<Engine>(cfg, sink[n].get());
    for (int m = 0; m < nodes_; ++m) {
      if (m == n) continue;
      ASSERT_EQ(Run(n, Mk(P(1), VDVK_OP_ADDNODE, {0, m})), 0);
      eng[n]->SetNodeUp(m, true, now);
    }
  }
}

void ClusterTest::TearDown() {
  for (int n = 0; n < nodes_; ++n) {
    for (const auto& [id, times] : sink[n]->times) EXPECT_EQ(times, 1) << "request " << id;
  }
}

void ClusterTest::Pump() {
  while (!wire.empty()) {
    auto f = std::move(wire.front());
    wire.pop_front();
    f();
  }
}

void ClusterTest::ForwardFrom(int from, const RemoteOp& op) {
  sink[from]->forwarded.push_back(op);
  RemoteOp in = op;
  in.node = from;  // the receiver sees the sender's node
  const int to = op.node;
  Post([this, to, in] { eng[to]->SubmitRemote(in, now); });
}

void ClusterTest::WithdrawFrom(int from, int32_t node, uint64_t id) {
  Post([this, from, node, id] { eng[node]->WithdrawRemote(from, id, now); });
}

void ClusterTest::DoneFrom(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply) {
  std::optional<vdvk_msg> m;
  if (reply) m = *reply;
  Post([this, node, id, result, m] { eng[node]->RemoteResult(id, result, m ? &*m : nullptr, now); });
}

void ClusterTest::LookupFrom(int from, int32_t node, uint64_t id, int32_t dcid, int32_t ep) {
  Post([this, from, node, id, dcid, ep] {
    if (down[node]) return;
    eng[from]->LookupResult(id, node, eng[node]->LookupEndpoint(dcid, ep), now);
  });
}

Call ClusterTest::Mk(ProcKey who, uint32_t op, std::initializer_list<int32_t> args, int64_t to) {
  return MakeCall(next_id++, who, op, args, to);
}

Call ClusterTest::MkMsg(ProcKey who, uint32_t op, int32_t ep, int32_t type, int32_t i1, int64_t to) {
  Call c = Mk(who, op, {ep}, to);
  c.msg = MakeMsg(type, i1);
  return c;
}

RequestId ClusterTest::Submit(int n, const Call& c) {
  eng[n]->Submit(c, now);
  return c.id;
}

int32_t ClusterTest::Run(int n, const Call& c) {
  Submit(n, c);
  auto r = Result(n, c.id);
  EXPECT_TRUE(r.has_value()) << "op " << c.op << " on node " << n << " did not complete at once";
  return r.value_or(INT32_MIN);
}

std::optional<int32_t> ClusterTest::Result(int n, RequestId id) const {
  for (const Done& d : sink[n]->done) {
    if (d.id == id) return d.result;
  }
  return std::nullopt;
}

message ClusterTest::Msg(int n, RequestId id) const {
  for (const Done& d : sink[n]->done) {
    if (d.id == id && d.has_msg) return AsMessage(d.msg);
  }
  ADD_FAILURE() << "no message for " << id;
  return message{};
}

std::string ClusterTest::SlotName(int n, int32_t ep) {
  const RequestId id = Submit(n, Mk(P(1), VDVK_OP_GETPROCINFO, {0, ep}));
  for (const Done& d : sink[n]->done) {
    if (d.id == id && d.out.size() >= sizeof(vdvk_proc_info)) {
      vdvk_proc_info pi;
      std::memcpy(&pi, d.out.data(), sizeof(pi));
      return std::string(pi.name, strnlen(pi.name, sizeof(pi.name)));
    }
  }
  return "?";
}

}  // namespace vdvk::test
