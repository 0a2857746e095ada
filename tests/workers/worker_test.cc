// Worker against real aoti-executord worker processes: how a start fails,
// how Kill ends a call and reaps the process, and that the first reason for
// a worker's death is the one every call gets. Failures of a system call
// that cannot be provoked for real are injected by a launcher that wraps the
// real one. Waits are for conditions, with a generous deadline (60 s): the
// machine may be loaded.
#include "server/workers/worker.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/executor.pb.h"
#include "proto/worker.pb.h"
#include "server/common/daemon_stats.h"
#include "server/framing/packet_channel.h"
#include "server/shm/shared_region.h"
#include "server/workers/kernel_set_image.h"
#include "server/workers/process_launcher.h"

namespace aoti_executor {
namespace {

namespace v1 = aoti::executor::v1;
using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(60);

// The node of worker_test_ops.so's one op, as PyTorch serializes it.
constexpr char kMarkAndHangJson[] = R"json({"nodes": [{"name": "buf0",
  "node": {"target": "worker_test::mark_and_hang",
  "inputs": [{"name": "x", "arg": {"as_tensor": {"name": "arg0_1"}},
  "kind": 1}], "outputs": [{"as_tensor": {"name": "buf0"}}],
  "metadata": {}, "is_hop_single_tensor_return": null, "name": null}}]})json";

// kMarkAndHangJson as the daemon sends it: its one node spans from its '{'
// to the '}' before the closing "]}".
std::shared_ptr<const KernelSetImage> MarkAndHangImage() {
  const std::string json = kMarkAndHangJson;
  const uint64_t start = json.find("{\"name\"");
  const uint64_t end = json.rfind("]}");
  auto image =
      KernelSetImage::Create(json, {NodeSpan{start, end - start}}, "cpu");
  return image.ok() ? *image : nullptr;
}

std::string RunfilePath(const std::string& relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return relative;
  return absl::StrCat(srcdir, "/", workspace, "/", relative);
}

// The real launcher, with one system call made to fail on request; it
// remembers every pid it started. Thread-safe: the Worker's reader thread
// reaps (and may kill) while the test sets what fails.
class InjectingLauncher : public ProcessLauncher {
 public:
  // Spawn fails with `error`, starting nothing.
  void FailSpawn(absl::Status error) {
    absl::MutexLock lock(&mu_);
    spawn_error_ = std::move(error);
  }
  // The child gets SIGKILL as soon as it exists.
  void KillAfterSpawn() {
    absl::MutexLock lock(&mu_);
    kill_after_spawn_ = true;
  }
  // Kill fails with `error`, signalling nothing.
  void FailKill(absl::Status error) {
    absl::MutexLock lock(&mu_);
    kill_error_ = std::move(error);
  }

  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                              int child_fd) override {
    absl::MutexLock lock(&mu_);
    if (!spawn_error_.ok()) return spawn_error_;
    absl::StatusOr<pid_t> pid = ProcessLauncher::Real()->Spawn(argv, child_fd);
    if (!pid.ok()) return pid;
    spawned_.push_back(*pid);
    if (kill_after_spawn_) {
      EXPECT_TRUE(ProcessLauncher::Real()->Kill(*pid, SIGKILL).ok());
    }
    return pid;
  }
  absl::Status Kill(pid_t pid, int signal) override {
    {
      absl::MutexLock lock(&mu_);
      if (!kill_error_.ok()) return kill_error_;
    }
    return ProcessLauncher::Real()->Kill(pid, signal);
  }
  absl::StatusOr<std::optional<int>> TryWait(pid_t pid) override {
    return ProcessLauncher::Real()->TryWait(pid);
  }
  absl::StatusOr<int> Wait(pid_t pid) override {
    return ProcessLauncher::Real()->Wait(pid);
  }

  std::vector<pid_t> spawned() const {
    absl::MutexLock lock(&mu_);
    return spawned_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Status spawn_error_ ABSL_GUARDED_BY(mu_);
  bool kill_after_spawn_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status kill_error_ ABSL_GUARDED_BY(mu_);
  std::vector<pid_t> spawned_ ABSL_GUARDED_BY(mu_);
};

// True once `pid` is neither running nor a zombie of ours: reaped. WNOWAIT
// leaves a zombie for its owner to reap.
bool Reaped(pid_t pid) {
  siginfo_t info{};
  const int waited =
      waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
  return waited < 0 && errno == ECHILD &&
         !std::filesystem::exists(absl::StrCat("/proc/", pid));
}

