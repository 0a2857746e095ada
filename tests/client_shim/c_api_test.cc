// The C ABI's failures that need no daemon: NULL arguments, a missing JSON
// file, nothing listening at the endpoint, and the per-thread last error.
#include <sys/socket.h>
#include <sys/un.h>
#include <torch/csrc/inductor/aoti_torch/c/shim.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/synchronization/barrier.h"
#include "aoti_remote/executor.h"
#include "gtest/gtest.h"

namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// A directory for sockets: TEST_TMPDIR is often longer than the 107 bytes a
// socket path may have. Removed, with its sockets, when the tests end.
class SocketDirEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    char pattern[] = "/tmp/aoti-shim-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir = pattern;
  }
  void TearDown() override {
    for (const char* name :
         {"/nobody.sock", "/silent.sock", "/from-env.sock"}) {
      unlink((dir + name).c_str());
    }
    rmdir(dir.c_str());
  }
  std::string dir;
};

SocketDirEnvironment* const socket_dir = static_cast<SocketDirEnvironment*>(
    ::testing::AddGlobalTestEnvironment(new SocketDirEnvironment));

std::string SocketDir() { return socket_dir->dir; }

// A JSON file that exists, so create gets as far as the daemon.
std::string WriteJson() {
  const std::string path = TempDir() + "/model.wrapper.json";
  std::ofstream(path) << R"({"nodes": []})";
  return path;
}

std::string LastError() { return aoti_remote_last_error(); }

class CApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("AOTI_EXECUTOR_ENDPOINT");
    unsetenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS");
    unsetenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS");
  }
};

TEST_F(CApiTest, NullHandlesFailCleanly) {
  EXPECT_EQ(aoti_remote_executor_delete(nullptr), AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("executor is NULL"), std::string::npos);

  int64_t ints[1] = {3};
  AtenTensorHandle tensors[1] = {nullptr};
  EXPECT_EQ(aoti_remote_executor_call_function(nullptr, 0, 1, ints, 1, tensors),
            AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("aoti_remote_executor_call_function"),
            std::string::npos);
  EXPECT_EQ(aoti_torch_proxy_executor_call_function(nullptr, 0, 0, nullptr, 0,
                                                    nullptr),
            AOTI_TORCH_FAILURE);

  EXPECT_EQ(aoti_remote_executor_create(nullptr, "/x.json", nullptr, nullptr),
            AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("out is NULL"), std::string::npos);

  AOTIProxyExecutorHandle executor =
      reinterpret_cast<AOTIProxyExecutorHandle>(0x1);
  EXPECT_EQ(aoti_remote_executor_create(nullptr, nullptr, nullptr, &executor),
            AOTI_TORCH_FAILURE);
  EXPECT_EQ(executor, nullptr);
  EXPECT_NE(LastError().find("extern_kernels_json_path is NULL"),
            std::string::npos);
}

TEST_F(CApiTest, MissingJsonFailsNamingThePath) {
  const std::string missing = TempDir() + "/no-such-model.wrapper.json";
  AOTIProxyExecutorHandle executor = nullptr;
  EXPECT_EQ(aoti_remote_executor_create("unix:/nonexistent/x.sock",
                                        missing.c_str(), "cpu", &executor),
            AOTI_TORCH_FAILURE);
  EXPECT_EQ(executor, nullptr);
  EXPECT_NE(LastError().find(missing), std::string::npos) << LastError();
  EXPECT_NE(LastError().find("No such file"), std::string::npos) << LastError();
}

TEST_F(CApiTest, BadEndpointFailsQuotingIt) {
  const std::string json = WriteJson();
  AOTIProxyExecutorHandle executor = nullptr;
  EXPECT_EQ(aoti_remote_executor_create("unix:relative.sock", json.c_str(),
                                        "cpu", &executor),
            AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("unix:relative.sock"), std::string::npos);

  setenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS", "soon", 1);
  EXPECT_EQ(aoti_remote_executor_create("/tmp/x.sock", json.c_str(), "cpu",
                                        &executor),
            AOTI_TORCH_FAILURE);
  EXPECT_NE(LastError().find("AOTI_EXECUTOR_CALL_TIMEOUT_MS"),
            std::string::npos);
}

// Creating against `endpoint`, where nothing answers, fails naming the
// endpoint, within the connect timeout (5 s by default) rather than a call's
// 30 s deadline.
void ExpectUnreachable(const std::string& endpoint, const std::string& shown) {
  const std::string json = WriteJson();
  AOTIProxyExecutorHandle executor = nullptr;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(aoti_remote_executor_create(endpoint.c_str(), json.c_str(), "cpu",
                                        &executor),
            AOTI_TORCH_FAILURE);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(25));
  EXPECT_EQ(executor, nullptr);
  EXPECT_NE(LastError().find(shown), std::string::npos) << LastError();
  EXPECT_NE(LastError().find("UNAVAILABLE"), std::string::npos) << LastError();
  std::printf("%s\n", LastError().c_str());
}

TEST_F(CApiTest, NothingListeningOnUnixSocketFailsNamingEndpoint) {
  const std::string path = SocketDir() + "/nobody.sock";
  unlink(path.c_str());
  ExpectUnreachable("unix:" + path, "unix:" + path);
}

TEST_F(CApiTest, SocketThatNeverAnswersFailsAtConnectDeadline) {
  // Bound and listening, but nobody ever accepts or speaks gRPC.
  const std::string path = SocketDir() + "/silent.sock";
  unlink(path.c_str());
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(address.sun_path));
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
            0);
  ASSERT_EQ(listen(fd, 4), 0);
  setenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS", "700", 1);
  ExpectUnreachable(path, "unix:" + path);
  close(fd);
}

TEST_F(CApiTest, NothingListeningOnTcpFailsNamingEndpoint) {
  setenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS", "1500", 1);
  ExpectUnreachable("tcp:127.0.0.1:1", "tcp:127.0.0.1:1");
}

TEST_F(CApiTest, EnvironmentEndpointIsUsedWhenArgumentIsNull) {
  const std::string path = SocketDir() + "/from-env.sock";
  setenv("AOTI_EXECUTOR_ENDPOINT", ("unix://" + path).c_str(), 1);
  ExpectUnreachable("", "unix:" + path);
}

TEST_F(CApiTest, LastErrorIsPerThread) {
  auto* both_failed = new absl::Barrier(2);
  std::string seen[2];
  auto fail = [&](int i) {
    const std::string path = "/missing-" + std::to_string(i) + ".json";
    AOTIProxyExecutorHandle executor = nullptr;
    aoti_remote_executor_create("/x.sock", path.c_str(), "cpu", &executor);
    if (both_failed->Block()) delete both_failed;
    seen[i] = LastError();
    EXPECT_NE(seen[i].find(path), std::string::npos) << seen[i];
  };
  aoti_remote_executor_delete(nullptr);
  const std::string mine = LastError();
  std::thread a(fail, 0), b(fail, 1);
  a.join();
  b.join();
  EXPECT_EQ(seen[0].find("/missing-1.json"), std::string::npos);
  EXPECT_EQ(seen[1].find("/missing-0.json"), std::string::npos);
  EXPECT_EQ(LastError(), mine);
}

}  // namespace
