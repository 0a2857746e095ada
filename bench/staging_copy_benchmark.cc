// What staging costs a caller whose tensors are its own (plain at::rand, not
// the shim's shared allocator): for 1, 4, 16 and 64 MiB float tensors, the
// shim's copy into its staging region against memcpy floors measured in the
// same run, and the whole remote call against the same call in-process.
//   - floors: a memcpy of the same bytes into a warm private buffer (the
//     floor every ratio of a copy is against), into a shared buffer that a
//     second process, pinned to the other CPU, reads after each copy (the
//     same handoff between two CPUs that staging makes; once for one
//     operand's bytes and once for two operands', the floor of aten::add's
//     staging), and into freshly mapped pages;
//   - the staging copy inside real remote calls (aten::clone: one input;
//     aten::add: two), timed by the shim itself (ReadStagingTotals around
//     each call);
//   - whole calls, remote and in-process, with page faults per call.
// Cases are measured in rounds that alternate between them, so that on a
// shared machine all of them see the same background load. Every remote
// result is checked against ATen in this process before anything is timed.
//
//   bazel run //bench:staging_copy_benchmark
#include <ATen/ATen.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "aoti_remote/executor.h"
#include "bench/bench_stats.h"
#include "bench/bench_table.h"
#include "bench/proc_facts.h"
#include "client_shim/memory/staging_copy.h"
#include "server/kernels/handle_call.h"
#include "server/kernels/kernel_set.h"
#include "tests/e2e/daemon_process.h"

namespace aoti_executor {
namespace {

void Progress(const std::string& what) {
  std::fprintf(stderr, "[staging_copy_benchmark] %s\n", what.c_str());
}

// ---------------------------------------------------------------------------
// Page faults, from /proc.

int64_t FaultsOf(const std::vector<pid_t>& pids) {
  int64_t sum = 0;
  for (pid_t pid : pids) sum += MinorFaults(pid);
  return sum;
}

// ---------------------------------------------------------------------------
// The table.

double GigabytesPerSecond(uint64_t bytes, double us) {
  return us > 0 ? bytes / us / 1e3 : 0;
}

// ---------------------------------------------------------------------------
// The handoff floor: memcpy into a MAP_SHARED buffer that a forked process
// reads (one load per cache line, as an op reading its input would) after
// each copy, so every copy finds the lines in the other process's cache.

class Reader {
 public:
  explicit Reader(uint64_t bytes) : bytes_(bytes) {
    void* p = mmap(nullptr, 4096 + bytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) return;
    base_ = static_cast<uint8_t*>(p);
    turn_ = new (base_) std::atomic<uint32_t>(0);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      PinTo(kReaderCpu);
      Serve();
    }
  }
  ~Reader() {
    if (pid_ > 0) {
      turn_->store(kStop, std::memory_order_release);
      Wake();
      waitpid(pid_, nullptr, 0);
    }
    if (base_ != nullptr) munmap(base_, 4096 + bytes_);
  }
  bool ok() const { return pid_ > 0; }

  // The two CPUs of the handoff: the copy runs on kWriterCpu (see Pinned),
  // the reader on kReaderCpu, as the shim and the worker usually do while
  // the worker spins for the next call.
  static constexpr int kWriterCpu = 0;
  static constexpr int kReaderCpu = 1;
  static bool PinTo(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0;
  }
  uint8_t* buffer() const { return base_ + 4096; }

  // Lets the reader read the buffer once and waits until it has. Both sides
  // sleep on a futex between turns, so the reader takes no CPU from the
  // other cases.
  void HandOff() {
    const uint32_t next = turn_->load(std::memory_order_relaxed) + 1;
    turn_->store(next, std::memory_order_release);
    Wake();
    uint32_t seen;
    while ((seen = turn_->load(std::memory_order_acquire)) != next + 1) {
      Wait(seen);
    }
  }

 private:
  static constexpr uint32_t kStop = ~uint32_t{0};

