// info_convert.cc - wire info structs <-> DVS structs.
#include "libdvk/info_convert.h"

#include <string.h>

namespace vdvk::client {
namespace {

// Copies a fixed 16-byte wire name into a DVS name, always NUL-terminated.
void CopyName(char* dst, size_t dst_len, const char* src, size_t src_len) {
  size_t n = strnlen(src, src_len);
  if (n >= dst_len) n = dst_len - 1;
  memcpy(dst, src, n);
  memset(dst + n, 0, dst_len - n);
}

timespec FromNanos(int64_t ns) {
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

}  // namespace

void ToDcUsr(const vdvk_dc_info& w, dc_usr_t* out) {
  memset(out, 0, sizeof(*out));  // also zeroes dc_cpumask: vdvk has no CPU affinity
  out->dc_dcid = w.dcid;
  out->dc_flags = w.flags;
  out->dc_nr_procs = w.nr_procs;
  out->dc_nr_tasks = w.nr_tasks;
  out->dc_nr_sysprocs = w.nr_sysprocs;
  out->dc_nr_nodes = w.nr_nodes;
  out->dc_nodes = w.nodes;
  out->dc_warn2proc = w.warn2proc;
  out->dc_warnmsg = w.warnmsg;
  out->dc_pid = w.pid;
  CopyName(out->dc_name, sizeof(out->dc_name), w.name, sizeof(w.name));
}

void ToProcUsr(const vdvk_proc_info& w, proc_usr_t* out) {
  memset(out, 0, sizeof(*out));
  out->p_nr = w.nr;
  out->p_endpoint = w.endpoint;
  out->p_dcid = w.dcid;
  out->p_rts_flags = w.rts_flags;
  out->p_lpid = w.lpid;
  out->p_vpid = w.vpid;
  out->p_nodeid = w.nodeid;
  out->p_nodemap = w.nodemap;
  out->p_misc_flags = w.misc_flags;
  out->p_getfrom = w.getfrom;
  out->p_sendto = w.sendto;
  out->p_waitmigr = w.waitmigr;
  out->p_waitunbind = w.waitunbind;
  out->p_proxy = w.proxy;
  out->p_lclsent = w.lclsent;
  out->p_rmtsent = w.rmtsent;
  out->p_lclcopy = w.lclcopy;
  out->p_rmtcopy = w.rmtcopy;
  CopyName(out->p_name, sizeof(out->p_name), w.name, sizeof(w.name));
}

void ToDvsUsr(const vdvk_dvs_info& w, dvs_usr_t* out) {
  memset(out, 0, sizeof(*out));
  CopyName(out->d_name, sizeof(out->d_name), w.name, sizeof(w.name));
  out->d_nr_dcs = w.nr_dcs;
  out->d_nr_nodes = w.nr_nodes;
  out->d_nr_procs = w.nr_procs;
  out->d_nr_tasks = w.nr_tasks;
  out->d_nr_sysprocs = w.nr_sysprocs;
  out->d_max_copybuf = w.max_copybuf;
  out->d_max_copylen = w.max_copylen;
  out->d_dbglvl = w.dbglvl;
  out->d_version = w.version;
  out->d_flags = w.flags;
  out->d_size_proc = w.size_proc;
}

void ToNodeUsr(const vdvk_node_info& w, node_usr_t* out) {
  memset(out, 0, sizeof(*out));
  out->n_nodeid = w.nodeid;
  out->n_flags = w.flags;
  out->n_proxies = w.proxies;
  out->n_dcs = w.dcs;
  out->n_stimestamp = FromNanos(w.stime_ns);
  out->n_rtimestamp = FromNanos(w.rtime_ns);
  out->n_pxsent = w.pxsent;
  out->n_pxrcvd = w.pxrcvd;
  CopyName(out->n_name, sizeof(out->n_name), w.name, sizeof(w.name));
}

vdvk_dc_init FromDcUsr(const dc_usr_t& u) {
  vdvk_dc_init w{};
  w.dcid = u.dc_dcid;
  w.nr_procs = u.dc_nr_procs;
  w.nr_tasks = u.dc_nr_tasks;
  w.nr_sysprocs = u.dc_nr_sysprocs;
  w.nr_nodes = u.dc_nr_nodes;
  w.max_copylen = 0;  // dc_usr_t has no such field: the backend default
  w.nodes = u.dc_nodes;
  CopyName(w.name, sizeof(w.name), u.dc_name, sizeof(u.dc_name));
  return w;
}

}  // namespace vdvk::client
