#include "server/common/endpoint.h"

#include <cstdlib>
#include <string>

#include "absl/time/time.h"
#include "client_shim/options.h"
#include "gtest/gtest.h"

namespace aoti_executor {
namespace client {
namespace {

struct Case {
  std::string text;
  Endpoint::Kind kind;
  std::string target;
  std::string canonical;
};

TEST(EndpointTest, ParsesEveryAcceptedForm) {
  const Case cases[] = {
      {"unix:/tmp/a.sock", Endpoint::Kind::kUnix, "unix:/tmp/a.sock",
       "unix:/tmp/a.sock"},
      {"unix:///tmp/a.sock", Endpoint::Kind::kUnix, "unix:/tmp/a.sock",
       "unix:/tmp/a.sock"},
      {"/run/aoti/executor.sock", Endpoint::Kind::kUnix,
       "unix:/run/aoti/executor.sock", "unix:/run/aoti/executor.sock"},
      {"tcp:localhost:50051", Endpoint::Kind::kTcp, "localhost:50051",
       "tcp:localhost:50051"},
      {"tcp:10.0.0.7:1", Endpoint::Kind::kTcp, "10.0.0.7:1", "tcp:10.0.0.7:1"},
      {"tcp:[::1]:65535", Endpoint::Kind::kTcp, "[::1]:65535",
       "tcp:[::1]:65535"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Endpoint> endpoint = ParseEndpoint(c.text);
    ASSERT_TRUE(endpoint.ok()) << c.text << ": " << endpoint.status();
    EXPECT_EQ(endpoint->kind, c.kind) << c.text;
    EXPECT_EQ(endpoint->grpc_target(), c.target) << c.text;
    EXPECT_EQ(endpoint->ToString(), c.canonical) << c.text;
  }
}

TEST(EndpointTest, RejectsMalformedEndpointsQuotingThem) {
  const std::string long_path = "/" + std::string(120, 'x');
  const std::string bad[] = {
      "",
      "unix:",
      "unix:relative.sock",
      "unix://host/path",
      "relative.sock",
      "tcp:",
      "tcp:localhost",
      "tcp::50051",
      "tcp:localhost:0",
      "tcp:localhost:65536",
      "tcp:localhost:12ab",
      "tcp:localhost:-1",
      "tcp:::1:50051",
      "http://localhost:50051",
      "unix:" + long_path,
  };
  for (const std::string& text : bad) {
    absl::StatusOr<Endpoint> endpoint = ParseEndpoint(text);
    ASSERT_FALSE(endpoint.ok()) << "accepted \"" << text << "\"";
    EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(endpoint.status().message().find("\"" + text + "\""),
              std::string::npos)
        << endpoint.status();
  }
}

TEST(EndpointTest, ResolvesArgumentThenEnvironmentThenDefault) {
  unsetenv(kEndpointEnvVar);
  EXPECT_EQ(ResolveEndpoint(nullptr)->ToString(), kDefaultEndpoint);
  EXPECT_EQ(ResolveEndpoint("")->ToString(), kDefaultEndpoint);
  EXPECT_EQ(ResolveEndpoint("/a.sock")->ToString(), "unix:/a.sock");

  setenv(kEndpointEnvVar, "tcp:example:7", 1);
  EXPECT_EQ(ResolveEndpoint(nullptr)->ToString(), "tcp:example:7");
  EXPECT_EQ(ResolveEndpoint("/a.sock")->ToString(), "unix:/a.sock");

  setenv(kEndpointEnvVar, "", 1);
  EXPECT_EQ(ResolveEndpoint(nullptr)->ToString(), kDefaultEndpoint);

  setenv(kEndpointEnvVar, "bogus", 1);
  absl::StatusOr<Endpoint> bad = ResolveEndpoint(nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(kEndpointEnvVar), std::string::npos);
  unsetenv(kEndpointEnvVar);
}

TEST(OptionsTest, TimeoutsComeFromTheEnvironment) {
  unsetenv(kCallTimeoutEnvVar);
  unsetenv(kConnectTimeoutEnvVar);
  absl::StatusOr<ExecutorOptions> options =
      OptionsFromEnvironment("/a.sock", nullptr);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->call_timeout, absl::Milliseconds(30000));
  EXPECT_EQ(options->connect_timeout, absl::Milliseconds(5000));
  EXPECT_EQ(options->device, "cpu");

  setenv(kCallTimeoutEnvVar, "250", 1);
  setenv(kConnectTimeoutEnvVar, "1000", 1);
  options = OptionsFromEnvironment("/a.sock", "cuda:1");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->call_timeout, absl::Milliseconds(250));
  EXPECT_EQ(options->connect_timeout, absl::Milliseconds(1000));
  EXPECT_EQ(options->device, "cuda:1");

  for (const char* bad : {"0", "-5", "ten", "1.5", "99999999999999"}) {
    setenv(kCallTimeoutEnvVar, bad, 1);
    options = OptionsFromEnvironment("/a.sock", nullptr);
    ASSERT_FALSE(options.ok()) << bad;
    EXPECT_NE(options.status().message().find(kCallTimeoutEnvVar),
              std::string::npos);
  }
  unsetenv(kCallTimeoutEnvVar);
  unsetenv(kConnectTimeoutEnvVar);
}

}  // namespace
}  // namespace client
}  // namespace aoti_executor
