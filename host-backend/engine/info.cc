// info.cc - getdcinfo, getprocinfo, getnodeinfo, getdvsinfo: fixed-layout
// structs (wire/vdvk_ring.h) built on the stack and lent to the sink.
#include <algorithm>

#include "host-backend/engine/engine_impl.h"

namespace vdvk {

namespace {

template <typename T>
std::span<const uint8_t> Bytes(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof(v)};
}

void CopyName(char (&dst)[16], std::string_view src) {
  std::memset(dst, 0, sizeof(dst));
  std::memcpy(dst, src.data(), std::min(src.size(), sizeof(dst) - 1));
}

}  // namespace

void Engine::Impl::FillDcInfo(const Dc& dc, vdvk_dc_info* out) const {
  std::memset(out, 0, sizeof(*out));
  out->dcid = dc.id;
  if (!dc.running) {
    out->flags = DC_FREE;
    return;
  }
  out->flags = DC_RUNNING;
  out->nr_procs = dc.nr_procs;
  out->nr_tasks = dc.nr_tasks;
  out->nr_sysprocs = dc.nr_sysprocs;
  out->nr_nodes = dc.nr_nodes;
  out->nodes = dc.nodes;
  out->pid = dc.pid;
  out->max_copylen = dc.max_copylen;
  std::memcpy(out->name, dc.name, sizeof(out->name));
}

void Engine::Impl::DoGetDcInfo(const Call& c) {
  const int32_t dcid = c.arg[0];
  if (dcid < 0 || dcid >= cfg_.nr_dcs) return Done(c, EDVSBADDCID);
  vdvk_dc_info out;
  FillDcInfo(dcs_[dcid], &out);
  Done(c, 0, Bytes(out));
}

void Engine::Impl::DoGetProcInfo(const Call& c) {
  const int32_t dcid = c.arg[0];
  const int32_t nr = c.arg[1];
  if (dcid < 0 || dcid >= cfg_.nr_dcs) return Done(c, EDVSBADDCID);
  const Dc& dc = dcs_[dcid];
  if (!dc.running) return Done(c, EDVSDCNOTRUN);
  const int32_t idx = dc.IndexOfNr(nr);
  if (idx < 0) return Done(c, EDVSBADPROC);
  const Slot& s = dc.slots[idx];
  vdvk_proc_info out;
  std::memset(&out, 0, sizeof(out));
  out.nr = nr;
  out.dcid = dcid;
  out.waitmigr = out.waitunbind = NONE;
  out.proxy = -1;
  if (s.state == SlotState::kFree) {
    out.endpoint = NONE;
    out.rts_flags = SLOT_FREE;
    out.lpid = out.vpid = -1;
    out.nodeid = -1;
    out.getfrom = out.sendto = NONE;
    return Done(c, 0, Bytes(out));
  }
  out.endpoint = s.ep;
  out.rts_flags = s.rts & (SENDING | RECEIVING | ONCOPY);
  if (s.state == SlotState::kRemote) out.rts_flags |= REMOTE;
  out.lpid = out.vpid = s.lpid;
  out.nodeid = s.nodeid;
  out.getfrom = (s.rts & RECEIVING) ? s.getfrom : NONE;
  out.sendto = (s.rts & SENDING) ? s.sendto : NONE;
  out.domain = static_cast<int32_t>(s.owner.domain);
  out.nodemap = s.nodeid >= 0 && s.nodeid < 64 ? uint64_t{1} << s.nodeid : 0;
  out.lclsent = s.lclsent;
  out.lclcopy = s.lclcopy;
  std::memcpy(out.name, s.name, sizeof(out.name));
  Done(c, 0, Bytes(out));
}

void Engine::Impl::DoGetNodeInfo(const Call& c) {
  const int32_t nodeid = c.arg[0];
  if (nodeid < 0 || nodeid >= cfg_.nr_nodes) return Done(c, EDVSBADNODEID);
  vdvk_node_info out;
  std::memset(&out, 0, sizeof(out));
  out.nodeid = nodeid;
  if (nodeid == cfg_.node_id) {
    out.flags = NODE_ATTACHED;
    CopyName(out.name, cfg_.node_name);
  } else if (NodeUp(nodeid)) {
    // DVS shows a node with a running proxy pair as attached; the link is ours.
    out.flags = NODE_ATTACHED;
    out.proxies = nodeid;
    CopyName(out.name, "node" + std::to_string(nodeid));
  }
  if (nodeid != cfg_.node_id) {
    out.pxsent = node_sent_[static_cast<size_t>(nodeid)];
    out.pxrcvd = node_rcvd_[static_cast<size_t>(nodeid)];
  }
  for (const Dc& dc : dcs_) {
    if (dc.running && ((dc.nodes >> nodeid) & 1u)) out.dcs |= uint64_t{1} << dc.id;
  }
  Done(c, 0, Bytes(out));
}

void Engine::Impl::DoGetDvsInfo(const Call& c) {
  vdvk_dvs_info out;
  std::memset(&out, 0, sizeof(out));
  CopyName(out.name, cfg_.node_name);
  out.nr_dcs = cfg_.nr_dcs;
  out.nr_nodes = cfg_.nr_nodes;
  out.nr_procs = cfg_.dc0_nr_procs;
  out.nr_tasks = cfg_.dc0_nr_tasks;
  out.nr_sysprocs = cfg_.dc0_nr_sysprocs;
  out.max_copybuf = cfg_.max_copybuf;
  out.max_copylen = cfg_.max_copylen;
  out.version = 1;
  out.flags = (1u << 2) | (1u << 8);
  out.size_proc = sizeof(vdvk_proc_info);
  out.nodeid = cfg_.node_id;
  Done(c, cfg_.node_id, Bytes(out));
}

}  // namespace vdvk
