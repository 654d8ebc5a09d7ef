// guest_ring.cc - serving UML guests: ring files with FIFO doorbells, one DVK
// domain per guest, guest death through a pidfd, guest process exits through
// VDVK_OP_PROC_EXIT. See guest_ring.h.
#include "host-backend/rings/guest_ring.h"

#include <fcntl.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "dvk/dvk.h"
#include "host-backend/rings/backend.h"
#include "host-backend/rings/backend_internal.h"
#include "host-backend/rings/fault_guard.h"
#include "host-backend/rings/shared_ring.h"

namespace vdvk::rings {

// ---- files -----------------------------------------------------------------------

std::unique_ptr<SharedRing> SharedRing::CreateFile(const std::string& path, const RingGeometry& g,
                                                   int32_t node_id, uid_t uid, gid_t gid, int* err) {
  std::unique_ptr<SharedRing> r(new SharedRing());
  r->geo_ = g;
  // A stale file is a dead backend's (we hold the instance lock); a fresh
  // inode also drops any mapping an old guest still has. Ownership goes
  // through our fds, never a path the guest's user could have replaced.
  unlink(path.c_str());
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(g.file_size)) != 0 || fchown(fd, uid, gid) != 0) {
    *err = -errno;
    if (fd >= 0) close(fd);
    return nullptr;
  }
  *err = r->MapAndInit(fd, node_id);
  close(fd);  // the mapping keeps the file
  if (*err != 0) return nullptr;
  // The guest opens this file read-write and could shrink it under us.
  r->guard_ = fault_guard::Register(r->map_, g.file_size);
  // Guest rings take guest-physical vcopy extents (VDVK_SQE_F_GUEST_PHYS).
  r->shm_hdr_->features |= VDVK_F_GUEST_PHYS;
  const std::string kick = path + ".kick", wake = path + ".wake";
  for (const std::string* p : {&kick, &wake}) {
    unlink(p->c_str());
    if (mkfifo(p->c_str(), 0600) != 0) {
      *err = -errno;
      return nullptr;
    }
  }
  // O_RDWR: we count as a reader and a writer of both, so the guest's
  // O_WRONLY|O_NONBLOCK open of .kick never fails with ENXIO and neither
  // side reads EOF while the other is away.
  r->kick_fd_ = open(kick.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  r->wake_fd_ = open(wake.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (r->kick_fd_ < 0 || r->wake_fd_ < 0 || fchown(r->kick_fd_, uid, gid) != 0 ||
      fchown(r->wake_fd_, uid, gid) != 0) {
    *err = -errno;
    return nullptr;
  }
  return r;
}

void SharedRing::Reinit(int32_t node_id) {
  std::memset(map_, 0, geo_.file_size);
  InitRingHeader(shm_hdr_, geo_, node_id);
  shm_hdr_->features |= VDVK_F_GUEST_PHYS;  // Reinit serves guest rings only
  // Doorbells left over from the dead guest would only cause spurious wakeups.
  DrainKick();
  uint64_t v[8];
  while (read(wake_fd_, v, sizeof(v)) > 0) {
  }
}

std::string OwnerError(const std::string& what, uid_t uid, int err) {
  std::string e = what + ": " + std::strerror(err);
  if (err == EPERM && uid != static_cast<uid_t>(-1))
    e += " (only a backend running as root can serve another user's guest, uid " +
         std::to_string(uid) + ")";
  return e;
}

std::unique_ptr<SharedRing> CreateGuestRingFiles(const std::string& path, const RingGeometry& g,
                                                 int32_t node_id, uid_t uid, gid_t gid,
                                                 std::string* error) {
  int err = 0;
  auto r = SharedRing::CreateFile(path, g, node_id, uid, gid, &err);
  if (!r) *error = OwnerError("cannot create guest ring " + path, uid, -err);
  return r;
}

bool ResolveGuestUser(const std::string& user, uid_t* uid, gid_t* gid, std::string* error) {
  // A name, or a uid with an entry in the user database (for its group).
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (found == nullptr && user.find_first_not_of("0123456789") == std::string::npos &&
      !user.empty() && user.size() < 10)
    getpwuid_r(static_cast<uid_t>(std::stoul(user)), &pw, buf.data(), buf.size(), &found);
  if (found == nullptr) {
    *error = "no such user '" + user + "'";
    return false;
  }
  *uid = found->pw_uid;
  *gid = found->pw_gid;
  return true;
}

void GuestRing::StopPidWatch() {
  if (pidfd < 0) return;
  ev_io_stop(loop, &pid_io);
  close(pidfd);
  pidfd = -1;
}

GuestRing::~GuestRing() {
  if (loop) StopPidWatch();
  if (mem_sock_fd >= 0) {
    if (loop) ev_io_stop(loop, &mem_io);
    close(mem_sock_fd);
  }
  if (!files_created) return;
  for (const char* suffix : {"", ".kick", ".wake", ".mem"}) unlink((path + suffix).c_str());
}

// ---- attach / detach -------------------------------------------------------------

bool Backend::AddGuestRing(const std::string& path, const std::string& user, std::string* error) {
  auto geo = ComputeGeometry(kGuestEntries, kGuestEntries, kGuestNrBufs, kGuestBufSize);
  if (!geo) {
    *error = "bad guest ring geometry";
    return false;
  }
  // A guest can shrink the files we map: survive it (fault_guard.h).
  if (!fault_guard::Install(error)) return false;
  for (auto& [d, other] : guests_)
    if (other->path == path) {
      *error = "guest ring " + path + " given twice";
      return false;
    }
  auto g = std::make_unique<GuestRing>();
  if (!user.empty() && !ResolveGuestUser(user, &g->uid, &g->gid, error)) {
    *error = "guest ring " + path + ": " + *error;
    return false;
  }
  g->backend = this;
  g->loop = loop_;
  g->domain = static_cast<uint32_t>(guests_.size()) + 1;
  g->path = path;
  g->files_created = true;  // from here on the destructor cleans up
  g->ring = CreateGuestRingFiles(path, *geo, cfg_.node_id, g->uid, g->gid, error);
  if (!g->ring) return false;
  g->mem_sock_fd = BindGuestMemorySocket(path, g->uid, g->gid, error);
  if (g->mem_sock_fd < 0) return false;
  ev_io_init(&g->mem_io, &Backend::OnGuestMemory, g->mem_sock_fd, EV_READ);
  g->mem_io.data = g.get();
  ev_io_start(loop_, &g->mem_io);
  GuestRing* raw = g.get();
  guests_.emplace(raw->domain, std::move(g));
  AttachGuest(raw);
  spdlog::info("guest ring {} (domain {}) ready", path, raw->domain);
  return true;
}

void Backend::AttachGuest(GuestRing* g) {
  auto a = std::make_unique<Attachment>();
  a->backend = this;
  a->id = next_attach_id_++;
  a->domain = g->domain;
  a->ring = std::move(g->ring);
  ev_init(&a->sock_io, &Backend::OnSocket);  // no socket: never started
  ev_io_init(&a->kick_io, &Backend::OnKick, a->ring->kick_fd(), EV_READ);
  a->kick_io.data = a.get();
  ev_io_start(loop_, &a->kick_io);
  a->ring->SetBackendSleeping(true);
  g->attach_id = a->id;
  ctr_.attach_total++;
  attachments_.emplace(a->id, std::move(a));
}

void Backend::WatchGuestPid(Attachment* a) {
  GuestRing* g = GuestOf(a->domain);
  if (g == nullptr || g->host_pid != 0) return;  // watching, or already failed once
  int32_t pid = a->ring->LoadClientHostPid();
  if (pid <= 0) return;  // the driver writes it before its first kick
  g->host_pid = pid;
  a->pid = pid;  // for log lines only: identity is per guest process
  // The driver sends its memory before its first kick, so it is queued on
  // PATH.mem by now; without it guest vcopy answers EDVSNOSYS (said once
  // here, not per call).
  TakeGuestMemory(g);
  if (!g->mem.mapped())
    spdlog::warn("guest ring {} (domain {}): guest vcopy fails with EDVSNOSYS: the guest gave "
                 "no usable memory on {}.mem",
                 g->path, g->domain, g->path);
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0 && errno == ESRCH) {
    // Died before we looked (or a pid that never was): free the ring now.
    spdlog::info("guest ring {} (domain {}): claimed by host pid {}, which is gone", g->path,
                 g->domain, pid);
    GuestGone(g);
    return;
  }
  if (fd < 0) {
    spdlog::warn("guest ring {}: cannot watch host pid {}: {}", g->path, pid,
                 std::strerror(errno));
    return;
  }
  g->pidfd = fd;
  ev_io_init(&g->pid_io, &Backend::OnGuestPidExit, fd, EV_READ);
  g->pid_io.data = g;
  ev_io_start(loop_, &g->pid_io);
  spdlog::info("guest ring {} (domain {}): guest is host pid {}", g->path, g->domain, pid);
}

