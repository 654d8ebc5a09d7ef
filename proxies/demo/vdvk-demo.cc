// vdvk-demo - the single-node demo: two processes bound in DC 0 exchange
// 1,000 checked sendrec round trips, then move a generated 8 MiB file with
// m3ftp-style vcopy and compare checksums computed on both sides.
// Exit 0 only if every check passed.
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dvk/dvk.h"
#include "proxies/common/checksum.h"
#include "proxies/common/cli.h"
#include "proxies/common/dvk_util.h"
#include "proxies/latency/latency_proto.h"
#include "proxies/m3ftp/ftp_client.h"
#include "proxies/m3ftp/ftp_server.h"

using namespace vdvk::tools;
namespace lp = vdvk::tools::latencyproto;

namespace {

constexpr uint64_t kFileSeed = 0xdead5eedull;

struct Config {
  int dcid = 0;
  int server_ep = 10;
  int client_ep = 40;
  int64_t rounds = 1000;
  uint64_t file_bytes = 8ull << 20;
  std::string dir;
};

bool WriteGeneratedFile(const std::string& path, uint64_t bytes) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  for (uint64_t block = 0; done < bytes; ++block) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), bytes - done));
    FillPattern(buf.data(), n, kFileSeed + block);
    if (write(fd, buf.data(), n) != static_cast<ssize_t>(n)) {
      close(fd);
      return false;
    }
    done += n;
  }
  return close(fd) == 0;
}

// The server child: bind, report readiness on ready_fd, answer the pings,
// then serve one file transfer.
int ServerMain(const Config& c, int ready_fd) {
  long rc = dvk_bind(c.dcid, c.server_ep);
  if (rc < 0) {
    std::fprintf(stderr, "vdvk-demo: server: bind %d in DC %d failed: %s\n", c.server_ep, c.dcid, DvkError(rc).c_str());
    return 1;
  }
  char one = 1;
  if (write(ready_fd, &one, 1) != 1) return 1;
  close(ready_fd);
  for (int64_t i = 0; i < c.rounds; ++i) {
    message m{};
    rc = dvk_receive(ANY, &m);
    if (rc < 0) {
      std::fprintf(stderr, "vdvk-demo: server: receive failed: %s\n", DvkError(rc).c_str());
      return 1;
    }
    message r = lp::Answer(m);
    if ((rc = dvk_reply(m.m_source, &r)) < 0) {
      std::fprintf(stderr, "vdvk-demo: server: reply failed: %s\n", DvkError(rc).c_str());
      return 1;
    }
  }
  // The server confines names to its root by realpath prefix, so hand it one.
  char root[PATH_MAX];
  if (realpath((c.dir + "/server").c_str(), root) == nullptr) return 1;
  FtpServer ftp(c.server_ep, root, false);
  rc = ftp.Serve(1);
  if (rc < 0) {
    std::fprintf(stderr, "vdvk-demo: server: file service failed: %s\n", DvkError(rc).c_str());
    return 1;
  }
  return 0;
}

int ClientMain(const Config& c) {
  long rc = dvk_bind(c.dcid, c.client_ep);
  if (rc < 0) {
    std::fprintf(stderr, "vdvk-demo: client: bind %d in DC %d failed: %s\n", c.client_ep, c.dcid, DvkError(rc).c_str());
    return 1;
  }
  long long min_ns = -1, max_ns = 0;
  const long long t0 = NowNs();
  for (int64_t seq = 0; seq < c.rounds; ++seq) {
    message m = lp::MakePing(seq);
    const long long s = NowNs();
    rc = dvk_sendrec(c.server_ep, &m);
    const long long d = NowNs() - s;
    if (rc < 0) {
      std::fprintf(stderr, "vdvk-demo: client: sendrec %" PRId64 " failed: %s\n", seq, DvkError(rc).c_str());
      return 1;
    }
    if (!lp::IsPongTo(m, seq, c.server_ep)) {
      std::fprintf(stderr, "vdvk-demo: client: payload check failed at round trip %" PRId64 "\n", seq);
      return 1;
    }
    if (min_ns < 0 || d < min_ns) min_ns = d;
    if (d > max_ns) max_ns = d;
  }
  const double total_us = (NowNs() - t0) / 1e3;
  std::printf("vdvk-demo: sendrec: %" PRId64 " round trips, payload checked: avg %.2f us, min %.2f us, max %.2f us\n",
              c.rounds, total_us / static_cast<double>(c.rounds), min_ns / 1e3, max_ns / 1e3);
  std::fflush(stdout);

  FtpTransfer t;
  std::string err = FtpGet(c.server_ep, "demo.bin", c.dir + "/client.bin", 1 << 20, &t);
  if (!err.empty()) {
    std::fprintf(stderr, "vdvk-demo: client: file transfer failed: %s\n", err.c_str());
    return 1;
  }
  std::printf("vdvk-demo: m3ftp get demo.bin: %" PRIu64 " bytes in %.3f s (%.1f MB/s) via vcopy\n", t.bytes,
              t.seconds, t.seconds > 0 ? t.bytes / 1e6 / t.seconds : 0.0);
  std::printf("vdvk-demo: checksum server %016" PRIx64 " client %016" PRIx64 " %s\n", t.remote_sum, t.local_sum,
              t.Match() ? "MATCH" : "MISMATCH");
  return t.Match() ? 0 : 1;
}

