// TLS for the daemon's TCP listeners and for the clients that reach it over
// TCP (the shim, and the daemon's own --status/--clear-quarantine/
// --health-check commands): gRPC's SslServerCredentials and SslCredentials,
// from PEM files. Unix sockets need none: the peer policy
// (server/service/peer_policy.h) stands there.
#ifndef AOTI_EXECUTOR_SERVER_COMMON_TRANSPORT_SECURITY_H_
#define AOTI_EXECUTOR_SERVER_COMMON_TRANSPORT_SECURITY_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/common/endpoint.h"

namespace aoti_executor {

// The client's TLS settings, from the environment (each a path to a PEM
// file, read now):
inline constexpr char kTlsCaEnvVar[] = "AOTI_EXECUTOR_TLS_CA";
inline constexpr char kTlsCertEnvVar[] = "AOTI_EXECUTOR_TLS_CERT";
inline constexpr char kTlsKeyEnvVar[] = "AOTI_EXECUTOR_TLS_KEY";
// The name to verify in the daemon's certificate, if not the endpoint's host.
inline constexpr char kTlsServerNameEnvVar[] = "AOTI_EXECUTOR_TLS_SERVER_NAME";
// "1" (or true/yes/on): plain TCP, no TLS; excludes the four above.
inline constexpr char kInsecureTcpEnvVar[] = "AOTI_EXECUTOR_INSECURE_TCP";

// The contents of PEM file `path`, named `flag` in errors ("--tls-cert",
// "$AOTI_EXECUTOR_TLS_CA"). InvalidArgument if it cannot be read, is empty
// or holds no "-----BEGIN ".
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view flag);

// ClientTls from the variables above. InvalidArgument naming the variable
// for an unreadable file, a certificate without its key (or the reverse), a
// bad switch, or TLS variables beside $AOTI_EXECUTOR_INSECURE_TCP=1.
absl::StatusOr<ClientTls> ClientTlsFromEnvironment();

// `endpoint` with its tls from the environment if it is a TCP endpoint
// (Unix endpoints ignore the variables).
absl::StatusOr<Endpoint> WithClientTls(Endpoint endpoint);

// Credentials and channel arguments for a channel to `endpoint`: insecure for
// a Unix socket or tls.insecure, TLS otherwise.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(
    const Endpoint& endpoint, grpc::ChannelArguments* args);

// grpc::CreateCustomChannel to `endpoint` with ChannelCredentialsFor.
std::shared_ptr<grpc::Channel> CreateChannelTo(const Endpoint& endpoint,
                                               grpc::ChannelArguments args);

// The daemon's TLS files (--tls-cert, --tls-key, --tls-client-ca).
struct ServerTlsFiles {
  std::string cert;
  std::string key;
  std::string client_ca;  // empty: no client certificates asked for
};

// SslServerCredentials from `files` (read now): with client_ca, a client
// must present a certificate that CA signed, or the handshake fails.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerTlsCredentials(
    const ServerTlsFiles& files);

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_COMMON_TRANSPORT_SECURITY_H_
