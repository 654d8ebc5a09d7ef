// ftp_server.h - the m3ftpd request loop (see ftp_proto.h), reusable by the
// demo. Single-threaded: one request at a time, sessions keyed by the
// client's endpoint (a client reopening drops its previous session).
//
// The file I/O that need not hold the client up runs after the reply, while
// the client is busy with the chunk it just got (writing it to its file) or
// reading its next one: a get's checksum of the sent chunk and the read of
// the next chunk (kept for the client's next kRead), a put's write of the
// received chunk (a write that fails is the answer to the session's next
// request or its close, so a put never ends well with data missing).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "dvk/dvk.h"
#include "proxies/common/checksum.h"

namespace vdvk::tools {

class FtpServer {
 public:
  // REQUIRES: the calling process is bound as endpoint self_ep; root exists.
  FtpServer(int self_ep, std::string root_real, bool verbose);
  ~FtpServer();

  // Serves requests until `transfers` sessions have been closed (0: forever)
  // or receive fails. Returns 0 or the failing DVK code.
  long Serve(int64_t transfers);

 private:
  struct Session;
  // Handles one request; fills the reply. Returns true if a session closed.
  bool Handle(const message& m, message* reply);
  int OpenGet(int client, const message& m, message* reply);
  int OpenPut(int client, const message& m, message* reply);
  int Read(Session& s, int client, const message& m, message* reply);
  int Write(Session& s, int client, const message& m, message* reply);
  int Close(int client, message* reply);
  int FetchPath(int client, const message& m, std::string* name);
  void Drop(int client);
  // The work left by the request just answered (see the top of this file).
  void AfterReply();

  struct After {
    enum Kind { kNone, kSentChunk, kReceivedChunk } kind = kNone;
    int client = -1;
    const char* data = nullptr;  // kSentChunk: the bytes sent (buf_ or ahead_)
    size_t n = 0;
    size_t want = 0;  // kSentChunk: the client's chunk size, for the read-ahead
  };
  // The next chunk of one get session, read after the previous reply.
  struct ReadAhead {
    int client = -1;  // -1: empty
    uint64_t pos = 0;
    size_t asked = 0;
    size_t n = 0;  // < asked: the file ends there
  };
  int self_ep_;
  std::string root_;
  bool verbose_;
  // ftpproto::NewChunkBuffer: not zeroed.
  std::unique_ptr<char[]> buf_;
  std::unique_ptr<char[]> ahead_buf_;
  After after_;
  ReadAhead ahead_;
  std::map<int, std::unique_ptr<Session>> sessions_;
};

}  // namespace vdvk::tools