int OpenFds() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

class WorkerTest : public testing::Test {
 protected:
  WorkerOptions Options() {
    WorkerOptions options;
    options.binary = RunfilePath("server/aoti-executord");
    options.libraries = {RunfilePath("tests/workers/libworker_test_ops.so")};
    options.log_level = "warn";
    options.start_timeout = kPatience;
    options.stats = &stats_;
    options.launcher = &launcher_;
    return options;
  }

  absl::StatusOr<std::unique_ptr<Worker>> Start(const WorkerOptions& options) {
    return Worker::Start(options, /*region_id_base=*/1000,
                         [](uint64_t, uint64_t, UniqueFd) {});
  }

  // Starts a worker whose exit (after it is reaped) notifies `exited_`.
  std::unique_ptr<Worker> StartWatched() {
    absl::StatusOr<std::unique_ptr<Worker>> worker = Start(Options());
    EXPECT_TRUE(worker.ok()) << worker.status();
    if (!worker.ok()) return nullptr;
    EXPECT_TRUE((*worker)
                    ->AssignSession(
                        1000, [](uint64_t, uint64_t, UniqueFd) {}, nullptr,
                        [this](Worker*) { exited_.Notify(); })
                    .ok());
    return *std::move(worker);
  }

  DaemonStats stats_;
  InjectingLauncher launcher_;
  absl::Notification exited_;
};

TEST_F(WorkerTest, SpawnFailureNamesTheBinaryAndTheErrno) {
  WorkerOptions options = Options();
  options.binary = "/nonexistent/aoti-executord";
  const int fds_before = OpenFds();
  absl::StatusOr<std::unique_ptr<Worker>> worker = Start(options);
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(worker.status().message(),
            "posix_spawn /nonexistent/aoti-executord: No such file or "
            "directory");
  EXPECT_TRUE(launcher_.spawned().empty());
  EXPECT_EQ(OpenFds(), fds_before);  // the socketpair is closed
}

TEST_F(WorkerTest, InjectedSpawnFailureIsWhatStartReturns) {
  const WorkerOptions options = Options();
  launcher_.FailSpawn(absl::ErrnoToStatus(
      EAGAIN, absl::StrCat("posix_spawn ", options.binary)));
  const int fds_before = OpenFds();
  absl::StatusOr<std::unique_ptr<Worker>> worker = Start(options);
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(worker.status().message(),
            absl::StrCat("posix_spawn ", options.binary,
                         ": Resource temporarily unavailable"));
  EXPECT_EQ(OpenFds(), fds_before);
}

TEST_F(WorkerTest, WorkerThatExitsDuringStartUpNamesItsExitStatus) {
  WorkerOptions options = Options();
  // The worker cannot load it and exits with status 1 before it is ready.
  options.libraries = {"/nonexistent/libmissing_ops.so"};
  absl::StatusOr<std::unique_ptr<Worker>> worker = Start(options);
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(launcher_.spawned().size(), 1u);
  const pid_t pid = launcher_.spawned()[0];
  EXPECT_THAT(worker.status().message(),
              HasSubstr(absl::StrCat("worker pid ", pid, " did not start: ")));
  EXPECT_THAT(worker.status().message(),
              HasSubstr("; it exited with status 1"));
  EXPECT_TRUE(Reaped(pid));
  EXPECT_EQ(DaemonStats::Read(stats_.worker_deaths), 0);  // never started
}

TEST_F(WorkerTest, WorkerKilledDuringStartUpNamesTheSignal) {
  launcher_.KillAfterSpawn();
  absl::StatusOr<std::unique_ptr<Worker>> worker = Start(Options());
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(launcher_.spawned().size(), 1u);
  const pid_t pid = launcher_.spawned()[0];
  EXPECT_THAT(worker.status().message(),
              HasSubstr(absl::StrCat("worker pid ", pid, " did not start: ")));
  EXPECT_THAT(worker.status().message(),
              HasSubstr("; it died of SIGKILL (Killed)"));
  EXPECT_TRUE(Reaped(pid));
}

