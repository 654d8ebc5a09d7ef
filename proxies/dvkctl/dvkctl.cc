// dvkctl - inspect and administer a vdvk backend: node and DVS info, DCs,
// bound endpoints, backend counters; create and end DCs.
//
// Output is one record per line, "key=value" fields after a leading keyword
// (node, dvs, dc, proc, stats), so it reads well and greps well.
#include <cinttypes>
#include <cstdio>
#include <string>

#include "dvk/dvk.h"
#include "proxies/common/cli.h"
#include "proxies/common/dvk_util.h"
#include "wire/vdvk_ring.h"

using namespace vdvk::tools;

namespace {

const char* kUsage =
    "Usage: dvkctl status\n"
    "       dvkctl dc init DCID [--procs N] [--tasks N] [--sysprocs N] [--nodes BITMAP] [--name NAME]\n"
    "       dvkctl dc end DCID\n"
    "       dvkctl dc info DCID\n"
    "       dvkctl proc DCID NR\n"
    "Talks to the backend at $VDVK_SOCKET (else /run/vdvk/node$VDVK_NODE.sock).\n"
    "Exit status: 0 ok, 1 the backend refused or is unreachable, 2 bad usage.";

std::string Ep(int ep) {
  switch (ep) {
    case ANY: return "ANY";
    case NONE: return "NONE";
    case SELF: return "SELF";
    default: return std::to_string(ep);
  }
}

std::string RtsFlags(unsigned long f) {
  static const char* kNames[] = {"SLOT_FREE", "NO_MAP", "SENDING", "RECEIVING", "WAITMIGR", "REMOTE",
                                 "RMTOPER", "MIGRATE", "ONCOPY", "WAITBIND", "WAITUNBIND"};
  std::string s;
  for (unsigned b = 0; b < sizeof(kNames) / sizeof(kNames[0]); ++b)
    if (f & (1ul << b)) s += (s.empty() ? "" : "|") + std::string(kNames[b]);
  unsigned long rest = f & ~((1ul << (sizeof(kNames) / sizeof(kNames[0]))) - 1);
  if (rest) s += (s.empty() ? "" : "|") + std::string("0x") + std::to_string(rest);
  return s.empty() ? "READY" : s;
}

void PrintDc(const dc_usr_t& d) {
  std::printf("dc %d name=%.*s state=%s procs=%d tasks=%d sysprocs=%d nr_nodes=%d nodes=0x%lx pid=%ld\n",
              d.dc_dcid, MAXDCNAME, d.dc_name, d.dc_flags == DC_RUNNING ? "RUNNING" : "FREE", d.dc_nr_procs,
              d.dc_nr_tasks, d.dc_nr_sysprocs, d.dc_nr_nodes, d.dc_nodes, static_cast<long>(d.dc_pid));
}

void PrintProc(const proc_usr_t& p) {
  std::printf("proc dc=%d nr=%d ep=%d pid=%d name=%.*s flags=0x%lx(%s) getfrom=%s sendto=%s node=%d "
              "lclsent=%lu rmtsent=%lu lclcopy=%lu rmtcopy=%lu\n",
              p.p_dcid, p.p_nr, p.p_endpoint, p.p_lpid, MAXPROCNAME, p.p_name, static_cast<unsigned long>(p.p_rts_flags),
              RtsFlags(p.p_rts_flags).c_str(), Ep(p.p_getfrom).c_str(), Ep(p.p_sendto).c_str(), p.p_nodeid,
              p.p_lclsent, p.p_rmtsent, p.p_lclcopy, p.p_rmtcopy);
}

int Fail(const std::string& what, long rc) {
  std::fprintf(stderr, "dvkctl: %s: %s\n", what.c_str(), DvkError(rc).c_str());
  return kExitFail;
}

int Status() {
  dvs_usr_t dvs{};
  long node = dvk_getdvsinfo(&dvs);
  if (node < 0) return Fail("getdvsinfo", node);
  std::printf("node %ld socket=%s\n", node, BackendSocketPath().c_str());
  std::printf("dvs name=%.*s version=%d nr_dcs=%d nr_nodes=%d nr_procs=%d nr_tasks=%d nr_sysprocs=%d "
              "max_copybuf=%d max_copylen=%d\n",
              MAXPROCNAME, dvs.d_name, dvs.d_version, dvs.d_nr_dcs, dvs.d_nr_nodes, dvs.d_nr_procs, dvs.d_nr_tasks,
              dvs.d_nr_sysprocs, dvs.d_max_copybuf, dvs.d_max_copylen);
  // Nodes: the local one always, others once they are known (attached, or
  // members of a running DC).
  const int nr_nodes = dvs.d_nr_nodes > 0 && dvs.d_nr_nodes <= 1024 ? dvs.d_nr_nodes : NR_NODES;
  for (int n = 0; n < nr_nodes; ++n) {
    node_usr_t nu{};
    if (dvk_getnodeinfo(n, &nu) < 0) continue;
    if (n != node && nu.n_flags == NODE_FREE && nu.n_dcs == 0) continue;
    std::printf("node %d name=%.*s%s flags=0x%lx(%s) dcs=0x%lx sent=%lu rcvd=%lu\n", n, MAXNODENAME, nu.n_name,
                n == node ? " local" : "", nu.n_flags, (nu.n_flags & NODE_ATTACHED) ? "ATTACHED" : "FREE", nu.n_dcs,
                nu.n_pxsent, nu.n_pxrcvd);
  }
  const int nr_dcs = dvs.d_nr_dcs > 0 && dvs.d_nr_dcs <= 1024 ? dvs.d_nr_dcs : NR_DCS;
  int running = 0, bound = 0;
  for (int dcid = 0; dcid < nr_dcs; ++dcid) {
    dc_usr_t d{};
    if (dvk_getdcinfo(dcid, &d) < 0 || d.dc_flags != DC_RUNNING) continue;
    ++running;
    PrintDc(d);
    // Bounds come from the backend: distrust them.
    const int lo = d.dc_nr_tasks > 0 && d.dc_nr_tasks < 4096 ? -d.dc_nr_tasks : 0;
    const int hi = d.dc_nr_procs > 0 && d.dc_nr_procs < 65536 ? d.dc_nr_procs : NR_PROCS;
    for (int nr = lo; nr < hi; ++nr) {
      proc_usr_t p{};
      if (dvk_getprocinfo(dcid, nr, &p) < 0 || (p.p_rts_flags & SLOT_FREE)) continue;
      ++bound;
      PrintProc(p);
    }
  }
  std::printf("summary running_dcs=%d bound_endpoints=%d\n", running, bound);
  vdvk_stats st{};
  long rc = dvk_stats(&st);
  if (rc < 0) return Fail("stats", rc);
  std::printf("stats attachments=%" PRIu64 " attach_total=%" PRIu64 " detach_total=%" PRIu64 " requests=%" PRIu64
              " completions=%" PRIu64 " rejects=%" PRIu64 " messages=%" PRIu64 " notifies=%" PRIu64
              " vcopies=%" PRIu64 " vcopy_bytes=%" PRIu64 " vcopy_zero_copy_bytes=%" PRIu64
              " vcopy_bounce_bytes=%" PRIu64 " timeouts=%" PRIu64 " deaths=%" PRIu64 " doorbells_sent=%" PRIu64
              " poll_hits=%" PRIu64 "\n",
              st.attachments, st.attach_total, st.detach_total, st.requests, st.completions, st.rejects, st.messages,
              st.notifies, st.vcopies, st.vcopy_bytes, st.vcopy_zero_copy_bytes, st.vcopy_bounce_bytes, st.timeouts,
              st.deaths, st.doorbells_sent, st.poll_hits);
  return kExitOk;
}

int DcInit(const Args& a, int dcid) {
  dc_usr_t d{};
  d.dc_dcid = dcid;
  d.dc_nr_procs = static_cast<int>(a.Int("procs", NR_PROCS, 1, 65535));
  d.dc_nr_tasks = static_cast<int>(a.Int("tasks", DC0_NR_TASKS, 0, 4095));
  d.dc_nr_sysprocs = static_cast<int>(a.Int("sysprocs", NR_SYS_PROCS, 0, 65535));
  d.dc_nr_nodes = NR_NODES;
  int64_t nodes = a.Int("nodes", 0, 0, INT64_MAX);
  d.dc_nodes = static_cast<unsigned long>(nodes);
  std::string name = a.Str("name", "DC" + std::to_string(dcid));
  if (name.empty() || name.size() >= MAXDCNAME) a.UsageError("--name must be 1.." + std::to_string(MAXDCNAME - 1) + " characters");
  std::snprintf(d.dc_name, sizeof(d.dc_name), "%s", name.c_str());
  if (d.dc_nr_sysprocs > d.dc_nr_procs + d.dc_nr_tasks) a.UsageError("--sysprocs exceeds --procs + --tasks");
  long rc = dvk_dc_init(&d);
  if (rc < 0) return Fail("dc init " + std::to_string(dcid), rc);
  dc_usr_t out{};
  if (dvk_getdcinfo(dcid, &out) >= 0) PrintDc(out);
  return kExitOk;
}

void RejectFlags(const Args& a, std::initializer_list<const char*> flags, const std::string& cmd) {
  for (const char* f : flags)
    if (a.Has(f)) a.UsageError("--" + std::string(f) + " is only valid with 'dc init', not '" + cmd + "'");
}

}  // namespace