void Backend::OnGuestPidExit(struct ev_loop*, ev_io* w, int) {
  auto* g = static_cast<GuestRing*>(w->data);
  auto* self = static_cast<Backend*>(g->backend);
  spdlog::info("guest ring {} (domain {}): guest (host pid {}) died", g->path, g->domain,
               g->host_pid);
  self->GuestGone(g);
  self->ServeAll();
}

void Backend::GuestGone(GuestRing* g) {
  g->StopPidWatch();
  g->host_pid = 0;
  g->mem.Unmap();
  g->shrunk_noted = false;
  g->mem_refusals = 0;
  if (g->attach_id != 0) DetachNow(g->attach_id, VDVK_DEAD_NONE, "guest died");
  // A ring file the guest shrank is replaced by a new one (new inode,
  // new FIFOs) for the next guest.
  bool made_anew = false;
  if (g->ring && g->ring->lost()) {
    std::string error;
    const RingGeometry geo = g->ring->geometry();
    g->ring = CreateGuestRingFiles(g->path, geo, cfg_.node_id, g->uid, g->gid, &error);
    if (!g->ring) {
      spdlog::error("guest ring {}: out of service: {}", g->path, error);
      return;
    }
    made_anew = true;
  }
  // DetachNow handed the ring back to g; zeroing it also clears
  // client_host_pid, which lets the next guest claim it.
  if (g->ring) {
    g->ring->Reinit(cfg_.node_id);
    AttachGuest(g);
  }
  // Said once the new ring is ready: a guest that takes it at this line (a
  // test does) must not have its first request zeroed by Reinit.
  if (made_anew) spdlog::info("guest ring {} (domain {}): ring files made anew", g->path, g->domain);
}

