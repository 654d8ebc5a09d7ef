#include "host-backend/rings/options.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "host-backend/rings/ring_layout.h"

namespace vdvk::rings {
namespace {

bool ParseInt(const std::string& s, int64_t lo, int64_t hi, int64_t* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool ValidLevel(const std::string& s) {
  return s == "trace" || s == "debug" || s == "info" || s == "warn" || s == "error";
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// HOST:PORT, split at the last ':' (HOST may be a name or an IPv4 address).
bool ValidHostPort(const std::string& s) {
  const size_t colon = s.rfind(':');
  int64_t port = 0;
  return colon != std::string::npos && colon > 0 &&
         ParseInt(s.substr(colon + 1), 1, 65535, &port);
}

// One setting, shared by the file and the flags. Returns "" or an error.
std::string ApplySetting(const std::string& key, const std::string& value, Options* o) {
  int64_t v = 0;
  auto bad = [&](const std::string& what) { return "bad value '" + value + "' for " + key + " (" + what + ")"; };
  if (key == "node") {
    if (!ParseInt(value, 0, 31, &v)) return bad("expected 0..31");
    o->node = static_cast<int32_t>(v);
  } else if (key == "socket") {
    if (value.empty() || value.size() >= 108) return bad("expected a path shorter than 108 bytes");
    o->socket = value;
  } else if (key == "log_level") {
    if (!ValidLevel(value)) return bad("expected trace|debug|info|warn|error");
    o->log_level = value;
  } else if (key == "poll_us" || key == "guest_poll_us") {
    if (!ParseInt(value, 0, 1000000, &v)) return bad("expected 0..1000000");
    (key == "poll_us" ? o->poll_us : o->guest_poll_us) = v;
  } else if (key == "sq_entries" || key == "cq_entries") {
    if (!ParseInt(value, 1, VDVK_MAX_ENTRIES, &v) || !IsPowerOfTwo(static_cast<uint32_t>(v)))
      return bad("expected a power of two <= 4096");
    (key == "sq_entries" ? o->sq_entries : o->cq_entries) = static_cast<uint32_t>(v);
  } else if (key == "dc0_nr_procs") {
    if (!ParseInt(value, 1, 4096, &v)) return bad("expected 1..4096");
    o->dc0_nr_procs = static_cast<int32_t>(v);
  } else if (key == "dc0_nr_tasks") {
    if (!ParseInt(value, 0, 1024, &v)) return bad("expected 0..1024");
    o->dc0_nr_tasks = static_cast<int32_t>(v);
  } else if (key == "dc0_nr_sysprocs") {
    if (!ParseInt(value, 0, 4096, &v)) return bad("expected 0..4096");
    o->dc0_nr_sysprocs = static_cast<int32_t>(v);
  } else if (key == "max_copylen") {
    if (!ParseInt(value, 0, 1 << 30, &v)) return bad("expected 0..1073741824");
    o->max_copylen = static_cast<int32_t>(v);
  } else if (key == "listen") {
    if (!ValidHostPort(value)) return bad("expected HOST:PORT");
    o->listen = value;
  } else if (key == "peer") {
    const size_t eq = value.find('=');
    if (eq == std::string::npos || !ParseInt(value.substr(0, eq), 0, 31, &v) ||
        !ValidHostPort(value.substr(eq + 1)))
      return bad("expected ID=HOST:PORT with ID 0..31");
    for (const Options::Peer& p : o->peers)
      if (p.id == v) return bad("node id given twice");
    o->peers.push_back({static_cast<int32_t>(v), value.substr(eq + 1)});
  } else if (key == "token") {
    if (value.size() > 256) return bad("at most 256 bytes");
    o->token = value;
  } else if (key == "heartbeat_ms") {
    if (!ParseInt(value, 10, 60000, &v)) return bad("expected 10..60000");
    o->heartbeat_ms = static_cast<int32_t>(v);
  } else if (key == "dead_ms") {
    if (!ParseInt(value, 20, 600000, &v)) return bad("expected 20..600000");
    o->dead_ms = static_cast<int32_t>(v);
  } else if (key == "guest_ring") {
    // PATH[,user=NAME]. The guest gets PATH on its kernel command line
    // (vdvk0=ring:PATH), which splits at spaces and commas.
    const size_t comma = value.find(',');
    Options::GuestRingSpec spec{value.substr(0, comma), ""};
    const std::string& path = spec.path;
    if (path.empty() || path.size() > 4000 || path.find_first_of(" \t") != std::string::npos)
      return bad("expected PATH[,user=NAME], PATH without spaces or commas");
    if (comma != std::string::npos) {
      const std::string opt = value.substr(comma + 1);
      if (opt.rfind("user=", 0) != 0) return bad("unknown option '" + opt + "' (expected user=NAME)");
      spec.user = opt.substr(5);
      // POSIX portable user names (or a uid): nothing a shell or log could misread.
      if (spec.user.empty() || spec.user.size() > 64 ||
          spec.user.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
              std::string::npos)
        return bad("user= needs a user name or uid");
    }
    o->guest_rings.push_back(std::move(spec));
  } else if (key == "pin_timeout_ms") {
    if (!ParseInt(value, 1, 600000, &v)) return bad("expected 1..600000");
    o->pin_timeout_ms = static_cast<int32_t>(v);
  } else {
    return "unknown key '" + key + "'";
  }
  return "";
}

bool IsFileKey(const std::string& k) {
  return k == "node" || k == "socket" || k == "log_level" || k == "poll_us" || k == "guest_poll_us" ||
         k == "dc0_nr_procs" || k == "dc0_nr_tasks" || k == "dc0_nr_sysprocs" ||
         k == "max_copylen" || k == "listen" || k == "peer" || k == "token" ||
         k == "heartbeat_ms" || k == "dead_ms" || k == "guest_ring" || k == "pin_timeout_ms";
}

}  // namespace

std::string DefaultSocketPath(int32_t node) {
  return "/run/vdvk/node" + std::to_string(node) + ".sock";
}

std::string UsageText() {
  return "usage: host-backend --node N [--socket PATH] [--config FILE]\n"
         "                    [--log-level trace|debug|info|warn|error] [--poll-us N]\n"
         "                    [--sq-entries N] [--cq-entries N] [--guest-ring PATH ...]\n"
         "  --node N         node id served by this backend (0..31, required)\n"
         "  --socket PATH    attach socket (default /run/vdvk/node<N>.sock)\n"
         "  --config FILE    'key = value' lines: node, socket, log_level, poll_us,\n"
         "                   dc0_nr_procs, dc0_nr_tasks, dc0_nr_sysprocs, max_copylen,\n"
         "                   guest_ring (repeatable)\n"
         "  --log-level L    default info\n"
         "  --poll-us N      poll rings N us after host-native clients' work before\n"
         "                   sleeping (default 50, 0 off)\n"
         "  --guest-poll-us N  the same after work from UML guests only (default 0:\n"
         "                   their driver always kicks, and on shared CPUs the spin\n"
         "                   slows the guests; worth it with a CPU for the backend)\n"
         "  --sq-entries N   default ring sizes (power of two <= 4096, default 64)\n"
         "  --cq-entries N\n"
         "  --listen HOST:PORT     accept links from other nodes here\n"
         "  --peer ID=HOST:PORT    link to node ID (repeatable)\n"
         "  --token TOKEN          cluster token, the same on every node\n"
         "  --heartbeat-ms N       link heartbeat period (default 500)\n"
         "  --dead-ms N            a silent peer is down after N ms (default 2000)\n"
         "  (config keys: listen, peer (repeatable), token, heartbeat_ms, dead_ms)\n"
         "  --guest-ring PATH[,user=NAME]  serve a UML guest: creates ring file PATH,\n"
         "                   FIFOs PATH.kick / PATH.wake and socket PATH.mem (repeatable;\n"
         "                   boot the guest with vdvk-uml --ring PATH). user=: the files\n"
         "                   belong to NAME (or a uid), whose guest may then attach\n"
         "                   (needs a backend running as root); default: our user\n"
         "  --pin-timeout-ms N  a guest that does not answer a request to pin a vcopy\n"
         "                   party's pages within N ms fails that vcopy with\n"
         "                   EDVSTIMEDOUT (default 5000; config key pin_timeout_ms)\n"
         "  -h, --help       this text\n";
}

ParseResult ApplyConfigText(const std::string& text, const std::string& origin, Options* out) {
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    line = Trim(line);
    if (line.empty()) continue;
    std::string where = origin + ":" + std::to_string(lineno) + ": ";
    size_t eq = line.find('=');
    if (eq == std::string::npos) return {false, where + "expected 'key = value'"};
    std::string key = Trim(line.substr(0, eq));
    std::string value = Trim(line.substr(eq + 1));
    if (!IsFileKey(key)) return {false, where + "unknown key '" + key + "'"};
    std::string err = ApplySetting(key, value, out);
    if (!err.empty()) return {false, where + err};
  }
  return {};
}

ParseResult ParseCommandLine(const std::vector<std::string>& args, Options* out) {
  // Flags map to setting keys; collect them first so the file can go below them.
  std::vector<std::pair<std::string, std::string>> settings;
  std::string config;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "-h" || a == "--help") {
      out->help = true;
      return {};
    }
    std::string value;
    bool inline_value = false;
    if (a.rfind("--", 0) == 0) {
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        a.resize(eq);
        inline_value = true;
      }
    }
    static const std::pair<const char*, const char*> kFlags[] = {
        {"--node", "node"},         {"--socket", "socket"},         {"--log-level", "log_level"},
        {"--poll-us", "poll_us"},   {"--sq-entries", "sq_entries"}, {"--cq-entries", "cq_entries"},
        {"--guest-poll-us", "guest_poll_us"},
        {"--listen", "listen"},     {"--peer", "peer"},             {"--token", "token"},
        {"--heartbeat-ms", "heartbeat_ms"}, {"--dead-ms", "dead_ms"},
        {"--guest-ring", "guest_ring"}, {"--pin-timeout-ms", "pin_timeout_ms"}, {"--config", ""},
    };
    const char* key = nullptr;
    for (const auto& [flag, k] : kFlags)
      if (a == flag) key = k;
    if (!key) return {false, "unknown option '" + args[i] + "'"};
    if (!inline_value) {
      if (i + 1 >= args.size()) return {false, "option " + a + " needs a value"};
      value = args[++i];
    }
    if (a == "--config") {
      config = value;
    } else {
      settings.emplace_back(key, value);
    }
  }
  if (!config.empty()) {
    std::ifstream f(config);
    if (!f) return {false, "cannot read config file '" + config + "'"};
    std::stringstream ss;
    ss << f.rdbuf();
    ParseResult r = ApplyConfigText(ss.str(), config, out);
    if (!r.ok) return r;
  }
  // Flags override the file: any --guest-ring replaces the file's list.
  for (const auto& [k, v] : settings)
    if (k == "guest_ring") out->guest_rings.clear();
  for (const auto& [k, v] : settings) {
    std::string err = ApplySetting(k, v, out);
    if (!err.empty()) return {false, err};
  }
  if (!out->node) return {false, "--node is required"};
  if (out->socket.empty()) out->socket = DefaultSocketPath(*out->node);
  for (const Options::Peer& p : out->peers)
    if (p.id == *out->node) return {false, "--peer names this node's own id " + std::to_string(p.id)};
  if (out->dead_ms <= out->heartbeat_ms) return {false, "--dead-ms must exceed --heartbeat-ms"};
  return {};
}

}  // namespace vdvk::rings
