// engine.h - the DVK semantics of one node, with no I/O.
//
// The engine owns DCs, process slots, rendezvous queues, notification bitmaps,
// vcopy bookkeeping, deadlines and counters. It never reads a clock, a file or
// a socket: time is passed in (`now`), requests arrive as Call values, and
// everything that leaves the engine goes through an EngineSink. That makes it
// unit-testable with plain values (engine_test.cc) and lets any transport
// (host rings, UML rings, node links) drive it.
//
// Thread safety: none. One thread (the backend's event loop) owns an Engine.
//
// Invariants:
//  - Every Call submitted gets exactly one final EngineSink::Complete() with
//    its id, synchronously inside Submit() or later (delivery, timeout,
//    cancel, peer death, DC end), unless the caller process itself exits
//    (ProcessExited) or its domain goes away (DomainGone): then the
//    engine completes it with EDVSINTR so the transport can free the request.
//  - A process (ProcKey) is bound to at most one slot on this node, and has at
//    most one blocking request (send/receive/sendrec/rcvrqst/vcopy/wait4bind)
//    in flight; a second one completes at once with EDVSBUSY.
//  - Error codes are DVS's (dvk.h); success is 0 unless the call returns a
//    value (bind -> endpoint, getep -> endpoint, getdvsinfo -> node id).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "wire/vdvk_ring.h"

