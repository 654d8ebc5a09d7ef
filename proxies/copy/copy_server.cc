// copy_server - serves vcopy requests from copy_client (DVS copy test).
#include <cstdio>
#include <cstring>
#include <vector>

#include "dvk/dvk.h"
#include "proxies/common/checksum.h"
#include "proxies/common/cli.h"
#include "proxies/common/dvk_util.h"
#include "proxies/copy/copy_proto.h"

using namespace vdvk::tools;

namespace {

// Builds the expected buffer for sequence seq into buf (pattern + seq stamp).
void Stamp(std::vector<char>& buf, size_t bytes, int64_t seq) {
  if (bytes >= sizeof(seq)) std::memcpy(buf.data(), &seq, sizeof(seq));
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv,
            "Usage: copy_server [options]\n"
            "Binds an endpoint and serves copy_client's vcopy requests: each request\n"
            "names a client buffer; the server copies to or from it while the client\n"
            "waits in sendrec, then replies.",
            {{"dcid", true, "DC to bind in (default 0)"},
             {"ep", true, "endpoint to bind, a system process slot (default 10)"},
             {"max-size", true, "largest request accepted, bytes (default 1M)"},
             {"count", true, "exit after this many requests (default 0: forever)"},
             {"verbose", false, "print each request"}});
  if (!args.Positional().empty()) args.UsageError("unexpected argument '" + args.Positional()[0] + "'");
  const int dcid = static_cast<int>(args.Int("dcid", 0, 0, NR_DCS - 1));
  const int ep = static_cast<int>(args.Int("ep", copyproto::kDefaultServerEp, -NR_TASKS, NR_PROCS - 1));
  const int64_t count = args.Int("count", 0, 0, INT64_MAX);
  const bool verbose = args.Has("verbose");
  uint64_t max_size = MAXCOPYLEN;
  if (args.Has("max-size") && !ParseSize(args.Str("max-size", ""), 1ull << 30, &max_size))
    args.UsageError("bad value for --max-size (e.g. 4096, 64K, 1M)");

  if (!AttachAndBind(args.Prog(), dcid, ep)) return kExitFail;
  std::vector<char> pattern(max_size), buf(max_size);
  FillPattern(pattern.data(), pattern.size(), copyproto::kSeed);
  std::printf("%s: bound ep %d in DC %d, serving up to %llu bytes per copy\n", args.Prog().c_str(), ep,
              dcid, static_cast<unsigned long long>(max_size));
  std::fflush(stdout);

  for (int64_t served = 0; count == 0 || served < count; ++served) {
    message m{};
    long rc = dvk_receive(ANY, &m);
    if (rc < 0) {
      std::fprintf(stderr, "%s: receive failed: %s\n", args.Prog().c_str(), DvkError(rc).c_str());
      return kExitFail;
    }
    const int client = m.m_source;
    const int64_t bytes = m.m1_i1;
    const int64_t seq = m.m1_i2;
    message reply{};
    if ((m.m_type != copyproto::kToClient && m.m_type != copyproto::kFromClient) || bytes < 0 ||
        static_cast<uint64_t>(bytes) > max_size) {
      reply.m_type = EDVSINVAL;
    } else if (m.m_type == copyproto::kToClient) {
      std::memcpy(buf.data(), pattern.data(), bytes);
      Stamp(buf, bytes, seq);
      reply.m_type = static_cast<int>(dvk_vcopy(ep, buf.data(), client, m.m1_p1, static_cast<int>(bytes)));
    } else {
      std::memset(buf.data(), 0, bytes);
      reply.m_type = static_cast<int>(dvk_vcopy(client, m.m1_p1, ep, buf.data(), static_cast<int>(bytes)));
      if (reply.m_type == 0) {
        std::vector<char> expect(pattern.begin(), pattern.begin() + bytes);
        Stamp(expect, bytes, seq);
        if (std::memcmp(expect.data(), buf.data(), bytes) != 0) reply.m_type = EDVSBADVALUE;
      }
    }
    reply.m1_i1 = reply.m_type == 0 ? static_cast<int>(bytes) : 0;
    if (verbose || reply.m_type < 0)
      std::printf("%s: request from %d type 0x%x bytes %lld seq %lld -> %s\n", args.Prog().c_str(), client,
                  m.m_type, static_cast<long long>(bytes), static_cast<long long>(seq),
                  reply.m_type == 0 ? "ok" : DvkError(reply.m_type).c_str());
    rc = dvk_reply(client, &reply);
    if (rc < 0)
      std::fprintf(stderr, "%s: reply to %d failed: %s\n", args.Prog().c_str(), client, DvkError(rc).c_str());
  }
  return kExitOk;
}
