// Where the daemon listens: the address strings the daemon's --listen and
// the shim's endpoint accept, and the gRPC target each one means. One parser
// for both, so that whatever the daemon serves on, a client can name.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_ENDPOINT_H_
#define AOTI_EXECUTOR_SERVER_COMMON_ENDPOINT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace aoti_executor {

// The daemon's default socket: where it listens with no --listen, and what
// the shim uses when neither the caller nor the environment names one.
inline constexpr char kDefaultEndpoint[] =
    "unix:/tmp/aoti-executor/executor.sock";
// The environment variable the shim consults when the caller passes no
// endpoint.
inline constexpr char kEndpointEnvVar[] = "AOTI_EXECUTOR_ENDPOINT";

struct Endpoint {
  enum class Kind { kUnix, kTcp };

  Kind kind = Kind::kUnix;
  // kUnix: the socket's absolute path. kTcp: "HOST:PORT" ("[::1]:PORT" for
  // an IPv6 address).
  std::string address;

  // What grpc::CreateChannel takes: "unix:/path" or "HOST:PORT".
  std::string grpc_target() const;
  // The canonical spelling, used in every message: "unix:/path" or
  // "tcp:HOST:PORT".
  std::string ToString() const;
};

// Parses "unix:/abs/path", "unix:///abs/path", "/abs/path" (a Unix socket) or
// "tcp:HOST:PORT". InvalidArgument, quoting `text`, for anything else: a
// relative or too long (>= 108 bytes) socket path, a missing host, or a port
// that is not a number in 1..65535.
absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view text);

// The endpoint to use: `argument` unless it is NULL or empty, else
// $AOTI_EXECUTOR_ENDPOINT unless it is unset or empty, else kDefaultEndpoint.
absl::StatusOr<Endpoint> ResolveEndpoint(const char* argument);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_ENDPOINT_H_
