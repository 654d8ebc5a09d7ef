// vdvk-bench - one run, baselines and vdvk side by side, per CPU placement.
//
// Every number is measured in this run against a baseline measured in the
// same run with the same placement: round-trip latencies swing ~20x with
// placement on these machines (perf-notes.md), so cross-run comparisons lie.
//
// All DVK calls happen in forked children; the bench process itself never
// attaches, so nothing it does can leak into a child's attachment.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "dvk/dvk.h"
#include "proxies/common/backend_process.h"
#include "proxies/common/cli.h"
#include "proxies/common/dvk_util.h"

using namespace vdvk::tools;

namespace {

constexpr size_t kMsgBytes = 64;
constexpr int kStop = 0x5709;
constexpr int kServerBase = 10;  // system slots 10.. for servers
constexpr int kClientBase = 40;  // user slots 40.. for clients

enum class Placement { kUnpinned, kSameCpu };

cpu_set_t g_all_cpus;  // the affinity we started with
int g_cpu0 = 0;        // the CPU "same-cpu" pins to

const char* Name(Placement p) { return p == Placement::kUnpinned ? "unpinned" : "same-cpu"; }

void Pin(Placement p) {
  if (p == Placement::kUnpinned) {
    sched_setaffinity(0, sizeof(g_all_cpus), &g_all_cpus);
  } else {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(g_cpu0, &one);
    sched_setaffinity(0, sizeof(one), &one);
  }
}

// A forked worker that reports one double back through a pipe.
struct Worker {
  pid_t pid = -1;
  int fd = -1;
};

Worker Fork(Placement p, const std::function<double()>& body) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    perror("pipe");
    std::exit(1);
  }
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Pin(p);
    double v = body();
    if (write(fds[1], &v, sizeof(v)) != sizeof(v)) std::_Exit(1);
    std::_Exit(v < 0 ? 1 : 0);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

// Result of a worker; < 0 if it failed or died.
double Join(Worker w) {
  double v = -1;
  if (read(w.fd, &v, sizeof(v)) != sizeof(v)) v = -1;
  close(w.fd);
  int st = 0;
  waitpid(w.pid, &st, 0);
  return v;
}

bool ReadFull(int fd, char* buf, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t r = read(fd, buf + off, n - off);
    if (r <= 0) return false;
    off += static_cast<size_t>(r);
  }
  return true;
}

// ---- baselines: byte-stream ping-pong between two processes ---------------

// Round trips per second over k independent fd pairs (k processes each side).
// A pair is (a_rd, a_wr) for the pinger and (b_rd, b_wr) for the ponger.
// Opens the start gate for `pairs` measuring workers (each reads one byte of
// start[0] before its timed loop), joins them, then their partners; a partner
// is killed first when a measurer failed (a failed vdvk client never sends
// kStop). Returns round trips/s of the slowest measurer, or -1.
double ReleaseAndJoin(int start[2], int pairs, long iters, std::vector<Worker>& measurers,
                      std::vector<Worker>& partners) {
  bool gate_ok = true;
  for (int k = 0; k < pairs; ++k)
    if (write(start[1], "g", 1) != 1) gate_ok = false;
  bool ok = gate_ok;
  double worst = 0;
  for (auto& w : measurers) {
    if (!gate_ok) kill(w.pid, SIGKILL);  // never released: would wait forever
    double ns = Join(w);
    ok = ok && ns > 0;
    worst = std::max(worst, ns);
  }
  for (auto& w : partners) {
    if (!ok) kill(w.pid, SIGKILL);
    ok = Join(w) >= 0 && ok;
  }
  close(start[0]);
  close(start[1]);
  if (!ok) return -1;
  return static_cast<double>(pairs) * static_cast<double>(iters) / (worst / 1e9);
}

