// The benchmarks' printed tables: one row per case (p50/p90/p99, a ratio to
// the section's baseline, a note), grouped in sections, and the clock they
// are timed with.
#ifndef AOTI_EXECUTOR_BENCH_BENCH_TABLE_H_
#define AOTI_EXECUTOR_BENCH_BENCH_TABLE_H_

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "bench/bench_stats.h"

namespace aoti_executor {

using Clock = std::chrono::steady_clock;

inline double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start)
      .count();
}

struct Row {
  std::string name;
  std::optional<Percentiles> latency;  // none: skipped or failed
  double ratio = 0;                    // 0: no ratio
  std::string note;
};

struct Section {
  std::string title;
  std::vector<Row> rows;
};

inline std::string FormatMicros(double us) {
  if (us >= 10000) return absl::StrFormat("%.0f", us);
  if (us >= 100) return absl::StrFormat("%.1f", us);
  return absl::StrFormat("%.2f", us);
}

inline void PrintTable(const std::vector<Section>& sections) {
  std::printf("%-52s %10s %10s %10s %9s  %s\n", "case", "p50 us", "p90 us",
              "p99 us", "ratio", "note");
  for (const Section& section : sections) {
    std::printf("-- %s\n", section.title.c_str());
    for (const Row& row : section.rows) {
      std::string p50 = "-", p90 = "-", p99 = "-", ratio = "";
      if (row.latency) {
        p50 = FormatMicros(row.latency->p50_us);
        p90 = FormatMicros(row.latency->p90_us);
        p99 = FormatMicros(row.latency->p99_us);
      }
      if (row.ratio > 0) ratio = absl::StrFormat("%.2fx", row.ratio);
      std::string line =
          absl::StrFormat("%-52s %10s %10s %10s %9s  %s", row.name, p50, p90,
                          p99, ratio, row.note);
      line.erase(line.find_last_not_of(' ') + 1);
      std::printf("%s\n", line.c_str());
    }
  }
}

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_BENCH_BENCH_TABLE_H_
