// cli.h - a tiny, strict command-line parser shared by the vdvk tools.
//
// Every value read from argv is hostile: numbers must parse completely and
// fall in range, unknown flags are errors. Usage errors exit 2 (the tools'
// convention: 0 ok, 1 runtime failure, 2 bad usage).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vdvk::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFail = 1;
inline constexpr int kExitUsage = 2;

// A flag the program accepts. takes_value=false makes it a boolean switch.
struct FlagSpec {
  std::string name;  // without the leading "--"
  bool takes_value;
  std::string help;
};

class Args {
 public:
  // Parses argv against specs. On error prints "<prog>: <why>" plus a hint and
  // exits kExitUsage; on --help prints usage_text and the flags and exits 0.
  Args(int argc, char** argv, const std::string& usage_text, std::vector<FlagSpec> specs);

  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::string Str(const std::string& name, const std::string& def) const;
  // Integer flag in [lo, hi]; a bad value is a usage error (exit 2).
  int64_t Int(const std::string& name, int64_t def, int64_t lo, int64_t hi) const;
  const std::vector<std::string>& Positional() const { return positional_; }
  const std::string& Prog() const { return prog_; }

  // Prints "<prog>: msg" and the --help hint, exits kExitUsage.
  [[noreturn]] void UsageError(const std::string& msg) const;

 private:
  std::string prog_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// Parses a whole string as an integer in [lo, hi] (base 0: 0x.. accepted).
bool ParseInt(const std::string& s, int64_t lo, int64_t hi, int64_t* out);
// Parses sizes like 4096, 4k, 64K, 1M (binary units).
bool ParseSize(const std::string& s, uint64_t max, uint64_t* out);

}  // namespace vdvk::tools