double StreamPingPong(Placement p, bool use_socket, int pairs, long iters) {
  std::vector<Worker> echoers, pingers;
  int start[2];
  if (pipe2(start, O_CLOEXEC) != 0) return -1;
  for (int k = 0; k < pairs; ++k) {
    int a[2], b[2];  // a: pinger side fds, b: ponger side fds
    if (use_socket) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
      a[0] = a[1] = sv[0];
      b[0] = b[1] = sv[1];
    } else {
      int p1[2], p2[2];
      if (pipe2(p1, O_CLOEXEC) != 0 || pipe2(p2, O_CLOEXEC) != 0) return -1;
      a[0] = p2[0], a[1] = p1[1];  // pinger reads p2, writes p1
      b[0] = p1[0], b[1] = p2[1];
    }
    // Each side closes the other side's fds, or the echoer never sees EOF.
    auto close_side = [](int* fds) {
      close(fds[0]);
      if (fds[1] != fds[0]) close(fds[1]);
    };
    echoers.push_back(Fork(p, [&] {
      close_side(a);
      char buf[kMsgBytes];
      for (;;) {
        if (!ReadFull(b[0], buf, sizeof(buf))) return 0.0;  // EOF: done
        if (write(b[1], buf, sizeof(buf)) != sizeof(buf)) return -1.0;
      }
    }));
    pingers.push_back(Fork(p, [&] {
      close_side(b);
      char buf[kMsgBytes] = {};
      char go;
      if (read(start[0], &go, 1) != 1) return -1.0;
      const long warm = std::min(iters / 10, 500L);
      long long t0 = 0;
      for (long i = -warm; i < iters; ++i) {
        if (i == 0) t0 = NowNs();
        std::memcpy(buf, &i, sizeof(i));
        if (write(a[1], buf, sizeof(buf)) != sizeof(buf) || !ReadFull(a[0], buf, sizeof(buf))) return -1.0;
        long echoed;
        std::memcpy(&echoed, buf, sizeof(echoed));
        if (echoed != i) return -1.0;
      }
      return static_cast<double>(NowNs() - t0);
    }));
    // Only the children keep these: EOF must reach the echoer when the pinger exits.
    close_side(a);
    close_side(b);
  }
  return ReleaseAndJoin(start, pairs, iters, pingers, echoers);
}

// ---- vdvk: sendrec ping-pong through the backend ---------------------------

double DvkServer(int ep) {
  if (dvk_bind(0, ep) != ep) return -1;
  for (;;) {
    message m{};
    if (dvk_receive(ANY, &m) < 0) return -1;
    const bool stop = m.m_type == kStop;
    m.m_type = m.m_type + 1;
    if (dvk_reply(m.m_source, &m) < 0) return -1;
    if (stop) return 0;
  }
}

double SendrecPingPong(Placement p, int pairs, long iters) {
  std::vector<Worker> servers, clients;
  int start[2];
  if (pipe2(start, O_CLOEXEC) != 0) return -1;
  for (int k = 0; k < pairs; ++k) {
    const int sep = kServerBase + k, cep = kClientBase + k;
    servers.push_back(Fork(p, [&] { return DvkServer(sep); }));
    clients.push_back(Fork(p, [&] {
      if (WaitForEndpoint(0, sep, 10000) < 0 || dvk_bind(0, cep) != cep) return -1.0;
      char go;
      if (read(start[0], &go, 1) != 1) return -1.0;
      const long warm = std::min(iters / 10, 500L);
      long long t0 = 0;
      for (long i = -warm; i < iters; ++i) {
        if (i == 0) t0 = NowNs();
        message m{};
        m.m_type = static_cast<int>(i & 0xffff);
        m.m4_l1 = i;
        if (dvk_sendrec(sep, &m) < 0 || m.m_type != static_cast<int>(i & 0xffff) + 1 || m.m4_l1 != i) return -1.0;
      }
      double ns = static_cast<double>(NowNs() - t0);
      message m{};
      m.m_type = kStop;
      dvk_sendrec(sep, &m);
      return ns;
    }));
  }
  return ReleaseAndJoin(start, pairs, iters, clients, servers);
}

// ---- bulk: vcopy vs memcpy ---------------------------------------------------

