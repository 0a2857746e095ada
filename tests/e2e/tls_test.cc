// TCP listeners of the real aoti-executord: TLS (gRPC's own
// SslServerCredentials) with certificates made for this test by the openssl
// CLI, mutual TLS, and plain TCP only with --insecure-tcp; admin calls over
// TCP only from clients with a certificate. Clients are the real shim
// (tests/e2e/policy_peer, configured by the AOTI_EXECUTOR_TLS_* variables),
// the daemon's own --status command, and gRPC stubs in this test.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/executor.grpc.pb.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/logged_daemon.h"
#include "tests/e2e/peer_process.h"

namespace aoti_executor {
namespace e2e {
namespace {

namespace v1 = ::aoti::executor::v1;
using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(180);

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// A CA, a server certificate for 127.0.0.1 and localhost and a client
// certificate it signed, and a second CA with a client certificate of its
// own: made once for the suite.
class Certificates {
 public:
  Certificates() {
    char dir[] = "/tmp/aoti-tls.XXXXXX";
    if (mkdtemp(dir) == nullptr) return;
    dir_ = dir;
    chmod(dir, 0755);
    ok_ = MakeCa("ca") && MakeCa("wrong_ca") &&
          Sign("server", "ca", "/CN=localhost",
               "subjectAltName=IP:127.0.0.1,DNS:localhost") &&
          Sign("client", "ca", "/CN=aoti-test-client",
               "extendedKeyUsage=clientAuth") &&
          Sign("wrong_client", "wrong_ca", "/CN=aoti-test-intruder",
               "extendedKeyUsage=clientAuth");
  }
  ~Certificates() {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  bool ok() const { return ok_; }
  std::string pem(const std::string& name) const {
    return absl::StrCat(dir_, "/", name, ".pem");
  }
  std::string key(const std::string& name) const {
    return absl::StrCat(dir_, "/", name, ".key");
  }

 private:
  bool Run(const std::string& command) {
    const std::string quiet =
        absl::StrCat("cd ", dir_, " && ", command, " >>openssl.log 2>&1");
    const bool done = std::system(quiet.c_str()) == 0;
    if (!done)
      ADD_FAILURE() << command << ": " << ReadFile(dir_ + "/openssl.log");
    return done;
  }
  bool MakeCa(const std::string& name) {
    return Run(absl::StrCat(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout ", name,
        ".key -out ", name, ".pem -subj /CN=aoti-test-", name));
  }
  bool Sign(const std::string& name, const std::string& ca,
            const std::string& subject, const std::string& extension) {
    std::ofstream(absl::StrCat(dir_, "/", name, ".ext")) << extension << "\n";
    return Run(absl::StrCat("openssl req -newkey rsa:2048 -nodes -keyout ",
                            name, ".key -out ", name, ".csr -subj ",
                            subject)) &&
           Run(absl::StrCat("openssl x509 -req -days 2 -in ", name, ".csr -CA ",
                            ca, ".pem -CAkey ", ca,
                            ".key -CAcreateserial -out ", name,
                            ".pem -extfile ", name, ".ext"));
  }

  std::string dir_;
  bool ok_ = false;
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new Certificates(); }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(certs_->ok());
    char dir[] = "/tmp/aoti-tlsd.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    ASSERT_EQ(chmod(dir, 0755), 0);
    port_ = FreeTcpPort();
    ASSERT_GT(port_, 0);
    tcp_ = absl::StrCat("tcp:127.0.0.1:", port_);
  }
  void TearDown() override {
    daemon_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string unix_endpoint() const {
    return absl::StrCat("unix:", dir_, "/executor.sock");
  }
  std::vector<std::string> Listens() const {
    return {absl::StrCat("--listen=", unix_endpoint()),
            absl::StrCat("--listen=", tcp_)};
  }

  void StartDaemon(std::vector<std::string> more) {
    std::vector<std::string> flags = Listens();
    flags.insert(flags.end(), more.begin(), more.end());
    auto daemon = LoggedDaemon::Start({flags, dir_ + "/daemon.log"});
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
  }
  std::vector<std::string> ServerTls() const {
    return {"--tls-cert=" + certs_->pem("server"),
            "--tls-key=" + certs_->key("server")};
  }
  std::vector<std::string> MutualTls() const {
    std::vector<std::string> flags = ServerTls();
    flags.push_back("--tls-client-ca=" + certs_->pem("ca"));
    return flags;
  }
  // The shim's variables for TLS to the daemon, with `client`'s certificate
  // ("" for none), as NAME=VALUE.
  std::vector<std::string> ClientEnv(const std::string& ca,
                                     const std::string& client = "") const {
    std::vector<std::string> env = {"AOTI_EXECUTOR_TLS_CA=" + certs_->pem(ca)};
    if (!client.empty()) {
      env.push_back("AOTI_EXECUTOR_TLS_CERT=" + certs_->pem(client));
      env.push_back("AOTI_EXECUTOR_TLS_KEY=" + certs_->key(client));
    }
    return env;
  }

  // policy_peer (the shim) with `env`; its one line of output.
  std::string RunShim(const std::string& endpoint,
                      const std::vector<std::string>& env,
                      const std::vector<std::string>& more = {}) {
    // A refused handshake fails create at its connect timeout: keep it
    // short. (Nothing here measures time.)
    std::vector<std::string> args = {
        "--env=AOTI_EXECUTOR_CONNECT_TIMEOUT_MS=3000"};
    for (const std::string& var : env) args.push_back("--env=" + var);
    args.insert(args.end(), more.begin(), more.end());
    args.push_back(endpoint);
    args.push_back(RunfilePath("tests/fixtures/aten_ops.json"));
    auto peer = PeerProcess::Spawn(RunfilePath("tests/e2e/policy_peer"), args);
    if (!peer.ok()) return peer.status().ToString();
    absl::StatusOr<std::string> line = (*peer)->ReadLine(kPatience);
    (void)(*peer)->Wait(kPatience);
    return line.ok() ? *line : line.status().ToString();
  }

  // A stub over TCP: TLS with `ca` (and `client`'s certificate), or plain.
  std::unique_ptr<v1::Executor::Stub> TcpStub(const std::string& ca,
                                              const std::string& client = "") {
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (ca.empty()) {
      credentials = grpc::InsecureChannelCredentials();
    } else {
      grpc::SslCredentialsOptions options;
      options.pem_root_certs = ReadFile(certs_->pem(ca));
      if (!client.empty()) {
        options.pem_cert_chain = ReadFile(certs_->pem(client));
        options.pem_private_key = ReadFile(certs_->key(client));
      }
      credentials = grpc::SslCredentials(options);
    }
    return v1::Executor::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), credentials));
  }
  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
    return context;
  }
  static grpc::Status GetStatus(v1::Executor::Stub& stub) {
    v1::GetStatusResponse response;
    return stub.GetStatus(Context().get(), v1::GetStatusRequest(), &response);
  }
  static grpc::Status ClearQuarantine(v1::Executor::Stub& stub) {
    v1::ClearQuarantineResponse response;
    return stub.ClearQuarantine(Context().get(), v1::ClearQuarantineRequest(),
                                &response);
  }
  // Sessions open now, asked on the Unix socket (the test is the daemon's
  // user).
  int64_t Sessions() {
    auto stub = v1::Executor::NewStub(grpc::CreateChannel(
        unix_endpoint(), grpc::InsecureChannelCredentials()));
    v1::GetStatusResponse response;
    const grpc::Status status =
        stub->GetStatus(Context().get(), v1::GetStatusRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.sessions();
  }

  static Certificates* certs_;
  std::string dir_;
  int port_ = 0;
  std::string tcp_;
  std::unique_ptr<LoggedDaemon> daemon_;
};

