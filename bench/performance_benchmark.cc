// One command, one run, one table: what an extern-kernel call costs through
// the shim and aoti-executord against the same call in-process, and against
// the floors of the transports underneath, all measured in this run:
//   - a one-element aten::add.Tensor: in-process (CallWithHandles over a
//     KernelSet) vs through the shim and a real daemon over a Unix socket;
//   - floors, each a round trip between two processes: an empty gRPC unary
//     (a sync server of ours in a child process, and the daemon's Hello), a
//     futex ping-pong on a shared page (unpinned, one CPU, two CPUs), and a
//     busy-polled shared-memory ping-pong (two CPUs);
//   - 1, 64 and 256 MiB float tensors: remote vs in-process vs memcpy;
//   - registering a 10,000-node kernel set vs KernelSet::Parse in-process,
//     and four creates in a row (no spare worker ready for the later ones);
//   - calls per second from one and from two client processes, and from
//     three threads sharing one executor.
// Processes that use gRPC are this binary run again (fork + exec with a mode
// flag), so none inherits gRPC's state through a fork; the ping-pong peers
// are plain forks that touch nothing but the shared page.
//
//   bazel run //bench:performance_benchmark
#include <ATen/ATen.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "aoti_remote/executor.h"
#include "bench/bench_stats.h"
#include "bench/bench_table.h"
#include "bench/ping.grpc.pb.h"
#include "bench/proc_facts.h"
#include "proto/executor.grpc.pb.h"
#include "server/kernels/handle_call.h"
#include "server/kernels/kernel_set.h"
#include "tests/e2e/daemon_process.h"

namespace aoti_executor {
namespace {

void Progress(const std::string& what) {
  std::fprintf(stderr, "[performance_benchmark] %s\n", what.c_str());
}

// ---------------------------------------------------------------------------
// The table.

double P50(const std::optional<Percentiles>& p) { return p ? p->p50_us : 0; }

double Ratio(double numerator, double denominator) {
  return numerator > 0 && denominator > 0 ? numerator / denominator : 0;
}

std::string GigabytesPerSecond(size_t bytes, double us) {
  return us > 0 ? absl::StrFormat("%.2f GB/s", bytes / us / 1e3) : "";
}

// ---------------------------------------------------------------------------
// The machine.

void PrintMachine() {
  utsname name{};
  uname(&name);
  std::printf("machine: %ld CPUs (nproc), %s, %s %s %s; load average %s\n",
              sysconf(_SC_NPROCESSORS_ONLN), CpuModel().c_str(), name.sysname,
              name.release, name.machine,
              ReadFirstLine("/proc/loadavg").c_str());
}

// ---------------------------------------------------------------------------
// Kernel-set JSON, as PyTorch serializes it.

// One aten::add.Tensor node (alpha omitted: it has a default). `tag` makes
// the text, and so the kernel set's content hash, differ between sets.
std::string AddNode(const std::string& tag, int i) {
  return absl::StrCat(
      R"({"name": "buf)", tag, i,
      R"(", "node": {"target": "aten::add.Tensor", "inputs": [)",
      R"({"name": "self", "arg": {"as_tensor": {"name": "arg0_1"}}, "kind": 1},)",
      R"({"name": "other", "arg": {"as_tensor": {"name": "arg1_1"}}, "kind": 1}],)",
      R"("outputs": [{"as_tensor": {"name": "buf)", tag, i,
      R"("}}], "metadata": {},)",
      R"("is_hop_single_tensor_return": null, "name": null}})");
}

std::string AddNodes(const std::string& tag, int count) {
  std::string json = R"({"nodes": [)";
  for (int i = 0; i < count; ++i) {
    if (i > 0) json += ", ";
    json += AddNode(tag, i);
  }
  return json + "]}";
}

std::string WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

AtenTensorHandle Handle(at::Tensor* t) {
  return reinterpret_cast<AtenTensorHandle>(t);
}

// One call of node 0 (an add) with inputs a, b; `out` receives the result.
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

// ---------------------------------------------------------------------------
// Shared-memory ping-pong between two processes.

enum class WaitKind { kFutex, kSpin };

