#include "proxies/common/dvk_util.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "proxies/common/cli.h"

namespace vdvk::tools {

std::string BackendSocketPath() {
  if (const char* s = std::getenv("VDVK_SOCKET"); s != nullptr && *s != '\0') return s;
  if (const char* n = std::getenv("VDVK_NODE"); n != nullptr && *n != '\0')
    return std::string("/run/vdvk/node") + n + ".sock";
  return "/run/vdvk/node0.sock";
}

std::string DvkError(long code) {
  const char* s = dvk_strerror(code);
  std::string text = s != nullptr ? s : "unknown error";
  // libdvk's texts already read "EDVSXXX (-n): ..."; others get the number.
  if (text.rfind("EDVS", 0) == 0) return text;
  return text + " (" + std::to_string(code) + ")";
}

void AttachOrDie(const std::string& prog) {
  long rc = dvk_open();
  if (rc < 0) {
    std::fprintf(stderr, "%s: cannot reach the vdvk backend at %s: %s\n", prog.c_str(),
                 BackendSocketPath().c_str(), DvkError(rc).c_str());
    std::exit(kExitFail);
  }
}

namespace {

// Whether dcid's member nodes include one other than ours.
bool DcSpansOtherNodes(int dcid) {
  dvs_usr_t dvs{};
  const long node = dvk_getdvsinfo(&dvs);
  dc_usr_t dc{};
  if (node < 0 || dvk_getdcinfo(dcid, &dc) < 0) return false;
  return (dc.dc_nodes & ~(1UL << node)) != 0;
}

}  // namespace

long WaitForEndpoint(int dcid, int nr, long timeout_ms) {
  const long long deadline = NowNs() + timeout_ms * 1000000LL;
  for (;;) {
    proc_usr_t p{};
    long rc = dvk_getprocinfo(dcid, nr, &p);
    if (rc < 0) return rc;
    if ((p.p_rts_flags & SLOT_FREE) == 0) return 0;
    if (DcSpansOtherNodes(dcid)) return 0;
    if (NowNs() >= deadline) return EDVSTIMEDOUT;
    usleep(5000);
  }
}

long long NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

bool AttachAndBind(const std::string& prog, int dcid, int ep) {
  AttachOrDie(prog);
  long rc = dvk_bind(dcid, ep);
  if (rc < 0) {
    std::fprintf(stderr, "%s: cannot bind endpoint %d in DC %d: %s\n", prog.c_str(), ep, dcid, DvkError(rc).c_str());
    return false;
  }
  return true;
}

bool AttachWaitAndBind(const std::string& prog, int dcid, int server_ep, int ep, long wait_ms) {
  AttachOrDie(prog);
  long rc = WaitForEndpoint(dcid, server_ep, wait_ms);
  if (rc < 0) {
    std::fprintf(stderr, "%s: server endpoint %d in DC %d is not bound: %s\n", prog.c_str(), server_ep, dcid,
                 DvkError(rc).c_str());
    return false;
  }
  return AttachAndBind(prog, dcid, ep);
}

}  // namespace vdvk::tools
