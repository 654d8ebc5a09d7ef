#include "proxies/m3ftp/ftp_client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "dvk/dvk.h"
#include "proxies/common/checksum.h"
#include "proxies/common/dvk_util.h"
#include "proxies/m3ftp/ftp_proto.h"

namespace vdvk::tools {

namespace fp = ftpproto;

std::string DescribeServerError(int code) {
  switch (code) {
    case EDVSNOENT: return "no such file on the server (EDVSNOENT)";
    case EDVSACCES: return "path refused by the server: outside its root, '..' or not accessible (EDVSACCES)";
    case EDVSISDIR: return "is a directory on the server (EDVSISDIR)";
    case EDVSNOTDIR: return "a path component is not a directory on the server (EDVSNOTDIR)";
    case EDVSNAMETOOLONG: return "path too long (EDVSNAMETOOLONG)";
    case EDVSEXIST: return "a transfer to that file is already in progress (EDVSEXIST)";
    case EDVSNOSPC: return "no space left on the server (EDVSNOSPC)";
    case EDVSINVAL: return "invalid request or path (EDVSINVAL)";
    case EDVSIO: return "the server could not complete the file: short transfer or I/O error (EDVSIO)";
    case EDVSOVERRUN: return "more data than announced (EDVSOVERRUN)";
    default: return DvkError(code);
  }
}

namespace {

// One sendrec; a transport error or a server error becomes a message.
std::string Call(int server, message* m, const char* what) {
  long rc = dvk_sendrec(server, m);
  if (rc < 0) return std::string(what) + ": sendrec to server endpoint " + std::to_string(server) + " failed: " + DvkError(rc);
  if (m->m_type < 0) return std::string(what) + ": " + DescribeServerError(m->m_type);
  return "";
}

std::string Open(int server, int type, const std::string& remote, int64_t declared, message* m) {
  if (remote.empty()) return "empty remote path";
  if (remote.size() > fp::kMaxPath) return "remote path too long";
  std::vector<char> path(remote.begin(), remote.end());  // the server vcopies from here
  *m = message{};
  m->m_type = type;
  m->m2_p1 = path.data();
  m->m2_i1 = static_cast<int>(path.size());
  m->m2_l1 = declared;
  return Call(server, m, ("open '" + remote + "'").c_str());
}

std::string CloseSession(int server, FtpTransfer* t) {
  message m{};
  m.m_type = fp::kClose;
  std::string err = Call(server, &m, "close");
  if (!err.empty()) return err;
  t->remote_bytes = static_cast<uint64_t>(m.m2_l1);
  t->remote_sum = static_cast<uint64_t>(m.m2_l2);
  return "";
}

}  // namespace

std::string FtpGet(int server, const std::string& remote, const std::string& local, size_t chunk, FtpTransfer* t) {
  *t = FtpTransfer{};
  if (chunk == 0 || chunk > fp::kMaxChunk) return "chunk size must be 1 .. 1 MiB";
  const long long t0 = NowNs();
  message m{};
  if (std::string err = Open(server, fp::kOpenGet, remote, 0, &m); !err.empty()) return err;
  const uint64_t size = static_cast<uint64_t>(m.m2_l1);
  int fd = open(local.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::string err = "cannot create '" + local + "': " + std::strerror(errno);
    FtpTransfer ignored;
    CloseSession(server, &ignored);
    return err;
  }
  const auto buffer = fp::NewChunkBuffer(chunk);
  char* const bufp = buffer.get();
  std::string err;
  uint64_t pos = 0;
  while (err.empty()) {
    m = message{};
    m.m_type = fp::kRead;
    m.m2_p1 = bufp;
    m.m2_i2 = static_cast<int>(chunk);
    m.m2_l1 = static_cast<int64_t>(pos);
    err = Call(server, &m, "read");
    if (!err.empty()) break;
    if (m.m2_i2 < 0 || static_cast<size_t>(m.m2_i2) > chunk) {
      err = "server returned a bad chunk length " + std::to_string(m.m2_i2);
      break;
    }
    if (m.m2_i2 == 0) break;  // EOF
    size_t off = 0, n = static_cast<size_t>(m.m2_i2);
    while (off < n) {
      ssize_t w = write(fd, bufp + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        err = "write to '" + local + "' failed: " + std::strerror(errno);
        break;
      }
      off += static_cast<size_t>(w);
    }
    pos += n;
  }
  if (close(fd) != 0 && err.empty()) err = "close '" + local + "' failed: " + std::strerror(errno);
  if (!err.empty()) {
    // The session may already be gone on the server; closing is best effort.
    FtpTransfer ignored;
    CloseSession(server, &ignored);
    unlink(local.c_str());
    return err;
  }
  if (err = CloseSession(server, t); !err.empty()) return err;
  t->bytes = pos;
  t->seconds = (NowNs() - t0) / 1e9;
  if (pos != size)
    return "short transfer: received " + std::to_string(pos) + " of " + std::to_string(size) + " bytes";
  uint64_t local_size = 0;
  // Read the file back: the checksum covers what reached the disk.
  if (!HashFile(local, &t->local_sum, &local_size)) return "cannot read back '" + local + "': " + std::strerror(errno);
  if (local_size != pos) return "local file has " + std::to_string(local_size) + " bytes, expected " + std::to_string(pos);
  return "";
}

std::string FtpPut(int server, const std::string& local, const std::string& remote, size_t chunk, FtpTransfer* t) {
  *t = FtpTransfer{};
  if (chunk == 0 || chunk > fp::kMaxChunk) return "chunk size must be 1 .. 1 MiB";
  int fd = open(local.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot open '" + local + "': " + std::strerror(errno);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return "'" + local + "' is not a regular file";
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const long long t0 = NowNs();
  message m{};
  if (std::string err = Open(server, fp::kOpenPut, remote, static_cast<int64_t>(size), &m); !err.empty()) {
    close(fd);
    return err;
  }
  const auto buffer = fp::NewChunkBuffer(chunk);
  char* const bufp = buffer.get();
  Checksum64 hash;
  std::string err;
  uint64_t pos = 0;
  for (;;) {
    ssize_t n = read(fd, bufp, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = "read from '" + local + "' failed: " + std::strerror(errno);
      break;
    }
    if (n == 0) break;
    m = message{};
    m.m_type = fp::kWrite;
    m.m2_p1 = bufp;
    m.m2_i2 = static_cast<int>(n);
    m.m2_l1 = static_cast<int64_t>(pos);
    err = Call(server, &m, "write");
    if (!err.empty()) break;
    if (m.m2_i2 != n) {
      err = "server accepted " + std::to_string(m.m2_i2) + " of " + std::to_string(n) + " bytes";
      break;
    }
    hash.Update(bufp, static_cast<size_t>(n));
    pos += static_cast<uint64_t>(n);
  }
  close(fd);
  if (!err.empty()) {
    FtpTransfer ignored;
    CloseSession(server, &ignored);
    return err;
  }
  if (pos != size) {
    FtpTransfer ignored;
    CloseSession(server, &ignored);
    return "short transfer: '" + local + "' changed size while being sent (" + std::to_string(pos) + " of " +
           std::to_string(size) + " bytes)";
  }
  if (err = CloseSession(server, t); !err.empty()) return err;
  t->bytes = pos;
  t->local_sum = hash.Value();
  t->seconds = (NowNs() - t0) / 1e9;
  return "";
}

}  // namespace vdvk::tools
