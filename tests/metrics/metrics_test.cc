// /metrics of the real daemon (--metrics-listen on a free port): calls made
// through the shim (libaoti_remote's C ABI) on both paths, failed and
// crashing ones included, then the page fetched over HTTP and read by
// prometheus-client's text parser; every count is checked against the calls
// this test made.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/version.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/misbehaving_client.h"

namespace aoti_executor {
namespace {

using e2e::DaemonProcess;
using e2e::FreeTcpPort;
using e2e::MisbehavingClient;
using e2e::RunfilePath;

// GET http://127.0.0.1:`port``path` (HTTP/1.0: the server closes when done);
// the body of a 200 answer.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (write(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("write");
  }
  std::string answer;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) answer.append(buffer, n);
  close(fd);
  const size_t body = answer.find("\r\n\r\n");
  if (answer.rfind("HTTP/1.", 0) != 0 || body == std::string::npos ||
      answer.substr(0, answer.find("\r\n")).find(" 200 ") ==
          std::string::npos) {
    return absl::InternalError(
        absl::StrCat("not a 200 answer: ", answer.substr(0, 200)));
  }
  return answer.substr(body + 4);
}

// One parsed page: "name{k="v",...}" (labels sorted) -> value, and the
// family type of each sample.
struct Page {
  std::map<std::string, double> values;
  std::map<std::string, std::string> types;
  std::string text;

  // The value of `key`, or -1 (no count here is negative) if absent.
  double Get(const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? -1 : it->second;
  }
};

// Runs prometheus-client's parser (tests/metrics/parse_metrics.py) on
// `text`.
absl::StatusOr<Page> Parse(const std::string& text) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string file =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/metrics.txt");
  std::ofstream(file) << text;
  const std::string command = absl::StrCat(
      RunfilePath("external/libtorch/python"), " ",
      RunfilePath("tests/metrics/parse_metrics.py"), " ", file, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen");
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, n);
  }
  if (pclose(pipe) != 0) {
    return absl::InternalError(
        absl::StrCat("prometheus-client rejects the page: ", output));
  }
  Page page;
  page.text = text;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (line.empty()) continue;
    // "KEY TYPE VALUE": the key may not hold a space; its labels are ours.
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    double value = 0;
    if (parts.size() != 3 || !absl::SimpleAtod(parts[2], &value)) {
      return absl::InternalError(absl::StrCat("unexpected line: ", line));
    }
    page.values[parts[0]] = value;
    page.types[parts[0]] = parts[1];
  }
  return page;
}

// A daemon with the misbehaving ops and /metrics on a free port.
struct MetricsDaemon {
  std::unique_ptr<DaemonProcess> daemon;
  int port = -1;
};

MetricsDaemon StartDaemon(std::vector<std::string> flags) {
  MetricsDaemon started;
  started.port = FreeTcpPort();
  EXPECT_GT(started.port, 0);
  flags.push_back(absl::StrCat("--metrics-listen=127.0.0.1:", started.port));
  auto daemon = DaemonProcess::Start(e2e::MisbehavingOpsFlags(flags));
  EXPECT_TRUE(daemon.ok()) << daemon.status();
  if (daemon.ok()) started.daemon = *std::move(daemon);
  return started;
}

