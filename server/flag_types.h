// Value types of aoti-executord's abseil flags (server/daemon_flags.cc).
//
// Each type checks its value as absl parses it (AbslParseFlag), so a bad
// value is refused at start, with the reason, before anything is served.
// absl finds the two functions of each type by argument-dependent lookup.
// The empty text parses as the empty default (absl checks that a default
// parses back whenever a flag is set): ParseDaemonFlags refuses an empty
// value for every flag before absl sees it.
#ifndef AOTI_EXECUTOR_SERVER_FLAG_TYPES_H_
#define AOTI_EXECUTOR_SERVER_FLAG_TYPES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace aoti_executor {

// A gRPC address as ParseEndpoint reads it ("unix:/abs/path", "/abs/path",
// "tcp:HOST:PORT"), kept as given; empty: not given.
struct AddressFlag {
  std::string value;
};
bool AbslParseFlag(absl::string_view text, AddressFlag* flag,
                   std::string* error);
std::string AbslUnparseFlag(const AddressFlag& flag);

// A comma list of addresses, each as AddressFlag; none may be empty. The
// empty text is the empty list.
struct AddressListFlag {
  std::vector<std::string> values;
};
bool AbslParseFlag(absl::string_view text, AddressListFlag* flag,
                   std::string* error);
std::string AbslUnparseFlag(const AddressListFlag& flag);

// A comma list of file paths; none may be empty. The empty text is the
// empty list.
struct PathListFlag {
  std::vector<std::string> values;
};
bool AbslParseFlag(absl::string_view text, PathListFlag* flag,
                   std::string* error);
std::string AbslUnparseFlag(const PathListFlag& flag);

// "HOST:PORT" for a TCP listener of our own (metrics): a host, and a port in
// 0..65535 (0: the kernel picks one). "[::1]:PORT" for IPv6; empty: none.
struct HostPortFlag {
  std::string value;
};
bool AbslParseFlag(absl::string_view text, HostPortFlag* flag,
                   std::string* error);
std::string AbslUnparseFlag(const HostPortFlag& flag);

// A comma list of user ids (--allow-uid): each a number or a user name,
// which is looked up (getpwnam) as the flag is parsed. The empty text is the
// empty list.
struct UidListFlag {
  std::vector<uint32_t> values;
};
bool AbslParseFlag(absl::string_view text, UidListFlag* flag,
                   std::string* error);
std::string AbslUnparseFlag(const UidListFlag& flag);

// The same for group ids (--allow-gid): numbers or group names (getgrnam).
struct GidListFlag {
  std::vector<uint32_t> values;
};
bool AbslParseFlag(absl::string_view text, GidListFlag* flag,
                   std::string* error);
std::string AbslUnparseFlag(const GidListFlag& flag);

// spdlog's level names: trace, debug, info, warn(ing), err(or), critical,
// off.
struct LogLevelFlag {
  std::string value;
};
bool AbslParseFlag(absl::string_view text, LogLevelFlag* flag,
                   std::string* error);
std::string AbslUnparseFlag(const LogLevelFlag& flag);

// "text" (spdlog's lines) or "json" (one object per line).
struct LogFormatFlag {
  std::string value;
};
bool AbslParseFlag(absl::string_view text, LogFormatFlag* flag,
                   std::string* error);
std::string AbslUnparseFlag(const LogFormatFlag& flag);

// A decimal integer of at least kMin (timeouts, counts, an fd).
template <int64_t kMin>
struct AtLeastFlag {
  int64_t value = kMin;

  friend bool AbslParseFlag(absl::string_view text, AtLeastFlag* flag,
                            std::string* error) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(text, &value) || value < kMin) {
      *error = absl::StrCat("expected an integer >= ", kMin);
      return false;
    }
    flag->value = value;
    return true;
  }
  friend std::string AbslUnparseFlag(const AtLeastFlag& flag) {
    return absl::StrCat(flag.value);
  }
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_FLAG_TYPES_H_
