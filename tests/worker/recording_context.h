// RecordingContext: a TrialContext for trainer tests. Keeps every report and can answer stop.
#ifndef TUNER_TESTS_WORKER_RECORDING_CONTEXT_H_
#define TUNER_TESTS_WORKER_RECORDING_CONTEXT_H_

#include <atomic>
#include <vector>

#include "trial-worker/trainer.h"

namespace tuner::testing {

class RecordingContext final : public worker::TrialContext {
 public:
  // stop_after_reports: ReportEpoch answers false on that report (1-based); 0 = never.
  explicit RecordingContext(int stop_after_reports = 0) : stop_after_(stop_after_reports) {}

  bool ReportEpoch(const worker::EpochReport& report) override {
    reports.push_back(report);
    if (stop_after_ > 0 && static_cast<int>(reports.size()) >= stop_after_) {
      stop = true;
      return false;
    }
    return true;
  }
  bool StopRequested() const override { return stop.load(); }

  std::vector<worker::EpochReport> reports;
  std::atomic<bool> stop{false};

 private:
  const int stop_after_;
};

}  // namespace tuner::testing

#endif  // TUNER_TESTS_WORKER_RECORDING_CONTEXT_H_
