// ftp_server.h - the m3ftpd request loop (see ftp_proto.h), reusable by the
// demo. Single-threaded: one request at a time, sessions keyed by the
// client's endpoint (a client reopening drops its previous session).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

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

  int self_ep_;
  std::string root_;
  bool verbose_;
  std::vector<char> buf_;
  std::map<int, std::unique_ptr<Session>> sessions_;
};

}  // namespace vdvk::tools
