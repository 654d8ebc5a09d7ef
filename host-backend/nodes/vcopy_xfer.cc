#include "host-backend/nodes/vcopy_xfer.h"

#include <sys/uio.h>

#include <kj/debug.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "dvk/dvk.h"

namespace vdvk::nodes {
namespace {

int32_t MapErrno(int err, bool src_side) {
  switch (err) {
    case ESRCH: return src_side ? EDVSSRCDIED : EDVSDSTDIED;
    case EPERM: return EDVSPERM;
    case ENOMEM: return EDVSNOMEM;
    default: return EDVSFAULT;
  }
}

// Guests (domain != 0) are reached through their own memory, not by pid.
bool HostProcess(ProcKey who) { return who.domain == 0 && who.pid > 0; }

// The length of the chunk at `off` of a copy of `bytes` (off < bytes).
uint32_t ChunkLen(uint64_t bytes, uint64_t off) {
  return static_cast<uint32_t>(std::min<uint64_t>(kVcopyChunk, bytes - off));
}

// What a peer may ask to move in one call: 1..kVcopyChunk bytes at `off`,
// inside a copy of `bytes`.
bool ChunkInRange(uint64_t off, uint64_t n, uint64_t bytes) {
  return n > 0 && n <= kVcopyChunk && off <= bytes && n <= bytes - off;
}

// Streams [off, bytes) of our `party` as capnp streaming calls, one per
// chunk, each made by `request(off, n)` (a request with `data` to fill),
// as capnp's window allows. Resolves with 0 once every chunk is on its way;
// a read error ends the stream with `failed(off, err)` (that chunk is not
// sent). Rejects if a call fails.
template <class MakeRequest, class OnReadError>
kj::Promise<int32_t> StreamParty(PartyRef party, uint32_t bytes, uint64_t off, MakeRequest request,
                                 OnReadError failed) {
  if (off >= bytes) return int32_t{0};
  const uint32_t n = ChunkLen(bytes, off);
  auto req = request(off, n);
  const int32_t err = ReadParty(party, off, req.initData(n));
  if (err != 0) return failed(off, err);
  return req.send().then(
      [party, bytes, off, n, request = kj::mv(request), failed = kj::mv(failed)]() mutable {
        return StreamParty(party, bytes, off + n, kj::mv(request), kj::mv(failed));
      });
}

class ChunkPeerImpl final : public wire::ChunkPeer::Server {
 public:
  ChunkPeerImpl(const PartyRef& party, uint32_t bytes, bool callee_writes,
                kj::Own<kj::PromiseFulfiller<int32_t>> landed)
      : party_(party), bytes_(bytes), callee_writes_(callee_writes), landed_(kj::mv(landed)) {}
  // The last reference: capnp drops it once the callee released the peer and
  // every write it sent has run, so no byte can land after this.
  ~ChunkPeerImpl() { Settle(err_ != 0 ? err_ : EDVSFAULT); }

 protected:
  kj::Promise<void> read(ReadContext ctx) override {
    const uint64_t off = ctx.getParams().getOffset();
    const uint32_t n = ctx.getParams().getBytes();
    KJ_REQUIRE(!callee_writes_, "read from a vcopy destination");
    KJ_REQUIRE(ChunkInRange(off, n, bytes_), "read out of range", off, n);
    auto r = ctx.getResults(capnp::MessageSize{n / 8 + 16, 0});
    const int32_t err = ReadParty(party_, off, r.initData(n));
    if (err != 0) r.setData(nullptr);
    r.setResult(err);
    return kj::READY_NOW;
  }

  kj::Promise<void> write(WriteContext ctx) override {
    const uint64_t off = ctx.getParams().getOffset();
    auto data = ctx.getParams().getData();
    KJ_REQUIRE(callee_writes_, "write to a vcopy source");
    KJ_REQUIRE(ChunkInRange(off, data.size(), bytes_), "write out of range", off, data.size());
    // Keep the first error (it settles the copy at once); later chunks are
    // dropped. So are writes once the copy is settled: the caller's engine
    // may have handed the party's memory back.
    if (!landed_->isWaiting()) return kj::READY_NOW;
    if (err_ == 0) err_ = WriteParty(party_, off, data);
    if (err_ != 0) {
      Settle(err_);
    } else {
      written_ += data.size();
      if (written_ == bytes_) Settle(0);
    }
    return kj::READY_NOW;
  }

 private:
  void Settle(int32_t result) {
    if (landed_->isWaiting()) landed_->fulfill(kj::mv(result));
  }