TEST_F(WorkerTest, KillFailsTheRunningCallWithTheReasonAndReapsTheProcess) {
  std::unique_ptr<Worker> worker = StartWatched();
  ASSERT_NE(worker, nullptr);
  const pid_t pid = worker->pid();
  const auto image = MarkAndHangImage();
  ASSERT_NE(image, nullptr);
  ASSERT_TRUE(worker->RegisterKernelSet(1, *image).ok());
  absl::StatusOr<SharedRegion> input = SharedRegion::Create("x", 4096);
  ASSERT_TRUE(input.ok()) << input.status();
  float* x = reinterpret_cast<float*>(input->data());
  ASSERT_TRUE(worker->MapRegion(1, *input).ok());

  v1::CallRequest request;
  request.set_kernel_set_id(1);
  request.set_node_index(0);
  v1::TensorRef* ref = request.add_inputs();
  ref->set_region_id(1);
  ref->set_byte_size(sizeof(float));
  ref->set_dtype(7);  // FLOAT
  ref->add_sizes(1);
  ref->add_strides(1);
  ref->set_device("cpu");
  absl::StatusOr<v1::CallResponse> result;
  absl::Notification answered;
  std::thread caller([&] {
    result = worker->Call(request, "node 0 (worker_test::mark_and_hang)",
                          absl::Now() + absl::Hours(1));
    answered.Notify();
  });
  // The op has marked its input: the call runs, so it is pending here.
  const absl::Time give_up = absl::Now() + kPatience;
  while (reinterpret_cast<std::atomic<float>*>(x)->load() != 1.0f &&
         !answered.HasBeenNotified() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_FALSE(answered.HasBeenNotified()) << result.status();
  ASSERT_EQ(reinterpret_cast<std::atomic<float>*>(x)->load(), 1.0f);

  worker->Kill("the test stopped it");
  caller.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(result.status().message(),
            absl::StrCat("node 0 (worker_test::mark_and_hang) failed: worker "
                         "pid ",
                         pid, " was killed: the test stopped it"));
  EXPECT_EQ(worker->kill_reason(), "the test stopped it");

  // The reader thread reaps it; the exit callback comes after.
  ASSERT_TRUE(exited_.WaitForNotificationWithTimeout(kPatience));
  EXPECT_TRUE(Reaped(pid));
  EXPECT_EQ(DaemonStats::Read(stats_.worker_deaths), 1);
}

TEST_F(WorkerTest, FirstReasonWinsOverLaterKillsAndTheReap) {
  std::unique_ptr<Worker> worker = StartWatched();
  ASSERT_NE(worker, nullptr);
  const pid_t pid = worker->pid();
  const std::string first =
      absl::StrCat("worker pid ", pid, " was killed: first reason");

  worker->Kill("first reason");
  worker->Kill("second reason");
  EXPECT_EQ(worker->death(), absl::AbortedError(first));
  ASSERT_TRUE(exited_.WaitForNotificationWithTimeout(kPatience));
  // Reaped now ("died of SIGKILL"): still the first reason, for everything.
  worker->Kill("third reason");
  EXPECT_EQ(worker->death(), absl::AbortedError(first));
  EXPECT_EQ(worker->kill_reason(), "first reason");
  EXPECT_EQ(worker->Call(v1::CallRequest(), "node 5", absl::Now() + kPatience)
                .status(),
            absl::AbortedError(absl::StrCat("node 5 failed: ", first)));
  EXPECT_EQ(worker->Sync(absl::Now() + kPatience), absl::AbortedError(first));
  EXPECT_EQ(DaemonStats::Read(stats_.worker_deaths), 1);
  EXPECT_TRUE(Reaped(pid));
}

TEST_F(WorkerTest, ACrashIsTheReasonEvenIfTheDaemonKillsItLater) {
  std::unique_ptr<Worker> worker = StartWatched();
  ASSERT_NE(worker, nullptr);
  const pid_t pid = worker->pid();
  // Not through the Worker: as far as it knows, the process crashed.
  ASSERT_TRUE(ProcessLauncher::Real()->Kill(pid, SIGSEGV).ok());
  ASSERT_TRUE(exited_.WaitForNotificationWithTimeout(kPatience));
  const std::string crash =
      absl::StrCat("worker pid ", pid, " died of SIGSEGV (Segmentation fault)");
  EXPECT_EQ(worker->death(), absl::AbortedError(crash));

  worker->Kill("too late");
  EXPECT_EQ(worker->death(), absl::AbortedError(crash));
  EXPECT_EQ(worker->kill_reason(), "");
  EXPECT_EQ(worker->Call(v1::CallRequest(), "node 2", absl::Now() + kPatience)
                .status(),
            absl::AbortedError(absl::StrCat("node 2 failed: ", crash)));
  EXPECT_EQ(DaemonStats::Read(stats_.worker_deaths), 1);
  EXPECT_TRUE(Reaped(pid));
}

TEST_F(WorkerTest, AFailedKillStillEndsTheWorkerForTheDaemonAndItIsReaped) {
  std::unique_ptr<Worker> worker = StartWatched();
  ASSERT_NE(worker, nullptr);
  const pid_t pid = worker->pid();
  launcher_.FailKill(absl::ErrnoToStatus(EPERM, "kill"));

  worker->Kill("hung");
  const std::string reason =
      absl::StrCat("worker pid ", pid, " was killed: hung");
  EXPECT_EQ(worker->death(), absl::AbortedError(reason));
  EXPECT_EQ(worker->Call(v1::CallRequest(), "node 1", absl::Now() + kPatience)
                .status(),
            absl::AbortedError(absl::StrCat("node 1 failed: ", reason)));
  // The signal never went: the process lives until the Worker goes, which
  // closes its channel (the worker exits on that) and reaps it.
  EXPECT_FALSE(Reaped(pid));
  worker.reset();
  EXPECT_TRUE(Reaped(pid));
}

// Entries of /proc/PID/fd.
int OpenFdsOf(pid_t pid) {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(
           absl::StrCat("/proc/", pid, "/fd"))) {
    ++count;
  }
  return count;
}

