// The worker loop's ensemble path against a real tuner-server: trials of a keep_checkpoints
// study upload their checkpoints, then an ensemble job is leased, its members' checkpoints
// downloaded and handed to Trainer::EvaluateEnsemble, and the result (or the failure) stored.
// The trainer is a fake that writes and reads checkpoint files, so no torch is needed.
#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_server.h"
#include "trial-worker/synthetic_trainer.h"
#include "trial-worker/worker_loop.h"

namespace tuner::worker {
namespace {

std::string ReadFile(const std::string& path) {
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  return text.str();
}

// Trains to value units / 1000 and writes "model-ID" as the checkpoint; evaluates an ensemble
// by checking each member's file holds its own model.
class CheckpointTrainer final : public Trainer {
 public:
  explicit CheckpointTrainer(std::string fail_with) : fail_with_(std::move(fail_with)) {}

  absl::StatusOr<TrainResult> Train(const TrialAssignment& a, TrialContext& context) override {
    const double value = static_cast<double>(std::get<int64_t>(a.params.at("units"))) / 1000;
    EpochReport report;
    report.epoch = 1;
    report.value = value;
    report.metrics["val_accuracy"] = value;
    context.ReportEpoch(report);
    TrainResult result;
    result.value = value;
    result.epochs_done = 1;
    if (!a.checkpoint_out_path.empty()) {
      std::ofstream(a.checkpoint_out_path) << "model-" << a.trial_id;
      result.checkpoint_written = true;
    }
    return result;
  }

  absl::StatusOr<EnsembleResult> EvaluateEnsemble(const EnsembleAssignment& a) override {
    if (!fail_with_.empty()) return absl::FailedPreconditionError(fail_with_);
    EnsembleResult result;
    for (const EnsembleMemberAssignment& member : a.members) {
      if (ReadFile(member.checkpoint_path) != "model-" + std::to_string(member.trial_id)) {
        return absl::DataLossError("member " + std::to_string(member.trial_id) +
                                   " got another trial's checkpoint");
      }
      result.member_test_accuracies.push_back(
          static_cast<double>(std::get<int64_t>(member.params.at("units"))) / 2000);
    }
    result.test_accuracy = 0.875;
    result.test_images = 123;
    return result;
  }

 private:
  const std::string fail_with_;
};

class EnsembleLoopTest : public ::testing::Test {
 protected:
  int64_t CreateStudy() {
    v1::CreateStudyRequest request;
    request.set_spec_yaml(
        "name: ens\nalgorithm: {kind: random, max_trials: 3}\nseed: 9\nkeep_checkpoints: true\n"
        "search_space:\n  units: {type: int, min: 1, max: 1000}\n"
        "trainer: {kind: torch, epochs: 1, dataset: {name: cifar10, path: /data/cifar10}}\n");
    v1::CreateStudyResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(server_.studies().CreateStudy(&context, request, &response).ok());
    return response.study_id();
  }

  WorkerStats RunWorker(int max_trials, double idle_exit_seconds, const std::string& fail_with) {
    WorkerOptions options;
    options.server_address = server_.address();
    options.name = "ensemble-worker";
    options.work_dir = dir_.File("work");
    options.wait_seconds = 0.2;
    options.max_trials = max_trials;
    options.idle_exit_seconds = idle_exit_seconds;
    options.rpc_timeout_seconds = 5;
    options.trainer_factory = [fail_with](const std::string&)
        -> absl::StatusOr<std::unique_ptr<Trainer>> {
      return std::unique_ptr<Trainer>(std::make_unique<CheckpointTrainer>(fail_with));
    };
    WorkerLoop loop(options, server_.channel());
    std::atomic<bool> stop{false};
    EXPECT_TRUE(loop.Run(stop).ok());
    return loop.stats();
  }

  v1::Ensemble Create(int64_t study, int k) {
    v1::CreateEnsembleRequest request;
    request.set_study_id(study);
    request.set_k(k);
    v1::Ensemble out;
    grpc::ClientContext context;
    grpc::Status status = server_.studies().CreateEnsemble(&context, request, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }

  v1::Ensemble Get(int64_t study, int64_t ensemble_id) {
    v1::ListEnsemblesRequest request;
    request.set_study_id(study);
    v1::ListEnsemblesResponse list;
    grpc::ClientContext context;
    EXPECT_TRUE(server_.studies().ListEnsembles(&context, request, &list).ok());
    for (const v1::Ensemble& e : list.ensembles()) {
      if (e.ensemble_id() == ensemble_id) return e;
    }
    return {};
  }

  testing::TempDir dir_;
  testing::TestServer server_;
};

TEST_F(EnsembleLoopTest, TheWorkerEvaluatesTheMembersOwnCheckpointsAndTheResultIsStored) {
  const int64_t study = CreateStudy();
  EXPECT_EQ(RunWorker(3, 10, "").trials_completed, 3);
  const v1::Ensemble created = Create(study, 2);
  const WorkerStats stats = RunWorker(0, 1, "");
  EXPECT_EQ(stats.ensembles_completed, 1);
  const v1::Ensemble done = Get(study, created.ensemble_id());
  ASSERT_EQ(done.state(), v1::ENSEMBLE_COMPLETED) << done.fail_reason();
  EXPECT_DOUBLE_EQ(done.test_accuracy(), 0.875);
  EXPECT_EQ(done.test_images(), 123);
  EXPECT_EQ(done.worker_name(), "ensemble-worker");
  ASSERT_EQ(done.members_size(), 2);
  for (const v1::EnsembleMember& member : done.members()) {
    EXPECT_DOUBLE_EQ(member.test_accuracy(),
                     static_cast<double>(member.params().at("units").int_value()) / 2000);
  }
}

TEST_F(EnsembleLoopTest, ATrainerRefusalFailsTheEnsembleWithItsReason) {
  const int64_t study = CreateStudy();
  EXPECT_EQ(RunWorker(3, 10, "").trials_completed, 3);
  const v1::Ensemble created = Create(study, 3);
  const WorkerStats stats = RunWorker(0, 1, "test set missing");
  EXPECT_EQ(stats.ensembles_failed, 1);
  const v1::Ensemble failed = Get(study, created.ensemble_id());
  EXPECT_EQ(failed.state(), v1::ENSEMBLE_FAILED);
  EXPECT_EQ(failed.fail_reason(), "test set missing");
  EXPECT_EQ(failed.attempt(), 1);  // FAILED_PRECONDITION is not retried
}

TEST(SyntheticTrainerEnsemble, IsRefusedForWantOfModels) {
  SyntheticTrainer trainer;
  absl::StatusOr<EnsembleResult> result = trainer.EvaluateEnsemble(EnsembleAssignment{});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(result.status().message().find("trainer.kind torch"), std::string::npos);
}

}  // namespace
}  // namespace tuner::worker
