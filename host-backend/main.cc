// host-backend - serves one vdvk node: flags, config, wiring only.
#include <ev.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "host-backend/engine/engine.h"
#include "host-backend/nodes/node_links.h"
#include "host-backend/rings/backend.h"
#include "host-backend/rings/instance_lock.h"
#include "host-backend/rings/options.h"

namespace {

// mkdir -p for the socket's directory (0755: clients only need to traverse it).
bool MakeParentDirs(const std::string& path, std::string* error) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return true;
  std::string dir = path.substr(0, slash);
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      std::string part = dir.substr(0, i);
      if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
        *error = "cannot create " + part + ": " + std::strerror(errno);
        return false;
      }
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  vdvk::rings::Options opt;
  vdvk::rings::ParseResult pr = vdvk::rings::ParseCommandLine(args, &opt);
  if (!pr.ok) {
    std::fprintf(stderr, "host-backend: %s\nTry 'host-backend --help' for usage.\n",
                 pr.error.c_str());
    return 2;
  }
  if (opt.help) {
    std::fputs(vdvk::rings::UsageText().c_str(), stdout);
    return 0;
  }

  auto logger = spdlog::stderr_color_mt("host-backend");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  spdlog::set_level(spdlog::level::from_str(opt.log_level));
  spdlog::flush_on(spdlog::level::trace);
  std::signal(SIGPIPE, SIG_IGN);

  std::string error;
  if (!MakeParentDirs(opt.socket, &error)) {
    std::fprintf(stderr, "host-backend: %s\n", error.c_str());
    return 1;
  }
  vdvk::rings::InstanceLock lock;
  bool held = false;
  if (!lock.Acquire(opt.socket + ".lock", &error, &held)) {
    if (held)
      std::fprintf(stderr, "host-backend: node %d %s\n", *opt.node, error.c_str());
    else
      std::fprintf(stderr, "host-backend: %s\n", error.c_str());
    return 1;
  }

  vdvk::rings::BackendConfig bc;
  bc.node_id = *opt.node;
  bc.socket_path = opt.socket;
  bc.poll_us = opt.poll_us;
  bc.guest_poll_us = opt.guest_poll_us;
  bc.pin_timeout_ms = opt.pin_timeout_ms;
  bc.default_sq_entries = opt.sq_entries;
  bc.default_cq_entries = opt.cq_entries;
  vdvk::EngineConfig ec;
  ec.dc0_nr_procs = opt.dc0_nr_procs;
  ec.dc0_nr_tasks = opt.dc0_nr_tasks;
  ec.dc0_nr_sysprocs = opt.dc0_nr_sysprocs;
  ec.max_copylen = opt.max_copylen;

  struct ev_loop* loop = ev_default_loop(EVFLAG_AUTO);
  int rc;
  {
    vdvk::rings::Backend backend(bc, ec, loop);
    // Guest rings first: whoever waits for the socket to appear may then
    // rely on the ring files existing too.
    for (const auto& ring : opt.guest_rings) {
      if (!backend.AddGuestRing(ring.path, ring.user, &error)) {
        spdlog::error("host-backend: {}", error);
        return 1;
      }
    }
    if (!backend.Listen(&error)) {
      spdlog::error("host-backend: {}", error);
      return 1;
    }
    // Declared after the backend: closed before it goes (links call into it).
    std::unique_ptr<vdvk::nodes::NodeLinks> links;
    if (!opt.listen.empty() || !opt.peers.empty()) {
      vdvk::nodes::LinkConfig lc;
      lc.node_id = *opt.node;
      lc.nr_nodes = ec.nr_nodes;
      lc.node_name = "node" + std::to_string(*opt.node);
      lc.listen = opt.listen;
      for (const auto& p : opt.peers) lc.peers.push_back({p.id, p.address});
      lc.token = opt.token;
      lc.heartbeat_ms = opt.heartbeat_ms;
      lc.dead_ms = opt.dead_ms;
      links = std::make_unique<vdvk::nodes::NodeLinks>(lc, loop, &backend);
      backend.SetLinkOut(links.get());
      links->SetGuestPartyIo(&backend);
      if (!links->Start(&error)) {
        spdlog::error("host-backend: {}", error);
        return 1;
      }
    }
    rc = backend.Run();
  }
  lock.Release();
  spdlog::info("host-backend: node {} stopped", *opt.node);
  return rc;
}
