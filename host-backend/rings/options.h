// options.h - command line and config file of host-backend (pure parsing).
//
// Precedence: built-in defaults < config file < command-line flags.
// Errors are returned as one human-readable line (the caller prints it and
// exits 2); nothing here prints or exits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vdvk::rings {

struct Options {
  std::optional<int32_t> node;     // required, 0..31
  std::string socket;              // default /run/vdvk/node<N>.sock
  std::string log_level = "info";  // trace|debug|info|warn|error
  int64_t poll_us = 50;            // 0 disables polling
  int64_t guest_poll_us = 0;       // the same after work from UML guests only
  uint32_t sq_entries = 64;        // default ring sizes when a client wishes 0
  uint32_t cq_entries = 64;
  int32_t dc0_nr_procs = 221;
  int32_t dc0_nr_tasks = 34;
  int32_t dc0_nr_sysprocs = 64;
  int32_t max_copylen = 1 << 20;
  // Node links (host-backend/nodes). No --listen and no --peer: a lone node.
  std::string listen;                    // HOST:PORT for links from other nodes
  struct Peer {
    int32_t id = 0;
    std::string address;                 // HOST:PORT
  };
  std::vector<Peer> peers;               // nodes we connect to (repeatable)
  std::string token;                     // cluster token, must match on both ends
  int32_t heartbeat_ms = 500;            // heartbeat period
  int32_t dead_ms = 2000;                // no answer for this long: the peer is down
  struct GuestRingSpec {
    std::string path;  // the ring file; PATH.kick, PATH.wake, PATH.mem beside it
    std::string user;  // ",user=NAME|UID": the files are given to this user ("" = ours)
  };
  std::vector<GuestRingSpec> guest_rings;  // --guest-ring, one UML guest each
  int32_t pin_timeout_ms = 5000;         // a guest's answer to a peer pin request
  bool help = false;
};

struct ParseResult {
  bool ok = true;
  std::string error;  // one line, no trailing newline
};

// Parses argv (config file applied first if --config is given; flags then
// override it). Reads the config file from disk.
ParseResult ParseCommandLine(const std::vector<std::string>& args, Options* out);
// Applies "key = value" lines; `origin` names the file in errors (file:line).
ParseResult ApplyConfigText(const std::string& text, const std::string& origin, Options* out);

std::string UsageText();
std::string DefaultSocketPath(int32_t node);

}  // namespace vdvk::rings