// Waits for a child up to deadline; kills it past the deadline.
int Reap(pid_t pid, long long deadline_ns, const char* who) {
  int st = 0;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (NowNs() > deadline_ns) {
      std::fprintf(stderr, "vdvk-demo: %s timed out, killing it\n", who);
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return 1;
    }
    usleep(2000);
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  std::fprintf(stderr, "vdvk-demo: %s died with signal %d\n", who, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return 1;
}

void RemoveDir(const std::string& dir) {
  unlink((dir + "/server/demo.bin").c_str());
  unlink((dir + "/client.bin").c_str());
  rmdir((dir + "/server").c_str());
  rmdir(dir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv,
            "Usage: vdvk-demo [options]\n"
            "Single-node demo: forks a server and a client bound in a DC, does checked\n"
            "sendrec round trips, then transfers a generated file with vcopy and\n"
            "compares checksums. Needs a running host-backend ($VDVK_SOCKET).\n"
            "Exit status 0 only if every check passed.",
            {{"dcid", true, "DC (default 0)"},
             {"server-ep", true, "server endpoint, a system slot (default 10)"},
             {"client-ep", true, "client endpoint (default 40)"},
             {"rounds", true, "sendrec round trips (default 1000)"},
             {"file-size", true, "bytes of the generated file (default 8M)"},
             {"timeout", true, "seconds before giving up (default 120)"}});
  if (!args.Positional().empty()) args.UsageError("unexpected argument '" + args.Positional()[0] + "'");
  Config c;
  c.dcid = static_cast<int>(args.Int("dcid", 0, 0, NR_DCS - 1));
  c.server_ep = static_cast<int>(args.Int("server-ep", 10, -NR_TASKS, NR_PROCS - 1));
  c.client_ep = static_cast<int>(args.Int("client-ep", 40, -NR_TASKS, NR_PROCS - 1));
  c.rounds = args.Int("rounds", 1000, 1, 100000000);
  const int64_t timeout_s = args.Int("timeout", 120, 1, 86400);
  if (args.Has("file-size") && !ParseSize(args.Str("file-size", ""), 1ull << 34, &c.file_bytes))
    args.UsageError("bad value for --file-size (e.g. 8M)");
  if (c.server_ep == c.client_ep) args.UsageError("--server-ep and --client-ep must differ");

  // Check the backend once in the parent so an absent one gives one clear line.
  AttachOrDie(args.Prog());
  dvs_usr_t dvs{};
  long node = dvk_getdvsinfo(&dvs);
  dvk_close();

  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/vdvk-demo.XXXXXX";
  std::vector<char> tb(templ.begin(), templ.end());
  tb.push_back('\0');
  if (mkdtemp(tb.data()) == nullptr) {
    std::fprintf(stderr, "vdvk-demo: cannot create a temp dir: %s\n", std::strerror(errno));
    return 1;
  }
  c.dir = tb.data();
  if (mkdir((c.dir + "/server").c_str(), 0755) != 0 || !WriteGeneratedFile(c.dir + "/server/demo.bin", c.file_bytes)) {
    std::fprintf(stderr, "vdvk-demo: cannot generate the test file in %s: %s\n", c.dir.c_str(), std::strerror(errno));
    RemoveDir(c.dir);
    return 1;
  }
  std::printf("vdvk-demo: node %ld, DC %d: server ep %d, client ep %d, file %" PRIu64 " bytes\n", node, c.dcid,
              c.server_ep, c.client_ep, c.file_bytes);
  std::fflush(stdout);

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return 1;
  pid_t server = fork();
  if (server == 0) {
    close(ready[0]);
    std::_Exit(ServerMain(c, ready[1]));
  }
  close(ready[1]);
  const long long deadline = NowNs() + timeout_s * 1000000000LL;
  pollfd pfd{ready[0], POLLIN, 0};
  char byte = 0;
  int pr = poll(&pfd, 1, 10000);
  if (pr != 1 || read(ready[0], &byte, 1) != 1) {
    close(ready[0]);
    Reap(server, NowNs(), "server");
    std::fprintf(stderr, "vdvk-demo: FAILED: the server did not come up\n");
    RemoveDir(c.dir);
    return 1;
  }
  close(ready[0]);
  std::fflush(stdout);
  pid_t client = fork();
  if (client == 0) {
    int rc = ClientMain(c);
    std::fflush(stdout);
    std::_Exit(rc);
  }
  int client_rc = Reap(client, deadline, "client");
  // A failed client leaves the server waiting for requests that never come.
  int server_rc = Reap(server, client_rc == 0 ? deadline : NowNs() + 2000000000LL, "server");
  RemoveDir(c.dir);
  if (client_rc == 0 && server_rc == 0) {
    std::printf("vdvk-demo: OK\n");
    return 0;
  }
  std::printf("vdvk-demo: FAILED (client exit %d, server exit %d)\n", client_rc, server_rc);
  return 1;
}