  void Wait(uint32_t value) {
    syscall(SYS_futex, turn_, FUTEX_WAIT, value, nullptr, nullptr, 0);
  }
  void Wake() { syscall(SYS_futex, turn_, FUTEX_WAKE, 1, nullptr, nullptr, 0); }

  [[noreturn]] void Serve() {
    uint64_t sum = 0;
    for (;;) {
      const uint32_t turn = turn_->load(std::memory_order_acquire);
      if (turn == kStop) _exit(static_cast<int>(sum & 1));
      if (turn % 2 == 0) {
        Wait(turn);
        continue;
      }
      const volatile uint8_t* data = buffer();
      for (uint64_t i = 0; i < bytes_; i += 64) sum += data[i];
      turn_->store(turn + 1, std::memory_order_release);
      Wake();
    }
  }

  uint64_t bytes_;
  uint8_t* base_ = nullptr;
  std::atomic<uint32_t>* turn_ = nullptr;
  pid_t pid_ = -1;
};

// ---------------------------------------------------------------------------
// Calls.

// aten::clone (node 0) and aten::add.Tensor (node 1), as PyTorch serializes
// them; omitted arguments have defaults.
std::string KernelSetJson() {
  return R"({"nodes": [)"
         R"({"name": "buf0", "node": {"target": "aten::clone", "inputs": [)"
         R"({"name": "self", "arg": {"as_tensor": {"name": "arg0_1"}}, "kind": 1}],)"
         R"("outputs": [{"as_tensor": {"name": "buf0"}}], "metadata": {},)"
         R"("is_hop_single_tensor_return": null, "name": null}},)"
         R"({"name": "buf1", "node": {"target": "aten::add.Tensor", "inputs": [)"
         R"({"name": "self", "arg": {"as_tensor": {"name": "arg0_1"}}, "kind": 1},)"
         R"({"name": "other", "arg": {"as_tensor": {"name": "arg1_1"}}, "kind": 1}],)"
         R"("outputs": [{"as_tensor": {"name": "buf1"}}], "metadata": {},)"
         R"("is_hop_single_tensor_return": null, "name": null}}]})";
}

AtenTensorHandle Handle(at::Tensor* t) {
  return reinterpret_cast<AtenTensorHandle>(t);
}

bool CallRemote(AOTIProxyExecutorHandle executor, int node,
                std::vector<at::Tensor*> tensors) {
  *tensors.back() = at::Tensor();
  std::vector<AtenTensorHandle> args;
  for (at::Tensor* t : tensors) args.push_back(Handle(t));
  if (aoti_remote_executor_call_function(executor, node, 0, nullptr,
                                         static_cast<int>(args.size()),
                                         args.data()) != AOTI_TORCH_SUCCESS) {
    std::fprintf(stderr, "call failed: %s\n", aoti_remote_last_error());
    return false;
  }
  return true;
}

bool CallLocal(const KernelSet& kernels, int node,
               std::vector<at::Tensor*> tensors) {
  *tensors.back() = at::Tensor();
  return CallWithHandles(kernels, node, 0, nullptr,
                         static_cast<int>(tensors.size()), tensors.data())
      .ok();
}

struct SizeCase {
  const char* label;
  int64_t numel;
  int rounds;
  int per_round;
};

// Samples of one case across rounds, and its page faults.
struct Samples {
  std::vector<double> us;
  int64_t client_faults = 0;
  int64_t worker_faults = 0;
  int calls = 0;
  Percentiles Get() const { return ComputePercentiles(us); }
  double FaultsPerCall(int64_t faults) const {
    return calls > 0 ? static_cast<double>(faults) / calls : 0;
  }
};

class SizeRun {
 public:
  SizeRun(const SizeCase& c, const KernelSet& kernels,
          AOTIProxyExecutorHandle executor, pid_t daemon)
      : c_(c),
        bytes_(static_cast<uint64_t>(c.numel) * sizeof(float)),
        kernels_(kernels),
        executor_(executor),
        daemon_(daemon),
        a_(at::rand({c.numel})),
        b_(at::rand({c.numel})),
        warm_(bytes_, 0),
        reader_(bytes_),
        pair_reader_(2 * bytes_) {}

