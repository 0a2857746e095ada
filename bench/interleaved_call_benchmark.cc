// What a small call over the call lane costs when the host does its own work
// between calls, as a model does between its extern-kernel calls: a
// one-element aten::add.Tensor through the shim and a real daemon,
//   (a) back to back,
//   (b) after 1-20 us of host work (an in-process at::add, or a busy loop),
//   (c) after 100 us, 200 us and 1 ms of host work,
//   (d) in bursts of three calls 2 us apart, 1 ms between bursts,
// against the floors of the same run: the back-to-back lane call and an empty
// gRPC unary (the daemon's Hello). Only the call is timed, never the gap.
// Besides latency, each row shows the CPU time a call costs: the client
// thread's during the call (CLOCK_THREAD_CPUTIME_ID) and the worker's and
// daemon's over the whole round, gaps included (/proc/PID/task/*/schedstat),
// so a side spinning through the host's work shows up. Cases alternate in
// rounds so that all of them see the same background load.
//
//   bazel run //bench:interleaved_call_benchmark
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "aoti_remote/executor.h"
#include "bench/bench_stats.h"
#include "bench/bench_table.h"
#include "bench/proc_facts.h"
#include "proto/executor.grpc.pb.h"
#include "tests/e2e/daemon_process.h"

namespace aoti_executor {
namespace {

void Progress(const std::string& what) {
  std::fprintf(stderr, "[interleaved_call_benchmark] %s\n", what.c_str());
}

// ---------------------------------------------------------------------------
// CPU time and wake-ups of other processes, from /proc.

struct Usage {
  int64_t cpu_ns = 0;    // time on a CPU (schedstat: nanoseconds)
  int64_t wake_ups = 0;  // voluntary context switches: blocked, then woken
};

// Summed over the live threads of `pids`; a thread that exits between two
// readings is missed, which only undercounts.
Usage UsageOf(const std::vector<pid_t>& pids) {
  Usage usage;
  for (pid_t pid : pids) {
    for (const std::string& dir : TaskDirs(pid)) {
      std::ifstream schedstat(dir + "/schedstat");
      int64_t ns = 0;
      if (schedstat >> ns) usage.cpu_ns += ns;
      std::ifstream status(dir + "/status");
      std::string line;
      while (std::getline(status, line)) {
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0) {
          usage.wake_ups += std::atoll(line.c_str() + line.find(':') + 1);
        }
      }
    }
  }
  return usage;
}

int64_t ThreadCpuNanos() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

int64_t ThreadWakeUps() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_nvcsw;
}

// ---------------------------------------------------------------------------
// The call and the host's work between calls.

std::string AddNodeJson() {
  return R"({"nodes": [{"name": "buf0", "node": {"target": "aten::add.Tensor",)"
         R"( "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "arg0_1"}},)"
         R"( "kind": 1}, {"name": "other", "arg": {"as_tensor": {"name":)"
         R"( "arg1_1"}}, "kind": 1}], "outputs": [{"as_tensor": {"name":)"
         R"( "buf0"}}], "metadata": {}, "is_hop_single_tensor_return": null,)"
         R"( "name": null}}]})";
}

AtenTensorHandle Handle(at::Tensor* t) {
  return reinterpret_cast<AtenTensorHandle>(t);
}

bool CallAdd(AOTIProxyExecutorHandle executor, at::Tensor* a, at::Tensor* b,
             at::Tensor* out) {
  *out = at::Tensor();
  std::array<AtenTensorHandle, 3> args{Handle(a), Handle(b), Handle(out)};
  if (aoti_remote_executor_call_function(executor, 0, 0, nullptr, 3,
                                         args.data()) != AOTI_TORCH_SUCCESS) {
    std::fprintf(stderr, "call failed: %s\n", aoti_remote_last_error());
    return false;
  }
  return true;
}