namespace vdvk {

using Nanos = int64_t;      // monotonic time in nanoseconds, supplied by the caller
using RequestId = uint64_t; // chosen by the transport, unique among pending requests

// Who is calling. domain 0 is the host's pid namespace (pid = host tgid);
// every UML guest attachment gets its own domain (pid = guest tgid).
struct ProcKey {
  uint32_t domain = 0;
  int32_t pid = 0;
  friend auto operator<=>(const ProcKey&, const ProcKey&) = default;
};

// One DVK call, already decoded and validated for shape by the transport
// (opcode in range, buffers present). Semantic checks are the engine's.
struct Call {
  RequestId id = 0;
  ProcKey caller;
  uint32_t op = 0;               // VDVK_OP_* (== DVS call number)
  int64_t timeout_ms = -1;       // TIMEOUT_FOREVER (-1), TIMEOUT_NOWAIT (0), or ms
  int32_t arg[7] = {};           // per op, see the table below
  uint64_t addr[2] = {};         // vcopy: src_addr, dst_addr (caller-relative)
  vdvk_msg msg{};                // send/sendrec/reply
  char name[16] = {};            // bind: the bound process' name (comm), NUL-padded
  std::span<const uint8_t> in;   // dc_init: vdvk_dc_init bytes
};
// Argument table (arg[i]):
//  DCINIT      in = vdvk_dc_init                   -> out vdvk_dc_info
//  DCEND       0 dcid
//  SEND        0 dst_ep                 msg
//  RECEIVE     0 src_ep (or ANY)                   -> msg
//  SENDREC     0 ep                     msg        -> msg (the reply)
//  RCVRQST                                         -> msg
//  REPLY       0 dst_ep                 msg
//  NOTIFY      0 src_nr (or SELF/HARDWARE) 1 dst_ep 2 value
//  BIND        0 cmd 1 dcid 2 pid 3 ep 4 nodeid    -> returns ep
//  UNBIND      0 dcid 1 ep
//  GETEP       0 pid                               -> returns ep
//  WAIT4BIND   0 cmd (WAIT_BIND/WAIT_UNBIND) 1 ep (or SELF)
//  VCOPY       0 src_ep 1 dst_ep 2 bytes   addr[0] src, addr[1] dst
//  GETDCINFO   0 dcid                              -> out vdvk_dc_info
//  GETPROCINFO 0 dcid 1 nr                         -> out vdvk_proc_info
//  GETNODEINFO 0 nodeid                            -> out vdvk_node_info
//  GETDVSINFO                                      -> out vdvk_dvs_info, returns node id
//  ADDNODE / DELNODE  0 dcid 1 nodeid
//  WAKEUPEP    0 dcid 1 ep
//  DVSINIT     0 nodeid   (the backend is the DVS: EDVSDVSINIT)
//  others                                          -> EDVSNOSYS

struct Completion {
  RequestId id = 0;
  int32_t result = 0;            // >= 0 success, < 0 EDVS*
  const vdvk_msg* msg = nullptr; // set when a message is delivered to the caller
  std::span<const uint8_t> out;  // info structs; valid only during Complete()
};

// A vcopy the engine has authorised: both parties are marked busy until the
// transport calls Engine::VcopyDone(id, result). Addresses are each party's own.
struct VcopyGrant {
  RequestId id = 0;
  ProcKey caller;
  ProcKey src;
  uint64_t src_addr = 0;
  ProcKey dst;
  uint64_t dst_addr = 0;
  uint32_t bytes = 0;
};

// Node links (remote endpoints). An operation whose target is a REMOTE slot
// leaves through EngineSink::ForwardToNode and its caller stays blocked until
// the transport reports Engine::RemoteResult: DVK's "a remote send blocks
// until the remote node acknowledges delivery". Operations from other nodes
// enter through Engine::SubmitRemote and end in EngineSink::RemoteDone once
// the local receiver took them (that is the acknowledgement).
//
// sendrec is one forwarded operation: the remote node acknowledges it only
// when the server's answer (reply, or a send/sendrec to the client) exists,
// and that answer travels back with the result. So a round trip costs one
// request/response on the link, and no answer can overtake its request.
// Automatic resolution (DVS needs an explicit rmtbind first): a send,
// sendrec, notify or vcopy whose target endpoint is FREE on this node, in a DC
// with other member nodes whose link is up, is parked and the engine asks
// those nodes who owns the endpoint (EngineSink::LookupOnNode, one question
// per node for all the calls parked on that endpoint). The first node that
// answers with its own id gets an automatic REMOTE slot and the parked calls
// are submitted again (so they forward to it); when every node said no (or
// went down) they are submitted again without asking and end with the error
// a free endpoint gives (EDVSDSTDIED, EDVSDEADSRCDST, ...). While parked a
// call times out, is cancelled or dies like any blocked call. A forwarded op
// that comes back saying the endpoint is gone there (EDVSDSTDIED,
// EDVSDEADSRCDST, EDVSSRCDIED, EDVSNOTBIND, EDVSENDPOINT, EDVSNOPROXY) drops
// an automatic REMOTE slot, so the next call resolves again. rmtbind slots
// are never dropped, and rmtbind replaces an automatic slot.
enum class RemoteKind : uint8_t { kSend = 0, kSendrec = 1, kReply = 2, kNotify = 3, kVcopy = 4 };

struct RemoteOp {
  uint64_t id = 0;          // ForwardToNode: chosen by the engine; SubmitRemote: by the transport
  int32_t node = -1;        // the other node (destination of a forward, source of a submit)
  RemoteKind kind = RemoteKind::kSend;
  int32_t dcid = 0;
  int32_t src_ep = 0;      // the sender (its node's local endpoint)
  int32_t dst_ep = 0;      // the target (bound locally on the receiving node)
  int64_t timeout_ms = -1;  // send/sendrec: applied by the receiving node
  int32_t notify_src = 0;   // notify: the caller's src_nr argument (SELF, HARDWARE or an nr)
  int32_t notify_value = 0; // notify: NOTIFY_ARG
  vdvk_msg msg{};           // send/sendrec/reply
  // vcopy: dst_ep is the party bound on the receiving node, src_ep the caller.
  bool vcopy_party_is_src = false;  // the receiving node's party is the source
  uint64_t vcopy_addr = 0;          // that party's address
  uint32_t vcopy_bytes = 0;
  ProcKey vcopy_local;              // ForwardToNode only: the caller node's party
  uint64_t vcopy_local_addr = 0;    // and its address (for the transport's copy)
  RequestId vcopy_request = 0;      // ForwardToNode only: the caller's request
  bool vcopy_local_is_caller = false;  // ForwardToNode only: vcopy_local made the call
};

// The half of a remote vcopy on the node of the non-caller party, authorised
// by SubmitRemote(kVcopy): that party is marked busy until the transport calls
// Engine::RemoteVcopyDone(node, op_id, result); the RemoteDone that follows
// is the acknowledgement the caller's node waits for.
struct RemoteVcopyGrant {
  int32_t node = -1;     // the caller's node
  uint64_t op_id = 0;    // the id SubmitRemote got
  ProcKey party;         // local process
  uint64_t addr = 0;
  uint32_t bytes = 0;
  bool party_is_src = false;
};

// RequestIds with this bit set are the engine's own (operations from other
// nodes); transports must choose ids below it.
inline constexpr RequestId kEngineRequestBit = RequestId{1} << 63;

// Where engine output goes. Calls happen synchronously from inside Engine
// methods; implementations must not call back into the Engine re-entrantly.
class EngineSink {
 public:
  virtual ~EngineSink() = default;
  virtual void Complete(const Completion& c) = 0;
  virtual void StartVcopy(const VcopyGrant& g) = 0;
  // A process got bound: the transport should watch it for exit (pidfd) and
  // call Engine::ProcessExited when it dies.
  virtual void ProcessBound(ProcKey who) = 0;
  // DVS sends SIGTERM to a local process unbound by another one.
  virtual void SignalProcess(ProcKey who, int signo) = 0;
  // Send op to op.node; answer with Engine::RemoteResult(op.id, ...). Only
  // called for nodes the transport marked up (SetNodeUp), so a transport
  // without node links never sees it.
  virtual void ForwardToNode(const RemoteOp& op) { (void)op; }
  // An operation from SubmitRemote is finished: tell node `node` that its op
  // `id` ended with `result`; `reply` is the answer to a sendrec.
  virtual void RemoteDone(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply) {
    (void)node, (void)id, (void)result, (void)reply;
  }
  // A forwarded op ended here before its answer came (the caller was
  // cancelled or died): the transport should withdraw it at node `node`
  // (Engine::WithdrawRemote there), so the message is not delivered after all.
  virtual void CancelForward(int32_t node, uint64_t op_id) { (void)node, (void)op_id; }
  // A vcopy from another node may move its bytes now (see RemoteVcopyGrant).
  virtual void StartRemoteVcopy(const RemoteVcopyGrant& g) { (void)g; }
  // Ask node `node` where endpoint ep of DC dcid is bound (Node.lookup);
  // answer with Engine::LookupResult(id, node, ...). Only called for nodes
  // marked up; every question must be answered (EDVSNOTCONN if the link
  // fails; a node going down counts as "no" too).
  virtual void LookupOnNode(int32_t node, uint64_t id, int32_t dcid, int32_t ep) {
    (void)node, (void)id, (void)dcid, (void)ep;
  }
  // A call changed DC dcid's membership here (dc_init, dc_end, add_node,
  // del_node): the transport may tell the other nodes (Node.dcViews).
  virtual void DcChanged(int32_t dcid, bool running, uint64_t nodes) {
    (void)dcid, (void)running, (void)nodes;
  }
};

struct EngineConfig {
  int32_t node_id = 0;
  std::string_view node_name = "node0";
  int32_t nr_dcs = 32;       // NR_DCS
  int32_t nr_nodes = 32;     // NR_NODES
  int32_t max_copybuf = 65536;
  int32_t max_copylen = 1 << 20;
  // DC 0 brought up at construction (DVS programs never create one).
  bool start_dc0 = true;
  int32_t dc0_nr_procs = 221;
  int32_t dc0_nr_tasks = 34;
  int32_t dc0_nr_sysprocs = 64;
  int32_t dc0_nr_nodes = 32;
  // Unbinding another local process sends it SIGTERM (DVS behaviour).
  bool sigterm_on_foreign_unbind = true;
};

// Counters for dvkctl / VDVK_OP_STATS (the transport adds its own).
struct EngineCounters {
  uint64_t messages = 0;   // messages delivered (send, sendrec, reply)
  uint64_t notifies = 0;   // notifications delivered
  uint64_t vcopies = 0;    // vcopies completed with success
  uint64_t vcopy_bytes = 0;
  uint64_t timeouts = 0;
  uint64_t deaths = 0;     // bound processes that exited
  uint64_t deadlocks = 0;  // EDVSLOCKED returned
};

class Engine {
 public:
  Engine(const EngineConfig& cfg, EngineSink* sink);  // sink outlives the engine
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Start a call. Completion (now or later) goes to the sink.
  void Submit(const Call& call, Nanos now);
  // Cancel a pending request (a signal in the caller): if still pending it
  // completes with EDVSINTR and leaves no trace (a queued message is NOT
  // delivered afterwards); if it already completed this does nothing.
  void Cancel(RequestId id, Nanos now);
  // The transport finished a granted vcopy (0 or EDVS*). Completes the vcopy.
  void VcopyDone(RequestId id, int32_t result, Nanos now);
  // A process exited: unbind it (peers blocked on it get EDVSSRCDIED /
  // EDVSDSTDIED), complete its own pending requests with EDVSINTR.
  void ProcessExited(ProcKey who, Nanos now);
  // Every process of a domain is gone (a UML guest died).
  void DomainGone(uint32_t domain, Nanos now);
  // ---- node links (see RemoteOp) ----
  // A link to `node` came up or went down. Down: every operation waiting on
  // that node (forwarded, or received from it and not yet taken) ends with
  // EDVSNOTCONN; its REMOTE slots stay, but traffic to them fails with
  // EDVSNOPROXY until the node is up again.
  void SetNodeUp(int32_t node, bool up, Nanos now);
  bool NodeUp(int32_t node) const;
  // Whether DC dcid runs here, and its member-node bitmap (0 if not).
  bool DcMembership(int32_t dcid, uint64_t* nodes) const;
  // The answer to a ForwardToNode op (unknown or stale ids are ignored).
  void RemoteResult(uint64_t op_id, int32_t result, const vdvk_msg* reply, Nanos now);
  // An operation from another node (already validated for shape).
  void SubmitRemote(const RemoteOp& op, Nanos now);
  // That node gave up on its op `id` (its caller went away, or the call's
  // connection dropped): if not acknowledged yet, it vanishes without being
  // delivered and without a RemoteDone.
  void WithdrawRemote(int32_t node, uint64_t id, Nanos now);
  // The bytes of a StartRemoteVcopy grant moved (0) or failed (EDVS*).
  void RemoteVcopyDone(int32_t node, uint64_t op_id, int32_t result, Nanos now);
  // Where endpoint ep of DC dcid lives: this node's id, a remote node id, or EDVS*.
  int32_t LookupEndpoint(int32_t dcid, int32_t ep) const;
  // Node `node`'s answer to LookupOnNode question `id`: its LookupEndpoint
  // result (only its own id counts as "owned there"). Unknown ids are ignored.
  void LookupResult(uint64_t id, int32_t node, int32_t result, Nanos now);

  // Expire deadlines <= now (EDVSTIMEDOUT).
  void Tick(Nanos now);
  // Earliest pending deadline, if any (for the transport's timer).
  std::optional<Nanos> NextDeadline() const;

  const EngineCounters& counters() const;
  int32_t node_id() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vdvk