// Two words on separate cache lines of one MAP_SHARED page.
struct PingPongWords {
  alignas(64) std::atomic<uint32_t> ping{0};
  alignas(64) std::atomic<uint32_t> pong{0};
};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
              "futex words are plain 32-bit words");

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value,
           const timespec* timeout) {
  // Not FUTEX_PRIVATE_FLAG: the word is shared between processes.
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value,
                 timeout, nullptr, 0);
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Waits until `*word` holds `target`; false after about 5 s (the peer is
// gone or starved): every wait is bounded.
bool AwaitValue(std::atomic<uint32_t>* word, uint32_t target, WaitKind how) {
  if (how == WaitKind::kSpin) {
    for (uint64_t spins = 0; spins < (uint64_t{1} << 28); ++spins) {
      if (word->load(std::memory_order_acquire) == target) return true;
      CpuRelax();
    }
    return false;
  }
  const auto give_up = Clock::now() + std::chrono::seconds(5);
  const timespec timeout{0, 100 * 1000 * 1000};
  uint32_t seen;
  while ((seen = word->load(std::memory_order_acquire)) != target) {
    if (Clock::now() > give_up) return false;
    Futex(word, FUTEX_WAIT, seen, &timeout);
  }
  return true;
}

void Signal(std::atomic<uint32_t>* word, uint32_t value, WaitKind how) {
  word->store(value, std::memory_order_release);
  if (how == WaitKind::kFutex) Futex(word, FUTEX_WAKE, 1, nullptr);
}

void PinToCpu(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

// Round trips between this thread and a forked child: ping, then wait for
// the child's pong. `parent_cpu`/`child_cpu` < 0: not pinned.
std::optional<Percentiles> PingPong(WaitKind how, int parent_cpu, int child_cpu,
                                    uint32_t warmup, uint32_t iterations) {
  constexpr size_t kPage = 4096;
  void* page = mmap(nullptr, kPage, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return std::nullopt;
  auto* words = new (page) PingPongWords;
  const uint32_t total = warmup + iterations;
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    PinToCpu(child_cpu);
    for (uint32_t i = 1; i <= total; ++i) {
      if (!AwaitValue(&words->ping, i, how)) _exit(1);
      Signal(&words->pong, i, how);
    }
    _exit(0);
  }
  cpu_set_t saved;
  sched_getaffinity(0, sizeof(saved), &saved);
  PinToCpu(parent_cpu);
  std::vector<double> samples;
  samples.reserve(iterations);
  bool ok = pid > 0;
  for (uint32_t i = 1; ok && i <= total; ++i) {
    const auto start = Clock::now();
    Signal(&words->ping, i, how);
    ok = AwaitValue(&words->pong, i, how);
    if (i > warmup) samples.push_back(MicrosSince(start));
  }
  sched_setaffinity(0, sizeof(saved), &saved);
  int status = 0;
  if (pid > 0) {
    if (!ok) kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  munmap(page, kPage);
  if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return std::nullopt;
  }
  return ComputePercentiles(std::move(samples));
}

// ---------------------------------------------------------------------------
// Child processes: this binary again, stdin and stdout piped to us.

class ChildProcess {
 public:
  // Runs /proc/self/exe with `args`. The child dies with us.
  static std::unique_ptr<ChildProcess> Spawn(std::vector<std::string> args) {
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0) return nullptr;
    if (pipe2(from_child, O_CLOEXEC) != 0) return nullptr;
    args.insert(args.begin(), "performance_benchmark");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) {
        close(fd);
      }
      return nullptr;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(to_child[0], STDIN_FILENO);
      dup2(from_child[1], STDOUT_FILENO);
      execv("/proc/self/exe", argv.data());
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    return std::unique_ptr<ChildProcess>(
        new ChildProcess(pid, to_child[1], from_child[0]));
  }

  ~ChildProcess() {
    if (to_child_ >= 0) close(to_child_);
    close(from_child_);
    if (pid_ > 0) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
    }
  }

  // One line from the child's stdout, without its newline; "" at its end.
  std::string ReadLine() {
    std::string line;
    char c;
    while (read(from_child_, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }

  void Write(const std::string& text) {
    (void)!write(to_child_, text.data(), text.size());
  }

  pid_t pid() const { return pid_; }

  // Closes the child's stdin (its cue to finish) and reaps it.
  void Finish() {
    close(to_child_);
    to_child_ = -1;
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  ChildProcess(pid_t pid, int to_child, int from_child)
      : pid_(pid), to_child_(to_child), from_child_(from_child) {}

  pid_t pid_;
  int to_child_;
  int from_child_;
};

// ---------------------------------------------------------------------------
// What a call makes other processes do, read from /proc:
//   - wake-ups: each voluntary context switch is a thread that blocked and
//     was woken again (summed over /proc/PID/task/*/status; threads that
//     exited meanwhile are not counted);
//   - page faults: minor faults of the whole process (/proc/PID/stat), such
//     as the first touch of each page of a fresh allocation.

enum class Counter { kWakeUps, kPageFaults };

// Voluntary context switches of each thread of `pid`, by its /proc path.
std::map<std::string, int64_t> VoluntarySwitches(pid_t pid) {
  std::map<std::string, int64_t> by_thread;
  for (const std::string& dir : TaskDirs(pid)) {
    std::ifstream status(dir + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) {
        by_thread[dir] = std::atoll(line.c_str() + line.find(':') + 1);
      }
    }
  }
  return by_thread;
}

struct ProcessGroup {
  std::string name;
  std::vector<pid_t> pids;
};

// Per group, a counter's value per thread (wake-ups) or per process (page
// faults, which /proc/PID/stat keeps for exited threads too).
using Snapshot = std::vector<std::map<std::string, int64_t>>;

Snapshot Take(Counter counter, const std::vector<ProcessGroup>& groups) {
  Snapshot snapshot;
  for (const ProcessGroup& group : groups) {
    std::map<std::string, int64_t> values;
    for (pid_t pid : group.pids) {
      if (counter == Counter::kWakeUps) {
        values.merge(VoluntarySwitches(pid));
      } else {
        values[absl::StrCat(pid)] = MinorFaults(pid);
      }
    }
    snapshot.push_back(std::move(values));
  }
  return snapshot;
}

// Per group, how much its counters grew; a thread that started meanwhile
// counts from zero, one that exited is missed (an undercount, never less
// than zero).
std::vector<int64_t> Growth(const Snapshot& before, const Snapshot& after) {
  std::vector<int64_t> growth;
  for (size_t g = 0; g < after.size(); ++g) {
    int64_t sum = 0;
    for (const auto& [key, value] : after[g]) {
      auto it = before[g].find(key);
      sum += value - (it == before[g].end() ? 0 : it->second);
    }
    growth.push_back(sum);
  }
  return growth;
}

// "wake-ups per call: client 1.00, server 1.00" from counts over `calls`.
std::string FormatPerCall(Counter counter,
                          const std::vector<ProcessGroup>& groups,
                          const std::vector<int64_t>& counts, int64_t calls) {
  std::string note = counter == Counter::kWakeUps ? "wake-ups per call:"
                                                  : "page faults per call:";
  for (size_t i = 0; i < groups.size(); ++i) {
    absl::StrAppendFormat(&note, "%s%s%s %.*f", i > 0 ? "," : "",
                          groups[i].name.empty() ? "" : " ", groups[i].name,
                          counter == Counter::kWakeUps ? 2 : 0,
                          static_cast<double>(counts[i]) / calls);
  }
  return note;
}

// Runs `fn`, which makes `calls` calls, and says how many of `counter`
// each group's processes had per call.
template <typename Fn>
std::string PerCall(Counter counter, const std::vector<ProcessGroup>& groups,
                    int calls, Fn&& fn) {
  const Snapshot before = Take(counter, groups);
  fn();
  return FormatPerCall(counter, groups, Growth(before, Take(counter, groups)),
                       calls);
}

// Blocks until stdin closes: a child's cue that its parent is done.
void WaitForStdinToClose() {
  char c;
  while (read(STDIN_FILENO, &c, 1) > 0) {
  }
}

// ---------------------------------------------------------------------------
// The gRPC floor: an empty unary service of ours.

class PingService final : public aoti::bench::v1::Ping::Service {
  grpc::Status Ping(grpc::ServerContext*, const aoti::bench::v1::PingRequest*,
                    aoti::bench::v1::PingResponse*) override {
    return grpc::Status::OK;
  }
};

// Child mode --serve-ping=ADDRESS: the daemon's kind of server (sync API,
// one Unix socket) with nothing behind it.
int ServePing(const std::string& address) {
  PingService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return 1;
  std::printf("ready\n");
  std::fflush(stdout);
  WaitForStdinToClose();
  server->Shutdown();
  return 0;
}

// The channel the shim makes (client_shim/session/session.cc).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// A fresh context with the deadline and wait-for-ready the shim sets.
void PrepareContext(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
  context->set_wait_for_ready(true);
}

// ---------------------------------------------------------------------------
// Interleaved cases: the small call and its gRPC floors are measured in
// rounds that alternate between them, so that on a shared machine all of
// them see the same background load and their ratios hold.

class InterleavedCase {
 public:
  // `call` makes one call and says whether it succeeded; the wake-ups of
  // `groups` are counted over the timed calls.
  InterleavedCase(std::function<bool()> call, std::vector<ProcessGroup> groups)
      : call_(std::move(call)),
        groups_(std::move(groups)),
        wake_ups_(groups_.size(), 0) {}

  void Round(int warmup, int iterations) {
    for (int i = 0; i < warmup; ++i) ok_ = call_() && ok_;
    const Snapshot before = Take(Counter::kWakeUps, groups_);
    for (int i = 0; i < iterations; ++i) {
      const auto start = Clock::now();
      ok_ = call_() && ok_;
      samples_us_.push_back(MicrosSince(start));
    }
    const std::vector<int64_t> growth =
        Growth(before, Take(Counter::kWakeUps, groups_));
    for (size_t g = 0; g < groups_.size(); ++g) wake_ups_[g] += growth[g];
    calls_ += iterations;
  }

  std::optional<Percentiles> latency() const {
    if (!ok_ || samples_us_.empty()) return std::nullopt;
    return ComputePercentiles(samples_us_);
  }

  std::string WakeUpsNote() const {
    return FormatPerCall(Counter::kWakeUps, groups_, wake_ups_, calls_);
  }

 private:
  std::function<bool()> call_;
  std::vector<ProcessGroup> groups_;
  std::vector<int64_t> wake_ups_;
  std::vector<double> samples_us_;
  int64_t calls_ = 0;
  bool ok_ = true;
};

struct SmallCallResults {
  std::optional<Percentiles> local, remote, remote_rpc, grpc_own, grpc_hello;
  std::string remote_note, remote_rpc_note, grpc_own_note, grpc_hello_note;
};

// The one-element add in-process and remote, an empty unary on a gRPC server
// of ours (a child process), and the daemon's Hello: 4 rounds each.
SmallCallResults MeasureSmallCalls(const KernelSet& kernels,
                                   AOTIProxyExecutorHandle executor,
                                   AOTIProxyExecutorHandle rpc_executor,
                                   const std::string& endpoint, pid_t daemon,
                                   const std::string& dir) {
  Progress("one-element add in-process and remote, and empty gRPC unaries");
  const std::string address = absl::StrCat("unix:", dir, "/ping.sock");
  std::unique_ptr<ChildProcess> server =
      ChildProcess::Spawn({absl::StrCat("--serve-ping=", address)});
  const bool serving = server != nullptr && server->ReadLine() == "ready";
  auto ping = aoti::bench::v1::Ping::NewStub(MakeChannel(address));
  auto executor_stub =
      aoti::executor::v1::Executor::NewStub(MakeChannel(endpoint));
  at::Tensor a = at::rand({1}), b = at::rand({1}), out;
  std::array<at::Tensor*, 3> local_args{&a, &b, &out};
  const ProcessGroup client{"client", {getpid()}};

  InterleavedCase local(
      [&] {
        out = at::Tensor();
        return CallWithHandles(kernels, 0, 0, nullptr, 3, local_args.data())
            .ok();
      },
      {});
  InterleavedCase remote(
      [&] { return CallAdd(executor, &a, &b, &out); },
      {client, {"daemon", {daemon}}, {"worker", ChildProcesses(daemon)}});
  InterleavedCase remote_rpc(
      [&] { return CallAdd(rpc_executor, &a, &b, &out); },
      {client, {"daemon", {daemon}}, {"worker", ChildProcesses(daemon)}});
  InterleavedCase grpc_own(
      [&] {
        grpc::ClientContext context;
        PrepareContext(&context);
        aoti::bench::v1::PingRequest request;
        aoti::bench::v1::PingResponse response;
        return serving && ping->Ping(&context, request, &response).ok();
      },
      {client, {"server", {serving ? server->pid() : 0}}});
  InterleavedCase grpc_hello(
      [&] {
        grpc::ClientContext context;
        PrepareContext(&context);
        aoti::executor::v1::HelloRequest request;
        aoti::executor::v1::HelloResponse response;
        return executor_stub->Hello(&context, request, &response).ok();
      },
      {client, {"daemon", {daemon}}});
  for (int round = 0; round < 4; ++round) {
    local.Round(2000, 50000);
    grpc_own.Round(300, 5000);
    remote.Round(2000, 50000);
    remote_rpc.Round(300, 5000);
    grpc_hello.Round(300, 5000);
  }
  if (server != nullptr) server->Finish();
  SmallCallResults results;
  results.local = local.latency();
  results.remote = remote.latency();
  results.remote_rpc = remote_rpc.latency();
  results.grpc_own = grpc_own.latency();
  results.grpc_hello = grpc_hello.latency();
  results.remote_note = remote.WakeUpsNote();
  results.remote_rpc_note = remote_rpc.WakeUpsNote();
  results.grpc_own_note = grpc_own.WakeUpsNote();
  results.grpc_hello_note = grpc_hello.WakeUpsNote();
  return results;
}

// ---------------------------------------------------------------------------
// Calls per second: client processes, each with its own executor.

struct LoopResult {
  double calls_per_second = 0;
  std::optional<Percentiles> latency;
};

// Child mode --client-loop ENDPOINT JSON SECONDS THREADS: creates an
// executor, says "ready", waits for a byte on stdin, calls node 0 from
// THREADS threads sharing the executor for SECONDS, and prints
// "calls seconds p50 p90 p99".
int ClientLoop(const char* endpoint, const char* json_path, double seconds,
               int threads) {
  AOTIProxyExecutorHandle executor = nullptr;
  if (aoti_remote_executor_create(endpoint, json_path, "cpu", &executor) !=
      AOTI_TORCH_SUCCESS) {
    std::printf("error %s\n", aoti_remote_last_error());
    return 1;
  }
  at::Tensor a = at::rand({1}), b = at::rand({1}), out;
  for (int i = 0; i < 500; ++i) {
    if (!CallAdd(executor, &a, &b, &out)) return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  char go;
  if (read(STDIN_FILENO, &go, 1) != 1) return 1;
  std::vector<std::vector<double>> samples(threads);
  std::atomic<bool> ok{true};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> loops;
  for (int t = 0; t < threads; ++t) {
    loops.emplace_back([&, t] {
      at::Tensor x = at::rand({1}), y = at::rand({1}), result;
      samples[t].reserve(1 << 20);
      while (Clock::now() < end) {
        const auto call_start = Clock::now();
        if (!CallAdd(executor, &x, &y, &result)) {
          ok = false;
          return;
        }
        samples[t].push_back(MicrosSince(call_start));
      }
    });
  }
  for (std::thread& loop : loops) loop.join();
  if (!ok) return 1;
  const double elapsed = MicrosSince(start) / 1e6;
  std::vector<double> all;
  for (const std::vector<double>& some : samples) {
    all.insert(all.end(), some.begin(), some.end());
  }
  const Percentiles p = ComputePercentiles(all);
  std::printf("%zu %.6f %.3f %.3f %.3f\n", all.size(), elapsed, p.p50_us,
              p.p90_us, p.p99_us);
  std::fflush(stdout);
  aoti_remote_executor_delete(executor);
  WaitForStdinToClose();
  return 0;
}

// Runs `clients` client processes at once for `seconds`.
std::vector<LoopResult> CallsPerSecond(const std::string& endpoint,
                                       const std::string& json_path,
                                       int clients, int threads,
                                       double seconds) {
  std::vector<std::unique_ptr<ChildProcess>> children;
  std::vector<LoopResult> results(clients);
  for (int i = 0; i < clients; ++i) {
    children.push_back(
        ChildProcess::Spawn({"--client-loop", endpoint, json_path,
                             absl::StrCat(seconds), absl::StrCat(threads)}));
  }
  for (auto& child : children) {
    if (child == nullptr) return results;
    const std::string line = child->ReadLine();
    if (line != "ready") {
      Progress(absl::StrCat("client process: ", line));
      return results;
    }
  }
  for (auto& child : children) child->Write("g");
  for (int i = 0; i < clients; ++i) {
    std::istringstream line(children[i]->ReadLine());
    double calls = 0, elapsed = 0;
    Percentiles p{};
    if (line >> calls >> elapsed >> p.p50_us >> p.p90_us >> p.p99_us) {
      results[i] = {calls / elapsed, p};
    }
  }
  for (auto& child : children) child->Finish();
  return results;
}

// ---------------------------------------------------------------------------
// Metrics on and off: the one-element add against a second daemon started
// with --metrics-listen, interleaved with the first (no metrics), on both
// paths; the metrics daemon is scraped once a round.

// GET /metrics; the bytes of the answer (0 if none).
size_t Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  size_t bytes = 0;
  const char request[] = "GET /metrics HTTP/1.0\r\n\r\n";
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
          0 &&
      write(fd, request, sizeof(request) - 1) ==
          static_cast<ssize_t>(sizeof(request) - 1)) {
    char buffer[65536];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) bytes += n;
  }
  close(fd);
  return bytes;
}

