// node_peer.cc - a DVK process for the multi-node tests, on libdvk only
// ($VDVK_SOCKET selects the node). One role per run; prints one result line
// and exits 0 when every check passed, else 1 (with the reason on stderr).
//
//   node_peer server --ep E [--count N] [--nodes a,b]   receive/answer N requests (0: forever)
//   node_peer idle   --ep E [--nodes a,b]               bind and sleep (a server that never answers);
//                                                       on SIGUSR1 receive for 300 ms, print "received RC"
//   node_peer client --ep E --server S --node K --count N [--nodes a,b] [--timeout-ms T]
//                    [--rmt-tries N]
//                    N sendrecs to S on node K, payload checked; prints "ok N rtt_us X"
//                    or "error CODE after_ms M" for the first failed call.
//                    --rmt-tries 0 (client, vclient, notify-send): no rmtbind, the
//                    backend resolves S's node by itself
//   node_peer notify-send --ep E --dst D --node K [--nodes a,b]
//   node_peer notify-recv --ep E --from S [--nodes a,b]
//   node_peer setup --ep 0 [--server S --node K] [--nodes a,b]
//                    add the nodes to DC 0 and rmtbind S on node K, then exit
//                    (for tools that do neither, like m3ftp)
//   node_peer vserver --ep E [--bytes B] [--nodes a,b]
//                    vcopy party: tells its buffer's address, then waits in
//                    receive while the client copies; checks what landed
//   node_peer vclient --ep E (a system process: vcopy is theirs) --server S --node K [--bytes B] [--count N] [--nodes a,b]
//                    N rounds of: vcopy S's buffer -> ours (pull), check;
//                    ours -> S's (push); S checks. Prints "ok N pull_MBps X
//                    push_MBps Y" or "error CODE after_ms M"
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dvk/dvk.h"