  Section Run() {
    Progress(absl::StrCat(c_.label, ": ", c_.rounds, " rounds of ",
                          c_.per_round, " per case"));
    // Warm up: the staging region and the worker's output region grow to
    // this size once, outside the timed rounds.
    for (int i = 0; i < 2; ++i) {
      ok_ = CallRemote(executor_, 0, {&a_, &out_}) && ok_;
      ok_ = ok_ && at::equal(out_, a_);
      ok_ = CallRemote(executor_, 1, {&a_, &b_, &out_}) && ok_;
      ok_ = ok_ && at::equal(out_, at::add(a_, b_));
      std::memcpy(warm_.data(), a_.data_ptr(), bytes_);
    }
    for (int round = 0; round < c_.rounds; ++round) {
      Time(&warm_copy_,
           [&] { std::memcpy(warm_.data(), a_.data_ptr(), bytes_); });
      HandOffCopies(reader_, {&a_}, &handoff_copy_);
      HandOffCopies(pair_reader_, {&a_, &b_}, &pair_handoff_copy_);
      Faults(&fresh_copy_, /*worker=*/false, [&] {
        Time(&fresh_copy_, [&] {
          void* fresh = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          if (fresh == MAP_FAILED) return;
          std::memcpy(fresh, a_.data_ptr(), bytes_);
          munmap(fresh, bytes_);
        });
      });
      RemoteCalls(0, {&a_, &out_}, &clone_remote_, &clone_staging_);
      Faults(&clone_local_, false, [&] {
        Time(&clone_local_, [&] {
          ok_ = CallLocal(kernels_, 0, {&a_, &out_}) && ok_;
        });
      });
      RemoteCalls(1, {&a_, &b_, &out_}, &add_remote_, &add_staging_);
      Faults(&add_local_, false, [&] {
        Time(&add_local_, [&] {
          ok_ = CallLocal(kernels_, 1, {&a_, &b_, &out_}) && ok_;
        });
      });
    }
    out_ = at::Tensor();
    return Table();
  }

 private:
  // Copies `sources` one after the other into `reader`'s buffer, timed, and
  // hands each filled buffer to the reader on the other CPU.
  void HandOffCopies(Reader& reader, std::vector<const at::Tensor*> sources,
                     Samples* samples) {
    if (!reader.ok()) return;
    cpu_set_t all;
    sched_getaffinity(0, sizeof(all), &all);
    Reader::PinTo(Reader::kWriterCpu);
    for (int i = 0; i < c_.per_round; ++i) {
      const auto start = Clock::now();
      uint8_t* dst = reader.buffer();
      for (const at::Tensor* source : sources) {
        std::memcpy(dst, source->data_ptr(), bytes_);
        dst += bytes_;
      }
      samples->us.push_back(MicrosSince(start));
      reader.HandOff();
    }
    sched_setaffinity(0, sizeof(all), &all);
  }

  template <typename Fn>
  void Time(Samples* samples, Fn&& fn) {
    for (int i = 0; i < c_.per_round; ++i) {
      const auto start = Clock::now();
      fn();
      samples->us.push_back(MicrosSince(start));
    }
  }

  template <typename Fn>
  void Faults(Samples* samples, bool worker, Fn&& fn) {
    const std::vector<pid_t> workers = ChildProcesses(daemon_);
    const int64_t client = MinorFaults(getpid());
    const int64_t others = worker ? FaultsOf(workers) : 0;
    fn();
    samples->client_faults += MinorFaults(getpid()) - client;
    if (worker) samples->worker_faults += FaultsOf(workers) - others;
    samples->calls += c_.per_round;
  }