Section MetricsSection(AOTIProxyExecutorHandle lane_off,
                       AOTIProxyExecutorHandle rpc_off,
                       const std::string& add_path) {
  Progress("the one-element add, daemons with and without --metrics-listen");
  Section section{
      "--metrics-listen on vs off, one-element add (ratio: on p50 / off p50)",
      {}};
  const int port = e2e::FreeTcpPort();
  auto daemon = e2e::DaemonProcess::Start(
      {absl::StrCat("--metrics-listen=127.0.0.1:", port)});
  if (!daemon.ok()) {
    Progress(daemon.status().ToString());
    return section;
  }
  const std::string endpoint = (*daemon)->endpoint();
  AOTIProxyExecutorHandle lane_on = nullptr, rpc_on = nullptr;
  bool created =
      aoti_remote_executor_create(endpoint.c_str(), add_path.c_str(), "cpu",
                                  &lane_on) == AOTI_TORCH_SUCCESS;
  setenv("AOTI_EXECUTOR_CALL_LANE", "0", 1);
  created = created &&
            aoti_remote_executor_create(endpoint.c_str(), add_path.c_str(),
                                        "cpu", &rpc_on) == AOTI_TORCH_SUCCESS;
  unsetenv("AOTI_EXECUTOR_CALL_LANE");
  if (!created) {
    Progress(aoti_remote_last_error());
    return section;
  }
  // Its spare worker starts as the sessions take theirs: let it finish.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  at::Tensor a = at::rand({1}), b = at::rand({1}), out;
  const auto call = [&](AOTIProxyExecutorHandle executor) {
    return [&, executor] { return CallAdd(executor, &a, &b, &out); };
  };
  InterleavedCase lane_plain(call(lane_off), {});
  InterleavedCase lane_metrics(call(lane_on), {});
  InterleavedCase rpc_plain(call(rpc_off), {});
  InterleavedCase rpc_metrics(call(rpc_on), {});
  size_t page_bytes = 0;
  for (int round = 0; round < 4; ++round) {
    lane_plain.Round(2000, 20000);
    lane_metrics.Round(2000, 20000);
    rpc_plain.Round(300, 3000);
    rpc_metrics.Round(300, 3000);
    page_bytes = Scrape(port);
  }
  aoti_remote_executor_delete(lane_on);
  aoti_remote_executor_delete(rpc_on);
  const auto on_row = [](const char* name, const InterleavedCase& on,
                         const InterleavedCase& off, std::string note) {
    return Row{name, on.latency(), Ratio(P50(on.latency()), P50(off.latency())),
               absl::StrFormat("%+.2f us; %s",
                               P50(on.latency()) - P50(off.latency()), note)};
  };
  section.rows.push_back({"call lane, no --metrics-listen",
                          lane_plain.latency(), 1.0, "baseline"});
  section.rows.push_back(on_row("call lane, --metrics-listen", lane_metrics,
                                lane_plain, "lane calls pass no metrics code"));
  section.rows.push_back(
      {"Call RPC, no --metrics-listen", rpc_plain.latency(), 1.0, "baseline"});
  section.rows.push_back(
      on_row("Call RPC, --metrics-listen (latency recorded)", rpc_metrics,
             rpc_plain, absl::StrCat("/metrics page ", page_bytes, " bytes")));
  return section;
}