namespace {

constexpr int kDc = 0;
constexpr int kRequest = 0x77;
constexpr int kAnswer = 0x78;

struct Args {
  std::string role;
  int ep = -1, server = -1, node = -1, count = 1, dst = -1, from = -1;
  int bytes = 1 << 20;
  long timeout_ms = TIMEOUT_FOREVER;
  int rmt_tries = 1000;  // rmtbind attempts, 10 ms apart
  std::vector<int> nodes;
};

double NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int Fail(const char* what, long rc) {
  std::fprintf(stderr, "node_peer: %s: %ld\n", what, rc);
  return 1;
}

// Bytes 12..63 (after m_source, m_type and m1_i1 = the sequence number) carry the payload.
void Fill(message* m, uint32_t seq, uint8_t x) {
  auto* p = reinterpret_cast<uint8_t*>(m);
  for (size_t i = 12; i < sizeof(message); ++i) p[i] = static_cast<uint8_t>((seq * 131 + i * 7) ^ x);
}
bool Check(const message& m, uint32_t seq, uint8_t x) {
  message want;
  Fill(&want, seq, x);
  return std::memcmp(reinterpret_cast<const uint8_t*>(&m) + 12,
                     reinterpret_cast<const uint8_t*>(&want) + 12, sizeof(message) - 12) == 0;
}

// The DC must name every node we talk to (DVK checks it on both sides).
// rmtbind is a bind call, which a bound user process may not make: it comes
// before our own bind.
int RmtBind(int ep, int node, int tries);
int Setup(const Args& a) {
  for (int n : a.nodes) {
    long rc = dvk_add_node(kDc, n);
    if (rc != 0 && rc != EDVSDCNODE) return Fail("add_node", rc);
  }
  if (a.rmt_tries == 0 && a.role != "setup") {
    // No rmtbind: the backend's automatic resolution finds the node.
  } else if (a.role == "client" || a.role == "vclient") {
    if (int rc = RmtBind(a.server, a.node, a.rmt_tries)) return rc;
  } else if (a.role == "notify-send") {
    if (int rc = RmtBind(a.dst, a.node, a.rmt_tries)) return rc;
  } else if (a.role == "setup") {
    if (a.server >= 0) return RmtBind(a.server, a.node, a.rmt_tries);
    return 0;
  }
  long rc = dvk_bind(kDc, a.ep);
  if (rc != a.ep) return Fail("bind", rc);
  return 0;
}

// rmtbind, retried while the link to that node is not up yet (10 s).
int RmtBind(int ep, int node, int tries) {
  for (int i = 0; i < tries; ++i) {
    long rc = dvk_rmtbind(kDc, "peer", ep, node);
    if (rc == ep || rc == EDVSSLOTUSED) return 0;  // SLOTUSED: bound by an earlier run
    if (rc != EDVSNOPROXY) return Fail("rmtbind", rc);
    usleep(10000);
  }
  std::printf("error %d rmtbind\n", EDVSNOPROXY);
  return Fail("rmtbind (link never came up)", EDVSNOPROXY);
}

int Server(const Args& a) {
  std::printf("ready\n");
  std::fflush(stdout);
  for (int i = 0; a.count == 0 || i < a.count; ++i) {
    message m;
    long rc = dvk_receive(ANY, &m);
    if (rc != 0) return Fail("receive", rc);
    if (m.m_type != kRequest) return Fail("unexpected m_type", m.m_type);
    const uint32_t seq = static_cast<uint32_t>(m.m1_i1);
    if (!Check(m, seq, 0x00)) return Fail("request payload corrupt at seq", seq);
    const int client = m.m_source;
    Fill(&m, seq, 0xa5);
    m.m_type = kAnswer;
    m.m1_i1 = static_cast<int32_t>(seq);
    rc = dvk_reply(client, &m);
    if (rc != 0) return Fail("reply", rc);
  }
  std::printf("served %d\n", a.count);
  return 0;
}

int Client(const Args& a) {
  const double start = NowMs();
  for (uint32_t seq = 0; seq < static_cast<uint32_t>(a.count); ++seq) {
    message m;
    std::memset(&m, 0, sizeof(m));
    Fill(&m, seq, 0x00);
    m.m_type = kRequest;
    m.m1_i1 = static_cast<int32_t>(seq);
    const double t0 = NowMs();
    long rc = dvk_sendrec_T(a.server, &m, a.timeout_ms);
    // The server may still be starting, or its node's link coming (back) up.
    if ((rc == EDVSDEADSRCDST || rc == EDVSNOPROXY) && seq == 0 && NowMs() - start < 10000) {
      usleep(10000);
      --seq;
      continue;
    }
    if (rc != 0) {
      std::printf("error %ld after_ms %.0f\n", rc, NowMs() - t0);
      return 1;
    }
    if (m.m_source != a.server || m.m_type != kAnswer || m.m1_i1 != static_cast<int32_t>(seq) ||
        !Check(m, seq, 0xa5)) {
      std::printf("error payload seq %u\n", seq);
      return 1;
    }
  }
  const double ms = NowMs() - start;
  std::printf("ok %d rtt_us %.1f\n", a.count, ms * 1000.0 / a.count);
  return 0;
}

int NotifySend(const Args& a) {
  // The receiver may still be starting on its node.
  for (int i = 0; i < 1000; ++i) {
    long rc = dvk_notify(a.dst);
    if (rc == 0) {
      std::printf("ok\n");
      return 0;
    }
    if (rc != EDVSDSTDIED) return Fail("notify", rc);
    usleep(10000);
  }
  return Fail("notify (receiver never bound)", EDVSDSTDIED);
}

int NotifyRecv(const Args& a) {
  std::printf("ready\n");
  std::fflush(stdout);
  message m;
  long rc = dvk_receive(ANY, &m);
  if (rc != 0) return Fail("receive", rc);
  if (m.m_source != a.from || m.m_type != NOTIFY_FROM(a.from)) {
    std::printf("error notify source %d type %#x\n", m.m_source, m.m_type);
    return 1;
  }
  std::printf("ok notify from %d\n", m.m_source);
  return 0;
}

// ---- vcopy across nodes ----
constexpr int kWhere = 0x79, kCheck = 0x7a, kBye = 0x7b;

// Contents that differ per round and side, and never repeat with a short period.
void Pattern(std::vector<uint8_t>* b, uint32_t round, uint8_t side) {
  uint32_t x = 0x9e3779b9u * (round + 1) + side;
  for (auto& c : *b) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<uint8_t>(x);
  }
}

int VServer(const Args& a) {
  std::vector<uint8_t> buf(static_cast<size_t>(a.bytes));
  std::printf("ready\n");
  std::fflush(stdout);
  for (uint32_t round = 0;; ++round) {
    Pattern(&buf, round, 1);  // what the client pulls
    message m;
    long rc = dvk_receive(ANY, &m);
    if (rc != 0) return Fail("receive", rc);
    if (m.m_type == kBye) break;
    if (m.m_type != kWhere) return Fail("unexpected m_type", m.m_type);
    const int client = m.m_source;
    std::memset(&m, 0, sizeof(m));
    m.m_type = kWhere;
    m.m_u.m_m1.m1p1_u64 = reinterpret_cast<uintptr_t>(buf.data());
    m.m1_i1 = a.bytes;
    if ((rc = dvk_reply(client, &m)) != 0) return Fail("reply", rc);
    // The client copies both ways while we sit in this receive.
    if ((rc = dvk_receive(client, &m)) != 0) return Fail("receive", rc);
    if (m.m_type != kCheck) return Fail("unexpected m_type", m.m_type);
    std::vector<uint8_t> want(buf.size());
    Pattern(&want, round, 2);
    const int ok = want == buf ? 0 : 1;
    std::memset(&m, 0, sizeof(m));
    m.m_type = kCheck;
    m.m1_i1 = ok;
    if ((rc = dvk_reply(client, &m)) != 0) return Fail("reply", rc);
    if (ok != 0) return Fail("pushed bytes differ in round", round);
  }
  std::printf("vserver done\n");
  return 0;
}

