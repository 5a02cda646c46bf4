// Commands::Ensemble: `tunectl ensemble STUDY -k K`: queues a top-k ensemble and waits for a
// worker to evaluate it on the test set.
#include <chrono>
#include <thread>

#include "tunectl/commands.h"
#include "tunectl/ensemble_view.h"
#include "tunectl/json_view.h"

namespace tuner::tunectl {

int Commands::Ensemble(const std::string& study_text, const EnsembleOptions& options) {
  if (options.k < 1 || options.k > 100) {
    err_ << "error: -k: must be between 1 and 100 (got " << options.k << ")\n";
    return kExitUsage;
  }
  const std::optional<int64_t> id = ResolveStudy(study_text);
  if (!id) return kExitError;
  v1::CreateEnsembleRequest request;
  request.set_study_id(*id);
  request.set_k(options.k);
  v1::Ensemble ensemble;
  {
    auto context = NewContext(true);
    const grpc::Status status = stub_.CreateEnsemble(context.get(), request, &ensemble);
    if (!status.ok()) return Fail(status);
  }
  const auto print = [&] {
    if (options.json) {
      out_ << EnsembleJson(ensemble).dump(2) << "\n";
    } else {
      out_ << EnsembleText(ensemble);
    }
  };
  if (!options.wait) {
    print();
    err_ << "ensemble " << ensemble.ensemble_id() << " queued; a trial-worker built with "
         << "torch evaluates it (see tunectl best " << *id << ")\n";
    return kExitOk;
  }
  err_ << "ensemble " << ensemble.ensemble_id() << " of study " << *id << ": waiting for a "
       << "trial-worker to evaluate the top " << options.k << " trials on the test set...\n";
  const auto start = std::chrono::steady_clock::now();
  while (ensemble.state() == v1::ENSEMBLE_PENDING || ensemble.state() == v1::ENSEMBLE_RUNNING) {
    if (options.cancel && options.cancel->cancelled()) return kExitInterrupted;
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (options.wait_timeout_s > 0 && waited >= options.wait_timeout_s) {
      print();
      return Fail("ensemble " + std::to_string(ensemble.ensemble_id()) + " still " +
                  EnsembleStateLabel(ensemble.state()) + " after waiting " +
                  std::to_string(static_cast<int>(waited)) + "s (is a torch trial-worker "
                  "running?)");
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(options.poll_s));
    v1::ListEnsemblesRequest list_request;
    list_request.set_study_id(*id);
    v1::ListEnsemblesResponse list;
    auto context = NewContext(true);
    const grpc::Status status = stub_.ListEnsembles(context.get(), list_request, &list);
    if (!status.ok()) return Fail(status);
    bool found = false;
    for (const v1::Ensemble& e : list.ensembles()) {
      if (e.ensemble_id() == ensemble.ensemble_id()) {
        ensemble = e;
        found = true;
      }
    }
    if (!found) {
      return Fail("ensemble " + std::to_string(ensemble.ensemble_id()) +
                  " is gone from the server (was its db replaced?)");
    }
  }
  print();
  if (ensemble.state() == v1::ENSEMBLE_FAILED) {
    return Fail("ensemble " + std::to_string(ensemble.ensemble_id()) + " failed: " +
                ensemble.fail_reason());
  }
  return kExitOk;
}

}  // namespace tuner::tunectl
