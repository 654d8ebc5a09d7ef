// m3ftp - get or put one file through m3ftpd over vcopy, with an end-to-end
// checksum computed independently on both sides.
#include <cinttypes>
#include <cstdio>

#include "dvk/dvk.h"
#include "proxies/common/cli.h"
#include "proxies/common/dvk_util.h"
#include "proxies/m3ftp/ftp_client.h"
#include "proxies/m3ftp/ftp_proto.h"

using namespace vdvk::tools;

int main(int argc, char** argv) {
  Args args(argc, argv,
            "Usage: m3ftp [options] get REMOTE LOCAL\n"
            "       m3ftp [options] put LOCAL REMOTE\n"
            "Transfers a file from/to m3ftpd in chunks of at most 1 MiB (one vcopy\n"
            "each) and compares 64-bit checksums computed on both sides.\n"
            "Exit status: 0 transferred and checksums match, 1 failure, 2 bad usage.",
            {{"dcid", true, "DC (default 0)"},
             {"server-ep", true, "m3ftpd's endpoint (default 12)"},
             {"ep", true, "endpoint to bind (default 42)"},
             {"chunk", true, "bytes per vcopy, up to 1M (default 1M)"},
             {"wait-ms", true, "wait this long for the server to bind (default 5000)"}});
  const auto& pos = args.Positional();
  if (pos.empty()) args.UsageError("missing command (get or put)");
  if (pos[0] != "get" && pos[0] != "put") args.UsageError("unknown command '" + pos[0] + "' (get or put)");
  if (pos.size() != 3) args.UsageError(pos[0] + " needs exactly two paths");
  const int dcid = static_cast<int>(args.Int("dcid", 0, 0, NR_DCS - 1));
  const int server = static_cast<int>(args.Int("server-ep", ftpproto::kDefaultServerEp, -NR_TASKS, NR_PROCS - 1));
  const int ep = static_cast<int>(args.Int("ep", ftpproto::kDefaultClientEp, -NR_TASKS, NR_PROCS - 1));
  const long wait_ms = static_cast<long>(args.Int("wait-ms", 5000, 0, 3600000));
  uint64_t chunk = ftpproto::kMaxChunk;
  if (args.Has("chunk") && (!ParseSize(args.Str("chunk", ""), ftpproto::kMaxChunk, &chunk) || chunk == 0))
    args.UsageError("bad value for --chunk (1 .. 1M)");
  if (server == ep) args.UsageError("--ep and --server-ep must differ");

  if (!AttachWaitAndBind(args.Prog(), dcid, server, ep, wait_ms)) return kExitFail;
  FtpTransfer t;
  const bool get = pos[0] == "get";
  std::string err = get ? FtpGet(server, pos[1], pos[2], chunk, &t) : FtpPut(server, pos[1], pos[2], chunk, &t);
  if (!err.empty()) {
    std::fprintf(stderr, "%s: %s %s: %s\n", args.Prog().c_str(), pos[0].c_str(), pos[1].c_str(), err.c_str());
    return kExitFail;
  }
  const double mbs = t.seconds > 0 ? t.bytes / 1e6 / t.seconds : 0.0;
  std::printf("%s: %s %s -> %s: %" PRIu64 " bytes in %.3f s (%.1f MB/s)\n", args.Prog().c_str(), pos[0].c_str(),
              pos[1].c_str(), pos[2].c_str(), t.bytes, t.seconds, mbs);
  std::printf("%s: checksum local %016" PRIx64 " server %016" PRIx64 " (%" PRIu64 " bytes) %s\n",
              args.Prog().c_str(), t.local_sum, t.remote_sum, t.remote_bytes, t.Match() ? "MATCH" : "MISMATCH");
  return t.Match() ? kExitOk : kExitFail;
}
