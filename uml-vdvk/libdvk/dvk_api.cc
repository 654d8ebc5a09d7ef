// dvk_api.cc - the C API of dvk.h: each call fills one SQE (arguments per the
// table in host-backend/engine/engine.h) and runs it through the transport
// (transport.h: the host ring client, or /dev/vdvk in a UML guest).
#include <string.h>

#include <string>

#include "dvk/dvk.h"
#include "libdvk/transport.h"
#include "libdvk/info_convert.h"
#include "wire/vdvk_ring.h"

using vdvk::client::Request;

namespace {

Request Make(uint16_t op, long timeout_ms = TIMEOUT_FOREVER) {
  Request r;
  r.sqe.opcode = op;
  r.sqe.timeout_ms = timeout_ms;
  return r;
}

long Run(Request& r) { return vdvk::client::TransportCall(r); }

// Calls carrying a message in (send/reply/relay/sendrec) copy it into the SQE;
// m_source is the backend's to fill, so it is not trusted anyway.
void PutMsg(Request& r, const message* m) { memcpy(&r.sqe.u.msg, m, sizeof(r.sqe.u.msg)); }

template <typename Wire>
long GetInfo(Request& r, Wire* w) {
  r.out = w;
  r.out_len = sizeof(*w);
  return Run(r);
}

thread_local std::string t_detail;

}  // namespace

static_assert(sizeof(message) == sizeof(vdvk_msg), "message and wire message match");

