// backend.h - the host transport around the DVK engine.
//
// Thread safety: none; everything runs on one libev loop (the default loop,
// which also delivers SIGTERM/SIGINT).
//
// Invariants:
//  - An attachment's identity is the SO_PEERCRED pid of its socket, fixed at
//    accept time; nothing a client writes in the ring can change it.
//  - Every request handed to the engine has an entry in pending_ until its
//    final Complete(); completions for a detached attachment are dropped.
//  - The engine is never re-entered from inside an EngineSink callback: work
//    that needs the engine (bounce copies, detaches, exits) is queued in
//    deferred_ and run after the outer engine call returns.
//  - While the loop sleeps in ev_run, every ring has VDVK_SLEEPING set in
//    backend_flags and was re-checked after a full fence.
#pragma once

#include <ev.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "host-backend/engine/engine.h"
#include "host-backend/rings/guest_phys_copy.h"
#include "host-backend/nodes/link_api.h"
#include "host-backend/rings/copy_executor.h"
#include "host-backend/rings/guest_ring.h"
#include "host-backend/rings/ring_layout.h"
#include "host-backend/rings/shared_ring.h"

namespace vdvk::rings {

struct BackendConfig {
  int32_t node_id = 0;
  std::string socket_path;
  int64_t poll_us = 50;
  int64_t guest_poll_us = 0;  // after work from guest rings only (serve.cc)
  uint32_t default_sq_entries = kDefaultEntries;
  uint32_t default_cq_entries = kDefaultEntries;
  uint32_t nr_bufs = kDefaultNrBufs;
  uint32_t buf_size = kDefaultBufSize;
  double hello_timeout_s = 2.0;
  int32_t pin_timeout_ms = 5000;  // a guest's answer to a PIN request (guest_pin.cc)
};

// Transport-side counters (the engine keeps its own).
struct TransportCounters {
  uint64_t attach_total = 0;
  uint64_t detach_total = 0;
  uint64_t requests = 0;
  uint64_t completions = 0;
  uint64_t rejects = 0;
  uint64_t vcopy_zero_copy_bytes = 0;
  uint64_t vcopy_bounce_bytes = 0;
  uint64_t doorbells_sent = 0;
  uint64_t poll_hits = 0;
};

class Backend final : public EngineSink, public nodes::LinkIn, public nodes::GuestPartyIo {
 public:
  Backend(const BackendConfig& cfg, const EngineConfig& ecfg, struct ev_loop* loop);
  ~Backend() override;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // Binds and listens on cfg.socket_path (a stale socket file is removed:
  // the caller holds the instance lock). Returns false with *error set.
  bool Listen(std::string* error);
  // Creates and serves a UML guest ring (guest_ring.cc); call before Run().
  // Each gets the next domain (1, 2, ...). Returns false with *error set.
  bool AddGuestRing(const std::string& path, const std::string& user, std::string* error);
  // Runs the loop until SIGTERM/SIGINT. Returns the exit code.
  int Run();

  // EngineSink
  void Complete(const Completion& c) override;
  void StartVcopy(const VcopyGrant& g) override;
  void ProcessBound(ProcKey who) override;
  void SignalProcess(ProcKey who, int signo) override;
  void ForwardToNode(const RemoteOp& op) override;
  void RemoteDone(int32_t node, uint64_t id, int32_t result, const vdvk_msg* reply) override;
  void CancelForward(int32_t node, uint64_t op_id) override;
  void StartRemoteVcopy(const RemoteVcopyGrant& g) override;
  void LookupOnNode(int32_t node, uint64_t id, int32_t dcid, int32_t ep) override;
  void DcChanged(int32_t dcid, bool running, uint64_t nodes) override;

