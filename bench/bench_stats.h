// Latency samples -> percentiles, for the benchmarks' printed tables.
#ifndef AOTI_EXECUTOR_BENCH_BENCH_STATS_H_
#define AOTI_EXECUTOR_BENCH_BENCH_STATS_H_

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace aoti_executor {

struct Percentiles {
  double p50_us, p90_us, p99_us;
};

inline Percentiles ComputePercentiles(std::vector<double> samples_us) {
  std::sort(samples_us.begin(), samples_us.end());
  auto at = [&](double q) {
    return samples_us[static_cast<size_t>(q * (samples_us.size() - 1))];
  };
  return {at(0.50), at(0.90), at(0.99)};
}

// Runs `fn` `warmup` times, then `iterations` times, timing each run.
template <typename Fn>
Percentiles TimeEach(int warmup, int iterations, Fn&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> samples;
  samples.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    const auto end = std::chrono::steady_clock::now();
    samples.push_back(
        std::chrono::duration<double, std::micro>(end - start).count());
  }
  return ComputePercentiles(std::move(samples));
}

inline void PrintRow(const char* name, const Percentiles& p,
                     double baseline_p50) {
  std::printf("%-44s %10.2f %10.2f %10.2f %8.2fx\n", name, p.p50_us, p.p90_us,
              p.p99_us, p.p50_us / baseline_p50);
}

inline void PrintHeader() {
  std::printf("%-44s %10s %10s %10s %9s\n", "case", "p50 us", "p90 us",
              "p99 us", "vs base");
}

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_BENCH_BENCH_STATS_H_
