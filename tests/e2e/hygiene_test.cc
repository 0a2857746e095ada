// Hygiene under repeated kill -9, end to end with the real daemon, its real
// workers and the real shim: 100 SIGKILLs of a session's worker, and 100
// SIGKILLs of the daemon itself, each followed by a call through the same
// client handle. Afterwards neither the client (this process) nor the daemon
// holds more file descriptors or memfd mappings than after warm-up, their
// threads are bounded and do not grow with the cycles, the daemon's children
// are exactly its live workers (no zombie among them), no worker holds a
// descriptor it did not make, no worker outlives its daemon, and nothing new
// is in /dev/shm.
#include <ATen/ATen.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aoti_remote/executor.h"
#include "proto/executor.grpc.pb.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/proc_probe.h"

namespace aoti_executor {
namespace e2e {
namespace {

namespace v1 = aoti::executor::v1;

constexpr int kCycles = 100;
constexpr int kPlusOne = 0;  // node 0 of tests/fixtures/misbehaving_ops.json
// Every kHoldEvery-th cycle keeps its output tensor, which must stay valid
// (and keep its region mapped) across every later kill.
constexpr int kHoldEvery = 10;

// gRPC's thread pools (its executor, timer manager and the sync server's
// pollers) grow and shrink with load, so threads are bounded rather than
// pinned: at most this many above the warm-up figure, and no more than this
// many added between cycle 50 and cycle 100. One thread leaked per cycle
// breaks both.
constexpr int kThreadSlack = 4;

// How long a process may take to settle after a kill: to notice the death,
// reap, close connections, let idle pool threads exit.
constexpr absl::Duration kSettle = absl::Seconds(30);

template <typename Predicate>
bool Eventually(Predicate done, absl::Duration timeout = kSettle) {
  const absl::Time give_up = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

double SecondsSince(absl::Time start) {
  return absl::ToDoubleSeconds(absl::Now() - start);
}

// What one process holds.
struct Usage {
  int fds = 0;
  int threads = 0;
  int memfd_mappings = 0;
};

Usage Measure(pid_t pid) {
  return Usage{CountFds(pid), CountThreads(pid), CountMemfdMappings(pid)};
}

std::ostream& operator<<(std::ostream& os, const Usage& usage) {
  return os << usage.fds << " fds, " << usage.threads << " threads, "
            << usage.memfd_mappings << " memfd mappings";
}

// Waits until `pid` holds no more fds and memfd mappings than `limit` (plus
// `extra_regions`, each one fd and one mapping) and no more threads than
// limit.threads + kThreadSlack; returns what it holds then.
Usage SettledUsage(pid_t pid, const Usage& limit, int extra_regions = 0) {
  Usage now;
  Eventually([&] {
    now = Measure(pid);
    return now.fds <= limit.fds + extra_regions &&
           now.memfd_mappings <= limit.memfd_mappings + extra_regions &&
           now.threads <= limit.threads + kThreadSlack;
  });
  return now;
}

void ExpectWithin(const char* who, const Usage& now, const Usage& baseline,
                  int extra_regions) {
  EXPECT_LE(now.fds, baseline.fds + extra_regions)
      << who << " leaked file descriptors: " << now << "; after warm-up "
      << baseline << "; output regions still held: " << extra_regions;
  EXPECT_LE(now.memfd_mappings, baseline.memfd_mappings + extra_regions)
      << who << " leaked memfd mappings: " << now << "; after warm-up "
      << baseline << "; output regions still held: " << extra_regions;
  EXPECT_LE(now.threads, baseline.threads + kThreadSlack)
      << who << " leaked threads: " << now << "; after warm-up " << baseline;
}

std::vector<std::string> Flags() {
  return {absl::StrCat("--load-library=",
                       RunfilePath("tests/ops/libaoti_misbehaving_ops.so")),
          // 200 kills are not a crashing node: nothing may be quarantined.
          "--quarantine-crashes=100000",
          // Each cycle kills the spares too, and the baseline counts them.
          "--spare-workers=1"};
}

// One client session through the C ABI, as a host would hold it.
class Client {
 public:
  explicit Client(const std::string& endpoint) {
    const std::string json = RunfilePath("tests/fixtures/misbehaving_ops.json");
    EXPECT_EQ(aoti_remote_executor_create(endpoint.c_str(), json.c_str(), "cpu",
                                          &executor_),
              AOTI_TORCH_SUCCESS)
        << aoti_remote_last_error();
  }
  ~Client() { aoti_remote_executor_delete(executor_); }

  // plus_one on a small tensor that depends on `seed`; on success `*out`
  // holds the result and `*in` the input.
  AOTITorchError PlusOne(int seed, at::Tensor* in, at::Tensor* out) {
    *in = at::arange(16, at::kFloat) * seed;
    *out = at::Tensor();
    at::Tensor input = *in;
    AtenTensorHandle handles[] = {reinterpret_cast<AtenTensorHandle>(&input),
                                  reinterpret_cast<AtenTensorHandle>(out)};
    return aoti_remote_executor_call_function(executor_, kPlusOne, 0, nullptr,
                                              2, handles);
  }

  // plus_one must work, first time, and be right; keeps the output if
  // `held` is not null.
  void ExpectHealthy(int seed, std::vector<at::Tensor>* held = nullptr) {
    at::Tensor in, out;
    ASSERT_EQ(PlusOne(seed, &in, &out), AOTI_TORCH_SUCCESS)
        << aoti_remote_last_error();
    ASSERT_TRUE(at::equal(out, in + 1)) << "seed " << seed;
    if (held != nullptr) held->push_back(out);
  }

 private:
  AOTIProxyExecutorHandle executor_ = nullptr;
};

// Held outputs still hold plus_one of their seeds.
void ExpectHeldOutputsIntact(const std::vector<at::Tensor>& held) {
  for (size_t i = 0; i < held.size(); ++i) {
    const int seed = static_cast<int>(i + 1) * kHoldEvery;
    EXPECT_TRUE(at::equal(held[i], at::arange(16, at::kFloat) * seed + 1))
        << "the output of cycle " << seed << " changed";
  }
}

// The daemon's children, once none is a zombie and each has become a
// worker (a child between fork and exec still shows the daemon's argv);
// each must be a worker or the worker zygote.
std::vector<pid_t> LiveWorkers(pid_t daemon) {
  std::vector<pid_t> children;
  std::vector<pid_t> zombies;
  Eventually([&] {
    children = ChildrenOf(daemon);
    zombies.clear();
    bool all_workers = true;
    for (pid_t child : children) {
      const auto info = ReadProcess(child);
      if (info.has_value() && info->state == 'Z') zombies.push_back(child);
      if (info.has_value() && !IsWorker(*info) && !IsZygote(*info)) {
        all_workers = false;
      }
    }
    return zombies.empty() && all_workers;
  });
  for (pid_t zombie : zombies) {
    ADD_FAILURE() << "worker pid " << zombie << " of aoti-executord pid "
                  << daemon << " is a zombie: its death was never reaped";
  }
  for (pid_t child : children) {
    const auto info = ReadProcess(child);
    EXPECT_TRUE(!info.has_value() || IsWorker(*info) || IsZygote(*info))
        << "child pid " << child << " of aoti-executord is not a worker";
  }
  return children;
}

// The daemon's children come back to `expected` (its session workers, and
// whatever spares it keeps), all live workers; a worker process leaked per
// cycle would add one each time.
void ExpectWorkerCount(pid_t daemon, size_t expected) {
  size_t count = 0;
  Eventually([&] {
    count = ChildrenOf(daemon).size();
    return count == expected;
  });
  EXPECT_EQ(count, expected) << "aoti-executord has " << count
                             << " children, after warm-up " << expected;
  LiveWorkers(daemon);
}

// A worker runs custom-op code: besides stdin, stdout, stderr and its channel
// (fd 3) it may hold only shared-memory regions (memfds), never a descriptor
// the daemon had, such as the one StrayDescriptor() makes.
void ExpectWorkersHoldOnlyTheirOwn(pid_t daemon) {
  // A worker still starting has the loader's descriptor of the library it
  // is loading open for a moment; one that inherited a descriptor keeps it.
  std::vector<std::string> strangers;
  Eventually([&] {
    strangers.clear();
    for (pid_t worker : ChildrenOf(daemon)) {
      for (const auto& [fd, target] : FdTargets(worker)) {
        if (fd > 3 && !absl::StartsWith(target, "/memfd:")) {
          strangers.push_back(
              absl::StrCat("worker pid ", worker, ": fd ", fd, " -> ", target));
        }
      }
    }
    return strangers.empty();
  });
  for (const std::string& stranger : strangers) {
    ADD_FAILURE() << stranger << ", a descriptor the worker did not make";
  }
}

// A descriptor without close-on-exec, as a shell or supervisor may leave
// the daemon: each daemon started from now on inherits it.
void StrayDescriptor() {
  static const int fd = open("/dev/null", O_RDONLY);  // no O_CLOEXEC
  ASSERT_GE(fd, 0);
}

// The most descriptors any worker of the daemon holds: a worker that
// inherited descriptors it should not have (another worker's channel, a
// client's socket) holds more with each generation.
int MaxWorkerFds(pid_t daemon) {
  int most = 0;
  for (pid_t worker : ChildrenOf(daemon)) {
    most = std::max(most, CountFds(worker));
  }
  return most;
}

void ExpectNoNewDevShm(const std::set<std::string>& before) {
  for (const std::string& name : DevShmEntries()) {
    EXPECT_TRUE(before.count(name) > 0) << "new in /dev/shm: " << name;
  }
}

class GetStatusClient {
 public:
  explicit GetStatusClient(const std::string& endpoint)
      : stub_(v1::Executor::NewStub(grpc::CreateChannel(
            endpoint, grpc::InsecureChannelCredentials()))) {}

  v1::GetStatusResponse Get() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    context.set_wait_for_ready(true);
    v1::GetStatusResponse status;
    EXPECT_TRUE(
        stub_->GetStatus(&context, v1::GetStatusRequest(), &status).ok());
    return status;
  }

 private:
  std::unique_ptr<v1::Executor::Stub> stub_;
};

// What the client and the daemon hold once warmed up.
struct Baseline {
  std::set<std::string> dev_shm;
  Usage client;
  Usage daemon;
  size_t workers = 0;  // children of the daemon
  int worker_fds = 0;  // the most any of them holds
};

Baseline TakeBaseline(pid_t daemon) {
  Baseline baseline;
  baseline.dev_shm = DevShmEntries();
  baseline.client = SettledUsage(getpid(), Measure(getpid()));
  baseline.daemon = SettledUsage(daemon, Measure(daemon));
  // A spare worker the daemon keeps may still be on its way.
  absl::SleepFor(absl::Milliseconds(500));
  baseline.workers = LiveWorkers(daemon).size();
  ExpectWorkersHoldOnlyTheirOwn(daemon);  // and none is loading libraries
  baseline.worker_fds = MaxWorkerFds(daemon);
  std::printf(
      "after warm-up: client %d fds, %d threads, %d memfd mappings; daemon "
      "%d fds, %d threads, %d memfd mappings; %zu workers, at most %d fds "
      "each\n",
      baseline.client.fds, baseline.client.threads,
      baseline.client.memfd_mappings, baseline.daemon.fds,
      baseline.daemon.threads, baseline.daemon.memfd_mappings, baseline.workers,
      baseline.worker_fds);
  return baseline;
}

// Client and daemon against their warm-up figures after the cycles, with
// `held` outputs still alive; `at_50` is what each held after half of them.
void ExpectNoLeaks(pid_t daemon, const Baseline& baseline, size_t held,
                   const Usage& client_at_50, const Usage& daemon_at_50) {
  const Usage client = SettledUsage(getpid(), baseline.client, held);
  const Usage daemon_now = SettledUsage(daemon, baseline.daemon);
  std::printf(
      "after %d cycles: client %d fds, %d threads, %d memfd mappings (%zu "
      "outputs held); daemon %d fds, %d threads, %d memfd mappings\n",
      kCycles, client.fds, client.threads, client.memfd_mappings, held,
      daemon_now.fds, daemon_now.threads, daemon_now.memfd_mappings);
  ExpectWithin("the client", client, baseline.client, held);
  ExpectWithin("aoti-executord", daemon_now, baseline.daemon, 0);
  EXPECT_LE(client.threads, client_at_50.threads + kThreadSlack)
      << "the client's threads grow with the cycles";
  EXPECT_LE(daemon_now.threads, daemon_at_50.threads + kThreadSlack)
      << "aoti-executord's threads grow with the cycles";
  ExpectWorkerCount(daemon, baseline.workers);
  ExpectWorkersHoldOnlyTheirOwn(daemon);
  int worker_fds = 0;
  Eventually([&] {
    worker_fds = MaxWorkerFds(daemon);
    return worker_fds <= baseline.worker_fds;
  });
  EXPECT_LE(worker_fds, baseline.worker_fds)
      << "a new worker holds more descriptors than after warm-up";
}

// Held outputs survive every kill; dropped, they unmap their regions and
// close their fds. Nothing appeared in /dev/shm.
void ExpectReleasedOutputsLeaveNothing(std::vector<at::Tensor>* held,
                                       const Baseline& baseline) {
  ExpectHeldOutputsIntact(*held);
  held->clear();
  const Usage client = SettledUsage(getpid(), baseline.client);
  EXPECT_EQ(client.fds, baseline.client.fds)
      << "dropping every output left fds open";
  EXPECT_EQ(client.memfd_mappings, baseline.client.memfd_mappings)
      << "dropping every output left regions mapped";
  ExpectNoNewDevShm(baseline.dev_shm);
}

TEST(HygieneTest, HundredWorkerKillsLeakNothing) {
  StrayDescriptor();
  auto started = DaemonProcess::Start(Flags());
  ASSERT_TRUE(started.ok()) << started.status();
  DaemonProcess& daemon = **started;
  // The status channel stays open throughout: it is part of the baseline.
  GetStatusClient status(daemon.endpoint());
  Client client(daemon.endpoint());

  // Kills every worker of the daemon (its session's, and any spare; not the
  // zygote, which runs no op), waits until the daemon has reaped them and
  // noticed the session's loss.
  auto kill_workers = [&](int cycle) {
    std::vector<pid_t> workers;
    for (pid_t child : LiveWorkers(daemon.pid())) {
      const auto info = ReadProcess(child);
      if (info.has_value() && IsWorker(*info)) workers.push_back(child);
    }
    ASSERT_FALSE(workers.empty()) << "cycle " << cycle;
    for (pid_t worker : workers) ASSERT_EQ(kill(worker, SIGKILL), 0);
    for (pid_t worker : workers) {
      ASSERT_TRUE(Eventually([&] { return !ReadProcess(worker).has_value(); }))
          << "cycle " << cycle << ": killed worker pid " << worker
          << " was not reaped by aoti-executord";
    }
    // Then the call goes to a new worker rather than failing on a dead one.
    ASSERT_TRUE(Eventually([&] { return status.Get().workers() == 0; }))
        << "cycle " << cycle;
  };

  // Warm-up: the session, its regions, a replaced worker, gRPC's pools.
  int seed = 1000;
  for (int i = 0; i < 3; ++i) client.ExpectHealthy(++seed);
  kill_workers(0);
  ASSERT_FALSE(HasFatalFailure());
  for (int i = 0; i < 3; ++i) client.ExpectHealthy(++seed);
  const Baseline baseline = TakeBaseline(daemon.pid());
  const v1::GetStatusResponse before = status.Get();

  std::vector<at::Tensor> held;
  Usage client_at_50, daemon_at_50;
  const absl::Time start = absl::Now();
  for (int cycle = 1; cycle <= kCycles; ++cycle) {
    kill_workers(cycle);
    if (HasFatalFailure()) return;
    client.ExpectHealthy(cycle, cycle % kHoldEvery == 0 ? &held : nullptr);
    if (HasFatalFailure()) return;
    if (cycle == kCycles / 2) {
      client_at_50 = SettledUsage(getpid(), baseline.client, held.size());
      daemon_at_50 = SettledUsage(daemon.pid(), baseline.daemon);
    }
  }
  std::printf("%d worker kill cycles in %.1f s\n", kCycles,
              SecondsSince(start));

  const v1::GetStatusResponse after = status.Get();
  EXPECT_GE(after.worker_deaths() - before.worker_deaths(), kCycles);
  EXPECT_EQ(after.workers(), 1);
  EXPECT_EQ(after.sessions(), 1);
  EXPECT_EQ(after.regions(), before.regions());
  EXPECT_EQ(after.crashed_nodes_size(), 0);  // an outside kill names no node
  ExpectNoLeaks(daemon.pid(), baseline, held.size(), client_at_50,
                daemon_at_50);
  ExpectReleasedOutputsLeaveNothing(&held, baseline);
}

// Waits for every worker of a killed daemon to exit, and reaps it: this
// process is their subreaper.
void ExpectWorkersExit(const std::vector<pid_t>& workers) {
  for (pid_t worker : workers) {
    EXPECT_TRUE(Eventually([worker] {
      int wait_status = 0;
      if (waitpid(worker, &wait_status, WNOHANG) == worker) return true;
      return !ReadProcess(worker).has_value();
    })) << "worker pid "
        << worker << " outlived its daemon";
  }
}

TEST(HygieneTest, HundredDaemonKillsLeakNothing) {
  // Orphaned workers come to this process, which can then see and reap them.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  StrayDescriptor();
  auto started = DaemonProcess::Start(Flags());
  ASSERT_TRUE(started.ok()) << started.status();
  DaemonProcess& daemon = **started;
  // Calls during an outage must fail fast, never spend 30 s.
  setenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS", "5000", 1);
  Client client(daemon.endpoint());
  unsetenv("AOTI_EXECUTOR_CALL_TIMEOUT_MS");

  // Every worker pid seen, to find any that outlived its daemon.
  std::set<pid_t> all_workers;
  auto kill_daemon = [&] {
    const std::vector<pid_t> workers = LiveWorkers(daemon.pid());
    all_workers.insert(workers.begin(), workers.end());
    daemon.KillAndWait(SIGKILL);
    return workers;
  };

  // One kill and restart of warm-up: each later daemon serves the same client
  // as this one, so each must hold what this one holds.
  int seed = 1000;
  client.ExpectHealthy(++seed);
  ExpectWorkersExit(kill_daemon());
  ASSERT_TRUE(daemon.Restart().ok());
  for (int i = 0; i < 3; ++i) client.ExpectHealthy(++seed);
  const Baseline baseline = TakeBaseline(daemon.pid());

  std::vector<at::Tensor> held;
  Usage client_at_50, daemon_at_50;
  double slowest_outage_call = 0, restarting = 0, first_calls = 0;
  const absl::Time start = absl::Now();
  for (int cycle = 1; cycle <= kCycles; ++cycle) {
    const std::vector<pid_t> workers = kill_daemon();
    // During the outage the call fails, at once.
    const absl::Time call_start = absl::Now();
    at::Tensor in, out;
    EXPECT_EQ(client.PlusOne(cycle, &in, &out), AOTI_TORCH_FAILURE);
    EXPECT_FALSE(out.defined());
    slowest_outage_call =
        std::max(slowest_outage_call, SecondsSince(call_start));
    ExpectWorkersExit(workers);
    const absl::Time restart_start = absl::Now();
    ASSERT_TRUE(daemon.Restart().ok()) << "cycle " << cycle;
    restarting += SecondsSince(restart_start);
    // The same handle works again at once: the shim opened a new session.
    const absl::Time first_call_start = absl::Now();
    client.ExpectHealthy(cycle, cycle % kHoldEvery == 0 ? &held : nullptr);
    first_calls += SecondsSince(first_call_start);
    if (HasFatalFailure()) return;
    if (cycle == kCycles / 2) {
      client_at_50 = SettledUsage(getpid(), baseline.client, held.size());
      daemon_at_50 = SettledUsage(daemon.pid(), baseline.daemon);
    }
  }
  std::printf(
      "%d daemon kill cycles in %.1f s (restarts %.1f s, first calls %.1f "
      "s); slowest call in an outage %.3f s\n",
      kCycles, SecondsSince(start), restarting, first_calls,
      slowest_outage_call);
  EXPECT_LT(slowest_outage_call, 5.0);
  ExpectNoLeaks(daemon.pid(), baseline, held.size(), client_at_50,
                daemon_at_50);

  // No worker outlived its daemon: none of those seen is still there, and
  // this process (their subreaper) has no child but the daemon.
  const std::vector<pid_t> live = ChildrenOf(daemon.pid());
  for (const ProcessInfo& process : AllProcesses()) {
    if (std::find(live.begin(), live.end(), process.pid) != live.end()) {
      continue;
    }
    EXPECT_FALSE(IsWorker(process) && all_workers.count(process.pid) > 0)
        << "worker pid " << process.pid << " outlived its daemon";
    EXPECT_FALSE(process.ppid == getpid() && process.pid != daemon.pid())
        << "pid " << process.pid << " (state " << process.state
        << ") was orphaned to the test";
  }
  ExpectReleasedOutputsLeaveNothing(&held, baseline);
}

}  // namespace
}  // namespace e2e
}  // namespace aoti_executor
