#include "server/flag_types.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/common/endpoint.h"

namespace aoti_executor {
namespace {

bool ParseList(absl::string_view text, std::vector<std::string>* values,
               std::string* error) {
  if (text.empty()) {
    values->clear();
    return true;
  }
  std::vector<std::string> parts = absl::StrSplit(text, ',');
  for (const std::string& part : parts) {
    if (part.empty()) {
      *error = "expected a comma list without empty entries";
      return false;
    }
  }
  *values = std::move(parts);
  return true;
}

bool CheckAddress(absl::string_view text, std::string* error) {
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(text);
  if (endpoint.ok()) return true;
  // It names the forms it takes.
  *error = std::string(endpoint.status().message());
  return false;
}

// The one choice flags' parser: `text` must be one of `choices`.
bool ParseChoice(absl::string_view text,
                 std::initializer_list<absl::string_view> choices,
                 std::string* value, std::string* error) {
  if (std::find(choices.begin(), choices.end(), text) == choices.end()) {
    *error = absl::StrCat("expected one of ", absl::StrJoin(choices, ", "));
    return false;
  }
  *value = std::string(text);
  return true;
}

// A comma list of ids, each a number or a name that `lookup` resolves
// (false if there is no such name). `what`: "user" or "group".
template <typename Lookup>
bool ParseIdList(absl::string_view text, const char* what, Lookup lookup,
                 std::vector<uint32_t>* values, std::string* error) {
  std::vector<std::string> parts;
  if (!ParseList(text, &parts, error)) return false;
  std::vector<uint32_t> ids;
  for (const std::string& part : parts) {
    uint32_t id = 0;
    if (part.find_first_not_of("0123456789") == std::string::npos) {
      // (uid_t)-1 means "no id" to the kernel.
      if (!absl::SimpleAtoi(part, &id) || id == UINT32_MAX) {
        *error = absl::StrCat("'", part, "' is not a valid ", what, " id");
        return false;
      }
    } else if (!lookup(part, &id)) {
      *error = absl::StrCat("no ", what, " named '", part,
                            "' (give a name this system knows, or a number)");
      return false;
    }
    ids.push_back(id);
  }
  *values = std::move(ids);
  return true;
}

bool LookUpUser(const std::string& name, uint32_t* id) {
  struct passwd entry {};
  struct passwd* found = nullptr;
  char buffer[16384];
  if (getpwnam_r(name.c_str(), &entry, buffer, sizeof(buffer), &found) != 0 ||
      found == nullptr) {
    return false;
  }
  *id = found->pw_uid;
  return true;
}

bool LookUpGroup(const std::string& name, uint32_t* id) {
  struct group entry {};
  struct group* found = nullptr;
  char buffer[65536];
  if (getgrnam_r(name.c_str(), &entry, buffer, sizeof(buffer), &found) != 0 ||
      found == nullptr) {
    return false;
  }
  *id = found->gr_gid;
  return true;
}

}  // namespace

bool AbslParseFlag(absl::string_view text, UidListFlag* flag,
                   std::string* error) {
  return ParseIdList(text, "user", LookUpUser, &flag->values, error);
}

std::string AbslUnparseFlag(const UidListFlag& flag) {
  return absl::StrJoin(flag.values, ",");
}

bool AbslParseFlag(absl::string_view text, GidListFlag* flag,
                   std::string* error) {
  return ParseIdList(text, "group", LookUpGroup, &flag->values, error);
}

std::string AbslUnparseFlag(const GidListFlag& flag) {
  return absl::StrJoin(flag.values, ",");
}

bool AbslParseFlag(absl::string_view text, AddressFlag* flag,
                   std::string* error) {
  if (!text.empty() && !CheckAddress(text, error)) return false;
  flag->value = std::string(text);
  return true;
}

std::string AbslUnparseFlag(const AddressFlag& flag) { return flag.value; }

bool AbslParseFlag(absl::string_view text, AddressListFlag* flag,
                   std::string* error) {
  std::vector<std::string> values;
  if (!ParseList(text, &values, error)) return false;
  for (const std::string& value : values) {
    if (!CheckAddress(value, error)) return false;
  }
  flag->values = std::move(values);
  return true;
}

std::string AbslUnparseFlag(const AddressListFlag& flag) {
  return absl::StrJoin(flag.values, ",");
}

bool AbslParseFlag(absl::string_view text, PathListFlag* flag,
                   std::string* error) {
  return ParseList(text, &flag->values, error);
}

std::string AbslUnparseFlag(const PathListFlag& flag) {
  return absl::StrJoin(flag.values, ",");
}

bool AbslParseFlag(absl::string_view text, HostPortFlag* flag,
                   std::string* error) {
  const size_t colon = text.rfind(':');
  int port = -1;
  const bool ok =
      text.empty() || (colon != absl::string_view::npos && colon > 0 &&
                       absl::SimpleAtoi(text.substr(colon + 1), &port) &&
                       port >= 0 && port <= 65535);
  if (!ok) {
    *error = "expected HOST:PORT with a port in 0..65535";
    return false;
  }
  flag->value = std::string(text);
  return true;
}

std::string AbslUnparseFlag(const HostPortFlag& flag) { return flag.value; }

bool AbslParseFlag(absl::string_view text, LogLevelFlag* flag,
                   std::string* error) {
  return ParseChoice(
      text,
      // spdlog::level::from_str's names, its two short forms included.
      {"trace", "debug", "info", "warn", "warning", "error", "err", "critical",
       "off"},
      &flag->value, error);
}

std::string AbslUnparseFlag(const LogLevelFlag& flag) { return flag.value; }

bool AbslParseFlag(absl::string_view text, LogFormatFlag* flag,
                   std::string* error) {
  return ParseChoice(text, {"text", "json"}, &flag->value, error);
}

std::string AbslUnparseFlag(const LogFormatFlag& flag) { return flag.value; }

}  // namespace aoti_executor