// Scrapes until `done` holds (the daemon may record a count a little after
// the client has seen its call end: a worker's death is recorded as its
// reader sees the channel close), or 60 s; returns the last page.
Page ScrapeUntil(int port, const std::function<bool(const Page&)>& done) {
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  Page page;
  while (true) {
    auto text = HttpGet(port, "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    if (!text.ok()) return page;
    auto parsed = Parse(*text);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (!parsed.ok()) return page;
    page = *std::move(parsed);
    if (done(page) || absl::Now() > give_up) return page;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// Until every sample of `expected` has its value.
Page ScrapeUntil(int port, const std::map<std::string, double>& expected) {
  return ScrapeUntil(port, [&expected](const Page& page) {
    for (const auto& [key, value] : expected) {
      if (page.Get(key) != value) return false;
    }
    return true;
  });
}

void ExpectValues(const Page& page,
                  const std::map<std::string, double>& expected) {
  for (const auto& [key, value] : expected) {
    EXPECT_EQ(page.Get(key), value) << key << " in\n" << page.text;
  }
}

std::string Calls(const char* path, const char* result) {
  return absl::StrCat("aoti_calls_total{path=\"", path, "\",result=\"", result,
                      "\"}");
}

std::string Deaths(const char* cause) {
  return absl::StrCat("aoti_worker_deaths_total{cause=\"", cause, "\"}");
}

std::string LatencyCount(const char* op) {
  return absl::StrCat("aoti_call_duration_seconds_count{op=\"", op,
                      "\",path=\"rpc\"}");
}

TEST(MetricsTest, RpcCallsFailuresCrashesAndQuarantineAreCounted) {
  // Lanes off: every call is a Call RPC. Three crashes quarantine a node;
  // a hang is killed at 1 s.
  MetricsDaemon started = StartDaemon(
      {"--call-lanes=0", "--call-timeout-ms=1000", "--quarantine-crashes=3"});
  ASSERT_NE(started.daemon, nullptr);
  MisbehavingClient client(started.daemon->endpoint());
  const at::Tensor x = at::arange(4, at::kFloat);
  at::Tensor out;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(client.Call(e2e::kPlusOne, x, &out), AOTI_TORCH_SUCCESS)
        << aoti_remote_last_error();
    ASSERT_TRUE(at::equal(out, x + 1));
  }
  EXPECT_NE(client.Call(e2e::kThrow, x, &out), AOTI_TORCH_SUCCESS);
  // Three segfaults: three deaths, each a restart at the next call; the
  // fourth call of the node is refused by the quarantine, no worker risked.
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(client.Call(e2e::kSegfault, x, &out), AOTI_TORCH_SUCCESS);
  }
  EXPECT_THAT(aoti_remote_last_error(), testing::HasSubstr("quarantine"));
  EXPECT_NE(client.Call(e2e::kExit, x, &out), AOTI_TORCH_SUCCESS);
  EXPECT_NE(client.Call(e2e::kHang, x, &out), AOTI_TORCH_SUCCESS);
  ASSERT_EQ(client.Call(e2e::kPlusOne, x, &out), AOTI_TORCH_SUCCESS)
      << aoti_remote_last_error();

  const std::map<std::string, double> expected = {
      {Calls("rpc", "ok"), 6},
      // throw, 4 segfaults, exit, hang
      {Calls("rpc", "error"), 7},
      {Calls("lane", "ok"), 0},
      {Calls("lane", "error"), 0},
      {"aoti_calls_in_flight{path=\"rpc\"}", 0},
      {Deaths("crashed"), 3},
      {Deaths("exited"), 1},
      {Deaths("killed"), 1},
      // At the next call that reached a worker after each death but the
      // last: a call past its deadline makes the shim open a new session,
      // whose first worker replaces nothing.
      {"aoti_worker_restarts_total{}", 4},
      // segfault, exit, hang: each charged to its node; one quarantined.
      {"aoti_crashed_nodes{}", 3},
      {"aoti_quarantined_nodes{}", 1},
      {"aoti_sessions{}", 1},
      {"aoti_workers_alive{}", 1},
      {"aoti_kernel_sets{}", 1},
      {"aoti_call_lanes{}", 0},
      // Calls that reached a worker, by op; the quarantined one did not.
      {LatencyCount("misbehaving::plus_one"), 6},
      {LatencyCount("misbehaving::segfault"), 3},
      {LatencyCount("misbehaving::throw"), 1},
      {absl::StrCat("aoti_build_info{version=\"", kDaemonVersion, "\"}"), 1},
  };
  const Page page = ScrapeUntil(started.port, expected);
  ExpectValues(page, expected);
  EXPECT_EQ(page.types.at(Calls("rpc", "ok")), "counter");
  EXPECT_EQ(page.types.at("aoti_sessions{}"), "gauge");
  EXPECT_EQ(page.types.at(LatencyCount("misbehaving::plus_one")), "histogram");
  // The +Inf bucket holds every call; the sum is the calls' time, > 0.
  EXPECT_EQ(page.Get("aoti_call_duration_seconds_bucket{le=\"+Inf\",op=\""
                     "misbehaving::plus_one\",path=\"rpc\"}"),
            6);
  EXPECT_GT(page.Get("aoti_call_duration_seconds_sum{op=\""
                     "misbehaving::plus_one\",path=\"rpc\"}"),
            0);
  // The hung call ran until it was killed at the 1 s call timeout.
  EXPECT_GE(page.Get("aoti_call_duration_seconds_sum{op=\""
                     "misbehaving::hang\",path=\"rpc\"}"),
            0.9);
  // The worker's output region, mapped, and the output this test holds.
  const Page held = ScrapeUntil(started.port, [](const Page& p) {
    return p.Get("aoti_shm_mapped_bytes{}") > 0 &&
           p.Get("aoti_shm_regions{}") > 0 &&
           p.Get("aoti_output_bytes_in_use{}") > 0;
  });
  EXPECT_GT(held.Get("aoti_shm_regions{}"), 0) << held.text;
  EXPECT_GT(held.Get("aoti_shm_mapped_bytes{}"), 0) << held.text;
  EXPECT_GT(held.Get("aoti_output_bytes_in_use{}"), 0) << held.text;
}

TEST(MetricsTest, LaneCallsAreCountedFromTheWorkersWatchPages) {
  MetricsDaemon started = StartDaemon({});
  ASSERT_NE(started.daemon, nullptr);
  constexpr int kCalls = 40;
  {
    MisbehavingClient client(started.daemon->endpoint());
    const at::Tensor x = at::arange(4, at::kFloat);
    at::Tensor out;
    for (int i = 0; i < kCalls; ++i) {
      ASSERT_EQ(client.Call(e2e::kPlusOne, x, &out), AOTI_TORCH_SUCCESS)
          << aoti_remote_last_error();
    }
    EXPECT_NE(client.Call(e2e::kThrow, x, &out), AOTI_TORCH_SUCCESS);
    // One thread: every call takes the session's one lane.
    const std::map<std::string, double> live = {
        {Calls("lane", "ok"), kCalls}, {Calls("lane", "error"), 1},
        {Calls("rpc", "ok"), 0},       {Calls("rpc", "error"), 0},
        {"aoti_call_lanes{}", 1},      {"aoti_sessions{}", 1},
        {"aoti_workers_alive{}", 1},
    };
    ExpectValues(ScrapeUntil(started.port, live), live);
    // A crash on the lane: the lane watchdog fails the call and the
    // worker's death is counted with its cause.
    EXPECT_NE(client.Call(e2e::kSegfault, x, &out), AOTI_TORCH_SUCCESS);
    const std::map<std::string, double> crashed = {
        {Calls("lane", "ok"), kCalls}, {Calls("lane", "error"), 2},
        {Deaths("crashed"), 1},        {Deaths("killed"), 0},
        {"aoti_crashed_nodes{}", 1},
    };
    ExpectValues(ScrapeUntil(started.port, crashed), crashed);
  }
  // The session ended: its lane counts stay in the totals. The spares it
  // and its restarted worker took are replaced (--spare-workers, 4 by
  // default).
  const std::map<std::string, double> ended = {
      {Calls("lane", "ok"), kCalls}, {Calls("lane", "error"), 2},
      {"aoti_sessions{}", 0},        {"aoti_workers_alive{}", 0},
      {"aoti_call_lanes{}", 0},      {"aoti_calls_in_flight{path=\"lane\"}", 0},
      {"aoti_spare_workers{}", 4},
  };
  ExpectValues(ScrapeUntil(started.port, ended), ended);
}

TEST(MetricsTest, ABusyPortIsAStartupError) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
            0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  auto daemon = DaemonProcess::Start(
      {absl::StrCat("--metrics-listen=127.0.0.1:", ntohs(address.sin_port))});
  EXPECT_FALSE(daemon.ok());
  close(fd);
}

}  // namespace
}  // namespace aoti_executor