  // Remote calls of `node`; the shim's own staging-copy time per call goes
  // to `staging`.
  void RemoteCalls(int node, std::vector<at::Tensor*> tensors, Samples* call,
                   Samples* staging) {
    Faults(call, /*worker=*/true, [&] {
      for (int i = 0; i < c_.per_round; ++i) {
        const client::StagingTotals before = client::ReadStagingTotals();
        const auto start = Clock::now();
        ok_ = CallRemote(executor_, node, tensors) && ok_;
        call->us.push_back(MicrosSince(start));
        const client::StagingTotals after = client::ReadStagingTotals();
        staging->us.push_back((after.copy_nanos - before.copy_nanos) / 1e3);
        staged_bytes_[node] = after.bytes - before.bytes;
        regions_created_ += after.regions_created - before.regions_created;
      }
    });
  }

  std::string FaultNote(const Samples& s, bool worker) const {
    if (!worker) {
      return absl::StrFormat("page faults per call: %.0f",
                             s.FaultsPerCall(s.client_faults));
    }
    return absl::StrFormat("page faults per call: client %.1f, worker %.1f",
                           s.FaultsPerCall(s.client_faults),
                           s.FaultsPerCall(s.worker_faults));
  }

  Section Table() const {
    Section section{
        absl::StrCat(c_.label,
                     " float tensors, the caller's own (at::rand); copies: "
                     "ratio = time per byte / the warm memcpy's"),
        {}};
    const Percentiles floor = warm_copy_.Get();
    const double floor_per_byte = floor.p50_us / bytes_;
    auto copy_row = [&](const std::string& name, const Samples& s,
                        uint64_t bytes, const std::string& note) {
      const Percentiles p = s.Get();
      section.rows.push_back(
          {name, p, p.p50_us / bytes / floor_per_byte,
           absl::StrFormat("%.2f GB/s%s%s", GigabytesPerSecond(bytes, p.p50_us),
                           note.empty() ? "" : "; ", note)});
    };
    copy_row(absl::StrCat("floor: memcpy of ", c_.label, " into a warm buffer"),
             warm_copy_, bytes_, "");
    if (reader_.ok()) {
      copy_row("memcpy into a buffer read next on the other CPU", handoff_copy_,
               bytes_, "the handoff staging makes; writer CPU 0, reader CPU 1");
    }
    if (pair_reader_.ok()) {
      // Two operands stage twice the bytes, which may no longer fit in the
      // cache one did: their floor copies as many.
      copy_row(absl::StrCat("memcpy of 2 x ", c_.label,
                            " into a buffer read next on the other CPU"),
               pair_handoff_copy_, 2 * bytes_,
               "the handoff floor of the 2-operand staging below");
    }
    copy_row("memcpy into freshly mapped pages", fresh_copy_, bytes_,
             absl::StrCat("mmap + first touch + munmap; ",
                          FaultNote(fresh_copy_, false)));
    copy_row(
        absl::StrCat("staging copy, remote aten::clone (1 x ", c_.label, ")"),
        clone_staging_, staged_bytes_[0], "timed inside the shim");
    copy_row(
        absl::StrCat("staging copy, remote aten::add (2 x ", c_.label, ")"),
        add_staging_, staged_bytes_[1],
        absl::StrFormat("timed inside the shim; staging regions created "
                        "in the timed calls: %d",
                        regions_created_));
    auto call_rows = [&](const char* op, const Samples& local,
                         const Samples& remote, const Samples& staging) {
      const Percentiles l = local.Get();
      const Percentiles r = remote.Get();
      section.rows.push_back(
          {absl::StrCat(op, " in-process"), l, 1.0, FaultNote(local, false)});
      section.rows.push_back(
          {absl::StrCat(op, " remote"), r, r.p50_us / l.p50_us,
           absl::StrFormat("+%.0f us, of which staging %.0f us; %s",
                           r.p50_us - l.p50_us, staging.Get().p50_us,
                           FaultNote(remote, true))});
    };
    call_rows("aten::clone", clone_local_, clone_remote_, clone_staging_);
    call_rows("aten::add", add_local_, add_remote_, add_staging_);
    if (!ok_) {
      section.rows.push_back(
          {"SOME CALLS FAILED OR DISAGREED WITH ATEN", {}, 0, ""});
    }
    return section;
  }