int VClient(const Args& a) {
  std::vector<uint8_t> buf(static_cast<size_t>(a.bytes)), want(buf.size());
  const double start = NowMs();
  double pull_ms = 0, push_ms = 0;
  auto error = [&](long rc) {
    std::printf("error %ld after_ms %.0f\n", rc, NowMs() - start);
    return 1;
  };
  for (uint32_t round = 0; round < static_cast<uint32_t>(a.count); ++round) {
    message m;
    std::memset(&m, 0, sizeof(m));
    m.m_type = kWhere;
    long rc = dvk_sendrec(a.server, &m);
    if (rc != 0) return error(rc);
    if (m.m_type != kWhere || m.m1_i1 != a.bytes) return Fail("bad kWhere answer", m.m_type);
    void* remote = reinterpret_cast<void*>(static_cast<uintptr_t>(m.m_u.m_m1.m1p1_u64));
    std::memset(buf.data(), 0, buf.size());
    double t = NowMs();
    // The server answers, then enters its receive: a vcopy in between finds
    // it not receiving (EDVSPROCSTS, DVK's rule); try again shortly.
    for (int i = 0; i < 1000; ++i) {
      rc = dvk_vcopy(a.server, remote, SELF, buf.data(), a.bytes);
      if (rc != EDVSPROCSTS) break;
      usleep(200);
      t = NowMs();
    }
    pull_ms += NowMs() - t;
    if (rc != 0) return error(rc);
    Pattern(&want, round, 1);
    if (want != buf) return Fail("pulled bytes differ in round", round);
    Pattern(&buf, round, 2);
    t = NowMs();
    rc = dvk_vcopy(SELF, buf.data(), a.server, remote, a.bytes);
    push_ms += NowMs() - t;
    if (rc != 0) return error(rc);
    std::memset(&m, 0, sizeof(m));
    m.m_type = kCheck;
    if ((rc = dvk_sendrec(a.server, &m)) != 0) return error(rc);
    if (m.m1_i1 != 0) return Fail("server saw wrong bytes in round", round);
  }
  message m;
  std::memset(&m, 0, sizeof(m));
  m.m_type = kBye;
  long rc = dvk_send(a.server, &m);
  if (rc != 0) return error(rc);
  const double mb = static_cast<double>(a.bytes) * a.count / 1e6;
  std::printf("ok %d pull_MBps %.0f push_MBps %.0f\n", a.count, mb / (pull_ms / 1e3),
              mb / (push_ms / 1e3));
  return 0;
}

bool Parse(int argc, char** argv, Args* a) {
  if (argc < 2) return false;
  a->role = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--ep") a->ep = std::atoi(v);
    else if (k == "--server") a->server = std::atoi(v);
    else if (k == "--node") a->node = std::atoi(v);
    else if (k == "--count") a->count = std::atoi(v);
    else if (k == "--dst") a->dst = std::atoi(v);
    else if (k == "--from") a->from = std::atoi(v);
    else if (k == "--timeout-ms") a->timeout_ms = std::atol(v);
    else if (k == "--rmt-tries") a->rmt_tries = std::atoi(v);
    else if (k == "--bytes") a->bytes = std::atoi(v);
    else if (k == "--nodes") {
      for (const char* p = v; *p;) {
        a->nodes.push_back(std::atoi(p));
        p = std::strchr(p, ',');
        if (!p) break;
        ++p;
      }
    } else {
      return false;
    }
  }
  return a->ep >= 0 && a->bytes > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!Parse(argc, argv, &a)) {
    std::fprintf(stderr, "usage: see the comment at the top of node_peer.cc\n");
    return 2;
  }
  if (int rc = Setup(a)) return rc;
  if (a.role == "setup") {
    std::printf("ok setup\n");
    return 0;
  }
  if (a.role == "server") return Server(a);
  if (a.role == "idle") {
    // SIGUSR1: look (once, 300 ms) whether anything reached us meanwhile.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    std::printf("ready\n");
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    message m;
    long rc = dvk_receive_T(ANY, &m, 300);
    std::printf("received %ld\n", rc);
    return 0;
  }
  if (a.role == "client") return Client(a);
  if (a.role == "notify-send") return NotifySend(a);
  if (a.role == "vserver") return VServer(a);
  if (a.role == "vclient") return VClient(a);
  if (a.role == "notify-recv") return NotifyRecv(a);
  std::fprintf(stderr, "node_peer: unknown role %s\n", a.role.c_str());
  return 2;
}