// ---------------------------------------------------------------------------
// The measurements, section by section.

Section SmallCallSection(const SmallCallResults& r) {
  Section section{"one-element aten::add.Tensor (ratio: p50 / in-process p50)",
                  {}};
  section.rows.push_back({"in-process: CallWithHandles over a KernelSet",
                          r.local, 1.0, "baseline"});
  section.rows.push_back(
      {"remote: shim -> worker over the call lane (default)", r.remote,
       Ratio(P50(r.remote), P50(r.local)),
       absl::StrFormat("+%.1f us; %s", P50(r.remote) - P50(r.local),
                       r.remote_note)});
  section.rows.push_back(
      {"remote: shim -> daemon -> worker, Call RPC (call lane off)",
       r.remote_rpc, Ratio(P50(r.remote_rpc), P50(r.local)),
       absl::StrFormat("+%.1f us; %s", P50(r.remote_rpc) - P50(r.local),
                       r.remote_rpc_note)});
  return section;
}

// Floors: the ping-pongs (plain forks) must run before any gRPC thread
// exists in this process; the gRPC ones after the daemon is up.
struct Floors {
  std::optional<Percentiles> futex_unpinned, futex_same, futex_different,
      spin_different;
};

void MeasurePingPongs(Floors* floors) {
  Progress("futex and busy-poll ping-pongs");
  const bool two_cpus = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
  floors->futex_unpinned = PingPong(WaitKind::kFutex, -1, -1, 1000, 20000);
  floors->futex_same = PingPong(WaitKind::kFutex, 0, 0, 1000, 20000);
  if (two_cpus) {
    floors->futex_different = PingPong(WaitKind::kFutex, 0, 1, 1000, 20000);
    floors->spin_different = PingPong(WaitKind::kSpin, 0, 1, 10000, 200000);
  }
}