  const SizeCase& c_;
  const uint64_t bytes_;
  const KernelSet& kernels_;
  AOTIProxyExecutorHandle executor_;
  pid_t daemon_;
  at::Tensor a_, b_, out_;
  std::vector<uint8_t> warm_;
  Reader reader_;
  Reader pair_reader_;  // two operands' worth
  bool ok_ = true;
  Samples warm_copy_, handoff_copy_, pair_handoff_copy_, fresh_copy_;
  Samples clone_local_, clone_remote_, clone_staging_;
  Samples add_local_, add_remote_, add_staging_;
  uint64_t staged_bytes_[2] = {0, 0};
  int regions_created_ = 0;
};

int Main() {
  utsname name{};
  uname(&name);
  std::printf("machine: %ld CPUs (nproc), %s, %s %s; load average %s\n",
              sysconf(_SC_NPROCESSORS_ONLN), CpuModel().c_str(), name.sysname,
              name.release, ReadFirstLine("/proc/loadavg").c_str());
  std::printf("command: bazel run //bench:staging_copy_benchmark\n\n");
  std::fflush(stdout);

  Progress("starting aoti-executord");
  auto daemon = e2e::DaemonProcess::Start();
  if (!daemon.ok()) {
    std::fprintf(stderr, "%s\n", daemon.status().ToString().c_str());
    return 1;
  }
  const std::string json = KernelSetJson();
  const std::string path = (*daemon)->socket_dir() + "/ops.wrapper.json";
  std::ofstream(path) << json;
  AOTIProxyExecutorHandle executor = nullptr;
  if (aoti_remote_executor_create((*daemon)->endpoint().c_str(), path.c_str(),
                                  "cpu", &executor) != AOTI_TORCH_SUCCESS) {
    std::fprintf(stderr, "%s\n", aoti_remote_last_error());
    return 1;
  }
  auto kernels = KernelSet::Parse(json, c10::Device("cpu"));
  if (!kernels.ok()) {
    std::fprintf(stderr, "%s\n", kernels.status().ToString().c_str());
    return 1;
  }
  // The daemon starts its next spare worker when a session takes one: let
  // it finish loading libtorch first.
  std::this_thread::sleep_for(std::chrono::seconds(2));

  const std::vector<SizeCase> cases = {{"1 MiB", 1 << 18, 6, 50},
                                       {"4 MiB", 1 << 20, 6, 25},
                                       {"16 MiB", 1 << 22, 6, 10},
                                       {"64 MiB", 1 << 24, 5, 4}};
  std::vector<Section> sections;
  for (const SizeCase& c : cases) {
    SizeRun run(c, *kernels, executor, (*daemon)->pid());
    sections.push_back(run.Run());
  }
  aoti_remote_executor_delete(executor);
  const client::StagingTotals totals = client::ReadStagingTotals();
  PrintTable(sections);
  std::printf(
      "\nstaging regions created in the whole run: %llu (%.1f MiB "
      "prefaulted in %.1f ms)\n",
      static_cast<unsigned long long>(totals.regions_created),
      totals.prefaulted_bytes / 1048576.0, totals.prefault_nanos / 1e6);
  std::printf("load average at the end: %s\n",
              ReadFirstLine("/proc/loadavg").c_str());
  return 0;
}

}  // namespace
}  // namespace aoti_executor

int main(int argc, char** argv) {
  // On two CPUs, OpenMP threads that busy-wait after each parallel op (the
  // default) take the CPU from the other process's op, and calls then take
  // scheduler ticks (milliseconds) instead of microseconds. libgomp reads
  // its environment when it is loaded, before main: run this binary again
  // with the setting, which the daemon and its workers inherit too.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && argc >= 1) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/1);
    execv("/proc/self/exe", argv);
    std::perror("execv /proc/self/exe");
    return 1;
  }
  return aoti_executor::Main();
}
