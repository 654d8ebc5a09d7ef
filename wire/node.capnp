# node.capnp - the node-to-node link of vdvk (replaces DVS's TCP proxies).
#
# Each node connects to every peer it is configured with and calls that
# peer's bootstrap Node capability; links are one-directional for calls
# (A's calls to B travel on the connection A opened), so each pair of nodes
# uses two connections. Byte order, framing and bounds are Cap'n Proto's;
# every field is still validated by the receiver (KJ_REQUIRE), since a peer
# may be buggy or hostile.
#
# Versioning: protocolVersion changes on any incompatible change; hello()
# refuses a mismatch. Compatible additions (new fields/methods) keep it.

@0xd05f7b05c9455d96;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("vdvk::wire");

const protocolVersion :UInt32 = 2;  # 2: vcopyRemote answers a streamed copy without ChunkPeer.done
const messageBytes :UInt32 = 64;  # sizeof(vdvk_msg): every message field is exactly this long

enum OpKind {
  send @0;
  sendrec @1;   # acknowledged with the server's answer (see Node.deliver)
  reply @2;
  notify @3;
  vcopy @4;     # only through Node.vcopyRemote
}

struct Op {
  kind @0 :OpKind;
  dcid @1 :Int32;
  srcEp @2 :Int32;        # the sender's endpoint (bound on the calling node)
  dstEp @3 :Int32;        # the target's endpoint (bound on the called node)
  timeoutMs @4 :Int64 = -1;  # send/sendrec: -1 forever, 0 no wait, else ms; applied by the callee
  message @5 :Data;       # send/sendrec/reply: the 64-byte DVK message
  notifySrc @6 :Int32;    # notify: the caller's src_nr argument (SELF, HARDWARE or an nr)
  notifyValue @7 :Int32;  # notify: NOTIFY_ARG
  # vcopy: dstEp is the callee's party, srcEp the caller; no message.
  vcopyPartyIsSrc @8 :Bool;  # the callee's party is the source (else the destination)
  vcopyAddr @9 :UInt64;      # that party's address
  vcopyBytes @10 :UInt32;
}

interface Node {
  hello @0 (nodeId :Int32, protocolVersion :UInt32, clusterToken :Text)
        -> (nodeId :Int32, protocolVersion :UInt32, nodeName :Text);
  # First call on a connection; every other call fails before it succeeded.
  # Refused (an exception naming the reason) on a wrong token, a protocol
  # mismatch, or a node id that is out of range or the callee's own.

  heartbeat @1 () -> ();
  # Liveness: a caller that gets no answer within its dead-peer timeout
  # declares the callee down and reconnects.

  deliver @2 (op :Op) -> (result :Int32, reply :Data);
  # Returns once the callee's engine accepted the operation: the message was
  # delivered to the receiver (or, for notify, is pending there) -> result 0,
  # or it failed -> a negative EDVS* code. This is DVK's acknowledgement: the
  # remote sender stays blocked until it arrives. For sendrec the result comes
  # only with the server's answer, carried in `reply` (64 bytes).

  lookup @3 (dcid :Int32, ep :Int32) -> (nodeId :Int32);
  # Where the callee believes endpoint ep of DC dcid is bound: a node id, or
  # a negative EDVS* code (not bound, bad DC, ...). Lets rmtbind tools check.

  vcopy @4 (dcid :Int32, srcEp :Int32, dstEp :Int32, dstAddr :UInt64, bytes :UInt32)
        -> (sink :ChunkSink);
  # Unused (superseded by vcopyRemote): the callee answers with an exception.

  vcopyRemote @5 (op :Op, peer :ChunkPeer, data :Data, pushId :UInt64) -> (result :Int32);
  # A vcopy whose non-caller party (op.dstEp) is bound on the callee. The
  # callee's engine checks that party (blocked in a receive, not busy, length
  # within the DC's limit), then the bytes move: the callee streams them into
  # `peer` (its party is the source), or they come with the call (`data`) or
  # right behind it (`pushId`), or else the callee reads them from `peer`
  # with a window of reads in flight (its party is the destination; see
  # below). Returns 0 or EDVS*:
  # when the callee's party is the destination, once every byte is in place;
  # when it is the source, once every chunk was sent (the write calls travel
  # ahead of this answer), and the caller completes the copy when they all
  # landed in its party, or with the first write's error. (Protocol 1 called
  # peer.done() first: one round trip more per copy.)
  # `data` (optional): when the callee's party is the destination and the
  # copy is at most one chunk (256 KiB), the caller may send all its bytes
  # with the call; the callee then writes them once its engine granted the
  # copy and reads nothing from `peer`: one round trip instead of two. A
  # callee that refuses the copy drops them. Anything else in `data` (a copy
  # into the caller, a size other than op.vcopyBytes, over one chunk) is
  # refused with an exception. A callee that does not know the field reads
  # through `peer` as before, so it needs no new protocol version.
  # `pushId` (optional, nonzero, unique among the caller's copies in flight
  # on this link): for a bigger copy into the callee's party the caller sends
  # the bytes unasked, as vcopyChunk calls naming pushId right behind this
  # call, so this direction takes one round trip as well. The callee holds
  # chunks that come before its engine granted the copy and writes them at
  # the grant. A callee that does not know pushId reads through `peer`.

  vcopyChunk @7 (pushId :UInt64, offset :UInt64, data :Data, error :Int32) -> stream;
  # Part of the copy of the vcopyRemote call that named pushId (flow-
  # controlled by capnp streaming). `error` (a negative EDVS* code, with no
  # data): the caller could not read its party there; the copy fails with it.
  # Chunks outside the copy, or more bytes than it has, are refused
  # (exception); chunks of a copy that already ended are dropped.

  dcViews @6 (views :List(DcView)) -> ();
  # DC membership: the caller's view of its DCs, every DC it runs when its
  # link comes up, then each DC whose membership changes (dc_init, dc_end,
  # add_node, del_node). Membership stays each node's own (dvk_add_node on
  # every node, as in DVS); the callee compares and logs each disagreement
  # that makes calls between the two nodes fail. At most NR_DCS views.
}

struct DcView {
  dcid @0 :Int32;
  running @1 :Bool;
  nodes @2 :UInt64;  # member-node bitmap (when running)
}

interface ChunkPeer {
  # Served by the caller of vcopyRemote: its own party's memory.
  read @0 (offset :UInt64, bytes :UInt32) -> (result :Int32, data :Data);
  write @1 (offset :UInt64, data :Data) -> stream;  # flow-controlled by capnp streaming
  done @2 () -> (result :Int32);  # protocol 1 only; unused since 2 (see vcopyRemote)
}

interface ChunkSink {
  write @0 (offset :UInt64, data :Data) -> stream;  # flow-controlled by capnp streaming
  done @1 () -> (result :Int32);
}
