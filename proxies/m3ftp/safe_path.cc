#include "proxies/m3ftp/safe_path.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <vector>

#include "dvk/dvk.h"

namespace vdvk::tools {
namespace {

bool Below(const std::string& root_real, const std::string& p) {
  if (p == root_real) return true;
  if (root_real == "/") return true;
  return p.size() > root_real.size() && p.compare(0, root_real.size(), root_real) == 0 &&
         p[root_real.size()] == '/';
}

// Splits name into components relative to root; rejects "..", NULs and
// absolute names outside the root.
int Components(const std::string& root_real, const std::string& name, std::vector<std::string>* out) {
  if (name.empty()) return EDVSINVAL;
  if (name.size() > 4095) return EDVSNAMETOOLONG;
  if (name.find('\0') != std::string::npos) return EDVSINVAL;
  std::string rel = name;
  if (rel[0] == '/') {
    if (!Below(root_real, rel)) return EDVSACCES;
    rel = rel.substr(root_real == "/" ? 1 : root_real.size());
  }
  size_t i = 0;
  while (i <= rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    std::string c = rel.substr(i, j - i);
    if (c == "..") return EDVSACCES;
    if (!c.empty() && c != ".") {
      if (c.size() > NAME_MAX) return EDVSNAMETOOLONG;
      out->push_back(c);
    }
    i = j + 1;
  }
  if (out->empty()) return EDVSISDIR;  // names the root itself
  return 0;
}

std::string Join(const std::string& root_real, const std::vector<std::string>& parts, size_t n) {
  std::string p = root_real == "/" ? "" : root_real;
  for (size_t i = 0; i < n; ++i) p += "/" + parts[i];
  return p.empty() ? "/" : p;
}

int ErrnoToDvk(int e) {
  switch (e) {
    case ENOENT: return EDVSNOENT;
    case ENOTDIR: return EDVSNOTDIR;
    case ENAMETOOLONG: return EDVSNAMETOOLONG;
    case EACCES: return EDVSACCES;
    case ELOOP: return EDVSLOOP;
    default: return EDVSIO;
  }
}

}  // namespace

int ResolveExisting(const std::string& root_real, const std::string& name, std::string* out) {
  std::vector<std::string> parts;
  if (int rc = Components(root_real, name, &parts); rc < 0) return rc;
  std::string joined = Join(root_real, parts, parts.size());
  char buf[PATH_MAX];
  if (realpath(joined.c_str(), buf) == nullptr) return ErrnoToDvk(errno);
  std::string real = buf;
  // A symlink inside the root may point outside it.
  if (!Below(root_real, real) || real == root_real) return EDVSACCES;
  struct stat st;
  if (stat(real.c_str(), &st) != 0) return ErrnoToDvk(errno);
  if (S_ISDIR(st.st_mode)) return EDVSISDIR;
  if (!S_ISREG(st.st_mode)) return EDVSINVAL;
  *out = real;
  return 0;
}

int ResolveForCreate(const std::string& root_real, const std::string& name, std::string* out) {
  std::vector<std::string> parts;
  if (int rc = Components(root_real, name, &parts); rc < 0) return rc;
  if (!name.empty() && name.back() == '/') return EDVSISDIR;
  std::string dir = Join(root_real, parts, parts.size() - 1);
  char buf[PATH_MAX];
  if (realpath(dir.c_str(), buf) == nullptr) return ErrnoToDvk(errno);
  std::string dir_real = buf;
  if (!Below(root_real, dir_real)) return EDVSACCES;
  std::string full = (dir_real == "/" ? "" : dir_real) + "/" + parts.back();
  struct stat st;
  if (lstat(full.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return EDVSISDIR;
    if (!S_ISREG(st.st_mode)) return EDVSACCES;  // symlinks and devices are not replaced
  }
  *out = full;
  return 0;
}

}  // namespace vdvk::tools
