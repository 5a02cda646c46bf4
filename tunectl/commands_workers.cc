// `tunectl workers`: ListWorkers as a table (or JSON).
#include <chrono>

#include "tunectl/commands.h"
#include "tunectl/format.h"
#include "tunectl/json_view.h"

namespace tuner::tunectl {
namespace {

// "12s ago"; "-" when never.
std::string Ago(double then, double now) {
  if (!(then > 0)) return "-";
  return FormatDuration(std::max(0.0, now - then)) + " ago";
}

}  // namespace

std::string WorkersTable(const std::vector<v1::Worker>& workers, double now) {
  Table table({"ID", "NAME", "HOST", "DEVICES", "RUNNING", "LAST SEEN", "REGISTERED"});
  table.SetAlign(0, Table::Align::kRight);
  for (const v1::Worker& worker : workers) {
    std::string devices;
    for (const std::string& device : worker.devices()) devices += (devices.empty() ? "" : ",") + device;
    std::string running = "-";
    if (worker.trial_id() != 0) {
      running = "study " + std::to_string(worker.study_id()) + " trial " +
                std::to_string(worker.trial_id()) + " (number " +
                std::to_string(worker.trial_number()) + ")";
    } else if (worker.ensemble_id() != 0) {
      running = "ensemble " + std::to_string(worker.ensemble_id());
    }
    table.AddRow({std::to_string(worker.worker_id()), worker.name(),
                  worker.host().empty() ? "-" : worker.host(), devices.empty() ? "-" : devices,
                  running, Ago(worker.last_seen_at(), now), FormatTimestamp(worker.registered_at())});
  }
  return table.Render();
}

int Commands::Workers(bool json) {
  auto context = NewContext(true);
  v1::ListWorkersRequest request;
  v1::ListWorkersResponse response;
  const grpc::Status status = stub_.ListWorkers(context.get(), request, &response);
  if (!status.ok()) return Fail(status);
  const std::vector<v1::Worker> workers(response.workers().begin(), response.workers().end());
  if (json) {
    Json list = Json::array();
    for (const v1::Worker& w : workers) {
      Json devices = Json::array();
      for (const std::string& device : w.devices()) devices.push_back(device);
      auto time = [](double t) { return t > 0 ? Json(t) : Json(nullptr); };
      auto id = [](int64_t v) { return v != 0 ? Json(v) : Json(nullptr); };
      list.push_back(Json{{"worker_id", w.worker_id()},
                          {"name", w.name()},
                          {"host", w.host()},
                          {"devices", std::move(devices)},
                          {"study_id", id(w.study_id())},
                          {"trial_id", id(w.trial_id())},
                          {"trial_number", w.trial_id() != 0 ? Json(w.trial_number()) : Json()},
                          {"ensemble_id", id(w.ensemble_id())},
                          {"last_seen_at", time(w.last_seen_at())},
                          {"registered_at", time(w.registered_at())}});
    }
    out_ << Json{{"workers", std::move(list)}}.dump(2) << "\n";
    return kExitOk;
  }
  if (workers.empty()) {
    out_ << "no trial-worker has registered with " << options_.server << "\n";
    return kExitOk;
  }
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  out_ << WorkersTable(workers, now);
  return kExitOk;
}

}  // namespace tuner::tunectl
