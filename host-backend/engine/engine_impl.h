// engine_impl.h - internal state of the DVK engine (see engine.h).
//
// Thread safety: none; one thread owns an Engine.
//
// Data model:
//  - dcs_[d].slots[nr + nr_tasks] is a process slot. A bound slot records its
//    owner (ProcKey); bound_ maps the owner back to its slot.
//  - Every call that cannot complete at once becomes a Request in pool_,
//    recycled through free_. ids_ maps RequestId -> pool index and by_proc_
//    maps the caller -> pool index (at most one blocking request per
//    process). Both are open-addressing maps, so once warm the IPC path does
//    no heap allocation (engine_alloc_test checks it).
//  - A process blocked in send/sendrec/receive/rcvrqst has slot.req set and
//    its SENDING/RECEIVING/getfrom/sendto fields describe what it waits for.
//    Senders queued on a slot form a doubly linked FIFO through Request::next
//    and Request::prev (head/tail in the destination slot).
//  - Deadlines live in a binary min-heap with lazy deletion: an entry is
//    valid while its pool entry is live and has the same seq. Stale entries
//    at the top are pruned after every completion so NextDeadline() (const)
//    always reports a live deadline.
// Invariants:
//  - A pool entry is live iff it is in ids_ and by_proc_.
//  - A slot's req is a live IPC request of its owner, or -1.
//  - A completion leaves the engine only after its own request is fully
//    detached (queue links, slot flags, maps, heap top), so even a sink that
//    peeked at the engine would not see the finished request half-removed.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dvk/dvk.h"
#include "host-backend/engine/engine.h"
#include "host-backend/engine/flat_map.h"

namespace vdvk {

static_assert(sizeof(message) == sizeof(vdvk_msg), "dvk.h message matches the wire message");

inline constexpr Nanos kNoDeadline = std::numeric_limits<Nanos>::max();

struct ProcKeyHash {
  size_t operator()(const ProcKey& k) const noexcept {
    return static_cast<size_t>(MixBits((uint64_t{k.domain} << 32) | static_cast<uint32_t>(k.pid)));
  }
};
struct RequestIdHash {
  size_t operator()(RequestId id) const noexcept { return static_cast<size_t>(MixBits(id)); }
};

// The nr an endpoint designates (DVS _ENDPOINT_P), in 64-bit so that hostile
// values near INT32_MAX cannot overflow.
inline int64_t EndpointNr(int32_t ep) {
  const int64_t gen = static_cast<int64_t>(_ENDPOINT_GENERATION_SIZE);
  return ((static_cast<int64_t>(ep) + NR_TASKS) % gen) - NR_TASKS;
}

enum class SlotState : uint8_t { kFree, kLocal, kRemote };

struct Slot {
  SlotState state = SlotState::kFree;
  int32_t ep = NONE;
  ProcKey owner;
  int32_t lpid = -1;
  int32_t nodeid = -1;
  char name[16] = {};
  uint32_t rts = 0;           // SENDING | RECEIVING | ONCOPY (dvk.h bits)
  int32_t getfrom = NONE;
  int32_t sendto = NONE;
  bool reply_phase = false;   // sendrec: request delivered, waiting for the answer
  bool rcvrqst = false;       // blocked in rcvrqst: takes no notifications
  bool wakeup = false;        // WAKEUPEP arrived while not blocked
  bool auto_remote = false;   // REMOTE slot made by the engine (lookup, first contact), not rmtbind
  int32_t req = -1;           // own blocking IPC request (pool index)
  int32_t q_head = -1;        // senders queued on this slot (pool indices)
  int32_t q_tail = -1;
  uint64_t lclsent = 0;
  uint64_t lclcopy = 0;
  // Pending notifications by source index (nr + nr_tasks; the last index is
  // HARDWARE when the DC has no task slots). Sized lazily on first notify,
  // since only system slots may receive them.
  std::vector<uint64_t> ntfy_bits;
  std::vector<int32_t> ntfy_value;
  std::vector<int32_t> ntfy_src;  // m_source to deliver (the notifier's endpoint)
  uint32_t ntfy_count = 0;
};

struct Dc {
  bool running = false;
  int32_t id = 0;
  int32_t nr_procs = 0;
  int32_t nr_tasks = 0;
  int32_t nr_sysprocs = 0;
  int32_t nr_nodes = 0;
  int32_t max_copylen = 0;
  int32_t pid = 0;
  uint64_t nodes = 0;
  char name[16] = {};
  std::vector<Slot> slots;

