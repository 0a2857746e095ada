#include "server/service/admin_guard.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace aoti_executor {
namespace {

// The value of auth context property `name`, or "".
std::string Property(const grpc::AuthContext& auth, const char* name) {
  std::vector<grpc::string_ref> values = auth.FindPropertyValues(name);
  return values.empty() ? "" : std::string(values[0].data(), values[0].size());
}

}  // namespace

absl::Status CheckAdminPeer(const grpc::ServerContext& context,
                            absl::string_view rpc) {
  const std::string peer = context.peer();
  // Accepted by UnixGrpcListener, which hands gRPC only allowed peers.
  if (absl::StartsWith(peer, "fd:")) return absl::OkStatus();
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  const std::string security =
      auth == nullptr ? "" : Property(*auth, "transport_security_type");
  if (absl::StartsWith(peer, "ipv4:") || absl::StartsWith(peer, "ipv6:")) {
    // The daemon verifies client certificates only under --tls-client-ca
    // (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY), so a
    // peer identity here is a verified one.
    if (security == "ssl" && auth->IsPeerAuthenticated()) {
      return absl::OkStatus();
    }
    const std::string connection =
        security == "ssl"
            ? "TLS without a client certificate (the daemon has no "
              "--tls-client-ca)"
            : "plain TCP (--insecure-tcp)";
    spdlog::warn("{} refused to {}: {}", std::string(rpc), peer, connection);
    return absl::PermissionDeniedError(absl::StrCat(
        rpc,
        " is an admin call: aoti-executord answers it on its Unix "
        "socket to allowed local users, or over TCP to clients with a "
        "certificate of --tls-client-ca (mutual TLS); this connection is ",
        connection));
  }
  // The in-process channel (the liveness probe): peer "unknown", and no
  // transport security of any kind.
  if (peer == "unknown" && security.empty()) return absl::OkStatus();
  spdlog::warn("{} refused to {} (transport security '{}')", std::string(rpc),
               peer, security);
  return absl::PermissionDeniedError(
      absl::StrCat(rpc, " is an admin call, and this connection (", peer,
                   ") is none aoti-executord answers admin calls on"));
}

grpc::Status DenyNonAdmin(const grpc::ServerContext& context,
                          absl::string_view rpc) {
  const absl::Status allowed = CheckAdminPeer(context, rpc);
  if (allowed.ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      std::string(allowed.message()));
}

}  // namespace aoti_executor