Certificates* TlsTest::certs_ = nullptr;

// --listen=tcp: with neither TLS nor --insecure-tcp: no start, and the
// message names the flags to pass.
TEST_F(TlsTest, PlainTcpWithoutInsecureTcpRefusesToStart) {
  absl::StatusOr<CommandResult> run = RunDaemonCommand(Listens());
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 2) << run->output;
  EXPECT_THAT(run->output, HasSubstr("--listen=" + tcp_));
  EXPECT_THAT(run->output, HasSubstr("--tls-cert="));
  EXPECT_THAT(run->output, HasSubstr("--tls-key="));
  EXPECT_THAT(run->output, HasSubstr("--insecure-tcp"));
}

// TLS without client certificates: the shim runs calls when it trusts the
// daemon's CA, and not when it does not or speaks plain TCP; admin calls
// over it are refused, saying why, and answered on the Unix socket.
TEST_F(TlsTest, TlsServesTheShimAndRefusesAdminCallsWithoutACertificate) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon(ServerTls()));
  EXPECT_EQ(RunShim(tcp_, ClientEnv("ca")), "ok");
  EXPECT_THAT(RunShim(tcp_, ClientEnv("wrong_ca")), HasSubstr("create failed"));
  EXPECT_THAT(RunShim(tcp_, {"AOTI_EXECUTOR_INSECURE_TCP=1"}),
              HasSubstr("create failed"));

  auto stub = TcpStub("ca");
  for (const grpc::Status& status :
       {GetStatus(*stub), ClearQuarantine(*stub)}) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(status.error_message(),
                HasSubstr("TLS without a client certificate"));
    EXPECT_THAT(status.error_message(), HasSubstr("--tls-client-ca"));
  }
  EXPECT_EQ(Sessions(), 0);
}

