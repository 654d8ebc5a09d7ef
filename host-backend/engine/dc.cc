// dc.cc - DC lifecycle: dc_init, dc_end, add_node/del_node.
#include <cstdio>

#include "host-backend/engine/engine_impl.h"

namespace vdvk {

namespace {
constexpr int32_t kMaxNrProcs = 4096;
constexpr int32_t kMaxCopyLenLimit = 64 << 20;
}  // namespace

int32_t Engine::Impl::StartDc(const vdvk_dc_init& in, int32_t pid) {
  if (in.dcid < 0 || in.dcid >= cfg_.nr_dcs) return EDVSBADDCID;
  Dc& dc = dcs_[in.dcid];
  if (dc.running) return EDVSDCRUN;
  if (in.nr_procs < 1 || in.nr_procs > kMaxNrProcs) return EDVSBADVALUE;
  if (in.nr_tasks < 0 || in.nr_tasks > NR_TASKS) return EDVSBADVALUE;
  if (in.nr_sysprocs < 0 || in.nr_sysprocs > in.nr_procs + in.nr_tasks) return EDVSBADVALUE;
  if (in.nr_nodes < 1 || in.nr_nodes > NR_NODES) return EDVSBADVALUE;
  if (in.max_copylen < 0 || in.max_copylen > kMaxCopyLenLimit) return EDVSBADVALUE;
  // Node ids are < cfg_.nr_nodes; a bit beyond that names no node.
  if (cfg_.nr_nodes < 64 && (in.nodes >> cfg_.nr_nodes) != 0) return EDVSBADVALUE;

  dc.running = true;
  dc.nr_procs = in.nr_procs;
  dc.nr_tasks = in.nr_tasks;
  dc.nr_sysprocs = in.nr_sysprocs;
  dc.nr_nodes = in.nr_nodes;
  dc.max_copylen = in.max_copylen == 0 ? cfg_.max_copylen : in.max_copylen;
  dc.pid = pid;
  dc.nodes = in.nodes | (uint64_t{1} << cfg_.node_id);
  std::memset(dc.name, 0, sizeof(dc.name));
  const size_t len = strnlen(in.name, sizeof(in.name));
  if (len == 0) {
    std::snprintf(dc.name, sizeof(dc.name), "DC%d", static_cast<int>(in.dcid));
  } else {
    std::memcpy(dc.name, in.name, len < sizeof(dc.name) ? len : sizeof(dc.name) - 1);
  }
  dc.slots.assign(static_cast<size_t>(dc.nr_slots()), Slot{});
  return 0;
}

void Engine::Impl::DoDcInit(const Call& c) {
  if (c.in.size() < sizeof(vdvk_dc_init)) return Done(c, EDVSINVAL);
  vdvk_dc_init in;
  std::memcpy(&in, c.in.data(), sizeof(in));  // the buffer is shared memory: copy once
  const int32_t err = StartDc(in, c.caller.pid);
  if (err != 0) return Done(c, err);
  vdvk_dc_info out;
  FillDcInfo(dcs_[in.dcid], &out);
  Done(c, 0, {reinterpret_cast<const uint8_t*>(&out), sizeof(out)});
  sink_->DcChanged(in.dcid, true, dcs_[in.dcid].nodes);
}

void Engine::Impl::DoDcEnd(const Call& c) {
  const int32_t dcid = c.arg[0];
  if (dcid < 0 || dcid >= cfg_.nr_dcs) return Done(c, EDVSBADDCID);
  Dc& dc = dcs_[dcid];
  if (!dc.running) return Done(c, EDVSDCNOTRUN);
  // First every member's own call ends with EDVSDCNOTRUN, so that freeing the
  // slots below does not report them as peers that died.
  for (const Slot& s : dc.slots) {
    if (s.state != SlotState::kLocal) continue;
    if (int32_t p = PendingOf(s.owner); p >= 0) Finish(p, EDVSDCNOTRUN);
  }
  for (int32_t i = 0; i < dc.nr_slots(); ++i) {
    if (dc.slots[i].state != SlotState::kFree) FreeSlot(dcid, i, EDVSDCNOTRUN);
  }
  for (size_t i = 0; i < waiters_.size();) {
    const Request& r = pool_[waiters_[i]];
    if (r.wait_dc == dcid && r.wait_ep != SELF) {
      Finish(waiters_[i], EDVSDCNOTRUN);
    } else {
      ++i;
    }
  }
  dc.running = false;
  dc.slots.clear();
  Done(c, 0);
  sink_->DcChanged(dcid, false, 0);
}

void Engine::Impl::DoNodeChange(const Call& c, bool add) {
  const int32_t dcid = c.arg[0];
  const int32_t node = c.arg[1];
  if (dcid < 0 || dcid >= cfg_.nr_dcs) return Done(c, EDVSBADDCID);
  Dc& dc = dcs_[dcid];
  if (!dc.running) return Done(c, EDVSDCNOTRUN);
  if (node < 0 || node >= cfg_.nr_nodes) return Done(c, EDVSBADNODEID);
  const uint64_t bit = uint64_t{1} << node;
  if (add) {
    if (dc.nodes & bit) return Done(c, EDVSDCNODE);
    dc.nodes |= bit;
  } else {
    if (!(dc.nodes & bit)) return Done(c, EDVSNODCNODE);
    if (node == cfg_.node_id) return Done(c, EDVSINVAL);  // dc_end does that
    dc.nodes &= ~bit;
  }
  Done(c, 0);
  sink_->DcChanged(dcid, true, dc.nodes);
}

bool Engine::Impl::DcMembership(int32_t dcid, uint64_t* nodes) const {
  const bool running = dcid >= 0 && dcid < cfg_.nr_dcs && dcs_[dcid].running;
  *nodes = running ? dcs_[dcid].nodes : 0;
  return running;
}

}  // namespace vdvk
