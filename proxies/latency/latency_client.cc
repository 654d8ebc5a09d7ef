// latency_client - sendrec ping-pong with latency_server; prints messages/s
// and the round-trip time (min/avg/p99).
#include <algorithm>
#include <cstdio>
#include <vector>

#include "dvk/dvk.h"
#include "proxies/common/cli.h"
#include "proxies/common/dvk_util.h"
#include "proxies/latency/latency_proto.h"

using namespace vdvk::tools;
namespace lp = vdvk::tools::latencyproto;

int main(int argc, char** argv) {
  Args args(argc, argv,
            "Usage: latency_client [options]\n"
            "Measures sendrec round trips to latency_server, checking every reply.",
            {{"dcid", true, "DC (default 0)"},
             {"server-ep", true, "latency_server's endpoint (default 11)"},
             {"ep", true, "endpoint to bind (default 41)"},
             {"loops", true, "round trips (default 10000)"},
             {"wait-ms", true, "wait this long for the server to bind (default 5000)"}});
  if (!args.Positional().empty()) args.UsageError("unexpected argument '" + args.Positional()[0] + "'");
  const int dcid = static_cast<int>(args.Int("dcid", 0, 0, NR_DCS - 1));
  const int server = static_cast<int>(args.Int("server-ep", lp::kDefaultServerEp, -NR_TASKS, NR_PROCS - 1));
  const int ep = static_cast<int>(args.Int("ep", lp::kDefaultClientEp, -NR_TASKS, NR_PROCS - 1));
  const int64_t loops = args.Int("loops", 10000, 1, 10000000);
  const long wait_ms = static_cast<long>(args.Int("wait-ms", 5000, 0, 3600000));
  if (server == ep) args.UsageError("--ep and --server-ep must differ");

  if (!AttachWaitAndBind(args.Prog(), dcid, server, ep, wait_ms)) return kExitFail;
  std::vector<long long> rtt(static_cast<size_t>(loops));
  const long long t0 = NowNs();
  for (int64_t seq = 0; seq < loops; ++seq) {
    message m = lp::MakePing(seq);
    const long long s = NowNs();
    long rc = dvk_sendrec(server, &m);
    rtt[static_cast<size_t>(seq)] = NowNs() - s;
    if (rc < 0) {
      std::fprintf(stderr, "%s: sendrec %lld to %d failed: %s\n", args.Prog().c_str(),
                   static_cast<long long>(seq), server, DvkError(rc).c_str());
      return kExitFail;
    }
    if (!lp::IsPongTo(m, seq, server)) {
      std::fprintf(stderr, "%s: bad reply to ping %lld (type 0x%x from %d)\n", args.Prog().c_str(),
                   static_cast<long long>(seq), m.m_type, m.m_source);
      return kExitFail;
    }
  }
  const double secs = (NowNs() - t0) / 1e9;
  std::sort(rtt.begin(), rtt.end());
  long double sum = 0;
  for (long long v : rtt) sum += v;
  const size_t p99 = std::min(rtt.size() - 1, rtt.size() * 99 / 100);
  std::printf("%s: %lld round trips verified: %.0f round trips/s (%.0f messages/s), rtt min %.2f us avg %.2f us p99 %.2f us\n",
              args.Prog().c_str(), static_cast<long long>(loops), static_cast<double>(loops) / secs,
              2.0 * static_cast<double>(loops) / secs, rtt.front() / 1e3, static_cast<double>(sum / rtt.size()) / 1e3, rtt[p99] / 1e3);
  return kExitOk;
}
