#include "tuner-server/metrics.h"

#include <chrono>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "prometheus/text_serializer.h"
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

RpcMetrics::RpcMetrics()
    : known_methods_(KnownMethods()),
      registry_(std::make_shared<prometheus::Registry>()),
      calls_(prometheus::BuildCounter()
                 .Name("tuner_rpc_total")
                 .Help("gRPC calls answered, by method and status code.")
                 .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("tuner_rpc_duration_seconds")
                   .Help("gRPC call latency in the server.")
                   .Register(*registry_)) {}

void RpcMetrics::Record(const std::string& method, int code, double seconds) {
  const std::string label = known_methods_.count(method) ? method : kUnknownMethod;
  prometheus::Counter* counter = nullptr;
  prometheus::Histogram* histogram = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    prometheus::Counter*& c = counters_[{label, code}];
    if (c == nullptr) c = &calls_.Add({{"method", label}, {"code", CodeName(code)}});
    counter = c;
    prometheus::Histogram*& h = histograms_[label];
    if (h == nullptr) {
      h = &latency_.Add({{"method", label}},
                        prometheus::Histogram::BucketBoundaries(kBuckets.begin(), kBuckets.end()));
    }
    histogram = h;
  }
  counter->Increment();
  histogram->Observe(seconds);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcMetrics::InterceptorFactory() {
  return std::make_unique<TimingFactory>(this);
}

void RpcMetrics::Render(std::string* out) const { out->append(RenderText({registry_.get()})); }

std::vector<prometheus::MetricFamily> SchedulerCollectable::Collect() const {
  const SchedulerGauges gauges = gauges_();
  auto family = [](const char* name, const char* help) {
    prometheus::MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = prometheus::MetricType::Gauge;
    return f;
  };
  auto sample = [](std::vector<prometheus::ClientMetric::Label> labels, double value) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = value;
    return m;
  };
  std::vector<prometheus::MetricFamily> out;
  out.push_back(family("tuner_trials", "Trials by study and state."));
  for (const auto& [key, count] : gauges.trials) {
    out.back().metric.push_back(
        sample({{"study", std::to_string(key.first)}, {"state", key.second}}, count));
  }
  out.push_back(family("tuner_studies", "Studies by state."));
  for (const auto& [state, count] : gauges.studies) {
    out.back().metric.push_back(sample({{"state", state}}, count));
  }
  out.push_back(family("tuner_leases", "Trials leased to a worker right now."));
  out.back().metric.push_back(sample({}, gauges.leases));
  out.push_back(family("tuner_workers", "Workers registered."));
  out.back().metric.push_back(sample({}, gauges.workers));
  out.push_back(family("tuner_parked_acquires", "AcquireTrial long-polls waiting for a trial."));
  out.back().metric.push_back(sample({}, gauges.parked_acquires));
  return out;
}

std::string RenderText(const std::vector<const prometheus::Collectable*>& collectables) {
  std::vector<prometheus::MetricFamily> families;
  for (const prometheus::Collectable* collectable : collectables) {
    for (prometheus::MetricFamily& family : collectable->Collect()) {
      families.push_back(std::move(family));
    }
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace tuner::server
