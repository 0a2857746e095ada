#include "server/metrics/daemon_collector.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"
#include "server/common/version.h"

namespace aoti_executor {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// One family; Add* append its samples.
class Family {
 public:
  Family(std::string name, std::string help, MetricType type) {
    family_.name = std::move(name);
    family_.help = std::move(help);
    family_.type = type;
  }

  Family& Add(double value, Labels labels = {}) {
    ClientMetric metric;
    metric.label = std::move(labels);
    if (family_.type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family_.metric.push_back(std::move(metric));
    return *this;
  }

  Family& AddHistogram(const CallLatencies::OpHistogram& op, Labels labels) {
    ClientMetric metric;
    metric.label = std::move(labels);
    metric.histogram.sample_count = op.count;
    metric.histogram.sample_sum = op.sum_seconds;
    uint64_t cumulative = 0;
    for (size_t b = 0; b < op.counts.size(); ++b) {
      cumulative += op.counts[b];
      ClientMetric::Bucket bucket;
      bucket.cumulative_count = cumulative;
      bucket.upper_bound = b < CallLatencies::kBoundsSeconds.size()
                               ? CallLatencies::kBoundsSeconds[b]
                               : std::numeric_limits<double>::infinity();
      metric.histogram.bucket.push_back(bucket);
    }
    family_.metric.push_back(std::move(metric));
    return *this;
  }

  MetricFamily Take() { return std::move(family_); }

 private:
  MetricFamily family_;
};

void AddCallFamilies(const DaemonSnapshot& s,
                     std::vector<MetricFamily>* families) {
  families->push_back(
      Family("aoti_calls_total",
             "Extern-kernel calls answered, by path (rpc: the Call RPC "
             "through the daemon; lane: the call lane, client to worker) and "
             "result (ok, error: any failure, a crash included).",
             MetricType::Counter)
          .Add(s.rpc_calls_succeeded, {{"path", "rpc"}, {"result", "ok"}})
          .Add(s.rpc_calls_failed, {{"path", "rpc"}, {"result", "error"}})
          .Add(s.lane_calls_succeeded, {{"path", "lane"}, {"result", "ok"}})
          .Add(s.lane_calls_failed, {{"path", "lane"}, {"result", "error"}})
          .Take());
  families->push_back(Family("aoti_calls_in_flight",
                             "Calls running now, by path.", MetricType::Gauge)
                          .Add(s.rpc_calls_in_flight, {{"path", "rpc"}})
                          .Add(s.lane_calls_in_flight, {{"path", "lane"}})
                          .Take());
}

void AddWorkerFamilies(const DaemonSnapshot& s,
                       std::vector<MetricFamily>* families) {
  families->push_back(Family("aoti_workers_alive",
                             "Sessions' worker processes alive (spare "
                             "workers not counted).",
                             MetricType::Gauge)
                          .Add(s.workers)
                          .Take());
  families->push_back(Family("aoti_spare_workers",
                             "Spare worker processes started and ready for "
                             "new sessions (--spare-workers).",
                             MetricType::Gauge)
                          .Add(s.spare_workers)
                          .Take());
  families->push_back(
      Family("aoti_worker_deaths_total",
             "Workers that died, by cause: crashed (a signal the daemon did "
             "not send), exited (by itself), killed (by the daemon: a call "
             "past its deadline, or its lane client gave up).",
             MetricType::Counter)
          .Add(s.worker_deaths_crashed, {{"cause", "crashed"}})
          .Add(s.worker_deaths_exited, {{"cause", "exited"}})
          .Add(s.worker_deaths_killed, {{"cause", "killed"}})
          .Take());
  families->push_back(Family("aoti_worker_restarts_total",
                             "Workers started to replace a session's worker "
                             "that had died.",
                             MetricType::Counter)
                          .Add(s.worker_restarts)
                          .Take());
  families->push_back(Family("aoti_crashed_nodes",
                             "Nodes with a crash or hang within the "
                             "quarantine window.",
                             MetricType::Gauge)
                          .Add(s.crashed_nodes)
                          .Take());
  families->push_back(Family("aoti_quarantined_nodes",
                             "Nodes quarantined now: their calls fail fast.",
                             MetricType::Gauge)
                          .Add(s.quarantined_nodes)
                          .Take());
}

void AddResourceFamilies(const DaemonSnapshot& s,
                         std::vector<MetricFamily>* families) {
  const auto gauge = [families](const char* name, const char* help,
                                double value) {
    families->push_back(
        Family(name, help, MetricType::Gauge).Add(value).Take());
  };
  gauge("aoti_sessions", "Client sessions open.", s.sessions);
  gauge("aoti_kernel_sets", "Kernel sets registered (cached by content).",
        s.kernel_sets);
  gauge("aoti_call_lanes", "Call lanes open.", s.call_lanes);
  gauge("aoti_shm_regions",
        "Shared-memory regions mapped: clients' and workers' output regions.",
        s.regions);
  gauge("aoti_shm_mapped_bytes", "Bytes of those regions.", s.mapped_bytes);
  gauge("aoti_output_bytes_in_use",
        "Output bytes the clients hold in the workers' output regions.",
        s.output_bytes_in_use);
  gauge("aoti_output_bytes_copied",
        "Output bytes the live workers copied into their output regions "
        "since each started (client-side staging copies are not seen by "
        "the daemon).",
        s.output_bytes_copied);
  gauge("aoti_uptime_seconds", "Seconds since the daemon started.",
        s.uptime_seconds);
}

void AddSecurityFamilies(const DaemonSnapshot& s,
                         std::vector<MetricFamily>* families) {
  families->push_back(
      Family("aoti_peers_refused_total",
             "Connections to the daemon's Unix sockets that the peer policy "
             "(--allow-uid/--allow-gid) refused, by socket (grpc, attach).",
             MetricType::Counter)
          .Add(s.peers_refused_grpc, {{"socket", "grpc"}})
          .Add(s.peers_refused_attach, {{"socket", "attach"}})
          .Take());
}

}  // namespace

std::vector<MetricFamily> DaemonCollector::Collect() const {
  const DaemonSnapshot snapshot = snapshot_();
  std::vector<MetricFamily> families;
  families.push_back(Family("aoti_build_info",
                            "Always 1; the daemon's version as a label.",
                            MetricType::Gauge)
                         .Add(1, {{"version", kDaemonVersion}})
                         .Take());
  AddCallFamilies(snapshot, &families);
  Family latencies("aoti_call_duration_seconds",
                   "Call RPC latency by op, from the daemon sending the call "
                   "to its worker to the answer (lane calls bypass the daemon "
                   "and are not in it).",
                   MetricType::Histogram);
  for (const CallLatencies::OpHistogram& op : latencies_->Snapshot()) {
    latencies.AddHistogram(op, {{"op", op.op}, {"path", "rpc"}});
  }
  families.push_back(latencies.Take());
  AddWorkerFamilies(snapshot, &families);
  AddResourceFamilies(snapshot, &families);
  AddSecurityFamilies(snapshot, &families);
  return families;
}

}  // namespace aoti_executor
