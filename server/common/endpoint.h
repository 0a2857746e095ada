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

// How a client secures a TCP connection to the daemon
// (server/common/transport_security.h): TLS unless `insecure`. The PEM
// texts are read when the endpoint is resolved, so a file that changes later
// changes nothing.
struct ClientTls {
  // Plain TCP: no TLS at all ($AOTI_EXECUTOR_INSECURE_TCP).
  bool insecure = false;
  // CA certificates to verify the daemon with; empty: gRPC's default roots.
  std::string root_certs;
  // The client's certificate chain and key, for mutual TLS; both or none.
  std::string cert_chain;
  std::string private_key;
  // The name the daemon's certificate must carry; empty: the endpoint's host.
  std::string server_name;
};

struct Endpoint {
  enum class Kind { kUnix, kTcp };

  Kind kind = Kind::kUnix;
  // kUnix: the socket's absolute path. kTcp: "HOST:PORT" ("[::1]:PORT" for
  // an IPv6 address).
  std::string address;
  // kTcp, for clients: how the connection is secured (TLS by default).
  ClientTls tls;

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
