#include "server/common/endpoint.h"

#include <sys/un.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace aoti_executor {
namespace {

constexpr size_t kMaxUnixPathLength = sizeof(sockaddr_un{}.sun_path) - 1;

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid endpoint \"", text, "\": ", why,
                   " (expected unix:/abs/path, unix:///abs/path, /abs/path or "
                   "tcp:HOST:PORT)"));
}

absl::StatusOr<Endpoint> ParseUnix(absl::string_view text,
                                   absl::string_view path) {
  if (path.empty() || path[0] != '/') {
    return Invalid(text, "the socket path must be absolute");
  }
  if (path.size() > kMaxUnixPathLength) {
    return Invalid(text, absl::StrCat("the socket path is ", path.size(),
                                      " bytes, at most ", kMaxUnixPathLength,
                                      " fit in sockaddr_un"));
  }
  if (path.find('\0') != absl::string_view::npos) {
    return Invalid(text, "the socket path contains a NUL byte");
  }
  Endpoint endpoint;
  endpoint.kind = Endpoint::Kind::kUnix;
  endpoint.address = std::string(path);
  return endpoint;
}

absl::StatusOr<Endpoint> ParseTcp(absl::string_view text,
                                  absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos) {
    return Invalid(text, "no port after the host");
  }
  const absl::string_view host = host_port.substr(0, colon);
  const absl::string_view port = host_port.substr(colon + 1);
  if (host.empty() || host == "[]") return Invalid(text, "no host");
  if (host.find(':') != absl::string_view::npos &&
      !(host.front() == '[' && host.back() == ']')) {
    return Invalid(text, "an IPv6 address must be in brackets, [::1]:PORT");
  }
  int port_number = 0;
  if (port.empty() || !absl::SimpleAtoi(port, &port_number) ||
      port_number < 1 || port_number > 65535 ||
      port.find_first_not_of("0123456789") != absl::string_view::npos) {
    return Invalid(text, "the port must be a number in 1..65535");
  }
  Endpoint endpoint;
  endpoint.kind = Endpoint::Kind::kTcp;
  endpoint.address = std::string(host_port);
  return endpoint;
}

}  // namespace

std::string Endpoint::grpc_target() const {
  return kind == Kind::kUnix ? absl::StrCat("unix:", address) : address;
}

std::string Endpoint::ToString() const {
  return absl::StrCat(kind == Kind::kUnix ? "unix:" : "tcp:", address);
}

absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view text) {
  if (text.empty()) return Invalid(text, "it is empty");
  if (absl::StartsWith(text, "unix://")) {
    // unix:///abs/path: an empty authority, then the absolute path.
    absl::string_view rest = text.substr(7);
    if (rest.empty() || rest[0] != '/') {
      return Invalid(text, "unix:// must be followed by an absolute path");
    }
    return ParseUnix(text, rest);
  }
  if (absl::StartsWith(text, "unix:")) return ParseUnix(text, text.substr(5));
  if (absl::StartsWith(text, "tcp:")) return ParseTcp(text, text.substr(4));
  if (text[0] == '/') return ParseUnix(text, text);
  return Invalid(text, "unknown scheme");
}

absl::StatusOr<Endpoint> ResolveEndpoint(const char* argument) {
  if (argument != nullptr && argument[0] != '\0') {
    return ParseEndpoint(argument);
  }
  const char* from_env = std::getenv(kEndpointEnvVar);
  if (from_env != nullptr && from_env[0] != '\0') {
    absl::StatusOr<Endpoint> endpoint = ParseEndpoint(from_env);
    if (!endpoint.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "$", kEndpointEnvVar, ": ", endpoint.status().message()));
    }
    return endpoint;
  }
  return ParseEndpoint(kDefaultEndpoint);
}

}  // namespace aoti_executor
