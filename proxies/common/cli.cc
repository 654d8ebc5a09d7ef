#include "proxies/common/cli.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vdvk::tools {

bool ParseInt(const std::string& s, int64_t lo, int64_t hi, int64_t* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 0);
  if (errno != 0 || end == s.c_str() || *end != '\0') return false;
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool ParseSize(const std::string& s, uint64_t max, uint64_t* out) {
  if (s.empty() || s[0] == '-') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str()) return false;
  uint64_t mult = 1;
  std::string suffix(end);
  if (suffix == "k" || suffix == "K" || suffix == "KiB") mult = 1ull << 10;
  else if (suffix == "m" || suffix == "M" || suffix == "MiB") mult = 1ull << 20;
  else if (suffix == "g" || suffix == "G" || suffix == "GiB") mult = 1ull << 30;
  else if (!suffix.empty()) return false;
  if (v > max / mult) return false;
  *out = v * mult;
  return true;
}

Args::Args(int argc, char** argv, const std::string& usage_text, std::vector<FlagSpec> specs) {
  prog_ = argc > 0 ? argv[0] : "tool";
  if (auto slash = prog_.rfind('/'); slash != std::string::npos) prog_ = prog_.substr(slash + 1);
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (only_positional || a.size() < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9')) {
      positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      std::printf("%s\n", usage_text.c_str());
      if (!specs.empty()) std::printf("\nOptions:\n");
      for (const auto& s : specs) {
        std::string left = "--" + s.name + (s.takes_value ? " VALUE" : "");
        std::printf("  %-22s %s\n", left.c_str(), s.help.c_str());
      }
      std::printf("  %-22s %s\n", "--help", "show this help");
      std::exit(kExitOk);
    }
    if (a.rfind("--", 0) != 0) UsageError("unknown option '" + a + "'");
    std::string name = a.substr(2), value;
    bool has_inline = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == name) spec = &s;
    if (spec == nullptr) UsageError("unknown option '--" + name + "'");
    if (spec->takes_value) {
      if (!has_inline) {
        if (i + 1 >= argc) UsageError("option '--" + name + "' needs a value");
        value = argv[++i];
      }
    } else if (has_inline) {
      UsageError("option '--" + name + "' takes no value");
    }
    values_[name] = value;
  }
}

std::string Args::Str(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

int64_t Args::Int(const std::string& name, int64_t def, int64_t lo, int64_t hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  int64_t v = 0;
  if (!ParseInt(it->second, lo, hi, &v))
    UsageError("bad value '" + it->second + "' for --" + name + " (expected an integer in [" +
               std::to_string(lo) + ", " + std::to_string(hi) + "])");
  return v;
}

void Args::UsageError(const std::string& msg) const {
  std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", prog_.c_str(), msg.c_str(), prog_.c_str());
  std::exit(kExitUsage);
}

}  // namespace vdvk::tools