  int32_t nr_slots() const { return nr_procs + nr_tasks; }
  // Slot index for an nr, or -1 when out of [-nr_tasks, nr_procs).
  int32_t IndexOfNr(int64_t nr) const {
    if (nr < -nr_tasks || nr >= nr_procs) return -1;
    return static_cast<int32_t>(nr + nr_tasks);
  }
  bool IsSystem(int32_t idx) const { return idx < nr_sysprocs; }
};

struct SlotRef {
  int32_t dc = -1;
  int32_t idx = -1;
  bool valid() const { return dc >= 0; }
};

// kForward: a reply or notify sent to another node, waiting for its ack (it
// holds no slot state: the caller is not blocked in IPC by DVK's rules).
// kResolve: a call parked until the other nodes said who owns its target
// (resolve.cc); it holds no slot state either, and is submitted again then.
enum class Kind : uint8_t {
  kSend, kSendrec, kReceive, kRcvrqst, kVcopy, kWaitBind, kWaitUnbind, kForward, kResolve
};

// The owner key of a REMOTE slot: such slots take part in IPC like local ones
// (their pending operations from the other node are Requests of this key), but
// are never in bound_. Domains this high are never a transport's.
inline constexpr uint32_t kRemoteDomainBase = 0xff000000u;
inline ProcKey RemoteKey(int32_t dc, int32_t idx) {
  return ProcKey{kRemoteDomainBase + static_cast<uint32_t>(dc), idx};
}

struct Request {
  bool live = false;
  Kind kind = Kind::kSend;
  uint64_t seq = 0;
  RequestId id = 0;
  ProcKey caller;
  SlotRef slot;               // caller's slot when bound
  Nanos deadline = kNoDeadline;
  // Queued send/sendrec: the destination slot index and FIFO links.
  int32_t queued_on = -1;
  int32_t next = -1;
  int32_t prev = -1;
  vdvk_msg msg{};             // queued message, m_source already the sender's ep
  // wait4bind: target DC and endpoint (SELF: the caller itself).
  int32_t wait_dc = 0;
  int32_t wait_ep = NONE;
  // vcopy
  SlotRef vsrc, vdst;
  ProcKey vsrc_owner, vdst_owner;
  uint32_t bytes = 0;
  // Forwarded to another node (ForwardToNode): which node, our op id, and
  // the endpoint whose answer a sendrec waits for.
  int32_t fwd_node = -1;
  uint64_t fwd_op = 0;
  int32_t fwd_dst = 0;
  // kResolve: the lookup it waits for.
  uint64_t lookup_id = 0;
};

struct HeapEntry {
  Nanos deadline;
  uint64_t seq;
  int32_t idx;
  bool operator>(const HeapEntry& o) const { return deadline > o.deadline; }
};

struct Engine::Impl {
  Impl(const EngineConfig& cfg, EngineSink* sink);

  // ---- engine.cc: dispatch, privileges, immediate completion ----
  void Submit(const Call& c, Nanos now);
  void Done(const Call& c, int32_t result, std::span<const uint8_t> out = {});
  void DoneMsg(const Call& c, const vdvk_msg& m);
  const SlotRef* BoundSlot(ProcKey k) const;
  Slot& SlotAt(SlotRef r) { return dcs_[r.dc].slots[r.idx]; }

  // ---- requests.cc: pending request lifecycle and deadlines ----
  int32_t NewRequest(const Call& c, Kind k, SlotRef caller_slot, Nanos now, bool timed = true);
  int32_t PendingOf(ProcKey k) const;
  void Finish(int32_t idx, int32_t result, const vdvk_msg* msg = nullptr);
  void Detach(int32_t idx);  // remove from queues/state, keep pool entry
  void Release(int32_t idx);
  void Enqueue(int32_t dst_dc, int32_t dst_idx, int32_t req);
  void Unqueue(int32_t req);
  void PruneHeap();
  void Tick(Nanos now);
  std::optional<Nanos> NextDeadline() const;
  void Cancel(RequestId id);

  // ---- ipc.cc ----
  struct Target {
    int32_t err = 0;
    int32_t idx = -1;
    bool free = false;  // err is the free-slot error: nobody is bound there on this node
  };
  Target Resolve(const Dc& dc, int32_t ep, int32_t self_ep, int32_t free_err) const;
  bool CanDeliver(const Slot& s, int32_t from_ep) const;
  bool WouldDeadlock(const Dc& dc, int32_t caller_idx, int32_t target_idx) const;
  void DeliverTo(Slot& dst, Slot& sender, const vdvk_msg& msg, int32_t sender_ep);
  void DoSend(const Call& c, SlotRef me, Nanos now, bool sendrec);
  void DoReceive(const Call& c, SlotRef me, Nanos now, bool rcvrqst);
  void DoReply(const Call& c, SlotRef me);
  bool WaitsForAnswerFrom(const Slot& s, int32_t from_ep) const;

  // ---- remote.cc: node links ----
  void Emit(const Completion& comp);
  void Forward(const Call& c, SlotRef me, int32_t dst_idx, RemoteKind kind, Nanos now);
  void SetNodeUp(int32_t node, bool up, Nanos now);
  bool NodeUp(int32_t node) const;
  void RemoteResult(uint64_t op_id, int32_t result, const vdvk_msg* reply);
  void SubmitRemote(const RemoteOp& op, Nanos now);
  void WithdrawRemote(int32_t node, uint64_t id);
  int32_t BindRemote(int32_t dcid, int32_t idx, int32_t ep, int32_t node, const char* name);
  int32_t LookupEndpoint(int32_t dcid, int32_t ep) const;
  bool DcMembership(int32_t dcid, uint64_t* nodes) const;
  bool TakeQueued(const Call& c, Dc& dc, SlotRef me, int32_t src_ep);
  void DropStaleAutoSlot(int32_t dcid, int32_t ep, int32_t node, int32_t result);

