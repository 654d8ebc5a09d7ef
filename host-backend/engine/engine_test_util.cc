// engine_test_util.cc - the recording sink and the fixture helpers.
#include "host-backend/engine/engine_test_util.h"

namespace vdvk::test {

void FakeSink::Complete(const Completion& c) {
  Done d;
  d.id = c.id;
  d.result = c.result;
  if (c.msg != nullptr) {
    d.has_msg = true;
    d.msg = *c.msg;
  }
  d.out.assign(c.out.begin(), c.out.end());
  done.push_back(std::move(d));
  ++times[c.id];
}

message AsMessage(const vdvk_msg& m) {
  message out;
  std::memcpy(&out, &m, sizeof(out));
  return out;
}

vdvk_msg MakeMsg(int32_t type, int32_t i1, int32_t fake_source) {
  message m;
  std::memset(&m, 0, sizeof(m));
  m.m_source = fake_source;  // the engine must overwrite it
  m.m_type = type;
  m.m1_i1 = i1;
  m.m1_i2 = 0x5a5a;
  vdvk_msg out;
  std::memcpy(&out, &m, sizeof(out));
  return out;
}

void EngineTest::Start() {
  eng.reset();
  sink = FakeSink{};
  eng = std::make_unique<Engine>(cfg, &sink);
}

void EngineTest::TearDown() {
  // Every call completes at most once (the engine's central invariant).
  for (const auto& [id, n] : sink.times) EXPECT_EQ(n, 1) << "request " << id;
}

Call MakeCall(RequestId id, ProcKey who, uint32_t op, std::initializer_list<int32_t> args, int64_t timeout_ms) {
  Call c;
  c.id = id;
  c.caller = who;
  c.op = op;
  c.timeout_ms = timeout_ms;
  int i = 0;
  for (int32_t a : args) c.arg[i++] = a;
  return c;
}

Call EngineTest::Mk(ProcKey who, uint32_t op, std::initializer_list<int32_t> args,
                    int64_t timeout_ms) {
  return MakeCall(next_id++, who, op, args, timeout_ms);
}

RequestId EngineTest::Submit(const Call& c) {
  eng->Submit(c, now);
  return c.id;
}

int32_t EngineTest::Run(const Call& c) {
  Submit(c);
  auto r = Result(c.id);
  EXPECT_TRUE(r.has_value()) << "op " << c.op << " did not complete at once";
  return r.value_or(INT32_MIN);
}

bool EngineTest::Pending(RequestId id) const { return sink.times.count(id) == 0; }

std::optional<int32_t> EngineTest::Result(RequestId id) const {
  for (const Done& d : sink.done) {
    if (d.id == id) return d.result;
  }
  return std::nullopt;
}

const Done& EngineTest::Get(RequestId id) const {
  for (const Done& d : sink.done) {
    if (d.id == id) return d;
  }
  ADD_FAILURE() << "request " << id << " not completed";
  static Done none;
  return none;
}

message EngineTest::Msg(RequestId id) const {
  const Done& d = Get(id);
  EXPECT_TRUE(d.has_msg) << "request " << id << " got no message";
  return AsMessage(d.msg);
}

int32_t EngineTest::Bind(ProcKey who, int32_t ep, int32_t dcid) {
  Call c = Mk(who, VDVK_OP_BIND, {SELF_BIND, dcid, -1, ep, LOCALNODE});
  std::snprintf(c.name, sizeof(c.name), "p%d", who.pid);
  return Run(c);
}

int32_t EngineTest::LclBind(ProcKey caller, int32_t pid, int32_t ep, int32_t dcid) {
  return Run(Mk(caller, VDVK_OP_BIND, {LCL_BIND, dcid, pid, ep, LOCALNODE}));
}

int32_t EngineTest::Unbind(ProcKey who, int32_t ep, int32_t dcid) {
  return Run(Mk(who, VDVK_OP_UNBIND, {dcid, ep}));
}

RequestId EngineTest::Send(ProcKey from, int32_t dst, const vdvk_msg& m, int64_t to) {
  Call c = Mk(from, VDVK_OP_SEND, {dst}, to);
  c.msg = m;
  return Submit(c);
}

RequestId EngineTest::Sendrec(ProcKey from, int32_t dst, int32_t type, int64_t to) {
  Call c = Mk(from, VDVK_OP_SENDREC, {dst}, to);
  c.msg = MakeMsg(type);
  return Submit(c);
}

RequestId EngineTest::Receive(ProcKey who, int32_t src, int64_t to) {
  return Submit(Mk(who, VDVK_OP_RECEIVE, {src}, to));
}

RequestId EngineTest::Rcvrqst(ProcKey who, int64_t to) {
  return Submit(Mk(who, VDVK_OP_RCVRQST, {}, to));
}

int32_t EngineTest::Reply(ProcKey from, int32_t dst, int32_t type) {
  Call c = Mk(from, VDVK_OP_REPLY, {dst});
  c.msg = MakeMsg(type, 77);
  return Run(c);
}

int32_t EngineTest::Notify(ProcKey from, int32_t src_nr, int32_t dst, int32_t value) {
  return Run(Mk(from, VDVK_OP_NOTIFY, {src_nr, dst, value}));
}

RequestId EngineTest::Vcopy(ProcKey who, int32_t src, int32_t dst, int32_t bytes,
                            uint64_t src_addr, uint64_t dst_addr) {
  Call c = Mk(who, VDVK_OP_VCOPY, {src, dst, bytes});
  c.addr[0] = src_addr;
  c.addr[1] = dst_addr;
  return Submit(c);
}

RequestId EngineTest::Wait4Bind(ProcKey who, int32_t cmd, int32_t ep, int64_t to) {
  return Submit(Mk(who, VDVK_OP_WAIT4BIND, {cmd, ep}, to));
}

int32_t EngineTest::DcInit(ProcKey who, int32_t dcid, int32_t nr_procs, int32_t nr_tasks,
                           int32_t nr_sysprocs, int32_t nr_nodes, uint64_t nodes) {
  vdvk_dc_init in{};
  in.dcid = dcid;
  in.nr_procs = nr_procs;
  in.nr_tasks = nr_tasks;
  in.nr_sysprocs = nr_sysprocs;
  in.nr_nodes = nr_nodes;
  in.nodes = nodes;
  Call c = Mk(who, VDVK_OP_DCINIT, {});
  c.in = {reinterpret_cast<const uint8_t*>(&in), sizeof(in)};
  return Run(c);
}

vdvk_proc_info EngineTest::ProcInfo(int32_t nr, int32_t dcid) {
  vdvk_proc_info info{};
  const RequestId id = Submit(Mk(P(1), VDVK_OP_GETPROCINFO, {dcid, nr}));
  const Done& d = Get(id);
  EXPECT_EQ(d.result, 0);
  EXPECT_EQ(d.out.size(), sizeof(info));
  if (d.out.size() == sizeof(info)) std::memcpy(&info, d.out.data(), sizeof(info));
  return info;
}

vdvk_dc_info EngineTest::DcInfo(int32_t dcid) {
  vdvk_dc_info info{};
  const RequestId id = Submit(Mk(P(1), VDVK_OP_GETDCINFO, {dcid}));
  const Done& d = Get(id);
  EXPECT_EQ(d.result, 0);
  EXPECT_EQ(d.out.size(), sizeof(info));
  if (d.out.size() == sizeof(info)) std::memcpy(&info, d.out.data(), sizeof(info));
  return info;
}

void BoundTest::SetUp() {
  EngineTest::SetUp();
  ASSERT_EQ(Bind(kA, kEpA), kEpA);
  ASSERT_EQ(Bind(kB, kEpB), kEpB);
  ASSERT_EQ(Bind(kC, kEpC), kEpC);
  ASSERT_EQ(Bind(kD, kEpD), kEpD);
  ASSERT_EQ(Bind(kU, kEpU), kEpU);
}

}  // namespace vdvk::test