  // Node links (backend_links.cc). `out` outlives the Backend's loop run.
  void SetLinkOut(nodes::LinkOut* out) { link_out_ = out; }
  void NodeState(int32_t node, bool up) override;
  void RemoteResult(uint64_t op_id, int32_t result, const vdvk_msg* reply) override;
  void RemoteOpArrived(const RemoteOp& op) override;
  void RemoteOpWithdrawn(int32_t node, uint64_t id) override;
  void LookupArrived(uint64_t id, int32_t dcid, int32_t ep) override;
  void RemoteVcopyDone(int32_t node, uint64_t id, int32_t result) override;
  void LookupResult(uint64_t id, int32_t node, int32_t result) override;
  void DcViewsArrived(int32_t node, const std::vector<nodes::DcView>& views) override;
  void LinkBatchDone() override;
  // GuestPartyIo (guest_link_vcopy.cc): chunks of cross-node vcopies with a
  // party in one of our guests.
  int32_t CopyGuestParty(const nodes::VcopyPartyKey& key, uint64_t off, uint8_t* buf, uint32_t len,
                         bool to_party) override;

 private:
  struct Attachment;
  struct Greeting;
  struct PidWatch;
  struct Pending {
    uint64_t attach_id = 0;
    uint64_t tag = 0;
    uint16_t buf_index = 0;
    uint32_t buf_len = 0;
    uint32_t op = 0;
    bool granted = false;  // a grant CQE went out; VCOPY_DONE expected
    VcopyGrant grant;
    PhysLists phys;        // guest VCOPY: the caller's pinned pages (validated)
  };
  // A guest's pin of one range (guest_pin.cc), released by an UNPIN CQE.
  struct PinHold {
    uint32_t domain = 0;
    uint64_t pin_id = 0;
  };
  struct Deferred {
    enum Kind { kBounce, kExited, kDetach, kGuestCopy, kFail, kLinkFail } kind;
    VcopyGrant grant;       // kBounce, kGuestCopy, kFail
    // kGuestCopy: the pages of each guest side (empty for a host side).
    std::vector<vdvk_phys_extent> src_ext, dst_ext;
    int32_t result = 0;                 // kFail: VcopyDone with this code
    // kGuestCopy/kFail after peer pins: released once the copy is over; the
    // copy is skipped if the caller stopped waiting meanwhile.
    std::vector<PinHold> unpin;
    bool after_pins = false;
    ProcKey who;            // kExited
    uint64_t attach_id = 0; // kDetach
    uint32_t reason = 0;    // kDetach
    nodes::VcopyPartyKey link;  // kLinkFail: the cross-node vcopy that ends with `result`
  };

  static Nanos Now();
  // Runs f (which calls the engine), then deferred work and the timer.
  template <class F> void WithEngine(F&& f);
  void RunDeferred();
  void RearmTimer();

  // Attach path
  static void OnListen(struct ev_loop* loop, ev_io* w, int revents);
  static void OnHello(struct ev_loop* loop, ev_io* w, int revents);
  static void OnHelloTimeout(struct ev_loop* loop, ev_timer* w, int revents);
  void DropGreeting(Greeting* g);
  void FinishAttach(Greeting* g);
  static void OnSocket(struct ev_loop* loop, ev_io* w, int revents);
  static void OnKick(struct ev_loop* loop, ev_io* w, int revents);
  static void OnPidExit(struct ev_loop* loop, ev_io* w, int revents);
  static void OnTimer(struct ev_loop* loop, ev_timer* w, int revents);
  static void OnBacklogRetry(struct ev_loop* loop, ev_timer* w, int revents);
  static void OnResume(struct ev_loop* loop, ev_idle* w, int revents);
  static void OnSignal(struct ev_loop* loop, ev_signal* w, int revents);

  // Detach now, or queue it when called from inside the engine.
  // reason == VDVK_DEAD_NONE: orderly (EOF); otherwise a protocol violation.
  void Detach(uint64_t attach_id, uint32_t reason, const char* why);
  void DetachNow(uint64_t attach_id, uint32_t reason, const char* why);
  Attachment* Find(uint64_t attach_id);

