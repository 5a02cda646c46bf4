#include "tuner-server/metrics.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"
#include "proto/tuner.grpc.pb.h"

namespace tuner::server {
namespace {

using Clock = std::chrono::steady_clock;

// Times one call from its first received metadata to the status it sends.
class TimingInterceptor : public grpc::experimental::Interceptor {
 public:
  TimingInterceptor(RpcMetrics* metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(Clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
      metrics_->Record(method_, methods->GetSendStatus().error_code(), seconds);
    }
    methods->Proceed();
  }

 private:
  RpcMetrics* const metrics_;
  const std::string method_;
  const Clock::time_point start_;
};

class TimingFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit TimingFactory(RpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new TimingInterceptor(metrics_, info->method());
  }

 private:
  RpcMetrics* const metrics_;
};

const char* CodeName(int code) {
  static const char* const kNames[] = {
      "OK",          "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",   "ALREADY_EXISTS",   "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",  "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",        "UNAVAILABLE",      "DATA_LOSS",
      "UNAUTHENTICATED"};
  return code >= 0 && code < 17 ? kNames[code] : "UNKNOWN";
}

// "/package.Service/Method" for every method of tuner.proto's services, read from the
// descriptors so a method added to the proto is known without touching this file; plus the
// health and reflection services the server also registers.
std::set<std::string> KnownMethods() {
  std::set<std::string> known = {
      "/grpc.health.v1.Health/Check",
      "/grpc.health.v1.Health/Watch",
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
  };
  const google::protobuf::FileDescriptor* file = v1::CreateStudyRequest::descriptor()->file();
  for (int s = 0; s < file->service_count(); ++s) {
    const google::protobuf::ServiceDescriptor* service = file->service(s);
    for (int m = 0; m < service->method_count(); ++m) {
      known.insert(absl::StrCat("/", service->full_name(), "/", service->method(m)->name()));
    }
  }
  return known;
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

RpcMetrics::RpcMetrics() : known_methods_(KnownMethods()) {}

void RpcMetrics::Record(const std::string& method, int code, double seconds) {
  const std::string label = known_methods_.count(method) ? method : kUnknownMethod;
  std::lock_guard<std::mutex> lock(mu_);
  Method& m = methods_[label];
  m.by_code[code]++;
  m.count++;
  m.sum += seconds;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) m.buckets[i]++;
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcMetrics::InterceptorFactory() {
  return std::make_unique<TimingFactory>(this);
}

void RpcMetrics::Render(std::string* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StrAppend(out, "# HELP tuner_rpc_total gRPC calls answered, by method and status code.\n",
                  "# TYPE tuner_rpc_total counter\n");
  for (const auto& [method, m] : methods_) {
    for (const auto& [code, count] : m.by_code) {
      absl::StrAppend(out, "tuner_rpc_total{method=\"", EscapeLabelValue(method), "\",code=\"",
                      CodeName(code), "\"} ", count, "\n");
    }
  }
  absl::StrAppend(out, "# HELP tuner_rpc_duration_seconds gRPC call latency in the server.\n",
                  "# TYPE tuner_rpc_duration_seconds histogram\n");
  for (const auto& [method, m] : methods_) {
    const std::string label = EscapeLabelValue(method);
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      absl::StrAppend(out, "tuner_rpc_duration_seconds_bucket{method=\"", label, "\",le=\"",
                      absl::StrFormat("%g", kBuckets[i]), "\"} ", m.buckets[i], "\n");
    }
    absl::StrAppend(out, "tuner_rpc_duration_seconds_bucket{method=\"", label, "\",le=\"+Inf\"} ",
                    m.count, "\n", "tuner_rpc_duration_seconds_sum{method=\"", label, "\"} ",
                    absl::StrFormat("%.9g", m.sum), "\n", "tuner_rpc_duration_seconds_count{method=\"",
                    label, "\"} ", m.count, "\n");
  }
}

std::string RenderMetrics(const SchedulerGauges& gauges, const RpcMetrics& rpcs) {
  std::string out;
  absl::StrAppend(&out, "# HELP tuner_trials Trials by study and state.\n",
                  "# TYPE tuner_trials gauge\n");
  for (const auto& [key, count] : gauges.trials) {
    absl::StrAppend(&out, "tuner_trials{study=\"", key.first, "\",state=\"",
                    EscapeLabelValue(key.second), "\"} ", count, "\n");
  }
  absl::StrAppend(&out, "# HELP tuner_studies Studies by state.\n# TYPE tuner_studies gauge\n");
  for (const auto& [state, count] : gauges.studies) {
    absl::StrAppend(&out, "tuner_studies{state=\"", EscapeLabelValue(state), "\"} ", count, "\n");
  }
  absl::StrAppend(&out, "# HELP tuner_leases Trials leased to a worker right now.\n",
                  "# TYPE tuner_leases gauge\ntuner_leases ", gauges.leases, "\n",
                  "# HELP tuner_workers Workers registered.\n",
                  "# TYPE tuner_workers gauge\ntuner_workers ", gauges.workers, "\n",
                  "# HELP tuner_parked_acquires AcquireTrial long-polls waiting for a trial.\n",
                  "# TYPE tuner_parked_acquires gauge\ntuner_parked_acquires ",
                  gauges.parked_acquires, "\n");
  rpcs.Render(&out);
  return out;
}

}  // namespace tuner::server
