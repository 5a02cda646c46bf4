// Metrics: RPC counts and latencies (recorded by a gRPC server interceptor, so handlers stay
// thin) and the Prometheus text exposition of them plus the scheduler's gauges.
#ifndef TUNER_TUNER_SERVER_METRICS_H_
#define TUNER_TUNER_SERVER_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "grpcpp/support/server_interceptor.h"
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
  // Appends tuner_rpc_total and tuner_rpc_duration_seconds in Prometheus text format.
  void Render(std::string* out) const;
  // A factory for ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

 private:
  struct Method {
    std::map<int, uint64_t> by_code;
    std::array<uint64_t, kBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  const std::set<std::string> known_methods_;  // constant after construction
  mutable std::mutex mu_;
  std::map<std::string, Method> methods_;  // guarded by mu_
};

// `value` escaped for a Prometheus text-format label value (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& value);

// The whole /metrics page: scheduler gauges and RPC metrics.
std::string RenderMetrics(const SchedulerGauges& gauges, const RpcMetrics& rpcs);

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_METRICS_H_
