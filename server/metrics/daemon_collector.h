// The daemon's metrics, as prometheus-cpp asks for them at each scrape.
//
// Nothing is counted here: every value is read at scrape time from what the
// daemon already keeps (a DaemonSnapshot: DaemonStats, the live sessions,
// the workers' watch pages, the crash tracker) and from CallLatencies. So a
// call costs the metrics nothing but CallLatencies::Record, and a daemon
// without --metrics-listen pays nothing at all.
#ifndef AOTI_EXECUTOR_SERVER_METRICS_DAEMON_COLLECTOR_H_
#define AOTI_EXECUTOR_SERVER_METRICS_DAEMON_COLLECTOR_H_

#include <functional>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/metrics/call_latencies.h"
#include "server/metrics/daemon_snapshot.h"

namespace aoti_executor {

class DaemonCollector final : public prometheus::Collectable {
 public:
  using SnapshotFn = std::function<DaemonSnapshot()>;

  // `snapshot` runs on the exposer's thread at each scrape; it and
  // `latencies` must outlive the collector's registration.
  DaemonCollector(SnapshotFn snapshot, const CallLatencies* latencies)
      : snapshot_(std::move(snapshot)), latencies_(latencies) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const SnapshotFn snapshot_;
  const CallLatencies* const latencies_;
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_METRICS_DAEMON_COLLECTOR_H_
