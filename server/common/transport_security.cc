#include "server/common/transport_security.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"

namespace aoti_executor {
namespace {

const char* Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0' ? value : nullptr;
}

absl::StatusOr<bool> EnvSwitch(const char* name) {
  const char* value = Env(name);
  if (value == nullptr) return false;
  const std::string text = absl::AsciiStrToLower(value);
  if (text == "1" || text == "true" || text == "yes" || text == "on") {
    return true;
  }
  if (text == "0" || text == "false" || text == "no" || text == "off") {
    return false;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("$", name, "=\"", value,
                   "\" is neither 1/true/yes/on nor 0/false/no/off"));
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view flag) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, "=", path, ": cannot read it: ", std::strerror(errno)));
  }
  std::stringstream text;
  text << file.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, "=", path, ": not a PEM file (no -----BEGIN)"));
  }
  return text.str();
}

absl::StatusOr<ClientTls> ClientTlsFromEnvironment() {
  ClientTls tls;
  AOTI_ASSIGN_OR_RETURN(tls.insecure, EnvSwitch(kInsecureTcpEnvVar));
  const char* ca = Env(kTlsCaEnvVar);
  const char* cert = Env(kTlsCertEnvVar);
  const char* key = Env(kTlsKeyEnvVar);
  const char* name = Env(kTlsServerNameEnvVar);
  if (tls.insecure && (ca || cert || key || name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("$", kInsecureTcpEnvVar, " asks for plain TCP, but $",
                     ca     ? kTlsCaEnvVar
                     : cert ? kTlsCertEnvVar
                     : key  ? kTlsKeyEnvVar
                            : kTlsServerNameEnvVar,
                     " is set for TLS: unset one"));
  }
  if ((cert == nullptr) != (key == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("$", kTlsCertEnvVar, " and $", kTlsKeyEnvVar,
                     " go together (the client certificate and its key); "
                     "only $",
                     cert ? kTlsCertEnvVar : kTlsKeyEnvVar, " is set"));
  }
  if (ca != nullptr) {
    AOTI_ASSIGN_OR_RETURN(tls.root_certs,
                          ReadPemFile(ca, absl::StrCat("$", kTlsCaEnvVar)));
  }
  if (cert != nullptr) {
    AOTI_ASSIGN_OR_RETURN(tls.cert_chain,
                          ReadPemFile(cert, absl::StrCat("$", kTlsCertEnvVar)));
    AOTI_ASSIGN_OR_RETURN(tls.private_key,
                          ReadPemFile(key, absl::StrCat("$", kTlsKeyEnvVar)));
  }
  if (name != nullptr) tls.server_name = name;
  return tls;
}

absl::StatusOr<Endpoint> WithClientTls(Endpoint endpoint) {
  if (endpoint.kind != Endpoint::Kind::kTcp) return endpoint;
  AOTI_ASSIGN_OR_RETURN(endpoint.tls, ClientTlsFromEnvironment());
  return endpoint;
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(
    const Endpoint& endpoint, grpc::ChannelArguments* args) {
  if (endpoint.kind == Endpoint::Kind::kUnix || endpoint.tls.insecure) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = endpoint.tls.root_certs;
  options.pem_cert_chain = endpoint.tls.cert_chain;
  options.pem_private_key = endpoint.tls.private_key;
  if (!endpoint.tls.server_name.empty()) {
    args->SetSslTargetNameOverride(endpoint.tls.server_name);
  }
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::Channel> CreateChannelTo(const Endpoint& endpoint,
                                               grpc::ChannelArguments args) {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      ChannelCredentialsFor(endpoint, &args);
  return grpc::CreateCustomChannel(endpoint.grpc_target(), credentials, args);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerTlsCredentials(
    const ServerTlsFiles& files) {
  grpc::SslServerCredentialsOptions options(
      files.client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  AOTI_ASSIGN_OR_RETURN(pair.cert_chain, ReadPemFile(files.cert, "--tls-cert"));
  AOTI_ASSIGN_OR_RETURN(pair.private_key, ReadPemFile(files.key, "--tls-key"));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!files.client_ca.empty()) {
    AOTI_ASSIGN_OR_RETURN(options.pem_root_certs,
                          ReadPemFile(files.client_ca, "--tls-client-ca"));
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace aoti_executor
