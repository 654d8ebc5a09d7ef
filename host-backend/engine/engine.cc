// engine.cc - the public Engine API and call dispatch (privileges, busy check).
#include "host-backend/engine/engine.h"

#include "host-backend/engine/engine_impl.h"

namespace vdvk {

Engine::Impl::Impl(const EngineConfig& cfg, EngineSink* sink)
    : cfg_(cfg), node_name_(cfg.node_name), sink_(sink) {
  cfg_.node_name = node_name_;
  if (cfg_.nr_dcs < 1) cfg_.nr_dcs = 1;
  if (cfg_.nr_nodes < 1) cfg_.nr_nodes = 1;
  if (cfg_.nr_nodes > 64) cfg_.nr_nodes = 64;  // node bitmaps are 64-bit
  dcs_.resize(static_cast<size_t>(cfg_.nr_dcs));
  for (int32_t i = 0; i < cfg_.nr_dcs; ++i) dcs_[i].id = i;
  pool_.reserve(256);
  free_.reserve(256);
  heap_.reserve(256);
  if (cfg_.start_dc0) {
    vdvk_dc_init in{};
    in.dcid = 0;
    in.nr_procs = cfg_.dc0_nr_procs;
    in.nr_tasks = cfg_.dc0_nr_tasks;
    in.nr_sysprocs = cfg_.dc0_nr_sysprocs;
    in.nr_nodes = cfg_.dc0_nr_nodes;
    std::memcpy(in.name, "DC0", 4);
    StartDc(in, 0);
  }
}

void Engine::Impl::Done(const Call& c, int32_t result, std::span<const uint8_t> out) {
  Completion comp;
  comp.id = c.id;
  comp.result = result;
  comp.out = out;
  Emit(comp);
}

void Engine::Impl::DoneMsg(const Call& c, const vdvk_msg& m) {
  Completion comp;
  comp.id = c.id;
  comp.result = 0;
  comp.msg = &m;
  Emit(comp);
}

const SlotRef* Engine::Impl::BoundSlot(ProcKey k) const {
  return bound_.Find(k);
}

namespace {

bool IsIpc(uint32_t op) {
  switch (op) {
    case VDVK_OP_SEND:
    case VDVK_OP_RECEIVE:
    case VDVK_OP_SENDREC:
    case VDVK_OP_RCVRQST:
    case VDVK_OP_REPLY:
    case VDVK_OP_NOTIFY:
    case VDVK_OP_VCOPY:
      return true;
    default:
      return false;
  }
}

// What a bound non-system process may call (DVS: user processes only talk to
// servers through sendrec).
bool UserAllowed(uint32_t op) {
  switch (op) {
    case VDVK_OP_SENDREC:
    case VDVK_OP_UNBIND:
    case VDVK_OP_GETEP:
    case VDVK_OP_WAIT4BIND:
    case VDVK_OP_GETDCINFO:
    case VDVK_OP_GETPROCINFO:
    case VDVK_OP_GETNODEINFO:
    case VDVK_OP_GETDVSINFO:
      return true;
    default:
      return false;
  }
}

bool IsBlocking(uint32_t op) {
  switch (op) {
    case VDVK_OP_SEND:
    case VDVK_OP_RECEIVE:
    case VDVK_OP_SENDREC:
    case VDVK_OP_RCVRQST:
    case VDVK_OP_VCOPY:
    case VDVK_OP_WAIT4BIND:
      return true;
    default:
      return false;
  }
}

}  // namespace

void Engine::Impl::Submit(const Call& c, Nanos now) {
  const SlotRef* me = BoundSlot(c.caller);
  if (me == nullptr) {
    // WAKEUPEP acts on another process's IPC state, so like IPC it needs a
    // bound (system) caller.
    if (IsIpc(c.op) || c.op == VDVK_OP_WAKEUPEP) return Done(c, EDVSNOTBIND);
  } else if (!dcs_[me->dc].IsSystem(me->idx) && !UserAllowed(c.op)) {
    return Done(c, EDVSBADCALL);
  }
  if (IsBlocking(c.op) && PendingOf(c.caller) >= 0) return Done(c, EDVSBUSY);

  switch (c.op) {
    case VDVK_OP_SEND: return DoSend(c, *me, now, false);
    case VDVK_OP_SENDREC: return DoSend(c, *me, now, true);
    case VDVK_OP_RECEIVE: return DoReceive(c, *me, now, false);
    case VDVK_OP_RCVRQST: return DoReceive(c, *me, now, true);
    case VDVK_OP_REPLY: return DoReply(c, *me);
    case VDVK_OP_NOTIFY: return DoNotify(c, *me, now);
    case VDVK_OP_VCOPY: return DoVcopy(c, *me, now);
    case VDVK_OP_WAKEUPEP: return DoWakeup(c);
    case VDVK_OP_BIND: return DoBind(c);
    case VDVK_OP_UNBIND: return DoUnbind(c, me);
    case VDVK_OP_GETEP: return DoGetEp(c);
    case VDVK_OP_WAIT4BIND: return DoWait4Bind(c, me, now);
    case VDVK_OP_DCINIT: return DoDcInit(c);
    case VDVK_OP_DCEND: return DoDcEnd(c);
    case VDVK_OP_ADDNODE: return DoNodeChange(c, true);
    case VDVK_OP_DELNODE: return DoNodeChange(c, false);
    case VDVK_OP_GETDCINFO: return DoGetDcInfo(c);
    case VDVK_OP_GETPROCINFO: return DoGetProcInfo(c);
    case VDVK_OP_GETNODEINFO: return DoGetNodeInfo(c);
    case VDVK_OP_GETDVSINFO: return DoGetDvsInfo(c);
    case VDVK_OP_DVSINIT: return Done(c, EDVSDVSINIT);  // the backend is the DVS
    case VDVK_OP_DVSEND: return Done(c, EDVSPERM);      // nobody may stop it by a call
    default: return Done(c, EDVSNOSYS);
  }
}

Engine::Engine(const EngineConfig& cfg, EngineSink* sink)
    : impl_(std::make_unique<Impl>(cfg, sink)) {}
Engine::~Engine() = default;

void Engine::Submit(const Call& call, Nanos now) { impl_->Submit(call, now); }
void Engine::Cancel(RequestId id, Nanos) { impl_->Cancel(id); }
void Engine::VcopyDone(RequestId id, int32_t result, Nanos) { impl_->VcopyDone(id, result); }
void Engine::ProcessExited(ProcKey who, Nanos) { impl_->ProcessExited(who); }
void Engine::DomainGone(uint32_t domain, Nanos) { impl_->DomainGone(domain); }
void Engine::SetNodeUp(int32_t node, bool up, Nanos now) { impl_->SetNodeUp(node, up, now); }
bool Engine::NodeUp(int32_t node) const { return impl_->NodeUp(node); }
bool Engine::DcMembership(int32_t dcid, uint64_t* nodes) const {
  return impl_->DcMembership(dcid, nodes);
}
void Engine::RemoteResult(uint64_t op_id, int32_t result, const vdvk_msg* reply, Nanos) {
  impl_->RemoteResult(op_id, result, reply);
}
void Engine::SubmitRemote(const RemoteOp& op, Nanos now) { impl_->SubmitRemote(op, now); }
void Engine::WithdrawRemote(int32_t node, uint64_t id, Nanos) { impl_->WithdrawRemote(node, id); }
void Engine::RemoteVcopyDone(int32_t node, uint64_t op_id, int32_t result, Nanos) {
  impl_->RemoteVcopyDone(node, op_id, result);
}
int32_t Engine::LookupEndpoint(int32_t dcid, int32_t ep) const {
  return impl_->LookupEndpoint(dcid, ep);
}
void Engine::LookupResult(uint64_t id, int32_t node, int32_t result, Nanos now) {
  impl_->LookupResult(id, node, result, now);
}
void Engine::Tick(Nanos now) { impl_->Tick(now); }
std::optional<Nanos> Engine::NextDeadline() const { return impl_->NextDeadline(); }
const EngineCounters& Engine::counters() const { return impl_->counters_; }
int32_t Engine::node_id() const { return impl_->cfg_.node_id; }

}  // namespace vdvk