// Mutual TLS: a client with a certificate of --tls-client-ca runs calls and
// admin calls (the shim, a stub, and `aoti-executord --status` with the
// shim's variables); one without a certificate, or with one another CA
// signed, fails the handshake and never gets a session.
TEST_F(TlsTest, MutualTlsAdmitsOnlyClientsWithACertificateOfTheClientCa) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon(MutualTls()));
  EXPECT_EQ(RunShim(tcp_, ClientEnv("ca", "client")), "ok");
  EXPECT_THAT(RunShim(tcp_, ClientEnv("ca")), HasSubstr("create failed"));
  EXPECT_THAT(RunShim(tcp_, ClientEnv("ca", "wrong_client")),
              HasSubstr("create failed"));
  EXPECT_EQ(Sessions(), 0);

  auto stub = TcpStub("ca", "client");
  EXPECT_TRUE(GetStatus(*stub).ok()) << GetStatus(*stub).error_message();
  EXPECT_TRUE(ClearQuarantine(*stub).ok());
  EXPECT_FALSE(GetStatus(*TcpStub("ca")).ok());
  EXPECT_FALSE(GetStatus(*TcpStub("ca", "wrong_client")).ok());

  absl::StatusOr<CommandResult> status =
      RunDaemonCommand({"--status=" + tcp_}, ClientEnv("ca", "client"));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->exit_code, 0) << status->output;
  EXPECT_THAT(status->output, HasSubstr("sessions 0"));
}

// --insecure-tcp: plain TCP serves the shim that asks for it
// ($AOTI_EXECUTOR_INSECURE_TCP), but no admin call.
TEST_F(TlsTest, InsecureTcpServesCallsButNoAdminCalls) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon({"--insecure-tcp"}));
  EXPECT_EQ(RunShim(tcp_, {"AOTI_EXECUTOR_INSECURE_TCP=1"}), "ok");
  EXPECT_THAT(RunShim(tcp_, ClientEnv("ca")), HasSubstr("create failed"));

  auto stub = TcpStub("");
  for (const grpc::Status& status :
       {GetStatus(*stub), ClearQuarantine(*stub)}) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(status.error_message(),
                HasSubstr("plain TCP (--insecure-tcp)"));
  }
  absl::StatusOr<CommandResult> status = RunDaemonCommand(
      {"--clear-quarantine=" + tcp_}, {"AOTI_EXECUTOR_INSECURE_TCP=1"});
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->exit_code, 1) << status->output;
  EXPECT_THAT(status->output, HasSubstr("PERMISSION_DENIED"));
  EXPECT_EQ(Sessions(), 0);
}

// A client that reaches the daemon over TCP but cannot see its attach
// socket (here: a private mount namespace with an empty tmpfs over the
// socket directory, as a client in another container or on another host)
// fails create with a message that says tensors need the daemon's host.
TEST_F(TlsTest, ATcpClientThatCannotSeeTheAttachSocketIsToldWhy) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon(ServerTls()));
  const std::string answer = RunShim(tcp_, ClientEnv("ca"), {"--hide=" + dir_});
  EXPECT_THAT(answer, HasSubstr("create failed: FAILED_PRECONDITION"));
  EXPECT_THAT(answer, HasSubstr(absl::StrCat("aoti-executord at ", tcp_,
                                             " answered, but its attach "
                                             "socket ")));
  EXPECT_THAT(answer, HasSubstr("the client must run on the daemon's host"));
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
