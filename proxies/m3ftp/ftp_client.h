// ftp_client.h - the client half of m3ftp (see ftp_proto.h), used by the
// m3ftp tool and by vdvk-demo.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vdvk::tools {

struct FtpTransfer {
  uint64_t bytes = 0;        // bytes moved
  uint64_t local_sum = 0;    // Checksum64 of the local file (read back for get)
  uint64_t remote_sum = 0;   // the server's own checksum
  uint64_t remote_bytes = 0; // what the server counted
  double seconds = 0;
  bool Match() const { return local_sum == remote_sum && bytes == remote_bytes; }
};

// REQUIRES: the process is bound; chunk in [1, 1 MiB].
// Each returns "" on success (checksums compared by the caller via Match())
// or a one-line reason.
std::string FtpGet(int server_ep, const std::string& remote, const std::string& local, size_t chunk,
                   FtpTransfer* t);
std::string FtpPut(int server_ep, const std::string& local, const std::string& remote, size_t chunk,
                   FtpTransfer* t);

// Names a server-side error for a person ("no such file on the server").
std::string DescribeServerError(int code);

}  // namespace vdvk::tools