  // ---- resolve.cc: which node owns a free endpoint (Node.lookup) ----
  bool TryPark(const Call& c, SlotRef me, int32_t ep, Nanos now);
  void LookupResult(uint64_t id, int32_t node, int32_t result, Nanos now);
  void ResolveDone(uint64_t id, int32_t owner, Nanos now);
  void LookupsNodeDown(int32_t node, Nanos now);
  void Unpark(int32_t idx);

  // ---- notify.cc ----
  void DoNotify(const Call& c, SlotRef me, Nanos now);
  bool TakeNotification(const Call& c, const Dc& dc, Slot& me, int32_t src_ep, Nanos now);
  void BuildNotify(vdvk_msg* m, int32_t src_ep, int32_t src_nr, int32_t value, Nanos now) const;
  void ClearNotifyFrom(Dc& dc, int32_t src_index);
  void DoWakeup(const Call& c);

  // ---- vcopy.cc ----
  void DoVcopy(const Call& c, SlotRef me, Nanos now);
  void VcopyDone(RequestId id, int32_t result);
  void ClearOnCopy(const Request& r);
  void ForwardVcopy(const Call& c, SlotRef me, int32_t src_idx, int32_t dst_idx);
  void DoRemoteVcopy(const Call& c, const RemoteOp& op, SlotRef me);
  void RemoteVcopyDone(int32_t node, uint64_t op_id, int32_t result);

  // ---- bind.cc ----
  void DoBind(const Call& c);
  void DoUnbind(const Call& c, const SlotRef* me);
  void DoGetEp(const Call& c);
  void DoWait4Bind(const Call& c, const SlotRef* me, Nanos now);
  void WakeBindWaiters(int32_t dc, int32_t idx);
  void FreeSlot(int32_t dc, int32_t idx, int32_t owner_err);
  void ProcessExited(ProcKey who);
  void DomainGone(uint32_t domain);

  // ---- dc.cc ----
  int32_t StartDc(const vdvk_dc_init& in, int32_t pid);
  void DoDcInit(const Call& c);
  void DoDcEnd(const Call& c);
  void DoNodeChange(const Call& c, bool add);

  // ---- info.cc ----
  void FillDcInfo(const Dc& dc, vdvk_dc_info* out) const;
  void DoGetDcInfo(const Call& c);
  void DoGetProcInfo(const Call& c);
  void DoGetNodeInfo(const Call& c);
  void DoGetDvsInfo(const Call& c);

  EngineConfig cfg_;
  std::string node_name_;  // cfg_.node_name points at caller storage: own a copy
  EngineSink* sink_;
  EngineCounters counters_;
  std::vector<Dc> dcs_;
  FlatMap<ProcKey, SlotRef, ProcKeyHash> bound_{256};
  std::vector<Request> pool_;
  std::vector<int32_t> free_;
  FlatMap<RequestId, int32_t, RequestIdHash> ids_{256};
  FlatMap<ProcKey, int32_t, ProcKeyHash> by_proc_{256};
  std::vector<int32_t> waiters_;  // wait4bind requests (few; scanned linearly)
  std::vector<HeapEntry> heap_;
  size_t timed_live_ = 0;  // live requests with a deadline (all have a heap entry)
  uint64_t next_seq_ = 1;
  // Node links. Maps on these paths may allocate: a remote operation costs a
  // network round trip anyway.
  uint64_t nodes_up_ = 0;                             // bit n: a link to node n is up
  uint64_t node_sent_[64] = {};                       // ops forwarded to node n (getnodeinfo)
  uint64_t node_rcvd_[64] = {};                       // ops received from node n
  uint64_t next_fwd_op_ = 1;
  std::unordered_map<uint64_t, int32_t> fwd_ops_;     // our forwarded op id -> pool index
  struct Incoming {
    int32_t node;
    uint64_t peer_id;
  };
  std::unordered_map<RequestId, Incoming> incoming_;  // engine request id -> its origin
  RequestId next_incoming_ = 1;
  bool from_remote_ = false;  // inside SubmitRemote: never forward again (no multi-hop)
  // Automatic resolution (resolve.cc): one lookup per (dc, ep) in flight,
  // asked of every up member node; the calls parked on it are resubmitted
  // once an owner answered or every node said no.
  struct Parked {
    int32_t idx;    // the kResolve request
    uint64_t seq;   // its seq, so a recycled pool entry is never mistaken for it
    Call call;
  };
  struct Lookup {
    int32_t dc = 0;
    int32_t ep = NONE;
    uint64_t waiting = 0;  // nodes asked that have not answered
    std::vector<Parked> parked;
  };
  std::unordered_map<uint64_t, Lookup> lookups_;
  uint64_t next_lookup_ = 1;
  // While resubmitting calls whose lookup found no owner: do not ask again.
  int32_t no_resolve_dc_ = -1;
  int32_t no_resolve_ep_ = NONE;
};

}  // namespace vdvk