// The next FromWorker on `channel`, closing any fd that came with it.
absl::StatusOr<aoti::executor::worker::v1::FromWorker> NextFromWorker(
    int channel) {
  auto packet = ReceivePacket(channel, 1 << 20, absl::Now() + kPatience);
  if (!packet.ok()) return packet.status();
  aoti::executor::worker::v1::FromWorker message;
  if (!message.ParseFromString(packet->bytes)) {
    return absl::DataLossError("a malformed FromWorker");
  }
  return message;
}

// A message that takes no fd (an unmap, a session, a call, a sync) may still
// arrive with one: the worker closes it rather than keep it open for good
// (found by tests/fuzz/worker_message_fuzzer). The worker process is driven
// by hand here: the daemon's Worker never sends such a message.
TEST_F(WorkerTest, AnFdSentWithAMessageThatTakesNoneIsClosed) {
  namespace wv1 = aoti::executor::worker::v1;
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
  absl::StatusOr<pid_t> pid =
      ProcessLauncher::Real()->Spawn(WorkerArgv(Options(), 1000), fds[1]);
  close(fds[1]);
  ASSERT_TRUE(pid.ok()) << pid.status();
  const int channel = fds[0];
  auto send = [channel](const wv1::ToWorker& message, int fd) {
    const std::string bytes = message.SerializeAsString();
    return SendPacket(channel, bytes.data(), bytes.size(), fd);
  };
  // Everything sent before a Sync is applied when its answer comes.
  auto sync = [&send, channel](uint64_t id) {
    wv1::ToWorker message;
    message.mutable_sync()->set_call_id(id);
    if (!send(message, -1).ok()) return false;
    while (true) {
      auto answer = NextFromWorker(channel);
      if (!answer.ok()) return false;
      if (answer->call_result().call_id() == id) return true;
    }
  };
  auto ready = NextFromWorker(channel);
  ASSERT_TRUE(ready.ok() && ready->has_ready()) << ready.status();
  ASSERT_TRUE(sync(1));
  const int fds_before = OpenFdsOf(*pid);

  std::vector<wv1::ToWorker> messages(4);
  messages[0].mutable_unmap_region()->set_region_id(7);
  messages[1].mutable_assign_session()->set_region_id_base(2000);
  messages[2].mutable_run_call()->mutable_request()->set_node_index(-1);
  messages[3].mutable_sync()->set_call_id(2);
  for (const wv1::ToWorker& message : messages) {
    const int memfd = memfd_create("worker-test", MFD_CLOEXEC);
    ASSERT_GE(memfd, 0);
    EXPECT_TRUE(send(message, memfd).ok());
    close(memfd);
  }
  ASSERT_TRUE(sync(3));
  EXPECT_EQ(OpenFdsOf(*pid), fds_before);

  close(channel);  // the daemon is gone: the worker exits
  absl::StatusOr<int> status = ProcessLauncher::Real()->Wait(*pid);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
}

}  // namespace
}  // namespace aoti_executor