// Bytes/s of dvk_vcopy server buffer -> client buffer, timed around the call
// in the server while the client waits in sendrec.
double VcopyBandwidth(Placement p, size_t bytes, long iters) {
  const int sep = kServerBase, cep = kClientBase;
  Worker server = Fork(p, [&] {
    if (dvk_bind(0, sep) != sep) return -1.0;
    std::vector<char> buf(bytes, 'v');
    double ns = 0;
    for (long i = 0;; ++i) {
      message m{};
      if (dvk_receive(ANY, &m) < 0) return -1.0;
      if (m.m_type == kStop) {
        dvk_reply(m.m_source, &m);
        return ns;
      }
      long long t0 = NowNs();
      long rc = dvk_vcopy(sep, buf.data(), m.m_source, m.m1_p1, static_cast<int>(bytes));
      if (m.m1_i2 == 1) ns += static_cast<double>(NowNs() - t0);  // not a warm-up copy
      m.m_type = static_cast<int>(rc);
      if (dvk_reply(m.m_source, &m) < 0) return -1.0;
    }
  });
  Worker client = Fork(p, [&] {
    if (WaitForEndpoint(0, sep, 10000) < 0 || dvk_bind(0, cep) != cep) return -1.0;
    std::vector<char> buf(bytes, 0);
    for (long i = -std::min(iters / 10 + 1, 50L); i < iters; ++i) {
      message m{};
      m.m_type = 1;
      m.m1_p1 = buf.data();
      m.m1_i2 = i >= 0 ? 1 : 0;
      if (dvk_sendrec(sep, &m) < 0 || m.m_type != 0) return -1.0;
    }
    if (buf[bytes - 1] != 'v') return -1.0;
    message m{};
    m.m_type = kStop;
    dvk_sendrec(sep, &m);
    return 0.0;
  });
  bool ok = Join(client) >= 0;
  if (!ok) kill(server.pid, SIGKILL);
  double ns = Join(server);
  if (!ok || ns <= 0) return -1;
  return static_cast<double>(bytes) * static_cast<double>(iters) / (ns / 1e9);
}

double MemcpyBandwidth(Placement p, size_t bytes, long iters) {
  Worker w = Fork(p, [&] {
    std::vector<char> src(bytes, 'm'), dst(bytes, 0);
    for (int i = 0; i < 10; ++i) std::memcpy(dst.data(), src.data(), bytes);
    long long t0 = NowNs();
    for (long i = 0; i < iters; ++i) {
      std::memcpy(dst.data(), src.data(), bytes);
      // Keep the copy observable so it is not optimized away.
      asm volatile("" : : "r"(dst.data()) : "memory");
    }
    return static_cast<double>(NowNs() - t0);
  });
  double ns = Join(w);
  if (ns <= 0) return -1;
  return static_cast<double>(bytes) * static_cast<double>(iters) / (ns / 1e9);
}

// ---- report ------------------------------------------------------------------

void Row(const std::string& what, const std::string& base, const std::string& ours, const std::string& ratio,
         const char* placement, const std::string& note) {
  std::printf("%-34s %-22s %-22s %-10s %-9s %s\n", what.c_str(), base.c_str(), ours.c_str(), ratio.c_str(), placement,
              note.c_str());
  std::fflush(stdout);
}

void Line(const std::string& what, const std::string& base, const std::string& ours, const std::string& ratio,
          Placement p, const std::string& note = "") {
  Row(what, base, ours, ratio, Name(p), note);
}

std::string Fmt(const char* f, double v) {
  if (v < 0) return "FAILED";
  char b[64];
  std::snprintf(b, sizeof(b), f, v);
  return b;
}

std::string Ratio(double ours, double base, const char* f = "%.2fx") {
  if (ours < 0 || base <= 0) return "-";
  return Fmt(f, ours / base);
}

