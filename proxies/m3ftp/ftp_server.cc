#include "proxies/m3ftp/ftp_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "proxies/common/dvk_util.h"
#include "proxies/m3ftp/ftp_proto.h"
#include "proxies/m3ftp/safe_path.h"

namespace vdvk::tools {

namespace fp = ftpproto;

// A session never outlives its client for long: a new open from the same
// endpoint, or a failed reply, drops it (and a put's temp file with it).
struct FtpServer::Session {
  int fd = -1;
  bool put = false;
  std::string path;      // the served file, or a put's final name
  std::string tmp_path;  // put: where data goes until close succeeds
  uint64_t size = 0;     // get: file size; put: declared size
  uint64_t pos = 0;
  Checksum64 hash;  // get: bytes read from the file
  int write_error = 0;  // put: a deferred write failed (EDVSNOSPC, EDVSIO)
  ~Session() {
    if (fd >= 0) close(fd);
    if (!tmp_path.empty()) unlink(tmp_path.c_str());
  }
};

namespace {
// Sessions allowed at once: each pins an fd, a hostile client must not
// exhaust them.
constexpr size_t kMaxSessions = 64;
}  // namespace

FtpServer::FtpServer(int self_ep, std::string root_real, bool verbose)
    : self_ep_(self_ep), root_(std::move(root_real)), verbose_(verbose),
      buf_(fp::NewChunkBuffer(fp::kMaxChunk)),
      ahead_buf_(fp::NewChunkBuffer(fp::kMaxChunk)) {}

FtpServer::~FtpServer() = default;

long FtpServer::Serve(int64_t transfers) {
  int64_t closed = 0;
  while (transfers == 0 || closed < transfers) {
    message m{};
    long rc = dvk_receive(ANY, &m);
    if (rc < 0) return rc;
    const int client = m.m_source;
    message reply{};
    after_ = After{};
    bool done = Handle(m, &reply);
    rc = dvk_reply(client, &reply);
    if (rc < 0) {
      std::fprintf(stderr, "m3ftpd: reply to %d failed: %s (session dropped)\n", client, DvkError(rc).c_str());
      Drop(client);
    } else if (done) {
      ++closed;
    }
    AfterReply();
  }
  return 0;
}

void FtpServer::Drop(int client) {
  sessions_.erase(client);
  if (ahead_.client == client) ahead_ = ReadAhead{};
}

void FtpServer::AfterReply() {
  const After a = after_;
  after_ = After{};
  auto it = sessions_.find(a.client);
  if (a.kind == After::kNone || it == sessions_.end()) return;  // nothing, or dropped
  Session& s = *it->second;
  if (a.kind == After::kReceivedChunk) {
    size_t off = 0;
    while (off < a.n && s.write_error == 0) {
      ssize_t w = write(s.fd, buf_.get() + off, a.n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) s.write_error = errno == ENOSPC ? EDVSNOSPC : EDVSIO;
      else off += static_cast<size_t>(w);
    }
    return;
  }
  s.hash.Update(a.data, a.n);
  // The chunk the client will most likely ask for next.
  ssize_t n;
  do {
    n = pread(s.fd, ahead_buf_.get(), a.want, static_cast<off_t>(s.pos));
  } while (n < 0 && errno == EINTR);
  ahead_ = n < 0 ? ReadAhead{} : ReadAhead{a.client, s.pos, a.want, static_cast<size_t>(n)};
}

bool FtpServer::Handle(const message& m, message* reply) {
  const int client = m.m_source;
  int rc = EDVSBADREQUEST;
  bool closed = false;
  switch (m.m_type) {
    case fp::kOpenGet: rc = OpenGet(client, m, reply); break;
    case fp::kOpenPut: rc = OpenPut(client, m, reply); break;
    case fp::kRead:
    case fp::kWrite: {
      auto it = sessions_.find(client);
      if (it == sessions_.end() || it->second->put != (m.m_type == fp::kWrite)) {
        rc = EDVSBADREQUEST;
      } else {
        rc = m.m_type == fp::kRead ? Read(*it->second, client, m, reply) : Write(*it->second, client, m, reply);
        if (rc < 0) Drop(client);  // a failed transfer cannot be resumed
      }
      break;
    }
    case fp::kClose:
      rc = Close(client, reply);
      closed = true;
      break;
    default: break;
  }
  if (verbose_ || rc < 0)
    std::printf("m3ftpd: request 0x%x from %d -> %s\n", m.m_type, client, rc == 0 ? "ok" : DvkError(rc).c_str());
  reply->m_type = rc;
  return closed;
}

int FtpServer::FetchPath(int client, const message& m, std::string* name) {
  const int len = m.m2_i1;
  if (len <= 0) return EDVSINVAL;
  if (static_cast<size_t>(len) > fp::kMaxPath) return EDVSNAMETOOLONG;
  long rc = dvk_vcopy(client, m.m2_p1, self_ep_, buf_.get(), len);
  if (rc < 0) return static_cast<int>(rc);
  name->assign(buf_.get(), static_cast<size_t>(len));
  return 0;
}

int FtpServer::OpenGet(int client, const message& m, message* reply) {
  Drop(client);
  if (sessions_.size() >= kMaxSessions) return EDVSBUSY;
  std::string name, path;
  if (int rc = FetchPath(client, m, &name); rc < 0) return rc;
  if (int rc = ResolveExisting(root_, name, &path); rc < 0) return rc;
  auto s = std::make_unique<Session>();
  s->fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (s->fd < 0) return errno == ENOENT ? EDVSNOENT : EDVSACCES;
  struct stat st;
  if (fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode)) return EDVSINVAL;
  s->path = path;
  s->size = static_cast<uint64_t>(st.st_size);
  reply->m2_l1 = static_cast<int64_t>(s->size);
  if (verbose_) std::printf("m3ftpd: %d gets %s (%llu bytes)\n", client, path.c_str(), (unsigned long long)s->size);
  sessions_[client] = std::move(s);
  return 0;
}