  PartyRef party_;
  uint32_t bytes_;
  bool callee_writes_;
  kj::Own<kj::PromiseFulfiller<int32_t>> landed_;
  uint64_t written_ = 0;
  int32_t err_ = 0;
};

// Our party is the source: stream chunks into the peer, one capnp streaming
// call each (capnp keeps a window in flight). The caller learns the write
// errors itself (ChunkPeerHandle::landed), so no done() call follows: that
// saved a round trip between the nodes per vcopy.
kj::Promise<int32_t> Push(const RemoteVcopyGrant& g, const PartyRef& party, wire::ChunkPeer::Client peer) {
  auto request = [peer = kj::mv(peer)](uint64_t off, uint32_t n) mutable {
    auto req = peer.writeRequest(capnp::MessageSize{n / 8 + 16, 0});
    req.setOffset(off);
    return req;
  };
  // The copy's result is the read error: the answer to vcopyRemote carries it.
  auto failed = [](uint64_t, int32_t err) { return kj::Promise<int32_t>(err); };
  return StreamParty(party, g.bytes, 0, kj::mv(request), failed);
}

// Our party is the destination: keep kVcopyWindow reads in flight.
struct Pull {
  RemoteVcopyGrant g;
  PartyRef party;
  wire::ChunkPeer::Client peer;
  uint64_t next = 0;
  uint64_t landed = 0;
  int32_t err = 0;
  int inflight = 0;
  kj::Own<kj::PromiseFulfiller<int32_t>> finished;

  Pull(const RemoteVcopyGrant& grant, const PartyRef& who, wire::ChunkPeer::Client p)
      : g(grant), party(who), peer(kj::mv(p)) {}

  void Fill(kj::TaskSet& ts) {
    while (err == 0 && inflight < kVcopyWindow && next < g.bytes) {
      const uint64_t off = next;
      const uint32_t n = ChunkLen(g.bytes, off);
      next += n;
      ++inflight;
      auto req = peer.readRequest();
      req.setOffset(off);
      req.setBytes(n);
      ts.add(req.send().then([this, off, n, &ts](capnp::Response<wire::ChunkPeer::ReadResults>&& r) {
        --inflight;
        if (err == 0) {
          if (r.getResult() != 0) {
            err = r.getResult() > 0 ? EDVSBADVALUE : r.getResult();
          } else if (r.getData().size() != n) {
            err = EDVSBADVALUE;
          } else {
            err = WriteParty(party, off, r.getData());
            if (err == 0) landed += n;
          }
        }
        Fill(ts);
        Check();
      }));
    }
  }
  void Check() {
    if (finished->isWaiting() && (inflight == 0) && (err != 0 || landed == g.bytes)) {
      finished->fulfill(kj::cp(err));
    }
  }
};

class PullErrors final : public kj::TaskSet::ErrorHandler {
 public:
  explicit PullErrors(Pull* p) : p_(p) {}
  void taskFailed(kj::Exception&& e) override {
    spdlog::debug("node links: vcopy read failed: {}", e.getDescription().cStr());
    // A read that failed on the link: the copy cannot complete.
    --p_->inflight;
    if (p_->err == 0) p_->err = EDVSNOTCONN;
    p_->Check();
  }