Section FloorSection(const Floors& f, const SmallCallResults& small) {
  const double remote_small_us = P50(small.remote);
  Section section{
      "floors: one round trip between two processes "
      "(ratio: remote one-element call p50, over the call lane / floor p50)",
      {}};
  auto add = [&](const char* name, const std::optional<Percentiles>& p,
                 const char* note) {
    section.rows.push_back(
        {name, p, Ratio(remote_small_us, P50(p)), p ? note : "not measured"});
  };
  add("empty gRPC unary, own sync server (child process)", small.grpc_own,
      small.grpc_own_note.c_str());
  add("empty gRPC unary, the daemon's Hello", small.grpc_hello,
      small.grpc_hello_note.c_str());
  add("futex ping-pong, unpinned", f.futex_unpinned, "2 wake-ups per trip");
  add("futex ping-pong, both pinned to CPU 0", f.futex_same, "");
  add("futex ping-pong, CPU 0 <-> CPU 1", f.futex_different, "");
  add("busy-poll ping-pong, CPU 0 <-> CPU 1", f.spin_different,
      "bounded spins");
  return section;
}

struct LargeCase {
  const char* label;
  int64_t numel;
  int warmup;
  int iterations;
};

// The remote add with both inputs allocated by the shim's shared-memory
// allocator (installed by then): they travel by reference, no staging copy.
Row SharedInputsRow(const LargeCase& c, AOTIProxyExecutorHandle executor,
                    pid_t daemon, double local_p50_us) {
  Progress(
      absl::StrCat("aten::add of two ", c.label, " tensors in shared memory"));
  const size_t bytes = c.numel * sizeof(float);
  at::Tensor a = at::rand({c.numel}), b = at::rand({c.numel}), out;
  const int calls = c.warmup + c.iterations;
  const std::vector<ProcessGroup> processes = {
      {"client", {getpid()}},
      {"daemon", {daemon}},
      {"worker", ChildProcesses(daemon)}};
  bool ok = true;
  Percentiles remote{};
  const std::string faults =
      PerCall(Counter::kPageFaults, processes, calls, [&] {
        remote = TimeEach(c.warmup, c.iterations,
                          [&] { ok = CallAdd(executor, &a, &b, &out) && ok; });
      });
  out = at::Tensor();
  return {"remote, inputs from aoti_remote_install_shared_allocator",
          ok ? std::optional<Percentiles>(remote) : std::nullopt,
          Ratio(remote.p50_us, local_p50_us),
          absl::StrFormat("%s; inputs by reference; %s",
                          GigabytesPerSecond(bytes, remote.p50_us), faults)};
}