int main(int argc, char** argv) {
  Args a(argc, argv, kUsage,
         {{"procs", true, "dc init: process slots (default 221)"},
          {"tasks", true, "dc init: task slots (default 34)"},
          {"sysprocs", true, "dc init: system process slots (default 64)"},
          {"nodes", true, "dc init: node bitmap, e.g. 0x3 (default: local node)"},
          {"name", true, "dc init: DC name (default DC<id>)"}});
  const auto& p = a.Positional();
  if (p.empty()) a.UsageError("missing command (status, dc, proc)");
  auto dcid_arg = [&](const std::string& s) {
    int64_t v;
    if (!ParseInt(s, 0, NR_DCS - 1, &v)) a.UsageError("bad DCID '" + s + "' (0.." + std::to_string(NR_DCS - 1) + ")");
    return static_cast<int>(v);
  };
  const auto init_flags = {"procs", "tasks", "sysprocs", "nodes", "name"};
  if (p[0] == "status") {
    if (p.size() != 1) a.UsageError("status takes no arguments");
    RejectFlags(a, init_flags, "status");
    AttachOrDie(a.Prog());
    return Status();
  }
  if (p[0] == "dc") {
    if (p.size() != 3) a.UsageError("usage: dvkctl dc init|end|info DCID");
    const int dcid = dcid_arg(p[2]);
    if (p[1] == "init") {
      AttachOrDie(a.Prog());
      return DcInit(a, dcid);
    }
    RejectFlags(a, init_flags, "dc " + p[1]);
    if (p[1] == "end") {
      AttachOrDie(a.Prog());
      long rc = dvk_dc_end(dcid);
      if (rc < 0) return Fail("dc end " + std::to_string(dcid), rc);
      std::printf("dc %d ended\n", dcid);
      return kExitOk;
    }
    if (p[1] == "info") {
      AttachOrDie(a.Prog());
      dc_usr_t d{};
      long rc = dvk_getdcinfo(dcid, &d);
      if (rc < 0) return Fail("dc info " + std::to_string(dcid), rc);
      PrintDc(d);
      return kExitOk;
    }
    a.UsageError("unknown dc command '" + p[1] + "' (init, end, info)");
  }
  if (p[0] == "proc") {
    if (p.size() != 3) a.UsageError("usage: dvkctl proc DCID NR");
    RejectFlags(a, init_flags, "proc");
    const int dcid = dcid_arg(p[1]);
    int64_t nr;
    if (!ParseInt(p[2], -4096, 65535, &nr)) a.UsageError("bad NR '" + p[2] + "'");
    AttachOrDie(a.Prog());
    proc_usr_t pu{};
    long rc = dvk_getprocinfo(dcid, static_cast<int>(nr), &pu);
    if (rc < 0) return Fail("proc " + std::to_string(dcid) + " " + p[2], rc);
    PrintProc(pu);
    return kExitOk;
  }
  a.UsageError("unknown command '" + p[0] + "' (status, dc, proc)");
}
