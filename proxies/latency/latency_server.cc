// latency_server - answers latency_client's pings (DVS latency test).
#include <cstdio>

#include "dvk/dvk.h"
#include "proxies/common/cli.h"
#include "proxies/common/dvk_util.h"
#include "proxies/latency/latency_proto.h"

using namespace vdvk::tools;
namespace lp = vdvk::tools::latencyproto;

int main(int argc, char** argv) {
  Args args(argc, argv,
            "Usage: latency_server [options]\n"
            "Binds an endpoint and answers every ping with a transformed pong.",
            {{"dcid", true, "DC to bind in (default 0)"},
             {"ep", true, "endpoint to bind, a system process slot (default 11)"},
             {"count", true, "exit after this many pings (default 0: forever)"}});
  if (!args.Positional().empty()) args.UsageError("unexpected argument '" + args.Positional()[0] + "'");
  const int dcid = static_cast<int>(args.Int("dcid", 0, 0, NR_DCS - 1));
  const int ep = static_cast<int>(args.Int("ep", lp::kDefaultServerEp, -NR_TASKS, NR_PROCS - 1));
  const int64_t count = args.Int("count", 0, 0, INT64_MAX);

  if (!AttachAndBind(args.Prog(), dcid, ep)) return kExitFail;
  std::printf("%s: bound ep %d in DC %d\n", args.Prog().c_str(), ep, dcid);
  std::fflush(stdout);
  for (int64_t served = 0; count == 0 || served < count; ++served) {
    message m{};
    long rc = dvk_receive(ANY, &m);
    if (rc < 0) {
      std::fprintf(stderr, "%s: receive failed: %s\n", args.Prog().c_str(), DvkError(rc).c_str());
      return kExitFail;
    }
    const int client = m.m_source;
    message r = lp::Answer(m);
    rc = dvk_reply(client, &r);
    if (rc < 0)
      std::fprintf(stderr, "%s: reply to %d failed: %s\n", args.Prog().c_str(), client, DvkError(rc).c_str());
  }
  return kExitOk;
}