Section LargeCall(const LargeCase& c, const KernelSet& kernels,
                  AOTIProxyExecutorHandle executor, pid_t daemon) {
  Progress(absl::StrCat("aten::add of two ", c.label, " tensors"));
  const size_t bytes = c.numel * sizeof(float);
  at::Tensor a = at::rand({c.numel}), b = at::rand({c.numel}), out;
  std::array<at::Tensor*, 3> local_args{&a, &b, &out};
  const int calls = c.warmup + c.iterations;
  Percentiles local{}, remote{};
  const std::string local_faults =
      PerCall(Counter::kPageFaults, {{"this process", {getpid()}}}, calls, [&] {
        local = TimeEach(c.warmup, c.iterations, [&] {
          out = at::Tensor();
          (void)CallWithHandles(kernels, 0, 0, nullptr, 3, local_args.data())
              .ok();
        });
      });
  bool ok = true;
  const std::vector<ProcessGroup> processes = {
      {"client", {getpid()}},
      {"daemon", {daemon}},
      {"worker", ChildProcesses(daemon)}};
  std::string remote_wake_ups;
  const std::string remote_faults =
      PerCall(Counter::kPageFaults, processes, calls, [&] {
        remote_wake_ups = PerCall(Counter::kWakeUps, processes, calls, [&] {
          remote = TimeEach(c.warmup, c.iterations, [&] {
            ok = CallAdd(executor, &a, &b, &out) && ok;
          });
        });
      });
  out = at::Tensor();
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  const Percentiles copy = TimeEach(c.warmup, c.iterations, [&] {
    std::memcpy(dst.data(), src.data(), bytes);
  });
  // What a fresh output allocation costs: large allocations are new
  // mappings, and each first touch of a page is a page fault.
  bool mapped = true;
  Percentiles fresh_copy{};
  const std::string fresh_faults =
      PerCall(Counter::kPageFaults, {{"", {getpid()}}}, calls, [&] {
        fresh_copy = TimeEach(c.warmup, c.iterations, [&] {
          void* fresh = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          if (fresh == MAP_FAILED) {
            mapped = false;
            return;
          }
          std::memcpy(fresh, src.data(), bytes);
          munmap(fresh, bytes);
        });
      });
  Section section{absl::StrCat("aten::add of two ", c.label,
                               " float tensors (ratio: p50 / in-process p50; "
                               "GB/s: one operand's bytes / p50)"),
                  {}};
  section.rows.push_back(
      {"in-process", local, 1.0,
       absl::StrFormat("%s; %s", GigabytesPerSecond(bytes, local.p50_us),
                       local_faults)});
  section.rows.push_back(
      {"remote", ok ? std::optional<Percentiles>(remote) : std::nullopt,
       Ratio(remote.p50_us, local.p50_us),
       absl::StrFormat("%s; +%.0f us = %.2f memcpys of one operand; %s; %s",
                       GigabytesPerSecond(bytes, remote.p50_us),
                       remote.p50_us - local.p50_us,
                       (remote.p50_us - local.p50_us) / copy.p50_us,
                       remote_faults, remote_wake_ups)});
  section.rows.push_back({"memcpy of one operand's bytes", copy,
                          Ratio(copy.p50_us, local.p50_us),
                          GigabytesPerSecond(bytes, copy.p50_us)});
  section.rows.push_back(
      {"memcpy of one operand into freshly mapped pages",
       mapped ? std::optional<Percentiles>(fresh_copy) : std::nullopt,
       Ratio(fresh_copy.p50_us, local.p50_us),
       absl::StrFormat("%s; mmap + first touch + munmap; %s",
                       GigabytesPerSecond(bytes, fresh_copy.p50_us),
                       fresh_faults)});
  return section;
}

std::string NodesPerSecond(int nodes, double us) {
  return us > 0 ? absl::StrFormat("%.0f nodes/s", nodes / (us / 1e6)) : "";
}

// Times aoti_remote_executor_create of `json_path` (the daemon parses the
// kernel set, gives the session its spare worker and sends it the set); with
// `first_call_us`, also the new executor's first call, in which the worker
// resolves the node it calls.
bool TimeCreate(const std::string& endpoint, const std::string& json_path,
                std::vector<double>* create_us,
                std::vector<double>* first_call_us, bool pause = true) {
  AOTIProxyExecutorHandle executor = nullptr;
  const auto start = Clock::now();
  if (aoti_remote_executor_create(endpoint.c_str(), json_path.c_str(), "cpu",
                                  &executor) != AOTI_TORCH_SUCCESS) {
    Progress(absl::StrCat("create failed: ", aoti_remote_last_error()));
    return false;
  }
  create_us->push_back(MicrosSince(start));
  bool ok = true;
  if (first_call_us != nullptr) {
    at::Tensor a = at::ones({1}), b = at::ones({1}), out;
    const auto call_start = Clock::now();
    ok = CallAdd(executor, &a, &b, &out);
    first_call_us->push_back(MicrosSince(call_start));
  }
  aoti_remote_executor_delete(executor);
  // Let the daemon end the session and its worker, and have its next spare
  // worker ready (starting one loads libtorch: about half a second), so that
  // every sample is a create as a client sees it on a quiet daemon.
  if (pause) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  return ok;
}

// Creates `count` executors of `json_path` in a row, each deleted before the
// next and with no pause: what a server that loads several models at start
// does. The first create takes the daemon's spare worker; the later ones find
// none ready, and must not wait for one to start. Records creates 2..count
// and the first call after the last one (which may wait for its worker).
bool TimeQuickCreates(const std::string& endpoint, const std::string& json_path,
                      int count, std::vector<double>* later_create_us,
                      std::vector<double>* last_first_call_us) {
  bool ok = true;
  for (int i = 0; ok && i < count; ++i) {
    AOTIProxyExecutorHandle executor = nullptr;
    const auto start = Clock::now();
    if (aoti_remote_executor_create(endpoint.c_str(), json_path.c_str(), "cpu",
                                    &executor) != AOTI_TORCH_SUCCESS) {
      Progress(absl::StrCat("create failed: ", aoti_remote_last_error()));
      return false;
    }
    if (i > 0) later_create_us->push_back(MicrosSince(start));
    if (i == count - 1) {
      at::Tensor a = at::ones({1}), b = at::ones({1}), out;
      const auto call_start = Clock::now();
      ok = CallAdd(executor, &a, &b, &out);
      last_first_call_us->push_back(MicrosSince(call_start));
    }
    aoti_remote_executor_delete(executor);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  return ok;
}

// Child mode --create-once ENDPOINT WARM_JSON JSON PAUSE: a warm-up create
// of WARM_JSON, then, after the usual pause or at once (PAUSE "0"), prints
// how long creating JSON took. The JSON is one the daemon has and this
// process never registered: what a second server process loading the same
// model pays.
int CreateOnce(const char* endpoint, const char* warm_json, const char* json,
               bool pause) {
  std::vector<double> ignored, create_us;
  if (!TimeCreate(endpoint, warm_json, &ignored, nullptr, pause) ||
      !TimeCreate(endpoint, json, &create_us, nullptr)) {
    std::printf("error\n");
    return 1;
  }
  std::printf("%.3f\n", create_us[0]);
  return 0;
}

// CreateOnce in a new process.
bool TimeCreateInNewProcess(const std::string& endpoint,
                            const std::string& warm_json,
                            const std::string& json_path, bool pause,
                            std::vector<double>* create_us) {
  auto child = ChildProcess::Spawn(
      {"--create-once", endpoint, warm_json, json_path, pause ? "1" : "0"});
  if (child == nullptr) return false;
  const std::string line = child->ReadLine();
  child->Finish();
  double us = 0;
  if (!absl::SimpleAtod(line, &us)) {
    Progress(absl::StrCat("create in a new process: ", line));
    return false;
  }
  create_us->push_back(us);
  return true;
}

std::optional<Percentiles> Summarize(bool ok, std::vector<double> samples) {
  if (!ok || samples.empty()) return std::nullopt;
  return ComputePercentiles(std::move(samples));
}

// The memory floor of a create after a pause: comparing two live copies of
// the JSON, as the shim compares a model's bytes with those it registered
// before, first after the same 1.5 s pause the creates follow (on the CI's
// virtual machines memory untouched for a second costs many times the warm
// figure to touch again), then again at once.
void TimeCompares(const std::string& a, const std::string& b,
                  std::vector<double>* after_pause_us,
                  std::vector<double>* warm_us) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (std::vector<double>* samples : {after_pause_us, warm_us}) {
    const auto start = Clock::now();
    const int order = std::memcmp(a.data(), b.data(), a.size());
    samples->push_back(MicrosSince(start));
    if (order != 0) Progress("the two copies differ");
  }
}

