// tcp_baseline - the raw TCP figures vdvk-node-bench compares the node links
// with, run between the same two network namespaces:
//   tcp_baseline pingpong-server PORT SIZE          echo SIZE-byte messages (one connection at a time, forever)
//   tcp_baseline pingpong-client HOST PORT SIZE N   N round trips; prints "ok N rtt_us X"
//   tcp_baseline stream-server PORT                 swallow one connection's bytes per accept (forever)
//   tcp_baseline stream-client HOST PORT BYTES      send BYTES; prints "ok BYTES MBps X"
// TCP_NODELAY on both ends, as capnp's connections use.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

double NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int Die(const char* what) {
  std::perror(what);
  return 1;
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

bool Full(int fd, void* p, size_t n, bool writing) {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = writing ? write(fd, b, n) : read(fd, b, n);
    if (r <= 0) return false;
    b += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

int Listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 16) != 0) return -1;
  return fd;
}

int Connect(const char* host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return -1;
  for (int i = 0; i < 200; ++i) {  // the server may still be starting
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
      NoDelay(fd);
      return fd;
    }
    usleep(10000);
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "pingpong-server" && argc == 4) {
    int lfd = Listen(std::atoi(argv[2]));
    if (lfd < 0) return Die("listen");
    const size_t size = std::strtoul(argv[3], nullptr, 10);
    for (;;) {
      int fd = accept(lfd, nullptr, nullptr);
      if (fd < 0) continue;
      NoDelay(fd);
      // One thread per connection: several client pairs at once.
      std::thread([fd, size] {
        std::vector<char> buf(size);
        while (Full(fd, buf.data(), size, false) && Full(fd, buf.data(), size, true)) {
        }
        close(fd);
      }).detach();
    }
  }
  if (mode == "pingpong-client" && argc == 6) {
    int fd = Connect(argv[2], std::atoi(argv[3]));
    if (fd < 0) return Die("connect");
    const size_t size = std::strtoul(argv[4], nullptr, 10);
    const long n = std::atol(argv[5]);
    std::vector<char> buf(size, 'x');
    const double t0 = NowMs();
    for (long i = 0; i < n; ++i) {
      if (!Full(fd, buf.data(), size, true) || !Full(fd, buf.data(), size, false)) return Die("pingpong");
    }
    std::printf("ok %ld rtt_us %.1f\n", n, (NowMs() - t0) * 1000.0 / static_cast<double>(n));
    return 0;
  }
  if (mode == "stream-server" && argc == 3) {
    int lfd = Listen(std::atoi(argv[2]));
    if (lfd < 0) return Die("listen");
    std::vector<char> buf(1 << 20);
    for (;;) {
      int fd = accept(lfd, nullptr, nullptr);
      if (fd < 0) continue;
      while (read(fd, buf.data(), buf.size()) > 0) {
      }
      (void)!write(fd, "k", 1);  // tells the client everything arrived
      close(fd);
    }
  }
  if (mode == "stream-client" && argc == 5) {
    int fd = Connect(argv[2], std::atoi(argv[3]));
    if (fd < 0) return Die("connect");
    const unsigned long long total = std::strtoull(argv[4], nullptr, 10);
    std::vector<char> buf(1 << 20, 'y');
    const double t0 = NowMs();
    for (unsigned long long sent = 0; sent < total;) {
      const size_t n = static_cast<size_t>(std::min<unsigned long long>(buf.size(), total - sent));
      if (!Full(fd, buf.data(), n, true)) return Die("stream");
      sent += n;
    }
    shutdown(fd, SHUT_WR);
    char k;
    if (read(fd, &k, 1) != 1) return Die("stream end");
    const double ms = NowMs() - t0;
    std::printf("ok %llu MBps %.0f\n", total, static_cast<double>(total) / 1e3 / ms);
    return 0;
  }
  std::fprintf(stderr, "usage: see the comment at the top of tcp_baseline.cc\n");
  return 2;
}