// Host work that keeps this thread's CPU busy for `us`, as a generated
// kernel would (no syscalls, no sleeping).
void BusyFor(double us) {
  const auto end = Clock::now() + std::chrono::duration<double, std::micro>(us);
  while (Clock::now() < end) {
  }
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// ---------------------------------------------------------------------------
// One row: host work, then one timed call, repeated; in rounds.

class GapCase {
 public:
  GapCase(std::string name, std::function<void()> gap,
          std::function<bool()> call, int warmup, int iterations)
      : name_(std::move(name)),
        gap_(std::move(gap)),
        call_(std::move(call)),
        warmup_(warmup),
        iterations_(iterations) {}

  // `worker` and `daemon` are the processes whose CPU time is charged to
  // the calls over the whole round, the host's gaps included.
  void Round(const std::vector<pid_t>& worker, pid_t daemon) {
    for (int i = 0; i < warmup_; ++i) {
      gap_();
      ok_ = call_() && ok_;
    }
    const Usage worker_before = UsageOf(worker);
    const Usage daemon_before = UsageOf({daemon});
    const int64_t wake_ups_before = ThreadWakeUps();
    const auto round_start = Clock::now();
    for (int i = 0; i < iterations_; ++i) {
      gap_();
      const int64_t cpu_start = ThreadCpuNanos();
      const auto start = Clock::now();
      ok_ = call_() && ok_;
      samples_us_.push_back(MicrosSince(start));
      client_cpu_ns_ += ThreadCpuNanos() - cpu_start;
    }
    wall_us_ += MicrosSince(round_start);
    // The gaps never block, so every voluntary switch is the call's.
    client_wake_ups_ += ThreadWakeUps() - wake_ups_before;
    const Usage worker_after = UsageOf(worker);
    const Usage daemon_after = UsageOf({daemon});
    worker_cpu_ns_ += worker_after.cpu_ns - worker_before.cpu_ns;
    worker_wake_ups_ += worker_after.wake_ups - worker_before.wake_ups;
    daemon_cpu_ns_ += daemon_after.cpu_ns - daemon_before.cpu_ns;
    calls_ += iterations_;
  }

  const std::string& name() const { return name_; }
  bool ok() const { return ok_ && !samples_us_.empty(); }
  Percentiles latency() const { return ComputePercentiles(samples_us_); }
  double client_cpu_us() const { return client_cpu_ns_ / 1e3 / calls_; }
  double worker_cpu_us() const { return worker_cpu_ns_ / 1e3 / calls_; }
  double daemon_cpu_us() const { return daemon_cpu_ns_ / 1e3 / calls_; }
  // The share of one CPU the worker used over the round, gaps included.
  double worker_busy() const { return worker_cpu_ns_ / 1e3 / wall_us_; }
  double client_wake_ups() const {
    return static_cast<double>(client_wake_ups_) / calls_;
  }
  double worker_wake_ups() const {
    return static_cast<double>(worker_wake_ups_) / calls_;
  }

 private:
  std::string name_;
  std::function<void()> gap_;
  std::function<bool()> call_;
  int warmup_, iterations_;
  std::vector<double> samples_us_;
  int64_t client_cpu_ns_ = 0, worker_cpu_ns_ = 0, daemon_cpu_ns_ = 0;
  int64_t client_wake_ups_ = 0, worker_wake_ups_ = 0, calls_ = 0;
  double wall_us_ = 0;
  bool ok_ = true;
};

void PrintTable(const std::vector<GapCase>& cases, double lane_p50,
                double grpc_p50) {
  std::printf("%-52s %8s %8s %7s %7s %8s %8s %8s %6s %7s %7s\n", "case",
              "p50 us", "p99 us", "/b2b", "/gRPC", "cli cpu", "wkr cpu",
              "dmn cpu", "wkr %", "cli wk", "wkr wk");
  for (const GapCase& c : cases) {
    if (!c.ok()) {
      std::printf("%-52s failed\n", c.name().c_str());
      continue;
    }
    const Percentiles p = c.latency();
    std::printf(
        "%-52s %8.2f %8.2f %6.2fx %6.3fx %8.2f %8.2f %8.2f %5.0f%% %7.2f "
        "%7.2f\n",
        c.name().c_str(), p.p50_us, p.p99_us, p.p50_us / lane_p50,
        p.p50_us / grpc_p50, c.client_cpu_us(), c.worker_cpu_us(),
        c.daemon_cpu_us(), 100 * c.worker_busy(), c.client_wake_ups(),
        c.worker_wake_ups());
  }
}

int Main() {
  utsname name{};
  uname(&name);
  std::printf("machine: %ld CPUs (nproc), %s %s; load average %s\n",
              sysconf(_SC_NPROCESSORS_ONLN), name.release, name.machine,
              ReadFirstLine("/proc/loadavg").c_str());
  std::printf("command: bazel run //bench:interleaved_call_benchmark\n\n");
  // Host work runs on this thread alone, as in a model run with one torch
  // thread: no intra-op pool spinning beside the lane.
  at::set_num_threads(1);

  Progress("starting aoti-executord");
  auto daemon = e2e::DaemonProcess::Start();
  if (!daemon.ok()) {
    std::fprintf(stderr, "%s\n", daemon.status().ToString().c_str());
    return 1;
  }
  const std::string json_path = (*daemon)->socket_dir() + "/add.wrapper.json";
  std::ofstream(json_path) << AddNodeJson();
  const std::string& endpoint = (*daemon)->endpoint();
  AOTIProxyExecutorHandle executor = nullptr;
  if (aoti_remote_executor_create(endpoint.c_str(), json_path.c_str(), "cpu",
                                  &executor) != AOTI_TORCH_SUCCESS) {
    std::fprintf(stderr, "%s\n", aoti_remote_last_error());
    return 1;
  }
  // The daemon starts its next spare worker (libtorch loading, about half a
  // second of CPU) when a session takes one: let it finish first.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const pid_t daemon_pid = (*daemon)->pid();
  // The session's worker and the idle spare: the spare adds next to nothing.
  const std::vector<pid_t> workers = ChildProcesses(daemon_pid);

  at::Tensor a = at::rand({1}), b = at::rand({1}), out;
  const auto lane_call = [&] { return CallAdd(executor, &a, &b, &out); };
  // Host work of a few microseconds: an add below ATen's parallel grain.
  at::Tensor x = at::rand({16384}), y = at::rand({16384}), z;
  const auto host_add = [&] { z = at::add(x, y); };
  auto stub = aoti::executor::v1::Executor::NewStub(MakeChannel(endpoint));
  const auto hello = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    context.set_wait_for_ready(true);
    aoti::executor::v1::HelloRequest request;
    aoti::executor::v1::HelloResponse response;
    return stub->Hello(&context, request, &response).ok();
  };
  const auto none = [] {};
  const auto busy = [](double us) { return [us] { BusyFor(us); }; };

  // Warm-ups long enough for the spin budgets to settle on the new gaps.
  std::vector<GapCase> cases;
  cases.emplace_back("(a) lane, back to back", none, lane_call, 500, 5000);
  cases.emplace_back("(b) lane, after in-process at::add (16K floats)",
                     host_add, lane_call, 200, 4000);
  cases.emplace_back("(b) lane, after 2 us of host work", busy(2), lane_call,
                     200, 4000);
  cases.emplace_back("(b) lane, after 20 us of host work", busy(20), lane_call,
                     200, 3000);
  cases.emplace_back("(c) lane, after 100 us of host work", busy(100),
                     lane_call, 50, 1000);
  cases.emplace_back("(c) lane, after 200 us of host work", busy(200),
                     lane_call, 50, 800);
  cases.emplace_back("(c) lane, after 1 ms of host work", busy(1000), lane_call,
                     20, 300);
  // A model's pattern: a few extern calls close together between long
  // generated kernels.
  int burst_call = 0;
  const auto bursts = [&burst_call] {
    BusyFor(burst_call++ % 3 == 0 ? 1000 : 2);
  };
  cases.emplace_back("(d) lane, bursts: 3 calls 2 us apart, 1 ms between",
                     bursts, lane_call, 30, 900);
  cases.emplace_back("floor: empty gRPC unary (daemon's Hello)", none, hello,
                     100, 800);
  // The host work alone, for scale (no call: its CPU columns are noise).
  std::vector<double> host_add_us;
  constexpr int kRounds = 6;
  for (int round = 0; round < kRounds; ++round) {
    Progress(absl::StrCat("round ", round + 1, " of ", kRounds));
    for (GapCase& c : cases) c.Round(workers, daemon_pid);
    for (int i = 0; i < 1000; ++i) {
      const auto start = Clock::now();
      host_add();
      host_add_us.push_back(MicrosSince(start));
    }
  }
  aoti_remote_executor_delete(executor);

  const double lane_p50 = cases.front().latency().p50_us;
  const double grpc_p50 = cases.back().latency().p50_us;
  std::printf(
      "one-element aten::add.Tensor over the call lane, %d alternating "
      "rounds; only the call is timed.\n"
      "/b2b, /gRPC: p50 over the back-to-back lane p50 and over the empty "
      "gRPC unary p50.\n"
      "cpu: microseconds of CPU per call: the client thread during the "
      "call; the worker and the daemon over the whole round, gaps "
      "included.\n"
      "wkr %%: the share of one CPU the worker used over the round. wk: "
      "wake-ups (voluntary context switches) per call.\n\n",
      kRounds);
  PrintTable(cases, lane_p50, grpc_p50);
  const Percentiles add = ComputePercentiles(host_add_us);
  std::printf(
      "\nhost work alone: in-process at::add of 16K floats p50 %.2f "
      "us, p99 %.2f us\n",
      add.p50_us, add.p99_us);
  double worst_b = 0;
  for (size_t i = 1; i <= 3; ++i) {
    worst_b = std::max(worst_b, cases[i].latency().p50_us);
  }
  std::printf(
      "target: interleaved (b) p50 <= 3x back to back and <= 0.2x the gRPC "
      "unary: worst (b) p50 %.2f us = %.2fx back to back, %.3fx gRPC: %s\n",
      worst_b, worst_b / lane_p50, worst_b / grpc_p50,
      worst_b <= 3 * lane_p50 && worst_b <= 0.2 * grpc_p50 ? "met" : "not met");
  std::printf("load average at the end: %s\n",
              ReadFirstLine("/proc/loadavg").c_str());
  return 0;
}

}  // namespace
}  // namespace aoti_executor

int main() { return aoti_executor::Main(); }