extern "C" {

long dvk_open(void) { return vdvk::client::TransportOpen(); }
long dvk_close(void) { return vdvk::client::TransportClose(); }

// vdvk extension (declared in dvk/dvk.hpp): why the last attach failed or the
// connection was dropped. Valid until the next call from this thread.
const char* dvk_last_error_detail(void) {
  t_detail = vdvk::client::TransportLastDetail();
  return t_detail.c_str();
}

long dvk_dvs_init(int nodeid, dvs_usr_t* dvsu_ptr) {
  (void)dvsu_ptr;  // the backend is the DVS; it is configured on its command line
  Request r = Make(VDVK_OP_DVSINIT);
  r.sqe.arg[0] = nodeid;
  return Run(r);
}

long dvk_dvs_end(void) {
  Request r = Make(VDVK_OP_DVSEND);
  return Run(r);
}

long dvk_getdvsinfo(dvs_usr_t* dvsu_ptr) {
  if (!dvsu_ptr) return EDVSFAULT;
  Request r = Make(VDVK_OP_GETDVSINFO);
  vdvk_dvs_info w{};
  long rc = GetInfo(r, &w);
  if (rc >= 0) vdvk::client::ToDvsUsr(w, dvsu_ptr);
  return rc;
}

long dvk_dc_init(dc_usr_t* dcu_ptr) {
  if (!dcu_ptr) return EDVSFAULT;
  Request r = Make(VDVK_OP_DCINIT);
  vdvk_dc_init in = vdvk::client::FromDcUsr(*dcu_ptr);
  vdvk_dc_info out{};
  r.in = &in;
  r.in_len = sizeof(in);
  long rc = GetInfo(r, &out);
  if (rc >= 0) vdvk::client::ToDcUsr(out, dcu_ptr);
  return rc;
}

long dvk_dc_end(int dcid) {
  Request r = Make(VDVK_OP_DCEND);
  r.sqe.arg[0] = dcid;
  return Run(r);
}

long dvk_getdcinfo(int dcid, dc_usr_t* dcu_ptr) {
  if (!dcu_ptr) return EDVSFAULT;
  Request r = Make(VDVK_OP_GETDCINFO);
  r.sqe.arg[0] = dcid;
  vdvk_dc_info w{};
  long rc = GetInfo(r, &w);
  if (rc >= 0) vdvk::client::ToDcUsr(w, dcu_ptr);
  return rc;
}

long dvk_getprocinfo(int dcid, int p_nr, proc_usr_t* p_usr) {
  if (!p_usr) return EDVSFAULT;
  Request r = Make(VDVK_OP_GETPROCINFO);
  r.sqe.arg[0] = dcid;
  r.sqe.arg[1] = p_nr;
  vdvk_proc_info w{};
  long rc = GetInfo(r, &w);
  if (rc >= 0) vdvk::client::ToProcUsr(w, p_usr);
  return rc;
}

long dvk_getnodeinfo(int nodeid, node_usr_t* nodeu_ptr) {
  if (!nodeu_ptr) return EDVSFAULT;
  Request r = Make(VDVK_OP_GETNODEINFO);
  r.sqe.arg[0] = nodeid;
  vdvk_node_info w{};
  long rc = GetInfo(r, &w);
  if (rc >= 0) vdvk::client::ToNodeUsr(w, nodeu_ptr);
  return rc;
}

long dvk_add_node(int dcid, int nodeid) {
  Request r = Make(VDVK_OP_ADDNODE);
  r.sqe.arg[0] = dcid;
  r.sqe.arg[1] = nodeid;
  return Run(r);
}

long dvk_del_node(int dcid, int nodeid) {
  Request r = Make(VDVK_OP_DELNODE);
  r.sqe.arg[0] = dcid;
  r.sqe.arg[1] = nodeid;
  return Run(r);
}

long dvk_node_up(char* name, int nodeid, int pxid) {
  (void)name;  // informational in DVS too; vdvk links are configured in the backend
  Request r = Make(VDVK_OP_NODEUP);
  r.sqe.arg[0] = nodeid;
  r.sqe.arg[1] = pxid;
  return Run(r);
}

long dvk_node_down(int nodeid) {
  Request r = Make(VDVK_OP_NODEDOWN);
  r.sqe.arg[0] = nodeid;
  return Run(r);
}

long dvk_bind_X(int cmd, int dcid, int pid, int endpoint, int nodeid) {
  Request r = Make(VDVK_OP_BIND);
  r.sqe.arg[0] = cmd;
  r.sqe.arg[1] = dcid;
  r.sqe.arg[2] = pid;
  r.sqe.arg[3] = endpoint;
  r.sqe.arg[4] = nodeid;
  return Run(r);
}

long dvk_rmtbind_X(int dcid, const char* name, int endpoint, int nodeid) {
  Request r = Make(VDVK_OP_BIND);
  r.sqe.arg[0] = RMT_BIND;
  r.sqe.arg[1] = dcid;
  r.sqe.arg[2] = PROC_NO_PID;
  r.sqe.arg[3] = endpoint;
  r.sqe.arg[4] = nodeid;
  // The (informational) name of the remote process travels in buffer 0.
  char label[MAXPROCNAME] = {};
  if (name) strncpy(label, name, sizeof(label) - 1);
  r.in = label;
  r.in_len = sizeof(label);
  return Run(r);
}

long dvk_unbind_T(int dcid, int endpoint, long timeout_ms) {
  Request r = Make(VDVK_OP_UNBIND, timeout_ms);
  r.sqe.arg[0] = dcid;
  r.sqe.arg[1] = endpoint;
  return Run(r);
}

long dvk_getep(int pid) {
  Request r = Make(VDVK_OP_GETEP);
  r.sqe.arg[0] = pid;
  return Run(r);
}

long dvk_wait4bindep_X(int cmd, int endpoint, long timeout_ms) {
  Request r = Make(VDVK_OP_WAIT4BIND, timeout_ms);
  r.sqe.arg[0] = cmd;
  r.sqe.arg[1] = endpoint;
  return Run(r);
}

long dvk_send_T(int endpoint, message* mptr, long timeout_ms) {
  if (!mptr) return EDVSFAULT;
  Request r = Make(VDVK_OP_SEND, timeout_ms);
  r.sqe.arg[0] = endpoint;
  PutMsg(r, mptr);
  return Run(r);
}

long dvk_receive_T(int endpoint, message* mptr, long timeout_ms) {
  if (!mptr) return EDVSFAULT;
  Request r = Make(VDVK_OP_RECEIVE, timeout_ms);
  r.sqe.arg[0] = endpoint;
  r.msg_out = mptr;
  return Run(r);
}

long dvk_sendrec_T(int endpoint, message* mptr, long timeout_ms) {
  if (!mptr) return EDVSFAULT;
  Request r = Make(VDVK_OP_SENDREC, timeout_ms);
  r.sqe.arg[0] = endpoint;
  PutMsg(r, mptr);
  r.msg_out = mptr;  // the reply overwrites the whole request, as in DVS
  return Run(r);
}

long dvk_reply_T(int endpoint, message* mptr, long timeout_ms) {
  if (!mptr) return EDVSFAULT;
  Request r = Make(VDVK_OP_REPLY, timeout_ms);
  r.sqe.arg[0] = endpoint;
  PutMsg(r, mptr);
  return Run(r);
}

long dvk_rcvrqst_T(message* mptr, long timeout_ms) {
  if (!mptr) return EDVSFAULT;
  Request r = Make(VDVK_OP_RCVRQST, timeout_ms);
  r.msg_out = mptr;
  return Run(r);
}

long dvk_relay(int endpoint, message* mptr) {
  if (!mptr) return EDVSFAULT;
  Request r = Make(VDVK_OP_RELAY);
  r.sqe.arg[0] = endpoint;
  PutMsg(r, mptr);
  return Run(r);
}

long dvk_notify_X(int src_nr, int dst_ep, int value) {
  Request r = Make(VDVK_OP_NOTIFY);
  r.sqe.arg[0] = src_nr;
  r.sqe.arg[1] = dst_ep;
  r.sqe.arg[2] = value;
  return Run(r);
}

long dvk_vcopy(int src_ep, void* src_addr, int dst_ep, void* dst_addr, int bytes) {
  Request r = Make(VDVK_OP_VCOPY);
  r.sqe.arg[0] = src_ep;
  r.sqe.arg[1] = dst_ep;
  r.sqe.arg[2] = bytes;
  r.sqe.u.arg64[0] = reinterpret_cast<uintptr_t>(src_addr);
  r.sqe.u.arg64[1] = reinterpret_cast<uintptr_t>(dst_addr);
  return Run(r);
}

long dvk_wakeup(int dcid, int dst_ep) {
  Request r = Make(VDVK_OP_WAKEUPEP);
  r.sqe.arg[0] = dcid;
  r.sqe.arg[1] = dst_ep;
  return Run(r);
}

// Privileges travel as the four ints of priv_usr_t in buffer 0 (the backend
// answers EDVSNOSYS while it does not implement them).
long dvk_getpriv(int dcid, int endpoint, priv_usr_t* priv) {
  if (!priv) return EDVSFAULT;
  Request r = Make(VDVK_OP_GETPRIV);
  r.sqe.arg[0] = dcid;
  r.sqe.arg[1] = endpoint;
  priv_usr_t w{};
  long rc = GetInfo(r, &w);
  if (rc >= 0) *priv = w;
  return rc;
}

long dvk_setpriv(int dcid, int endpoint, priv_usr_t* priv) {
  if (!priv) return EDVSFAULT;
  Request r = Make(VDVK_OP_SETPRIV);
  r.sqe.arg[0] = dcid;
  r.sqe.arg[1] = endpoint;
  r.in = priv;
  r.in_len = sizeof(*priv);
  return Run(r);
}

long dvk_migrate_X(int cmd, int pid, int dcid, int endpoint, int nodeid) {
  Request r = Make(VDVK_OP_MIGRATE);
  r.sqe.arg[0] = cmd;
  r.sqe.arg[1] = pid;
  r.sqe.arg[2] = dcid;
  r.sqe.arg[3] = endpoint;
  r.sqe.arg[4] = nodeid;
  return Run(r);
}

long dvk_stats(struct vdvk_stats* out) {
  if (!out) return EDVSFAULT;
  Request r = Make(VDVK_OP_STATS);
  vdvk_stats w{};
  long rc = GetInfo(r, &w);
  if (rc >= 0) *out = w;
  return rc;
}

}  // extern "C"