bool RunPlacement(Placement p, long iters) {
  BackendProcess backend;
  std::string err;
  const std::string sock = UniqueSocketPath("bench");
  if (!backend.Start(sock, 0, p == Placement::kSameCpu ? g_cpu0 : -1, 10000, &err)) {
    std::fprintf(stderr, "vdvk-bench: %s\n", err.c_str());
    return false;
  }
  setenv("VDVK_SOCKET", sock.c_str(), 1);
  if (p == Placement::kSameCpu)
    std::printf("\n== placement same-cpu: host-backend and every process pinned to CPU %d (sched_setaffinity)\n", g_cpu0);
  else
    std::printf("\n== placement unpinned: host-backend and every process free on all %d allowed CPUs\n",
                CPU_COUNT(&g_all_cpus));
  Row("what", "baseline", "ours (vdvk)", "ratio", "placement", "note");

  const double pipe_rt = StreamPingPong(p, false, 1, iters);
  const double unix_rt = StreamPingPong(p, true, 1, iters);
  const double dvk_rt = SendrecPingPong(p, 1, iters);
  auto us = [](double rt_per_s) { return rt_per_s > 0 ? 1e6 / rt_per_s : -1.0; };
  const double dvk_us = us(dvk_rt);
  const double ratio_unix = dvk_rt > 0 && unix_rt > 0 ? dvk_us / us(unix_rt) : -1;
  Line("round trip, 64 B: vs unix socket", Fmt("%.2f us (unix)", us(unix_rt)), Fmt("%.2f us sendrec", dvk_us),
       Ratio(dvk_us, us(unix_rt)), p,
       ratio_unix < 0 ? "target <= 1.0x" : ratio_unix <= 1.0 ? "target <= 1.0x: met" : "target <= 1.0x: MISSED");
  Line("round trip, 64 B: vs pipe", Fmt("%.2f us (pipe)", us(pipe_rt)), Fmt("%.2f us sendrec", dvk_us),
       Ratio(dvk_us, us(pipe_rt)), p, "lower is better");
  for (int pairs : {1, 2, 4}) {
    const long n = std::max(100L, iters / pairs);
    const double base = StreamPingPong(p, true, pairs, n);
    const double ours = SendrecPingPong(p, pairs, n);
    // Two messages per round trip (request and reply), on both sides.
    Line("messages/s, " + std::to_string(pairs) + " pair" + (pairs > 1 ? "s" : ""), Fmt("%.0f (unix)", 2 * base),
         Fmt("%.0f", 2 * ours), Ratio(ours, base), p, "higher is better");
  }
  struct Size {
    size_t bytes;
    const char* name;
    long iters;
  };
  for (Size s : {Size{4096, "4 KiB", 4000}, Size{65536, "64 KiB", 2000}, Size{1 << 20, "1 MiB", 300}}) {
    const double base = MemcpyBandwidth(p, s.bytes, s.iters * 4);
    const double ours = VcopyBandwidth(p, s.bytes, s.iters);
    const double r = ours > 0 && base > 0 ? ours / base : -1;
    std::string note = "higher is better";
    if (s.bytes == (1 << 20)) note = r < 0 ? "target >= 50%" : r >= 0.5 ? "target >= 50%: met" : "target >= 50%: MISSED";
    Line(std::string("vcopy ") + s.name + " vs memcpy", Fmt("%.0f MB/s", base / 1e6), Fmt("%.0f MB/s", ours / 1e6),
         Ratio(ours * 100, base, "%.0f%%"), p, note);
  }
  if (!backend.Alive()) {
    std::fprintf(stderr, "vdvk-bench: host-backend died during the %s run\n", Name(p));
    return false;
  }
  backend.Stop();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv,
            "Usage: vdvk-bench [--iters N] [--placement unpinned|same-cpu|both]\n"
            "Starts its own host-backend on a temp socket and prints, per CPU placement,\n"
            "baseline, vdvk result and ratio for: 64-byte round trips (pipe, unix socket,\n"
            "vdvk sendrec), round trips/s with 1, 2 and 4 pairs, and vcopy vs memcpy\n"
            "bandwidth at 4 KiB, 64 KiB and 1 MiB. See bench/README.md.",
            {{"iters", true, "round trips per latency measurement (default 10000)"},
             {"placement", true, "unpinned | same-cpu | both (default both)"}});
  if (!args.Positional().empty()) args.UsageError("unexpected argument '" + args.Positional()[0] + "'");
  const long iters = static_cast<long>(args.Int("iters", 10000, 100, 10000000));
  const std::string placement = args.Str("placement", "both");
  if (placement != "unpinned" && placement != "same-cpu" && placement != "both")
    args.UsageError("bad --placement '" + placement + "' (unpinned, same-cpu or both)");

  sched_getaffinity(0, sizeof(g_all_cpus), &g_all_cpus);
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &g_all_cpus)) {
      g_cpu0 = c;
      break;
    }
  signal(SIGPIPE, SIG_IGN);
  std::printf("vdvk-bench: host-backend %s, %ld round trips per latency test, %zu-byte messages, %ld CPUs online\n",
              HostBackendBinary().c_str(), iters, kMsgBytes, sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("ratio = ours / baseline (latency: lower is better; throughput and bandwidth: higher is better)\n");
  bool ok = true;
  if (placement != "same-cpu") ok = RunPlacement(Placement::kUnpinned, iters) && ok;
  if (placement != "unpinned") ok = RunPlacement(Placement::kSameCpu, iters) && ok;
  return ok ? 0 : 1;
}
