// Metrics: RPC counts and latencies (recorded by a gRPC server interceptor, so handlers stay
// thin) in a prometheus-cpp registry, and the scheduler's gauges read at each scrape; both are
// prometheus-cpp Collectables, served by MetricsEndpoint (prometheus-cpp's Exposer).
#ifndef TUNER_TUNER_SERVER_METRICS_H_
#define TUNER_TUNER_SERVER_METRICS_H_

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/support/server_interceptor.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "tuner-server/scheduler.h"

namespace tuner::server {

// Thread-safe. Labels come only from the known method table (every method of tuner.proto's
// services, plus gRPC health and reflection); any other method name a client sends is counted
// under method="unknown", so a client cannot grow the page or choose what it contains.
class RpcMetrics {
 public:
  // The label for calls to a method the server does not know.
  static constexpr const char* kUnknownMethod = "unknown";
  RpcMetrics();
  // Upper bounds of the latency histogram buckets, in seconds.
  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   1,      10};
  void Record(const std::string& method, int code, double seconds);
  // tuner_rpc_total and tuner_rpc_duration_seconds, for MetricsEndpoint.
  std::shared_ptr<prometheus::Collectable> collectable() const { return registry_; }
  // Their text exposition, as /metrics shows it (for tests and tools without HTTP).
  void Render(std::string* out) const;
  // A factory for ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

 private:
  // Constant after construction (the families are thread-safe themselves).
  const std::set<std::string> known_methods_;
  const std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Histogram>& latency_;
  // A series is made on its first call (so the page lists only what happened) and looked up
  // here afterwards; both maps are bounded by the known method table times the 17 codes.
  std::mutex mu_;
  std::map<std::pair<std::string, int>, prometheus::Counter*> counters_;  // guarded by mu_
  std::map<std::string, prometheus::Histogram*> histograms_;             // guarded by mu_
};

// The scheduler's gauges (tuner_trials, tuner_studies, tuner_leases, tuner_workers,
// tuner_parked_acquires), read from `gauges` at each scrape, on the scraping thread.
class SchedulerCollectable : public prometheus::Collectable {
 public:
  explicit SchedulerCollectable(std::function<SchedulerGauges()> gauges)
      : gauges_(std::move(gauges)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::function<SchedulerGauges()> gauges_;
};

// The Prometheus text exposition of `collectables`, by prometheus-cpp's TextSerializer (which
// escapes label values: backslash, double quote, newline).
std::string RenderText(const std::vector<const prometheus::Collectable*>& collectables);

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_METRICS_H_
