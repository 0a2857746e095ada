// A crash soak: the real daemon, its workers and the shim under repeated
// crashes for a fixed time (10 minutes by default), to show that memory,
// descriptors, threads and processes stay flat.
//
// Several client threads, each with its own executor (its own session and
// worker), call plus_one and check every result. Another thread calls ops
// that segfault, abort, exit and hang, one after another, each costing its
// worker. Every --restart-every-s seconds the daemon itself is killed with
// SIGKILL and restarted. Every --report-every-s seconds a line says what the
// client (this process) and the daemon hold; at the end, a summary compares
// the first minute with the last.
//
// Exits 1 if a normal call ever returns a wrong result, or fails outside the
// window around a daemon restart (from just before the kill until
// --restart-grace-s after the daemon serves again).
//
//   bazel run //bench:crash_soak_benchmark -- --seconds=600
#include <ATen/ATen.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aoti_remote/executor.h"
#include "proto/executor.grpc.pb.h"
#include "tests/e2e/daemon_process.h"
#include "tests/e2e/proc_probe.h"

namespace aoti_executor {
namespace {

namespace v1 = aoti::executor::v1;
using e2e::DaemonProcess;
using e2e::RunfilePath;

// Node indices of tests/fixtures/misbehaving_ops.json.
enum Node { kPlusOne, kSegfault, kAbort, kExit, kThrow, kHang };

struct Options {
  int64_t seconds = 600;
  int64_t report_every_s = 10;
  int64_t clients = 3;
  int64_t restart_every_s = 150;  // 0: never
  int64_t restart_grace_s = 5;
  int64_t hang_timeout_ms = 1000;  // the daemon's --call-timeout-ms
};

bool ParseFlag(const std::string& arg, const char* name, int64_t* value) {
  const std::string prefix = absl::StrCat("--", name, "=");
  if (!absl::StartsWith(arg, prefix)) return false;
  if (!absl::SimpleAtoi(arg.substr(prefix.size()), value) || *value < 0) {
    std::fprintf(stderr, "bad value in %s\n", arg.c_str());
    std::exit(2);
  }
  return true;
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (ParseFlag(arg, "seconds", &options.seconds) ||
        ParseFlag(arg, "report-every-s", &options.report_every_s) ||
        ParseFlag(arg, "clients", &options.clients) ||
        ParseFlag(arg, "restart-every-s", &options.restart_every_s) ||
        ParseFlag(arg, "restart-grace-s", &options.restart_grace_s) ||
        ParseFlag(arg, "hang-timeout-ms", &options.hang_timeout_ms)) {
      continue;
    }
    std::fprintf(
        stderr,
        "usage: %s [--seconds=600] [--report-every-s=10] [--clients=3]\n"
        "          [--restart-every-s=150 (0: never)] [--restart-grace-s=5]\n"
        "          [--hang-timeout-ms=1000]\n",
        argv[0]);
    std::exit(2);
  }
  options.report_every_s = std::max<int64_t>(options.report_every_s, 1);
  options.clients = std::max<int64_t>(options.clients, 1);
  return options;
}

// One executor of misbehaving_ops.json. Create retries until the daemon
// serves (it may be restarting).
class Client {
 public:
  explicit Client(const std::string& endpoint) {
    const std::string json = RunfilePath("tests/fixtures/misbehaving_ops.json");
    while (aoti_remote_executor_create(endpoint.c_str(), json.c_str(), "cpu",
                                       &executor_) != AOTI_TORCH_SUCCESS) {
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  ~Client() { aoti_remote_executor_delete(executor_); }

  AOTITorchError Call(int node, const at::Tensor& x, at::Tensor* out) {
    at::Tensor input = x;
    *out = at::Tensor();
    AtenTensorHandle handles[] = {reinterpret_cast<AtenTensorHandle>(&input),
                                  reinterpret_cast<AtenTensorHandle>(out)};
    return aoti_remote_executor_call_function(executor_, node, 0, nullptr, 2,
                                              handles);
  }

 private:
  AOTIProxyExecutorHandle executor_ = nullptr;
};

// The windows around daemon restarts, in which a normal call may fail.
class OutageWindows {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    windows_.push_back({absl::Now(), absl::InfiniteFuture()});
  }
  void Close(absl::Duration grace) {
    std::lock_guard<std::mutex> lock(mu_);
    windows_.back().second = absl::Now() + grace;
  }
  // True if a call that ran over [start, end] overlaps a window.
  bool Covers(absl::Time start, absl::Time end) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [open, close] : windows_) {
      if (start <= close && end >= open) return true;
    }
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<absl::Time, absl::Time>> windows_;
};

struct Counters {
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> failed_in_outage{0};
  std::atomic<int64_t> failed_unexpectedly{0};
  std::atomic<int64_t> wrong_results{0};
  std::atomic<int64_t> crashes{0};           // misbehaving calls that failed
  std::atomic<int64_t> crashes_survived{0};  // ...that should have failed
  // The crashing client's plus_one right after a crash: inside the crash
  // window, so counted apart (a new worker's start counts against the
  // daemon's --call-timeout-ms).
  std::atomic<int64_t> recoveries_ok{0};
  std::atomic<int64_t> recoveries_failed{0};
  std::atomic<int64_t> daemon_restarts{0};
};

void Complain(const char* what, const std::string& detail) {
  static std::mutex mu;
  static int printed = 0;
  std::lock_guard<std::mutex> lock(mu);
  if (++printed <= 20) std::fprintf(stderr, "%s: %s\n", what, detail.c_str());
}

// Normal traffic: plus_one on tensors of varying sizes, every result checked.
// Keeps its last few outputs alive for a while, as a host would.
void NormalTraffic(const std::string& endpoint, int index,
                   const std::atomic<bool>& stop, const OutageWindows& outages,
                   Counters* counters) {
  Client client(endpoint);
  std::deque<at::Tensor> recent;
  int64_t n = 0;
  while (!stop) {
    const int64_t size = 1 + (n * 37 + index * 101) % 4096;
    const at::Tensor x = at::arange(size, at::kFloat) + static_cast<float>(n);
    at::Tensor out;
    const absl::Time start = absl::Now();
    if (client.Call(kPlusOne, x, &out) != AOTI_TORCH_SUCCESS) {
      const std::string error = aoti_remote_last_error();
      if (outages.Covers(start, absl::Now())) {
        ++counters->failed_in_outage;
        absl::SleepFor(absl::Milliseconds(20));  // the daemon is restarting
      } else {
        ++counters->failed_unexpectedly;
        Complain("a normal call failed outside a restart window", error);
      }
    } else if (!out.defined() || !at::equal(out, x + 1)) {
      ++counters->wrong_results;
      Complain("wrong result", absl::StrCat("client ", index, ", size ", size));
    } else {
      ++counters->ok;
      recent.push_back(out);
      if (recent.size() > 4) recent.pop_front();
    }
    ++n;
  }
}

// Misbehaving traffic: each of these costs its worker (or, for hang, its
// deadline and then its worker); a plus_one after each shows the session
// recovered.
void CrashTraffic(const std::string& endpoint, const std::atomic<bool>& stop,
                  const OutageWindows& outages, Counters* counters) {
  Client client(endpoint);
  const Node crashers[] = {kSegfault, kAbort, kExit, kHang};
  const at::Tensor x = at::ones({8});
  int64_t n = 0;
  while (!stop) {
    at::Tensor out;
    if (client.Call(crashers[n++ % 4], x, &out) == AOTI_TORCH_SUCCESS) {
      ++counters->crashes_survived;
      Complain("a misbehaving op succeeded", std::to_string(n));
    } else {
      ++counters->crashes;
    }
    const absl::Time start = absl::Now();
    if (client.Call(kPlusOne, x, &out) != AOTI_TORCH_SUCCESS) {
      if (outages.Covers(start, absl::Now())) {
        absl::SleepFor(absl::Milliseconds(20));
      } else {
        ++counters->recoveries_failed;
        Complain("the call after a crash failed", aoti_remote_last_error());
      }
    } else if (!at::equal(out, x + 1)) {
      ++counters->wrong_results;
      Complain("wrong result", "after a crash");
    } else {
      ++counters->recoveries_ok;
    }
  }
}

// One report line's figures.
struct Sample {
  double elapsed_s = 0;
  int64_t daemon_generation = 0;  // restarts before this sample
  int64_t ok = 0, failed = 0, crashes = 0;
  int64_t daemon_rss_kib = 0, daemon_fds = 0, daemon_threads = 0;
  int64_t workers = 0, workers_rss_kib = 0;
  int64_t client_rss_kib = 0, client_fds = 0, client_threads = 0;
  int64_t client_memfd = 0;
};

// The figures the summary compares, by name.
struct Figure {
  const char* name;
  int64_t Sample::*field;
};
const Figure kFigures[] = {
    {"daemon RSS KiB", &Sample::daemon_rss_kib},
    {"daemon fds", &Sample::daemon_fds},
    {"daemon threads", &Sample::daemon_threads},
    {"workers", &Sample::workers},
    {"workers RSS KiB", &Sample::workers_rss_kib},
    {"client RSS KiB", &Sample::client_rss_kib},
    {"client fds", &Sample::client_fds},
    {"client threads", &Sample::client_threads},
    {"client memfd maps", &Sample::client_memfd},
};

Sample TakeSample(double elapsed_s, pid_t daemon, const Counters& counters) {
  Sample s;
  s.elapsed_s = elapsed_s;
  s.daemon_generation = counters.daemon_restarts;
  s.ok = counters.ok;
  s.failed = counters.failed_in_outage + counters.failed_unexpectedly;
  s.crashes = counters.crashes;
  s.daemon_rss_kib = e2e::ResidentKib(daemon);
  s.daemon_fds = e2e::CountFds(daemon);
  s.daemon_threads = e2e::CountThreads(daemon);
  for (pid_t child : e2e::ChildrenOf(daemon)) {
    ++s.workers;
    s.workers_rss_kib += std::max<int64_t>(e2e::ResidentKib(child), 0);
  }
  s.client_rss_kib = e2e::ResidentKib(getpid());
  s.client_fds = e2e::CountFds(getpid());
  s.client_threads = e2e::CountThreads(getpid());
  s.client_memfd = e2e::CountMemfdMappings(getpid());
  return s;
}

void PrintHeader() {
  std::printf("%7s %9s %7s %7s | %10s %6s %7s %7s %11s | %10s %6s %7s %5s\n",
              "elapsed", "calls_ok", "failed", "crashes", "daemon_rss", "d_fds",
              "d_thr", "workers", "workers_rss", "client_rss", "c_fds", "c_thr",
              "memfd");
}

void PrintSample(const Sample& s) {
  std::printf(
      "%6.0fs %9ld %7ld %7ld | %7ld KiB %6ld %7ld %7ld %7ld KiB | %6ld KiB "
      "%6ld %7ld %5ld\n",
      s.elapsed_s, s.ok, s.failed, s.crashes, s.daemon_rss_kib, s.daemon_fds,
      s.daemon_threads, s.workers, s.workers_rss_kib, s.client_rss_kib,
      s.client_fds, s.client_threads, s.client_memfd);
  std::fflush(stdout);
}

// Average of `field` over the samples with elapsed time in [from, to).
double Average(const std::vector<Sample>& samples, int64_t Sample::*field,
               double from, double to) {
  double sum = 0;
  int n = 0;
  for (const Sample& s : samples) {
    if (s.elapsed_s >= from && s.elapsed_s < to) {
      sum += static_cast<double>(s.*field);
      ++n;
    }
  }
  return n > 0 ? sum / n : 0;
}

// Each daemon's first and last sample: a daemon leaking between restarts
// shows here even if the restarts hide it from the first-vs-last averages.
void PrintDaemonLifetimes(const std::vector<Sample>& samples) {
  std::printf("\n%-6s %14s %20s %12s %14s\n", "daemon", "samples (s)",
              "RSS KiB first-last", "fds", "threads");
  for (size_t i = 0; i < samples.size();) {
    size_t j = i;
    while (j + 1 < samples.size() &&
           samples[j + 1].daemon_generation == samples[i].daemon_generation) {
      ++j;
    }
    const Sample& a = samples[i];
    const Sample& b = samples[j];
    std::printf("%-6ld %6.0f-%-7.0f %9ld-%-10ld %5ld-%-6ld %6ld-%-7ld\n",
                a.daemon_generation + 1, a.elapsed_s, b.elapsed_s,
                a.daemon_rss_kib, b.daemon_rss_kib, a.daemon_fds, b.daemon_fds,
                a.daemon_threads, b.daemon_threads);
    i = j + 1;
  }
}

void PrintSummary(const std::vector<Sample>& samples, double total_s) {
  const double window = std::min(60.0, total_s / 2);
  std::printf(
      "\nsummary: averages of the samples in the first %.0f s and the last "
      "%.0f s\n",
      window, window);
  std::printf("%-18s %12s %12s %12s %8s\n", "figure", "first", "last", "growth",
              "growth%");
  for (const Figure& figure : kFigures) {
    const double first = Average(samples, figure.field, 0, window);
    const double last =
        Average(samples, figure.field, total_s - window, total_s + 1);
    std::printf("%-18s %12.1f %12.1f %+12.1f %+7.1f%%\n", figure.name, first,
                last, last - first,
                first != 0 ? 100.0 * (last - first) / first : 0.0);
  }
}

// Reaps workers orphaned by a killed daemon: this process is their
// subreaper. Never touches the live daemon.
int ReapOrphans(pid_t daemon) {
  int reaped = 0;
  for (pid_t child : e2e::ChildrenOf(getpid())) {
    if (child == daemon) continue;
    int status = 0;
    if (waitpid(child, &status, WNOHANG) == child) ++reaped;
  }
  return reaped;
}

int Run(const Options& options) {
  // Workers of a killed daemon come to this process, which reaps them.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  auto started = DaemonProcess::Start(
      {absl::StrCat("--load-library=",
                    RunfilePath("tests/ops/libaoti_misbehaving_ops.so")),
       absl::StrCat("--call-timeout-ms=", options.hang_timeout_ms),
       "--quarantine-crashes=1000000000", "--log-level=error"});
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
    return 1;
  }
  DaemonProcess& daemon = **started;
  std::printf(
      "crash soak: %ld s, %ld normal clients, 1 crashing client (segfault, "
      "abort, exit, hang past %ld ms), daemon SIGKILLed every %ld s\n",
      options.seconds, options.clients, options.hang_timeout_ms,
      options.restart_every_s);

  std::atomic<bool> stop{false};
  OutageWindows outages;
  Counters counters;
  std::vector<std::thread> threads;
  for (int i = 0; i < options.clients; ++i) {
    threads.emplace_back(NormalTraffic, daemon.endpoint(), i, std::cref(stop),
                         std::cref(outages), &counters);
  }
  threads.emplace_back(CrashTraffic, daemon.endpoint(), std::cref(stop),
                       std::cref(outages), &counters);

  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(options.seconds);
  absl::Time next_report = start + absl::Seconds(options.report_every_s);
  absl::Time next_restart = options.restart_every_s > 0
                                ? start + absl::Seconds(options.restart_every_s)
                                : absl::InfiniteFuture();
  std::vector<Sample> samples;
  int orphans_reaped = 0;
  bool daemon_failed = false;
  PrintHeader();
  while (absl::Now() < end && !daemon_failed) {
    absl::SleepFor(
        std::max(absl::ZeroDuration(),
                 std::min({next_report, next_restart, end}) - absl::Now()));
    const absl::Time now = absl::Now();
    if (now >= next_restart && now < end) {
      outages.Open();
      daemon.KillAndWait(SIGKILL);
      if (absl::Status restarted = daemon.Restart(); !restarted.ok()) {
        std::fprintf(stderr, "restart: %s\n", restarted.ToString().c_str());
        daemon_failed = true;
      }
      ++counters.daemon_restarts;
      outages.Close(absl::Seconds(options.restart_grace_s));
      next_restart += absl::Seconds(options.restart_every_s);
    }
    orphans_reaped += ReapOrphans(daemon.pid());
    if (absl::Now() >= next_report) {
      samples.push_back(TakeSample(absl::ToDoubleSeconds(absl::Now() - start),
                                   daemon.pid(), counters));
      PrintSample(samples.back());
      next_report += absl::Seconds(options.report_every_s);
    }
  }
  stop = true;
  for (std::thread& thread : threads) thread.join();
  // Every worker of a killed daemon must have exited: reaped here, not left
  // behind.
  std::vector<pid_t> orphans;
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  do {
    orphans_reaped += ReapOrphans(daemon.pid());
    orphans.clear();
    for (pid_t child : e2e::ChildrenOf(getpid())) {
      if (child != daemon.pid()) orphans.push_back(child);
    }
    if (!orphans.empty()) absl::SleepFor(absl::Milliseconds(50));
  } while (!orphans.empty() && absl::Now() < give_up);
  const double total_s = absl::ToDoubleSeconds(absl::Now() - start);

  PrintSummary(samples, total_s);
  PrintDaemonLifetimes(samples);
  std::printf(
      "\nnormal calls ok %ld, failed in restart windows %ld, failed outside "
      "them %ld, wrong results %ld\n"
      "misbehaving calls failed %ld (succeeded: %ld); the plus_one after "
      "each: ok %ld, failed %ld\n"
      "daemon restarts %ld, orphaned workers reaped %d, still running %zu\n",
      counters.ok.load(), counters.failed_in_outage.load(),
      counters.failed_unexpectedly.load(), counters.wrong_results.load(),
      counters.crashes.load(), counters.crashes_survived.load(),
      counters.recoveries_ok.load(), counters.recoveries_failed.load(),
      counters.daemon_restarts.load(), orphans_reaped, orphans.size());
  const bool ok =
      counters.wrong_results == 0 && counters.failed_unexpectedly == 0 &&
      counters.crashes_survived == 0 && orphans.empty() && !daemon_failed;
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace aoti_executor

int main(int argc, char** argv) {
  return aoti_executor::Run(aoti_executor::ParseOptions(argc, argv));
}