 private:
  Pull* p_;
};

}  // namespace

int32_t ReadProcess(ProcKey who, uint64_t addr, kj::ArrayPtr<kj::byte> out) {
  size_t got = 0;
  while (got < out.size()) {
    iovec local{out.begin() + got, out.size() - got};
    iovec remote{reinterpret_cast<void*>(addr + got), out.size() - got};
    const ssize_t n = process_vm_readv(who.pid, &local, 1, &remote, 1, 0);
    if (n < 0) return MapErrno(errno, true);
    if (n == 0) return EDVSFAULT;
    got += static_cast<size_t>(n);
  }
  return 0;
}

int32_t WriteProcess(ProcKey who, uint64_t addr, kj::ArrayPtr<const kj::byte> in) {
  size_t put = 0;
  while (put < in.size()) {
    iovec local{const_cast<kj::byte*>(in.begin()) + put, in.size() - put};
    iovec remote{reinterpret_cast<void*>(addr + put), in.size() - put};
    const ssize_t n = process_vm_writev(who.pid, &local, 1, &remote, 1, 0);
    if (n < 0) return MapErrno(errno, false);
    if (n == 0) return EDVSFAULT;
    put += static_cast<size_t>(n);
  }
  return 0;
}

int32_t ReadParty(const PartyRef& p, uint64_t off, kj::ArrayPtr<kj::byte> out) {
  if (HostProcess(p.who)) return ReadProcess(p.who, p.addr + off, out);
  if (p.who.domain == 0 || p.io == nullptr) return EDVSPERM;
  return p.io->CopyGuestParty(p.key, off, out.begin(), static_cast<uint32_t>(out.size()), false);
}

int32_t WriteParty(const PartyRef& p, uint64_t off, kj::ArrayPtr<const kj::byte> in) {
  if (HostProcess(p.who)) return WriteProcess(p.who, p.addr + off, in);
  if (p.who.domain == 0 || p.io == nullptr) return EDVSPERM;
  // CopyGuestParty only reads buf when copying into the party.
  return p.io->CopyGuestParty(p.key, off, const_cast<kj::byte*>(in.begin()), static_cast<uint32_t>(in.size()),
                              true);
}

PushSink::~PushSink() noexcept(false) {
  for (auto& w : waiting_) w.written->fulfill();
}

kj::Promise<void> PushSink::Chunk(uint64_t off, kj::ArrayPtr<const kj::byte> data, int32_t error) {
  KJ_REQUIRE(error <= 0, "vcopy chunk error must be an EDVS code", error);
  if (error != 0) {
    KJ_REQUIRE(data.size() == 0, "vcopy chunk with an error carries no data");
    if (err_ == 0) err_ = error;
    Settle();
    return kj::READY_NOW;
  }
  KJ_REQUIRE(ChunkInRange(off, data.size(), bytes_) && data.size() <= bytes_ - received_,
             "vcopy chunk out of range", off, data.size(), bytes_, received_);
  received_ += data.size();
  if (party_) {
    Write(off, data);
    return kj::READY_NOW;
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  waiting_.add(Waiting{off, data, kj::mv(paf.fulfiller)});
  return kj::mv(paf.promise);
}

kj::Promise<int32_t> PushSink::Start(const PartyRef& party, uint32_t bytes) {
  if (bytes != bytes_) return int32_t{EDVSBADVALUE};
  party_ = party;
  auto paf = kj::newPromiseAndFulfiller<int32_t>();
  finished_ = kj::mv(paf.fulfiller);
  for (auto& w : waiting_) {
    Write(w.off, w.data);
    w.written->fulfill();
  }
  waiting_.clear();
  Settle();
  return kj::mv(paf.promise);
}

void PushSink::Write(uint64_t off, kj::ArrayPtr<const kj::byte> data) {
  // After the first error the copy is over: later chunks are not written.
  if (err_ == 0) err_ = WriteParty(*party_, off, data);
  if (err_ == 0) landed_ += data.size();
  Settle();
}

void PushSink::Settle() {
  if (finished_.get() != nullptr && finished_->isWaiting() && (err_ != 0 || landed_ == bytes_))
    finished_->fulfill(kj::cp(err_));
}

kj::Promise<void> PushChunks(wire::Node::Client node, uint64_t push_id, PartyRef party, uint32_t bytes) {
  auto request = [node, push_id](uint64_t off, uint32_t n) mutable {
    auto req = node.vcopyChunkRequest(capnp::MessageSize{n / 8 + 16, 0});
    req.setPushId(push_id);
    req.setOffset(off);
    return req;
  };
  // The callee learns a read error from a chunk that carries it.
  auto failed = [node, push_id](uint64_t off, int32_t err) mutable {
    auto req = node.vcopyChunkRequest();
    req.setPushId(push_id);
    req.setOffset(off);
    req.setError(err);
    return req.send().then([err] { return err; });
  };
  return StreamParty(party, bytes, 0, kj::mv(request), kj::mv(failed)).ignoreResult();
}

ChunkPeerHandle MakeChunkPeer(const PartyRef& party, uint32_t bytes, bool callee_writes) {
  auto paf = kj::newPromiseAndFulfiller<int32_t>();
  if (bytes == 0) paf.fulfiller->fulfill(0);
  return ChunkPeerHandle{kj::heap<ChunkPeerImpl>(party, bytes, callee_writes, kj::mv(paf.fulfiller)),
                         kj::mv(paf.promise)};
}

kj::Promise<int32_t> RunVcopy(const RemoteVcopyGrant& g, const PartyRef& party, wire::ChunkPeer::Client peer,
                              kj::ArrayPtr<const kj::byte> inline_data) {
  if (inline_data.size() > 0) {
    if (g.party_is_src || inline_data.size() != g.bytes) return int32_t{EDVSBADVALUE};
    return WriteParty(party, 0, inline_data);
  }
  if (g.party_is_src) {
    return Push(g, party, kj::mv(peer)).catch_([](kj::Exception&& e) {
      spdlog::debug("node links: vcopy push failed: {}", e.getDescription().cStr());
      return int32_t{EDVSNOTCONN};
    });
  }
  auto pull = kj::heap<Pull>(g, party, kj::mv(peer));
  auto paf = kj::newPromiseAndFulfiller<int32_t>();
  pull->finished = kj::mv(paf.fulfiller);
  auto errors = kj::heap<PullErrors>(pull.get());
  auto ts = kj::heap<kj::TaskSet>(*errors);
  pull->Fill(*ts);
  pull->Check();
  // Destruction order on cancel: the inner attachment goes first, so the
  // reads (tasks) die before the state they use.
  return paf.promise.attach(kj::mv(ts)).attach(kj::mv(errors), kj::mv(pull));
}

}  // namespace vdvk::nodes