int FtpServer::OpenPut(int client, const message& m, message* reply) {
  (void)reply;
  Drop(client);
  if (sessions_.size() >= kMaxSessions) return EDVSBUSY;
  if (m.m2_l1 < 0) return EDVSINVAL;
  std::string name, path;
  if (int rc = FetchPath(client, m, &name); rc < 0) return rc;
  if (int rc = ResolveForCreate(root_, name, &path); rc < 0) return rc;
  auto s = std::make_unique<Session>();
  s->put = true;
  s->path = path;
  s->size = static_cast<uint64_t>(m.m2_l1);
  // Data lands in a temp file renamed over the target only when complete, so a
  // short or aborted put never leaves a truncated file under the real name.
  s->tmp_path = path + ".m3ftp-part." + std::to_string(getpid()) + "." + std::to_string(client);
  s->fd = open(s->tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (s->fd < 0) {
    s->tmp_path.clear();
    return errno == EEXIST ? EDVSEXIST : EDVSACCES;
  }
  if (verbose_) std::printf("m3ftpd: %d puts %s (%llu bytes)\n", client, path.c_str(), (unsigned long long)s->size);
  sessions_[client] = std::move(s);
  return 0;
}

int FtpServer::Read(Session& s, int client, const message& m, message* reply) {
  if (m.m2_i2 < 0 || static_cast<size_t>(m.m2_i2) > fp::kMaxChunk) return EDVSRANGE;
  if (m.m2_l1 < 0 || static_cast<uint64_t>(m.m2_l1) != s.pos) return EDVSBADVALUE;
  const size_t want = static_cast<size_t>(m.m2_i2);
  const char* data;
  ssize_t n;
  if (ahead_.client == client && ahead_.pos == s.pos && (ahead_.n >= want || ahead_.n < ahead_.asked)) {
    // Read after the last reply (a short one ended at the end of the file).
    data = ahead_buf_.get();
    n = static_cast<ssize_t>(std::min(ahead_.n, want));
  } else {
    data = buf_.get();
    do {
      n = pread(s.fd, buf_.get(), want, static_cast<off_t>(s.pos));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return EDVSIO;
  }
  ahead_ = ReadAhead{};
  if (n > 0) {
    long rc = dvk_vcopy(self_ep_, const_cast<char*>(data), client, m.m2_p1, static_cast<int>(n));
    if (rc < 0) return static_cast<int>(rc);
    s.pos += static_cast<uint64_t>(n);
  }
  // The checksum of these bytes and the next read happen after the reply.
  after_ = After{After::kSentChunk, client, data, static_cast<size_t>(n), want};
  reply->m2_i2 = static_cast<int>(n);
  return 0;
}

int FtpServer::Write(Session& s, int client, const message& m, message* reply) {
  if (s.write_error != 0) return s.write_error;  // an earlier chunk did not reach the file
  if (m.m2_i2 < 0 || static_cast<size_t>(m.m2_i2) > fp::kMaxChunk) return EDVSRANGE;
  if (m.m2_l1 < 0 || static_cast<uint64_t>(m.m2_l1) != s.pos) return EDVSBADVALUE;
  const size_t n = static_cast<size_t>(m.m2_i2);
  if (s.pos + n > s.size) return EDVSOVERRUN;  // more than declared at open
  if (n > 0) {
    long rc = dvk_vcopy(client, m.m2_p1, self_ep_, buf_.get(), static_cast<int>(n));
    if (rc < 0) return static_cast<int>(rc);
    s.pos += n;
    after_ = After{After::kReceivedChunk, client, nullptr, n, 0};  // written after the reply
  }
  reply->m2_i2 = static_cast<int>(n);
  return 0;
}

int FtpServer::Close(int client, message* reply) {
  auto it = sessions_.find(client);
  if (it == sessions_.end()) return EDVSBADREQUEST;
  std::unique_ptr<Session> s = std::move(it->second);
  Drop(client);
  reply->m2_l1 = static_cast<int64_t>(s->pos);
  if (!s->put) {
    reply->m2_l2 = static_cast<int64_t>(s->hash.Value());
    return 0;
  }
  if (s->write_error != 0) return s->write_error;  // the temp file is removed
  if (s->pos != s->size) return EDVSIO;  // short put: the temp file is removed
  if (close(s->fd) != 0) {
    s->fd = -1;
    return EDVSIO;
  }
  s->fd = -1;
  if (rename(s->tmp_path.c_str(), s->path.c_str()) != 0) return EDVSIO;
  s->tmp_path.clear();
  uint64_t sum = 0, size = 0;
  // Hash what is on disk now, not what passed through the buffer.
  if (!HashFile(s->path, &sum, &size) || size != s->pos) return EDVSIO;
  reply->m2_l2 = static_cast<int64_t>(sum);
  return 0;
}

}  // namespace vdvk::tools
