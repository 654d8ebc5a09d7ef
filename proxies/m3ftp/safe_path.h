// safe_path.h - confine m3ftpd's file names to its --root directory.
// A name from a client is hostile: ".." components, absolute paths outside
// the root and symlinks leading out of it are all refused.
#pragma once

#include <string>

namespace vdvk::tools {

// Resolves name (relative to root, or absolute inside it) to an existing
// regular file below root_real (a realpath). Returns 0 and *out, or a
// negative EDVS code (EDVSACCES outside the root, EDVSNOENT missing,
// EDVSISDIR not a regular file, EDVSINVAL empty/bad, EDVSNAMETOOLONG).
int ResolveExisting(const std::string& root_real, const std::string& name, std::string* out);

// Resolves name to a path that may be created below root_real: its directory
// must exist inside the root and the final component must be a plain name.
int ResolveForCreate(const std::string& root_real, const std::string& name, std::string* out);

}  // namespace vdvk::tools