  // Serving
  void ServeAll();
  // Entries consumed from all rings; *host_work (if given) gets those from
  // host-native clients.
  size_t ServeRound(size_t* host_work = nullptr);
  std::vector<uint64_t> serve_ids_;  // ServeRound's snapshot of attachment ids
  bool AnyWork();
  // Consumes the SQ of one attachment; returns entries consumed.
  size_t Serve(Attachment* a);
  // false: the attachment was dropped.
  bool HandleSqe(Attachment* a, const vdvk_sqe& sqe);
  void SubmitCall(Attachment* a, const vdvk_sqe& sqe, int32_t early_error);
  void HandleVcopyDone(Attachment* a, const vdvk_sqe& sqe);
  void FillStats(uint8_t* out);
  void PostCqe(Attachment* a, const vdvk_cqe& cqe);
  void FlushBacklog(Attachment* a);
  void SetAllSleeping(bool sleeping);
  void Shutdown();

  // Guest rings (guest_ring.cc)
  void AttachGuest(GuestRing* g);
  void WatchGuestPid(Attachment* a);
  static void OnGuestPidExit(struct ev_loop* loop, ev_io* w, int revents);
  // Guest memory through PATH.mem (guest_memory_socket.cc): maps what the
  // claimant sends, refuses (and logs) anything else; reads until nothing waits.
  static void OnGuestMemory(struct ev_loop* loop, ev_io* w, int revents);
  void TakeGuestMemory(GuestRing* g);
  // The guest of g died: end its domain, reset the ring (made anew if the
  // guest shrank it), wait for the next.
  void GuestGone(GuestRing* g);
  // Detaches guests that shrank a file we map (fault_guard.h); cheap when
  // none did. Called after each round of serving.
  void DropShrunkGuests();
  void GuestDetachNow(std::unique_ptr<Attachment> a, const char* why);
  void HandleProcExit(Attachment* a, const vdvk_sqe& sqe);
  // Guest vcopy (guest_ring.cc): validates the pinned-page list of a guest
  // VCOPY at submission (0, or the code to answer at once), and plans the
  // copy once the engine granted it (a deferred kGuestCopy or kFail).
  int32_t PrepareGuestVcopy(Attachment* a, const vdvk_sqe& sqe, PhysLists* out);
  void PlanGuestVcopy(const VcopyGrant& g, const Pending* p);
  int32_t RunGuestCopy(const Deferred& d);
  // The guest ring of a domain, its memory, its live attachment (nullptr if none).
  GuestRing* GuestOf(uint32_t domain);
  // g's ring, wherever it is held: by its live attachment, else by g.
  SharedRing* RingOf(GuestRing* g);
  GuestMemory* MemoryOf(uint32_t domain);
  Attachment* GuestAttachment(uint32_t domain);

  // Peer pins (guest_pin.cc): a vcopy party inside a guest that is not the
  // caller is pinned by its guest kernel on request (VDVK_CQE_F_PIN).
  struct PinJob {
    VcopyGrant grant;
    std::vector<vdvk_phys_extent> src_ext, dst_ext;  // a guest caller's side comes filled
    int waiting = 0;         // PIN_DONEs still to come
    int32_t result = 0;      // the first failure
    std::vector<PinHold> held;
  };
  struct PinWait {
    uint32_t domain = 0;
    RequestId job = 0;
    bool src_side = false;
    uint64_t bytes = 0;
    std::optional<nodes::VcopyPartyKey> link;  // a cross-node vcopy's party, not a job
    Nanos deadline{};  // unanswered by then: the pin fails with EDVSTIMEDOUT
  };
  // Registers w as pin `*id` of [addr, +bytes) of `who` and fills the PIN
  // CQE for the caller to post (after its own bookkeeping: posting can detach
  // the guest, which answers the pin at once). 0, or why it cannot be asked.
  int32_t PreparePin(const ProcKey& who, uint64_t addr, uint32_t bytes, const PinWait& w, uint64_t* id,
                     Attachment** a, vdvk_cqe* cqe);
  // Asks domain's guest to pin one side of job g; 0, or why it cannot be asked.
  int32_t RequestPin(const VcopyGrant& g, bool src_side);
  void HandlePinDone(Attachment* a, const vdvk_sqe& sqe);
  // One pin answered (extents, or result < 0 and no pages held).
  void PinAnswered(uint64_t pin_id, int32_t result, std::vector<vdvk_phys_extent> ext);
  // The guest of `domain` is gone: its outstanding pins fail.
  void FailPinsOf(uint32_t domain);
  void ReleasePins(const std::vector<PinHold>& holds);
  // Pins unanswered past their deadline fail; a late answer is released.
  static void OnPinTimer(struct ev_loop* loop, ev_timer* w, int revents);
  void ArmPinTimer();
  void ExpirePins();
  ev_timer pin_timer_w_;
  std::map<uint64_t, uint32_t> late_pins_;  // pin id -> domain: timed out, answer still due

