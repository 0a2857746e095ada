// --log-format=json, end to end: the real daemon started with it, made to log
// its start, a session, two crashes of a custom op (the misbehaving library's
// segfault) and the quarantine they cause, and its stop. Every line it and
// its workers write to stderr must be one JSON object with the fixed fields;
// each worker death and the quarantine must be there once, with their cause
// and their fields.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "aoti_remote/executor.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/misbehaving_client.h"
#include "tests/e2e/stderr_to_file.h"

namespace aoti_executor {
namespace e2e {
namespace {

std::string Text(const rapidjson::Value& object, const char* key) {
  if (!object.HasMember(key) || !object[key].IsString()) return "";
  return object[key].GetString();
}

TEST(JsonLogTest, EveryLineIsJsonAndDeathsAndQuarantineAreLoggedOnce) {
  const std::string log =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/daemon.stderr");
  {
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon;
    {
      // Only while it starts: it (and every worker) keeps the file.
      StderrToFile redirect(log);
      daemon = DaemonProcess::Start(MisbehavingOpsFlags(
          {"--log-format=json", "--log-level=info", "--quarantine-crashes=2"}));
    }
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    MisbehavingClient client((*daemon)->endpoint());
    client.ExpectHealthy();
    at::Tensor out;
    for (int crash = 0; crash < 2; ++crash) {
      ASSERT_EQ(client.Call(kSegfault, at::ones({4}), &out),
                AOTI_TORCH_FAILURE);
      EXPECT_TRUE(absl::StrContains(aoti_remote_last_error(), "SIGSEGV"))
          << aoti_remote_last_error();
    }
    // Quarantined now: refused without a worker being risked.
    ASSERT_EQ(client.Call(kSegfault, at::ones({4}), &out), AOTI_TORCH_FAILURE);
    EXPECT_TRUE(absl::StrContains(aoti_remote_last_error(), "quarantined"))
        << aoti_remote_last_error();
    client.ExpectHealthy();
  }  // the client leaves, the daemon stops (SIGTERM) and is reaped

  const std::vector<std::string> lines = ReadLines(log);
  ASSERT_FALSE(lines.empty());
  const std::regex time(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  const std::set<std::string> levels = {"trace",   "debug", "info",
                                        "warning", "error", "critical"};
  bool ready = false, session = false, stopped = false;
  std::set<int64_t> dead_workers;
  int deaths = 0, quarantines = 0;
  for (const std::string& line : lines) {
    SCOPED_TRACE(line);
    rapidjson::Document object;
    object.Parse(line.c_str());
    ASSERT_FALSE(object.HasParseError());
    ASSERT_TRUE(object.IsObject());
    EXPECT_TRUE(std::regex_match(Text(object, "time"), time));
    EXPECT_EQ(levels.count(Text(object, "level")), 1u);
    ASSERT_TRUE(object.HasMember("message") && object["message"].IsString());
    EXPECT_TRUE(Text(object, "process") == "daemon" ||
                Text(object, "process") == "worker");
    ASSERT_TRUE(object.HasMember("pid") && object["pid"].IsInt64());
    const std::string message = Text(object, "message");
    ready = ready || absl::StrContains(message, "ready");
    stopped = stopped || message == "stopped";
    if (absl::StrContains(message, "session opened")) {
      ASSERT_TRUE(object.HasMember("session") && object["session"].IsInt());
      EXPECT_EQ(object["session"].GetInt(), getpid());
      session = true;
    }
    if (Text(object, "event") == "worker_died") {
      ++deaths;
      ASSERT_TRUE(object.HasMember("worker_pid") &&
                  object["worker_pid"].IsInt64());
      const int64_t pid = object["worker_pid"].GetInt64();
      dead_workers.insert(pid);
      EXPECT_EQ(Text(object, "level"), "warning");
      EXPECT_TRUE(absl::StrContains(message, absl::StrCat("worker pid ", pid)));
      EXPECT_TRUE(absl::StrContains(message, "SIGSEGV"));
    }
    if (Text(object, "event") == "node_quarantined") {
      ++quarantines;
      ASSERT_TRUE(object.HasMember("node") && object["node"].IsInt());
      EXPECT_EQ(object["node"].GetInt(), kSegfault);
      EXPECT_EQ(Text(object, "op"), "misbehaving::segfault");
      EXPECT_TRUE(absl::StrContains(message, "quarantined"));
      // Its cause: the latest crash.
      EXPECT_TRUE(absl::StrContains(message, "SIGSEGV"));
    }
  }
  EXPECT_TRUE(ready);
  EXPECT_TRUE(session);
  EXPECT_TRUE(stopped);
  EXPECT_EQ(deaths, 2);
  EXPECT_EQ(dead_workers.size(), 2u);
  EXPECT_EQ(quarantines, 1);
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