Section Registration(const std::string& endpoint, const std::string& dir) {
  Progress("registering 10,000-node kernel sets");
  constexpr int kNodes = 10000;
  constexpr int kRounds = 5;
  const std::string cached_json = AddNodes("cached", kNodes);
  const std::string cached_path =
      WriteFile(dir + "/cached.wrapper.json", cached_json);
  const std::string one_path =
      WriteFile(dir + "/one.wrapper.json", AddNodes("one", 1));
  constexpr int kQuickCreates = 4;
  std::vector<double> parse_us, one_create, one_first, cold_create, cold_first,
      cached_create, other_process_create, quick_create, quick_first,
      quick_one_create, quick_one_first, quick_other_process_create,
      compare_cold, compare_warm;
  const std::string compared_a = cached_json, compared_b = cached_json;
  bool ok = TimeCreate(endpoint, cached_path, &cached_create, nullptr);
  cached_create.clear();  // that one filled the daemon's cache
  for (int round = 0; ok && round < kRounds; ++round) {
    const auto start = Clock::now();
    ok = KernelSet::Parse(cached_json, c10::Device("cpu")).ok();
    parse_us.push_back(MicrosSince(start));
    const std::string cold_path =
        WriteFile(absl::StrCat(dir, "/cold", round, ".wrapper.json"),
                  AddNodes(absl::StrCat("cold", round, "_"), kNodes));
    ok = ok && TimeCreate(endpoint, one_path, &one_create, &one_first) &&
         TimeCreate(endpoint, cold_path, &cold_create, &cold_first) &&
         TimeCreate(endpoint, cached_path, &cached_create, nullptr) &&
         TimeCreateInNewProcess(endpoint, one_path, cached_path,
                                /*pause=*/true, &other_process_create) &&
         TimeCreateInNewProcess(endpoint, one_path, cached_path,
                                /*pause=*/false, &quick_other_process_create) &&
         TimeQuickCreates(endpoint, cached_path, kQuickCreates, &quick_create,
                          &quick_first) &&
         TimeQuickCreates(endpoint, one_path, kQuickCreates, &quick_one_create,
                          &quick_one_first);
    TimeCompares(compared_a, compared_b, &compare_cold, &compare_warm);
  }
  const auto parse = Summarize(ok, parse_us);
  const double base = P50(parse);
  Section section{
      absl::StrFormat("registering a %d-node kernel set, %d samples 1.5 s "
                      "apart (%.1f MiB JSON; ratio: p50 / in-process parse "
                      "p50)",
                      kNodes, kRounds, cached_json.size() / 1048576.0),
      {}};
  const double session_us = P50(Summarize(ok, one_create));
  const double quick_session_us = P50(Summarize(ok, quick_one_create));
  // Notes: the rate over the whole time, and over the time beyond a 1-node
  // create made the same way (the session and its worker starting).
  auto add = [&](std::string name, std::vector<double>* samples, bool rate,
                 double beyond_us) {
    const auto p = Summarize(ok, *samples);
    std::string note = rate ? NodesPerSecond(kNodes, P50(p)) : "";
    if (rate && p && beyond_us > 0 && p->p50_us > beyond_us) {
      absl::StrAppendFormat(&note, "; beyond a 1-node create: %.1f ms, %s",
                            (p->p50_us - beyond_us) / 1e3,
                            NodesPerSecond(kNodes, p->p50_us - beyond_us));
    }
    section.rows.push_back({std::move(name), p, Ratio(P50(p), base), note});
  };
  add("in-process: KernelSet::Parse", &parse_us, true, 0);
  add("create, 1-node set (session setup alone)", &one_create, false, 0);
  add("create, 10,000 nodes, new content", &cold_create, true, session_us);
  add("create, 10,000 nodes, content the daemon has, new to this process",
      &other_process_create, true, session_us);
  add("create, 10,000 nodes, content this process registered before",
      &cached_create, true, session_us);
  add(absl::StrFormat("create, 1-node set, %d in a row: #2-#%d", kQuickCreates,
                      kQuickCreates),
      &quick_one_create, false, 0);
  add(absl::StrFormat("create, content the daemon has, %d in a row: #2-#%d",
                      kQuickCreates, kQuickCreates),
      &quick_create, true, quick_session_us);
  add("create, content the daemon has, new to this process, right after its "
      "1-node create",
      &quick_other_process_create, true, quick_session_us);
  add("first call after a 1-node create", &one_first, false, 0);
  add("first call after a 10,000-node create", &cold_first, false, 0);
  add(absl::StrFormat("first call after #%d of %d creates in a row",
                      kQuickCreates, kQuickCreates),
      &quick_first, false, 0);
  add("floor: memcmp of two live copies of the JSON after a 1.5 s pause",
      &compare_cold, false, 0);
  add("floor: the same memcmp again, warm", &compare_warm, false, 0);
  return section;
}