  // Guest parties of cross-node vcopies (guest_link_vcopy.cc). The link layer
  // moves the bytes chunk by chunk (CopyGuestParty); the pages are either
  // the guest caller's own (pinned with its VCOPY, valid while it waits) or
  // pinned for the purpose by a peer pin, released when the vcopy ends.
  struct LinkParty {
    int32_t node = 0;        // the other node of the vcopy
    uint32_t domain = 0;
    uint64_t attach_id = 0;  // the guest instance the pages belong to
    bool src = false;        // the party is the copy's source
    std::vector<vdvk_phys_extent> ext;
    int32_t error = 0;      // set: every chunk fails with it
    uint64_t pin_id = 0;    // a peer pin: unanswered while !pinned
    bool pinned = false;    // the pin was granted: UNPIN when dropped
    // Waiting for the pin: what to start once the pages are there.
    std::optional<RemoteVcopyGrant> grant;
    std::optional<RemoteOp> forward;
  };
  // Sets up the guest party of a vcopy we forward; false when the forward
  // waits for a peer pin (sent from LinkPinAnswered).
  bool PrepareForwardedGuestParty(const RemoteOp& op);
  void StartGuestRemoteVcopy(const RemoteVcopyGrant& g);
  void LinkPinAnswered(const PinWait& w, uint64_t pin_id, int32_t result, std::vector<vdvk_phys_extent> ext);
  void FailLinkParty(const nodes::VcopyPartyKey& key, int32_t result);
  void DropLinkParty(const nodes::VcopyPartyKey& key);
  void LinkPartiesGuestGone(uint32_t domain);
  void LinkPartiesNodeDown(int32_t node);
  std::map<nodes::VcopyPartyKey, LinkParty> link_parties_;

  BackendConfig cfg_;
  std::string node_name_;
  struct ev_loop* loop_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<CopyExecutor> copier_;
  int listen_fd_ = -1;
  bool in_engine_ = false;
  bool draining_ = false;
  uint64_t next_attach_id_ = 1;
  uint64_t lost_seen_ = 0;  // fault_guard::LostCount() last looked at
  RequestId next_request_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Attachment>> attachments_;
  std::unordered_map<Greeting*, std::unique_ptr<Greeting>> greetings_;
  std::unordered_map<pid_t, std::unique_ptr<PidWatch>> pid_watches_;
  // ~Backend empties attachments_ first; destroying these unlinks the files.
  std::map<uint32_t, std::unique_ptr<GuestRing>> guests_;
  std::unordered_map<RequestId, Pending> pending_;
  std::deque<Deferred> deferred_;
  std::unordered_map<RequestId, PinJob> pin_jobs_;  // by the vcopy's request id
  std::unordered_map<uint64_t, PinWait> pin_waits_;  // by pin id
  uint64_t next_pin_id_ = 1;
  TransportCounters ctr_;
  ev_io listen_w_;
  ev_timer timer_w_;
  ev_timer backlog_w_;
  ev_idle resume_w_;  // pending ring work left to let other events run
  ev_signal sigterm_w_;
  ev_signal sigint_w_;
  int exit_code_ = 0;
  nodes::LinkOut* link_out_ = nullptr;
  // DC membership across nodes (dc_views.cc): each peer's latest view of
  // each DC, and the disagreement last logged per (node, dcid).
  void SendDcViewsTo(int32_t node);
  void CheckDcAgreement(int32_t node, int32_t dcid);
  std::map<std::pair<int32_t, int32_t>, nodes::DcView> peer_dc_views_;
  std::map<std::pair<int32_t, int32_t>, std::string> dc_disagreement_;
};

}  // namespace vdvk::rings
