// m3ftpd - serves files below --root over vcopy (the m3ftp pattern).
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dvk/dvk.h"
#include "proxies/common/cli.h"
#include "proxies/common/dvk_util.h"
#include "proxies/m3ftp/ftp_proto.h"
#include "proxies/m3ftp/ftp_server.h"

using namespace vdvk::tools;

int main(int argc, char** argv) {
  Args args(argc, argv,
            "Usage: m3ftpd --root DIR [options]\n"
            "Binds an endpoint and serves get/put of files below DIR to m3ftp.\n"
            "Names containing '..' or absolute names outside DIR are refused.",
            {{"root", true, "directory served (required)"},
             {"dcid", true, "DC to bind in (default 0)"},
             {"ep", true, "endpoint to bind, a system process slot (default 12)"},
             {"transfers", true, "exit after this many completed transfers (default 0: forever)"},
             {"verbose", false, "log every request"}});
  if (!args.Positional().empty()) args.UsageError("unexpected argument '" + args.Positional()[0] + "'");
  if (!args.Has("root")) args.UsageError("--root DIR is required");
  const int dcid = static_cast<int>(args.Int("dcid", 0, 0, NR_DCS - 1));
  const int ep = static_cast<int>(args.Int("ep", ftpproto::kDefaultServerEp, -NR_TASKS, NR_PROCS - 1));
  const int64_t transfers = args.Int("transfers", 0, 0, INT64_MAX);
  const std::string root = args.Str("root", "");
  char real[PATH_MAX];
  struct stat st;
  errno = 0;
  if (realpath(root.c_str(), real) == nullptr || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "%s: --root '%s' is not a directory: %s\n", args.Prog().c_str(), root.c_str(),
                 errno != 0 ? std::strerror(errno) : "not a directory");
    return kExitUsage;
  }

  if (!AttachAndBind(args.Prog(), dcid, ep)) return kExitFail;
  std::printf("%s: bound ep %d in DC %d, serving %s\n", args.Prog().c_str(), ep, dcid, real);
  std::fflush(stdout);
  FtpServer server(ep, real, args.Has("verbose"));
  long rc = server.Serve(transfers);
  if (rc < 0) {
    std::fprintf(stderr, "%s: receive failed: %s\n", args.Prog().c_str(), DvkError(rc).c_str());
    return kExitFail;
  }
  return kExitOk;
}