Section Throughput(const std::string& endpoint, const std::string& json_path,
                   double remote_small_us) {
  constexpr double kSeconds = 2.0;
  Section section{
      "one-element add, calls per second; each client process has its own "
      "executor and loops 2 s (ratio: p50 / single remote call p50)",
      {}};
  struct Load {
    int clients;
    int threads;  // per client process, sharing its executor
  };
  for (const Load& load : {Load{1, 1}, Load{2, 1}, Load{1, 3}}) {
    const std::string who = absl::StrFormat(
        "%d client process%s%s", load.clients, load.clients > 1 ? "es" : "",
        load.threads > 1
            ? absl::StrFormat(", %d threads on one executor", load.threads)
            : "");
    Progress(absl::StrCat("calls per second, ", who));
    const std::vector<LoopResult> results = CallsPerSecond(
        endpoint, json_path, load.clients, load.threads, kSeconds);
    double total = 0;
    for (int i = 0; i < load.clients; ++i) {
      total += results[i].calls_per_second;
      std::string note =
          absl::StrFormat("%.0f calls/s", results[i].calls_per_second);
      if (load.clients > 1 && i == load.clients - 1) {
        absl::StrAppendFormat(&note, "; total %.0f calls/s", total);
      }
      section.rows.push_back(
          {absl::StrFormat("%s: #%d", who, i + 1), results[i].latency,
           Ratio(P50(results[i].latency), remote_small_us), note});
    }
  }
  return section;
}

// The registration section alone, for work on registration.
int RegistrationOnly() {
  PrintMachine();
  std::printf(
      "command: bazel run //bench:performance_benchmark -- "
      "--only=registration\n\n");
  std::fflush(stdout);
  Progress("starting aoti-executord");
  auto daemon = e2e::DaemonProcess::Start();
  if (!daemon.ok()) {
    std::fprintf(stderr, "%s\n", daemon.status().ToString().c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  PrintTable({Registration((*daemon)->endpoint(), (*daemon)->socket_dir())});
  std::printf("\nload average at the end: %s\n",
              ReadFirstLine("/proc/loadavg").c_str());
  return 0;
}

int Main() {
  PrintMachine();
  std::printf("command: bazel run //bench:performance_benchmark\n\n");
  std::fflush(stdout);

  Floors floors;
  MeasurePingPongs(&floors);

  Progress("starting aoti-executord");
  auto daemon = e2e::DaemonProcess::Start();
  if (!daemon.ok()) {
    std::fprintf(stderr, "%s\n", daemon.status().ToString().c_str());
    return 1;
  }
  const std::string& dir = (*daemon)->socket_dir();
  const std::string& endpoint = (*daemon)->endpoint();
  const std::string add_json = AddNodes("add", 1);
  const std::string add_path = WriteFile(dir + "/add.wrapper.json", add_json);
  AOTIProxyExecutorHandle executor = nullptr;
  if (aoti_remote_executor_create(endpoint.c_str(), add_path.c_str(), "cpu",
                                  &executor) != AOTI_TORCH_SUCCESS) {
    std::fprintf(stderr, "%s\n", aoti_remote_last_error());
    return 1;
  }
  // The same model with the call lane off: every call takes the Call RPC.
  AOTIProxyExecutorHandle rpc_executor = nullptr;
  setenv("AOTI_EXECUTOR_CALL_LANE", "0", 1);
  const AOTITorchError created = aoti_remote_executor_create(
      endpoint.c_str(), add_path.c_str(), "cpu", &rpc_executor);
  unsetenv("AOTI_EXECUTOR_CALL_LANE");
  if (created != AOTI_TORCH_SUCCESS) {
    std::fprintf(stderr, "%s\n", aoti_remote_last_error());
    return 1;
  }
  auto kernels = KernelSet::Parse(add_json, c10::Device("cpu"));
  if (!kernels.ok()) {
    std::fprintf(stderr, "%s\n", kernels.status().ToString().c_str());
    return 1;
  }

  // The daemon starts its next spare worker (libtorch loading, about half a
  // second of CPU) when a session takes one: let it finish first.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const SmallCallResults small = MeasureSmallCalls(
      *kernels, executor, rpc_executor, endpoint, (*daemon)->pid(), dir);
  const Section metrics = MetricsSection(executor, rpc_executor, add_path);
  aoti_remote_executor_delete(rpc_executor);
  std::vector<Section> sections;
  sections.push_back(SmallCallSection(small));
  sections.push_back(FloorSection(floors, small));
  sections.push_back(metrics);
  const std::vector<LargeCase> large = {LargeCase{"1 MiB", 1 << 18, 20, 300},
                                        LargeCase{"64 MiB", 1 << 24, 3, 30},
                                        LargeCase{"256 MiB", 1 << 26, 2, 10}};
  const size_t first_large = sections.size();
  for (const LargeCase& c : large) {
    sections.push_back(LargeCall(c, *kernels, executor, (*daemon)->pid()));
  }
  // After the in-process baselines: from here on every CPU tensor of 1 MiB
  // or more in this process lives in shared memory.
  if (aoti_remote_install_shared_allocator() == AOTI_TORCH_SUCCESS) {
    for (size_t i = 0; i < large.size(); ++i) {
      Section& section = sections[first_large + i];
      section.rows.insert(section.rows.begin() + 2,
                          SharedInputsRow(large[i], executor, (*daemon)->pid(),
                                          P50(section.rows[0].latency)));
    }
  } else {
    Progress(absl::StrCat("no shared allocator: ", aoti_remote_last_error()));
  }
  aoti_remote_executor_delete(executor);
  sections.push_back(Registration(endpoint, dir));
  sections.push_back(Throughput(endpoint, add_path, P50(small.remote)));
  PrintTable(sections);
  std::printf("\nload average at the end: %s\n",
              ReadFirstLine("/proc/loadavg").c_str());
  return 0;
}

}  // namespace
}  // namespace aoti_executor

int main(int argc, char** argv) {
  constexpr char kServePing[] = "--serve-ping=";
  if (argc == 2 &&
      std::strncmp(argv[1], kServePing, sizeof(kServePing) - 1) == 0) {
    return aoti_executor::ServePing(argv[1] + sizeof(kServePing) - 1);
  }
  if (argc == 6 && std::strcmp(argv[1], "--client-loop") == 0) {
    return aoti_executor::ClientLoop(argv[2], argv[3], std::atof(argv[4]),
                                     std::atoi(argv[5]));
  }
  if (argc == 6 && std::strcmp(argv[1], "--create-once") == 0) {
    return aoti_executor::CreateOnce(argv[2], argv[3], argv[4],
                                     std::strcmp(argv[5], "0") != 0);
  }
  if (argc == 2 && std::strcmp(argv[1], "--only=registration") == 0) {
    return aoti_executor::RegistrationOnly();
  }
  return aoti_executor::Main();
}