void Backend::DropShrunkGuests() {
  if (fault_guard::LostCount() == lost_seen_) return;
  lost_seen_ = fault_guard::LostCount();
  for (auto& [domain, g] : guests_) {
    Attachment* a = GuestAttachment(domain);
    const SharedRing* ring = RingOf(g.get());
    const bool ring_lost = ring != nullptr && ring->lost();
    if ((!ring_lost && !g->mem.lost()) || g->shrunk_noted) continue;
    g->shrunk_noted = true;  // until the guest dies
    g->mem.Unmap();  // lost or not: this guest's vcopies end here
    // Shrunk before we read its host pid (or it cannot be watched): no death
    // will ever be seen, so the next guest gets new files now. This one keeps
    // its mappings and fds of the old, unlinked ones, which lead nowhere.
    const bool unwatched = g->pidfd < 0;
    spdlog::error("guest ring {} (domain {}): the guest (host pid {}) shrank its {} under us: "
                  "dropped {}",
                  g->path, domain, g->host_pid, ring_lost ? "ring file" : "memory file",
                  unwatched ? "(its death cannot be watched: the ring is made anew now)" : "until it dies");
    if (a != nullptr) DetachNow(a->id, VDVK_DEAD_SHRUNK, "shrank a mapped file");
    if (unwatched) GuestGone(g.get());
  }
}

void Backend::GuestDetachNow(std::unique_ptr<Attachment> a, const char* why) {
  GuestRing* g = GuestOf(a->domain);
  ev_io_stop(loop_, &a->kick_io);
  ctr_.detach_total++;
  spdlog::info("guest ring domain {} detached ({})", a->domain, why);
  std::vector<RequestId> mine;
  for (auto& [tag, rid] : a->by_tag) mine.push_back(rid);
  const uint32_t domain = a->domain;
  // The ring stays mapped and its FIFOs open: the guest may still be alive
  // (a protocol violation), and a dead one's ring is reset for the next.
  if (g) {
    g->ring = std::move(a->ring);
    g->attach_id = 0;
  }
  a.reset();  // completions for it are dropped from here on
  FailPinsOf(domain);
  WithEngine([&] {
    engine_->DomainGone(domain, Now());
    for (RequestId rid : mine) engine_->Cancel(rid, Now());
  });
  for (RequestId rid : mine) pending_.erase(rid);
}

void Backend::HandleProcExit(Attachment* a, const vdvk_sqe& sqe) {
  // From the guest kernel (file release of /dev/vdvk): no completion.
  const int32_t tgid = sqe.arg[0];
  if (tgid <= 0) return;
  spdlog::debug("guest domain {} process {} exited", a->domain, tgid);
  WithEngine([&] { engine_->ProcessExited(ProcKey{a->domain, tgid}, Now()); });
}

