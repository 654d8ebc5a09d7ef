// copy_client - measures vcopy through copy_server and checks every byte.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dvk/dvk.h"
#include "proxies/common/checksum.h"
#include "proxies/common/cli.h"
#include "proxies/common/dvk_util.h"
#include "proxies/copy/copy_proto.h"

using namespace vdvk::tools;

namespace {

struct Run {
  const char* name;
  int type;
};

// One direction: loops requests, verifies, returns false on any failure.
bool RunDirection(const std::string& prog, int server, const Run& run, size_t size, int64_t loops,
                  const std::vector<char>& pattern) {
  std::vector<char> buf(size), expect(pattern.begin(), pattern.begin() + size);
  long long t0 = NowNs();
  for (int64_t i = 0; i < loops; ++i) {
    const int64_t seq = i + 1;
    if (size >= sizeof(seq)) std::memcpy(expect.data(), &seq, sizeof(seq));
    if (run.type == copyproto::kFromClient) {
      std::memcpy(buf.data(), expect.data(), size);
    } else if (size > 0) {
      // Poison what the server must overwrite, so a copy that did not happen shows.
      buf[0] = static_cast<char>(~expect[0]);
      buf[size - 1] = static_cast<char>(~expect[size - 1]);
    }
    message m{};
    m.m_type = run.type;
    m.m1_i1 = static_cast<int>(size);
    m.m1_i2 = static_cast<int>(seq);
    m.m1_p1 = buf.data();
    long rc = dvk_sendrec(server, &m);
    if (rc < 0) {
      std::fprintf(stderr, "%s: sendrec to %d failed: %s\n", prog.c_str(), server, DvkError(rc).c_str());
      return false;
    }
    if (m.m_type != 0 || m.m1_i1 != static_cast<int>(size)) {
      std::fprintf(stderr, "%s: server refused %s copy %lld of %zu bytes: %s\n", prog.c_str(), run.name,
                   static_cast<long long>(seq), size, m.m_type != 0 ? DvkError(m.m_type).c_str() : "short copy");
      return false;
    }
    if (run.type == copyproto::kToClient && std::memcmp(buf.data(), expect.data(), size) != 0) {
      std::fprintf(stderr, "%s: content mismatch in %s copy %lld\n", prog.c_str(), run.name,
                   static_cast<long long>(seq));
      return false;
    }
  }
  double secs = (NowNs() - t0) / 1e9;
  double mb = static_cast<double>(size) * static_cast<double>(loops) / 1e6;
  std::printf("%s: %s %lld x %zu B verified: %.1f MB/s (%.1f us per request)\n", prog.c_str(), run.name,
              static_cast<long long>(loops), size, secs > 0 ? mb / secs : 0.0,
              loops > 0 ? secs * 1e6 / static_cast<double>(loops) : 0.0);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv,
            "Usage: copy_client [options]\n"
            "Sends vcopy requests to copy_server, verifies the copied bytes and\n"
            "prints the bandwidth in MB/s.",
            {{"dcid", true, "DC (default 0)"},
             {"server-ep", true, "copy_server's endpoint (default 10)"},
             {"ep", true, "endpoint to bind (default 40)"},
             {"size", true, "bytes per copy, up to 1M (default 64K)"},
             {"loops", true, "requests per direction (default 1000)"},
             {"direction", true, "to-client | from-client | both (default both)"},
             {"wait-ms", true, "wait this long for the server to bind (default 5000)"}});
  if (!args.Positional().empty()) args.UsageError("unexpected argument '" + args.Positional()[0] + "'");
  const int dcid = static_cast<int>(args.Int("dcid", 0, 0, NR_DCS - 1));
  const int server = static_cast<int>(args.Int("server-ep", copyproto::kDefaultServerEp, -NR_TASKS, NR_PROCS - 1));
  const int ep = static_cast<int>(args.Int("ep", copyproto::kDefaultClientEp, -NR_TASKS, NR_PROCS - 1));
  const int64_t loops = args.Int("loops", 1000, 1, 100000000);
  const long wait_ms = static_cast<long>(args.Int("wait-ms", 5000, 0, 3600000));
  uint64_t size = 64 * 1024;
  if (args.Has("size") && !ParseSize(args.Str("size", ""), MAXCOPYLEN, &size))
    args.UsageError("bad value for --size (0 .. 1M, e.g. 4096, 64K, 1M)");
  const std::string dir = args.Str("direction", "both");
  if (dir != "to-client" && dir != "from-client" && dir != "both")
    args.UsageError("bad value '" + dir + "' for --direction (to-client, from-client or both)");
  if (server == ep) args.UsageError("--ep and --server-ep must differ");

  if (!AttachWaitAndBind(args.Prog(), dcid, server, ep, wait_ms)) return kExitFail;
  std::vector<char> pattern(MAXCOPYLEN);
  FillPattern(pattern.data(), pattern.size(), copyproto::kSeed);
  bool ok = true;
  if (dir != "from-client")
    ok = RunDirection(args.Prog(), server, {"server->client", copyproto::kToClient}, size, loops, pattern) && ok;
  if (dir != "to-client")
    ok = RunDirection(args.Prog(), server, {"client->server", copyproto::kFromClient}, size, loops, pattern) && ok;
  dvk_unbind(dcid, ep);
  return ok ? kExitOk : kExitFail;
}
