// Top-k ensembles through the gRPC API: keep_checkpoints, CreateEnsemble's checks, the job's
// lease (AcquireTrial, Heartbeat, expiry), CompleteEnsemble, and where the result shows.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/raw_worker.h"
#include "tests/server/study_rpc.h"
#include "tests/testing/test_server.h"

namespace tuner::testing {
namespace {

using ::testing::HasSubstr;

std::string TorchSpec(int trials, bool keep_checkpoints, const std::string& kind = "torch") {
  return "name: ensemble-test\n"
         "algorithm: {kind: random, max_trials: " + std::to_string(trials) + "}\n"
         "seed: 5\n"
         "keep_checkpoints: " + (keep_checkpoints ? "true" : "false") + "\n"
         "search_space:\n"
         "  units: {type: int, min: 1, max: 1000}\n"
         "trainer: {kind: " + kind + ", epochs: 1, dataset: {name: cifar10, path: /data}}\n";
}

// Runs every trial: value = units / 1000, so the trial with the most units is the best.
void RunTrials(RawWorker& worker, bool expect_save) {
  for (;;) {
    v1::AcquireTrialResponse trial;
    ASSERT_TRUE(worker.Acquire(&trial).ok());
    if (!trial.has_trial()) return;
    EXPECT_EQ(trial.save_checkpoint(), expect_save);
    std::string checkpoint_id;
    if (trial.save_checkpoint()) {
      v1::UploadCheckpointResponse uploaded;
      ASSERT_TRUE(worker.Upload(trial.lease(), 1, "weights", &uploaded).ok());
      checkpoint_id = uploaded.checkpoint_id();
    }
    const double value = trial.params().at("units").int_value() / 1000.0;
    ASSERT_TRUE(worker.Complete(trial.lease(), value, 1, checkpoint_id).ok());
  }
}

grpc::Status AcquireJob(TestServer& server, const RawWorker& worker,
                        v1::AcquireTrialResponse* response, double wait_seconds = 0,
                        bool accepts_ensembles = true) {
  v1::AcquireTrialRequest request;
  request.set_worker_id(worker.id());
  request.set_wait_seconds(wait_seconds);
  request.set_accepts_ensembles(accepts_ensembles);
  grpc::ClientContext context;
  return server.workers().AcquireTrial(&context, request, response);
}

grpc::Status CreateEnsemble(TestServer& server, int64_t study_id, int k, v1::Ensemble* out) {
  v1::CreateEnsembleRequest request;
  request.set_study_id(study_id);
  request.set_k(k);
  grpc::ClientContext context;
  return server.studies().CreateEnsemble(&context, request, out);
}

grpc::Status CompleteEnsemble(TestServer& server, const v1::Lease& lease, double accuracy,
                              const std::vector<double>& members, v1::Ensemble* out) {
  v1::CompleteEnsembleRequest request;
  *request.mutable_lease() = lease;
  request.set_test_accuracy(accuracy);
  for (double m : members) request.add_member_test_accuracies(m);
  request.set_test_images(10000);
  grpc::ClientContext context;
  return server.workers().CompleteEnsemble(&context, request, out);
}

TEST(Ensemble, KeptCheckpointsAreLeasedAsAJobAndTheResultIsStoredAndShown) {
  TestServer server;
  const int64_t study = CreateStudy(server, TorchSpec(4, /*keep_checkpoints=*/true));
  RawWorker worker(&server.workers(), "w");
  RunTrials(worker, /*expect_save=*/true);

  v1::Ensemble created;
  ASSERT_TRUE(CreateEnsemble(server, study, 2, &created).ok());
  EXPECT_EQ(created.state(), v1::ENSEMBLE_PENDING);
  ASSERT_EQ(created.members_size(), 2);
  EXPECT_GE(created.members(0).value(), created.members(1).value());  // best first

  // A worker that does not say it accepts ensembles never gets the job.
  v1::AcquireTrialResponse nothing;
  ASSERT_TRUE(AcquireJob(server, worker, &nothing, 0, /*accepts_ensembles=*/false).ok());
  EXPECT_FALSE(nothing.has_trial());
  EXPECT_FALSE(nothing.has_ensemble_job());

  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(AcquireJob(server, worker, &leased).ok());
  ASSERT_TRUE(leased.has_ensemble_job());
  EXPECT_FALSE(leased.has_trial());
  const v1::EnsembleJob& job = leased.ensemble_job();
  EXPECT_EQ(job.lease().ensemble_id(), created.ensemble_id());
  EXPECT_EQ(job.lease().attempt(), 1);
  EXPECT_EQ(job.study_id(), study);
  EXPECT_THAT(job.trainer_config_json(), HasSubstr("cifar10"));
  ASSERT_EQ(job.members_size(), 2);
  for (const v1::EnsembleMember& member : job.members()) {
    EXPECT_FALSE(member.checkpoint_id().empty());
    EXPECT_TRUE(member.params().contains("units"));
    std::string data, sha;
    ASSERT_TRUE(worker.Download(job.lease(), member.checkpoint_id(), &data, &sha).ok());
    EXPECT_EQ(data, "weights");
  }
  v1::HeartbeatResponse beat;
  ASSERT_TRUE(worker.Heartbeat(job.lease(), &beat).ok());
  EXPECT_FALSE(beat.stop());

  v1::Ensemble bad;
  EXPECT_EQ(CompleteEnsemble(server, job.lease(), 0.8, {0.7}, &bad).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // one accuracy per member
  EXPECT_EQ(CompleteEnsemble(server, job.lease(), 1.5, {0.7, 0.6}, &bad).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::Ensemble done;
  ASSERT_TRUE(CompleteEnsemble(server, job.lease(), 0.82, {0.77, 0.75}, &done).ok());
  EXPECT_EQ(done.state(), v1::ENSEMBLE_COMPLETED);
  EXPECT_EQ(done.worker_name(), "w");

  v1::GetBestTrialsRequest best_request;
  best_request.set_study_id(study);
  best_request.set_k(2);
  v1::GetBestTrialsResponse best;
  grpc::ClientContext context;
  ASSERT_TRUE(server.studies().GetBestTrials(&context, best_request, &best).ok());
  ASSERT_TRUE(best.has_latest_ensemble());
  EXPECT_DOUBLE_EQ(best.latest_ensemble().test_accuracy(), 0.82);
  EXPECT_EQ(best.latest_ensemble().test_images(), 10000);
  ASSERT_EQ(best.latest_ensemble().members_size(), 2);
  EXPECT_EQ(best.latest_ensemble().members(0).trial_id(), best.trials(0).trial_id());
  EXPECT_DOUBLE_EQ(best.latest_ensemble().members(0).test_accuracy(), 0.77);
  EXPECT_DOUBLE_EQ(best.latest_ensemble().members(1).test_accuracy(), 0.75);

  // The result survives a restart.
  server.Restart();
  v1::ListEnsemblesRequest list_request;
  list_request.set_study_id(study);
  v1::ListEnsemblesResponse list;
  grpc::ClientContext list_context;
  ASSERT_TRUE(server.studies().ListEnsembles(&list_context, list_request, &list).ok());
  ASSERT_EQ(list.ensembles_size(), 1);
  EXPECT_EQ(list.ensembles(0).state(), v1::ENSEMBLE_COMPLETED);
  EXPECT_DOUBLE_EQ(list.ensembles(0).test_accuracy(), 0.82);
  EXPECT_DOUBLE_EQ(list.ensembles(0).members(1).test_accuracy(), 0.75);
}

TEST(Ensemble, CreateEnsembleChecksKTheStudyAndTheCheckpoints) {
  TestServer server;
  v1::Ensemble out;
  EXPECT_EQ(CreateEnsemble(server, 99, 2, &out).error_code(), grpc::StatusCode::NOT_FOUND);

  const int64_t kept = CreateStudy(server, TorchSpec(2, /*keep_checkpoints=*/true));
  RawWorker worker(&server.workers(), "w");
  RunTrials(worker, /*expect_save=*/true);
  grpc::Status zero = CreateEnsemble(server, kept, 0, &out);
  EXPECT_EQ(zero.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(zero.error_message(), HasSubstr("k: must be between 1 and 100"));
  EXPECT_EQ(CreateEnsemble(server, kept, 101, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status too_many = CreateEnsemble(server, kept, 3, &out);
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(too_many.error_message(), HasSubstr("2 COMPLETED trial(s), fewer than k = 3"));

  const int64_t unkept = CreateStudy(server, TorchSpec(2, /*keep_checkpoints=*/false));
  RunTrials(worker, /*expect_save=*/false);
  grpc::Status missing = CreateEnsemble(server, unkept, 2, &out);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(missing.error_message(), HasSubstr("have no checkpoint"));
  EXPECT_THAT(missing.error_message(), HasSubstr("keep_checkpoints: true"));

  const int64_t synthetic = CreateStudy(server, TorchSpec(1, true, "synthetic"));
  RunTrials(worker, /*expect_save=*/true);
  grpc::Status no_models = CreateEnsemble(server, synthetic, 1, &out);
  EXPECT_EQ(no_models.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(no_models.error_message(), HasSubstr("trainer.kind torch"));
}

TEST(Ensemble, KeepCheckpointsMustBeABoolean) {
  TestServer server;
  std::string spec = TorchSpec(1, true);
  spec.replace(spec.find("keep_checkpoints: true"), 22, "keep_checkpoints: sometimes");
  v1::CreateStudyRequest request;
  request.set_spec_yaml(spec);
  v1::CreateStudyResponse response;
  grpc::ClientContext context;
  grpc::Status status = server.studies().CreateStudy(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("keep_checkpoints: must be true or false"));
}

TEST(Ensemble, ExpiredJobIsLeasedAgainAndTheLateResultRefused) {
  server::ServerOptions options;
  options.lease_seconds = 0.5;
  options.tick_seconds = 0.05;
  TestServer server(options);
  const int64_t study = CreateStudy(server, TorchSpec(2, /*keep_checkpoints=*/true));
  RawWorker trainer(&server.workers(), "trainer");
  RunTrials(trainer, /*expect_save=*/true);
  v1::Ensemble created;
  ASSERT_TRUE(CreateEnsemble(server, study, 2, &created).ok());

  RawWorker silent(&server.workers(), "silent");
  RawWorker healthy(&server.workers(), "healthy");
  v1::AcquireTrialResponse first;
  ASSERT_TRUE(AcquireJob(server, silent, &first).ok());
  ASSERT_TRUE(first.has_ensemble_job());
  v1::AcquireTrialResponse second;
  ASSERT_TRUE(AcquireJob(server, healthy, &second, /*wait_seconds=*/5).ok());
  ASSERT_TRUE(second.has_ensemble_job());
  EXPECT_EQ(second.ensemble_job().lease().ensemble_id(), created.ensemble_id());
  EXPECT_EQ(second.ensemble_job().lease().attempt(), 2);

  v1::Ensemble out;
  EXPECT_EQ(CompleteEnsemble(server, first.ensemble_job().lease(), 0.9, {0.8, 0.7}, &out)
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(CompleteEnsemble(server, second.ensemble_job().lease(), 0.6, {0.5, 0.4}, &out).ok());
  EXPECT_DOUBLE_EQ(out.test_accuracy(), 0.6);
  EXPECT_EQ(out.attempt(), 2);

  // A non-retryable failure of a new ensemble fails it at once with its reason.
  ASSERT_TRUE(CreateEnsemble(server, study, 1, &created).ok());
  v1::AcquireTrialResponse third;
  ASSERT_TRUE(AcquireJob(server, healthy, &third).ok());
  ASSERT_TRUE(third.has_ensemble_job());
  v1::FailEnsembleRequest fail;
  *fail.mutable_lease() = third.ensemble_job().lease();
  fail.set_reason("dataset missing");
  grpc::ClientContext context;
  ASSERT_TRUE(server.workers().FailEnsemble(&context, fail, &out).ok());
  EXPECT_EQ(out.state(), v1::ENSEMBLE_FAILED);
  EXPECT_EQ(out.fail_reason(), "dataset missing");
}

// Issue 13 row 1, for ensemble jobs: another worker that names the job's (ensemble_id,
// attempt) without its holder's token is refused on Heartbeat, CompleteEnsemble and
// FailEnsemble, and the job is untouched.
TEST(Ensemble, AJobLeaseIsRefusedWithoutItsHoldersToken) {
  TestServer server;
  const int64_t study = CreateStudy(server, TorchSpec(2, /*keep_checkpoints=*/true));
  RawWorker trainer(&server.workers(), "trainer");
  RunTrials(trainer, /*expect_save=*/true);
  v1::Ensemble created;
  ASSERT_TRUE(CreateEnsemble(server, study, 2, &created).ok());
  RawWorker holder(&server.workers(), "holder");
  RawWorker thief(&server.workers(), "thief");
  v1::AcquireTrialResponse leased;
  ASSERT_TRUE(AcquireJob(server, holder, &leased).ok());
  ASSERT_TRUE(leased.has_ensemble_job());
  const v1::Lease& lease = leased.ensemble_job().lease();
  EXPECT_EQ(lease.worker_id(), holder.id());
  EXPECT_EQ(lease.token().size(), 32u);

  v1::Lease bare;
  bare.set_ensemble_id(lease.ensemble_id());
  bare.set_attempt(lease.attempt());
  v1::Lease wrong_token = lease;
  wrong_token.set_token(std::string(32, '0'));
  for (const auto& [forged, why] :
       {std::pair<v1::Lease, const char*>{bare, "lease held by another worker"},
        std::pair<v1::Lease, const char*>{wrong_token, "lease token does not match"}}) {
    v1::HeartbeatResponse beat;
    grpc::Status s = thief.Heartbeat(forged, &beat);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(), HasSubstr(why));
    v1::Ensemble out;
    s = CompleteEnsemble(server, forged, 0.99, {0.9, 0.9}, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(), HasSubstr(why));
    v1::FailEnsembleRequest fail;
    *fail.mutable_lease() = forged;
    fail.set_reason("forged");
    grpc::ClientContext context;
    s = server.workers().FailEnsemble(&context, fail, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(), HasSubstr(why));
  }
  v1::ListEnsemblesRequest list;
  list.set_study_id(study);
  v1::ListEnsemblesResponse listed;
  grpc::ClientContext context;
  ASSERT_TRUE(server.studies().ListEnsembles(&context, list, &listed).ok());
  ASSERT_EQ(listed.ensembles_size(), 1);
  EXPECT_EQ(listed.ensembles(0).state(), v1::ENSEMBLE_RUNNING);
  EXPECT_EQ(listed.ensembles(0).fail_reason(), "");

  v1::Ensemble out;
  ASSERT_TRUE(CompleteEnsemble(server, lease, 0.8, {0.7, 0.6}, &out).ok());
  EXPECT_EQ(out.state(), v1::ENSEMBLE_COMPLETED);
}

}  // namespace
}  // namespace tuner::testing
