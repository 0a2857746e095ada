// /metrics over HTTP, in the Prometheus text format: prometheus-cpp's
// Exposer (civetweb) serving one collectable, on its own threads.
#ifndef AOTI_EXECUTOR_SERVER_METRICS_METRICS_SERVER_H_
#define AOTI_EXECUTOR_SERVER_METRICS_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"

namespace aoti_executor {

class MetricsServer {
 public:
  // Serves `collectable` at http://`listen`/metrics until destroyed.
  // `listen` is "HOST:PORT" ("[::1]:PORT" for IPv6; port 0: a free one).
  // InvalidArgument if it is malformed, Unavailable if it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& listen,
      std::shared_ptr<prometheus::Collectable> collectable);

  // Stops serving; a scrape in progress finishes first.
  ~MetricsServer() = default;
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port bound (the one chosen, for port 0).
  int port() const;

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                std::shared_ptr<prometheus::Collectable> collectable)
      : collectable_(std::move(collectable)), exposer_(std::move(exposer)) {}

  // The exposer holds a weak pointer: this keeps the collectable alive.
  const std::shared_ptr<prometheus::Collectable> collectable_;
  const std::unique_ptr<prometheus::Exposer> exposer_;  // last: first to stop
};

}  // namespace aoti_executor

#endif  // AOTI_EXECUTOR_SERVER_METRICS_METRICS_SERVER_H_