// ---- vcopy -------------------------------------------------------------------------

int32_t Backend::PrepareGuestVcopy(Attachment* a, const vdvk_sqe& sqe, PhysLists* out) {
  GuestMemory* mem = MemoryOf(a->domain);
  if (mem == nullptr || !mem->mapped()) return EDVSNOSYS;
  // Only the guest kernel's pinned-page list makes a guest vcopy possible.
  if (!(sqe.flags & VDVK_SQE_F_GUEST_PHYS) || sqe.buf_len == 0) return EDVSNOSYS;
  if (sqe.arg[2] < 0) return EDVSINVAL;
  // One read of the list out of shared memory, then validation of the copy.
  std::vector<uint8_t> copy(sqe.buf_len);
  std::memcpy(copy.data(), a->ring->shm_buf(sqe.buf_index), copy.size());
  if (!ParsePhysLists(copy.data(), sqe.buf_len, static_cast<uint64_t>(sqe.arg[2]), mem->size(),
                      out))
    return EDVSINVAL;
  return 0;
}

void Backend::PlanGuestVcopy(const VcopyGrant& g, const Pending* p) {
  Deferred d{};
  d.kind = Deferred::kFail;
  d.grant = g;
  if (g.bytes == 0) {
    deferred_.push_back(std::move(d));  // result 0: nothing to move
    return;
  }
  // Each side is a host process (process_vm_*), the guest caller's own pages
  // (pinned and listed in its VCOPY), or a guest process that is not the
  // caller: its guest kernel pins it on request (guest_pin.cc).
  std::vector<vdvk_phys_extent> ext[2];
  bool ask[2] = {false, false};
  for (int side = 0; side < 2; ++side) {
    const ProcKey& who = side == 0 ? g.src : g.dst;
    if (who.domain == 0) continue;
    if (p != nullptr && who == g.caller) {
      ext[side] = side == 0 ? p->phys.src : p->phys.dst;
      if (ext[side].empty()) {
        d.result = EDVSFAULT;  // the guest kernel could not pin the caller's range
        deferred_.push_back(std::move(d));
        return;
      }
    } else {
      ask[side] = true;
    }
  }
  if (!ask[0] && !ask[1]) {
    d.kind = Deferred::kGuestCopy;
    d.src_ext = std::move(ext[0]);
    d.dst_ext = std::move(ext[1]);
    deferred_.push_back(std::move(d));
    return;
  }
  PinJob& job = pin_jobs_[g.id];
  job.grant = g;
  job.src_ext = std::move(ext[0]);
  job.dst_ext = std::move(ext[1]);
  for (int side = 0; side < 2; ++side) {
    if (!ask[side]) continue;
    int32_t r = RequestPin(g, side == 0);
    if (r != 0 && job.result == 0) job.result = r;
  }
  if (job.waiting > 0) return;  // PinAnswered finishes it
  d.result = job.result;
  pin_jobs_.erase(g.id);
  deferred_.push_back(std::move(d));
}

int32_t Backend::RunGuestCopy(const Deferred& d) {
  const VcopyGrant& g = d.grant;
  GuestMemory* sm = g.src.domain != 0 ? MemoryOf(g.src.domain) : nullptr;
  GuestMemory* dm = g.dst.domain != 0 ? MemoryOf(g.dst.domain) : nullptr;
  if (g.src.domain != 0 && (sm == nullptr || !sm->mapped())) return EDVSSRCDIED;
  if (g.dst.domain != 0 && (dm == nullptr || !dm->mapped())) return EDVSDSTDIED;
  int32_t r;
  if (sm != nullptr && dm != nullptr)
    r = CopyGuestGuest(*sm, d.src_ext, *dm, d.dst_ext, g.bytes);
  else if (sm != nullptr)
    r = CopyGuestHost(*sm, d.src_ext, true, g.dst.pid, g.dst_addr, g.bytes);
  else if (dm != nullptr)
    r = CopyGuestHost(*dm, d.dst_ext, false, g.src.pid, g.src_addr, g.bytes);
  else
    return EDVSNOSYS;  // host-only vcopies never come here (StartVcopy)
  // A guest that shrank its memory file during the copy: what moved is zeros.
  if (sm != nullptr && sm->lost()) r = EDVSSRCDIED;
  if (dm != nullptr && dm->lost()) r = EDVSDSTDIED;
  if (r == 0) ctr_.vcopy_zero_copy_bytes += g.bytes;
  return r;
}

}  // namespace vdvk::rings
