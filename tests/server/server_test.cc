// The tuner-server's behaviour through its gRPC API: a real server on 127.0.0.1 (OS-chosen
// port, temp db) driven by bare RPCs.
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/raw_worker.h"
#include "tests/server/specs.h"
#include "tests/server/study_rpc.h"
#include "tests/testing/test_server.h"

namespace tuner::testing {
namespace {

using ::testing::HasSubstr;

// A deterministic objective of the params, so tests know which trial should win.
double Objective(const v1::AcquireTrialResponse& trial, int epoch) {
  double units = static_cast<double>(trial.params().at("units").int_value());
  auto it = trial.params().find("learning_rate");
  double lr = it == trial.params().end() ? 1e-3 : it->second.float_value();
  return 0.5 + units / 2048.0 - 0.02 * std::abs(std::log10(lr) + 3) + 0.001 * epoch;
}

// Runs every available trial to its budget with one worker; returns trials run.
int RunAll(RawWorker& worker, bool report_every_epoch = true) {
  int runs = 0;
  for (;;) {
    v1::AcquireTrialResponse trial;
    grpc::Status status = worker.Acquire(&trial);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok() || !trial.has_trial()) return runs;
    int first = report_every_epoch ? trial.start_epoch() + 1 : trial.budget_epochs();
    for (int epoch = first; epoch <= trial.budget_epochs(); ++epoch) {
      EXPECT_TRUE(worker.Report(trial.lease(), epoch, Objective(trial, epoch)).ok());
    }
    std::string checkpoint_id;
    if (trial.save_checkpoint()) {
      v1::UploadCheckpointResponse uploaded;
      EXPECT_TRUE(worker.Upload(trial.lease(), trial.budget_epochs(), "weights", &uploaded).ok());
      checkpoint_id = uploaded.checkpoint_id();
    }
    EXPECT_TRUE(worker.Complete(trial.lease(), Objective(trial, trial.budget_epochs()),
                                trial.budget_epochs(), checkpoint_id)
                    .ok());
    ++runs;
  }
}

TEST(Server, BadSpecIsRefusedWithTheFieldAndNothingIsCreated) {
  TestServer server;
  v1::CreateStudyRequest request;
  request.set_spec_yaml(
      "name: bad\nalgorithm: {kind: random, max_trials: 3}\n"
      "search_space:\n  dropout: {type: float, min: 0.2, max: 0.5, step: -0.1}\n"
      "trainer: {kind: synthetic}\n");
  v1::CreateStudyResponse response;
  grpc::ClientContext context;
  grpc::Status status = server.studies().CreateStudy(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("search_space.dropout.step"), std::string::npos)
      << status.error_message();
  v1::ListStudiesResponse studies;
  grpc::ClientContext list_context;
  ASSERT_TRUE(server.studies().ListStudies(&list_context, {}, &studies).ok());
  EXPECT_EQ(studies.studies_size(), 0);
}

TEST(Server, RandomStudyRunsToCompletionAndBestIsTheMaximum) {
  TestServer server;
  int64_t id = CreateStudy(server, RandomSpec(12, 3));
  RawWorker worker(&server.workers(), "w1");
  ASSERT_TRUE(worker.register_status().ok());
  EXPECT_EQ(RunAll(worker), 12);
  v1::Study study = GetStudy(server, id);
  EXPECT_EQ(study.state(), v1::STUDY_COMPLETED);
  EXPECT_EQ(study.trial_counts().at("COMPLETED"), 12);
  std::vector<v1::Trial> trials = ListTrials(server, id, /*with_values=*/true);
  ASSERT_EQ(trials.size(), 12u);
  double best = -1;
  for (const v1::Trial& trial : trials) {
    EXPECT_EQ(trial.intermediate_values_size(), 3);
    best = std::max(best, trial.value());
  }
  v1::GetBestTrialsRequest request;
  request.set_study_id(id);
  request.set_k(3);
  v1::GetBestTrialsResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(server.studies().GetBestTrials(&context, request, &response).ok());
  ASSERT_EQ(response.trials_size(), 3);
  EXPECT_DOUBLE_EQ(response.trials(0).value(), best);
  EXPECT_GE(response.trials(0).value(), response.trials(1).value());
  EXPECT_GE(response.trials(1).value(), response.trials(2).value());
}

TEST(Server, GridStudyRunsExactlyTheProductOfItsValues) {
  TestServer server;
  int64_t id = CreateStudy(server, GridSpec());
  RawWorker worker(&server.workers(), "w1");
  EXPECT_EQ(RunAll(worker), 3 * 4 * 2);
  std::set<std::string> seen;
  for (const v1::Trial& trial : ListTrials(server, id)) {
    seen.insert(std::to_string(trial.params().at("units").int_value()) + "/" +
                std::to_string(trial.params().at("dropout").float_value()) + "/" +
                trial.params().at("optimizer").string_value());
  }
  EXPECT_EQ(seen.size(), 24u);
  EXPECT_EQ(GetStudy(server, id).state(), v1::STUDY_COMPLETED);
}

TEST(Server, HyperbandRuns143TrialsWithThePapersFinalEpochs) {
  TestServer server;
  int64_t id = CreateStudy(server, HyperbandSpec(81, 3));
  RawWorker worker(&server.workers(), "w1");
  // Promoted trials resume: each lease after the first starts where the last rung ended.
  int resumed = 0;
  for (;;) {
    v1::AcquireTrialResponse trial;
    ASSERT_TRUE(worker.Acquire(&trial).ok());
    if (!trial.has_trial()) break;
    if (trial.start_epoch() > 0) {
      ++resumed;
      EXPECT_FALSE(trial.resume_checkpoint_id().empty());
      std::string data, sha;
      ASSERT_TRUE(worker.Download(trial.lease(), trial.resume_checkpoint_id(), &data, &sha).ok());
      EXPECT_EQ(data, "epoch " + std::to_string(trial.start_epoch()));
      EXPECT_EQ(sha, Sha256Hex(data));
    }
    std::string checkpoint_id;
    if (trial.save_checkpoint()) {
      v1::UploadCheckpointResponse uploaded;
      ASSERT_TRUE(worker.Upload(trial.lease(), trial.budget_epochs(),
                                "epoch " + std::to_string(trial.budget_epochs()), &uploaded)
                      .ok());
      checkpoint_id = uploaded.checkpoint_id();
    }
    ASSERT_TRUE(worker.Report(trial.lease(), trial.budget_epochs(),
                              Objective(trial, trial.budget_epochs())).ok());
    ASSERT_TRUE(worker.Complete(trial.lease(), Objective(trial, trial.budget_epochs()),
                                trial.budget_epochs(), checkpoint_id).ok());
  }
  v1::Study study = GetStudy(server, id);
  EXPECT_EQ(study.state(), v1::STUDY_COMPLETED);
  std::vector<v1::Trial> trials = ListTrials(server, id);
  ASSERT_EQ(trials.size(), 143u);
  // Promotions = trials that reached a second rung or more: 27+9+3+1 + 11+3+1 + 5+1 + 2.
  EXPECT_EQ(resumed, 40 + 15 + 6 + 2);
  std::map<int, std::map<int, int>> final_epochs;  // bracket -> epochs -> trials
  for (const v1::Trial& trial : trials) final_epochs[trial.bracket()][trial.budget_epochs()]++;
  EXPECT_EQ(final_epochs[0], (std::map<int, int>{{1, 54}, {3, 18}, {9, 6}, {27, 2}, {81, 1}}));
  EXPECT_EQ(final_epochs[1], (std::map<int, int>{{3, 23}, {9, 8}, {27, 2}, {81, 1}}));
  EXPECT_EQ(final_epochs[2], (std::map<int, int>{{9, 10}, {27, 4}, {81, 1}}));
  EXPECT_EQ(final_epochs[3], (std::map<int, int>{{27, 6}, {81, 2}}));
  EXPECT_EQ(final_epochs[4], (std::map<int, int>{{81, 5}}));
  // Every trial that stopped before R was pruned; the rest completed.
  for (const v1::Trial& trial : trials) {
    EXPECT_EQ(trial.state(), trial.budget_epochs() == 81 ? v1::COMPLETED : v1::PRUNED)
        << trial.trial_id();
  }
}

TEST(Server, ExpiredLeaseIsRequeuedAndItsLateCompletionRefused) {
  server::ServerOptions options;
  options.lease_seconds = 0.5;
  options.tick_seconds = 0.05;
  TestServer server(options);
  int64_t id = CreateStudy(server, RandomSpec(1, 2));
  RawWorker silent(&server.workers(), "silent");
  RawWorker healthy(&server.workers(), "healthy");
  v1::AcquireTrialResponse first;
  ASSERT_TRUE(silent.Acquire(&first).ok());
  ASSERT_TRUE(first.has_trial());
  // The silent worker never heartbeats; its lease lapses and the trial goes back to the queue.
  v1::AcquireTrialResponse second;
  ASSERT_TRUE(healthy.Acquire(&second, /*wait_seconds=*/5).ok());
  ASSERT_TRUE(second.has_trial());
  EXPECT_EQ(second.lease().trial_id(), first.lease().trial_id());
  EXPECT_EQ(second.lease().attempt(), first.lease().attempt() + 1);
  grpc::Status late = silent.Complete(first.lease(), 0.99, 2);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << late.error_message();
  ASSERT_TRUE(healthy.Complete(second.lease(), 0.5, 2).ok());
  std::vector<v1::Trial> trials = ListTrials(server, id);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::COMPLETED);
  EXPECT_DOUBLE_EQ(trials[0].value(), 0.5);  // the late 0.99 was not counted
  EXPECT_EQ(trials[0].attempt(), 2);
}

TEST(Server, HeartbeatsKeepTheLease) {
  server::ServerOptions options;
  options.lease_seconds = 0.6;
  options.tick_seconds = 0.05;
  TestServer server(options);
  CreateStudy(server, RandomSpec(1, 2));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    v1::HeartbeatResponse beat;
    ASSERT_TRUE(worker.Heartbeat(trial.lease(), &beat).ok());
    EXPECT_FALSE(beat.stop());
  }
  EXPECT_TRUE(worker.Complete(trial.lease(), 0.7, 2).ok());
}

TEST(Server, RetryableFailureRequeuesUntilMaxAttempts) {
  TestServer server;
  int64_t id = CreateStudy(server, RandomSpec(1, 1, 0, /*max_attempts=*/2));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  v1::FailTrialResponse failed;
  ASSERT_TRUE(worker.Fail(trial.lease(), "CUDA out of memory", true, &failed).ok());
  EXPECT_EQ(failed.state(), v1::PENDING);
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  ASSERT_TRUE(trial.has_trial());
  ASSERT_TRUE(worker.Fail(trial.lease(), "CUDA out of memory", true, &failed).ok());
  EXPECT_EQ(failed.state(), v1::FAILED);
  std::vector<v1::Trial> trials = ListTrials(server, id);
  EXPECT_EQ(trials[0].fail_reason(), "CUDA out of memory");
  EXPECT_EQ(GetStudy(server, id).state(), v1::STUDY_COMPLETED);
}

TEST(Server, NonRetryableFailureFailsAtOnceWithItsReason) {
  TestServer server;
  int64_t id = CreateStudy(server, RandomSpec(2, 1));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  v1::FailTrialResponse failed;
  ASSERT_TRUE(worker.Fail(trial.lease(), "weights file x.pth: not a zip", false, &failed).ok());
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(RunAll(worker), 1);
  auto trials = ListTrials(server, id);
  EXPECT_EQ(trials[0].state(), v1::FAILED);
  EXPECT_EQ(trials[0].fail_reason(), "weights file x.pth: not a zip");
  EXPECT_EQ(trials[1].state(), v1::COMPLETED);
}

TEST(Server, RestartKeepsEveryTrialAndTheStudyFinishes) {
  TestServer server;
  int64_t id = CreateStudy(server, RandomSpec(6, 2));
  std::map<int64_t, double> before;
  {
    RawWorker worker(&server.workers(), "w");
    for (int i = 0; i < 3; ++i) {
      v1::AcquireTrialResponse trial;
      ASSERT_TRUE(worker.Acquire(&trial).ok());
      ASSERT_TRUE(worker.Report(trial.lease(), 1, 0.1 * i).ok());
      ASSERT_TRUE(worker.Complete(trial.lease(), 0.1 * (i + 1), 2).ok());
      before[trial.lease().trial_id()] = 0.1 * (i + 1);
    }
  }
  // One trial is in flight when the server goes down; its worker keeps it across the restart.
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse in_flight;
  ASSERT_TRUE(worker.Acquire(&in_flight).ok());
  server.Restart();
  RawWorker again(&server.workers(), "w");
  EXPECT_EQ(again.id(), worker.id());  // same name, same worker
  ASSERT_TRUE(again.Complete(in_flight.lease(), 0.42, 2).ok());
  EXPECT_EQ(RunAll(again), 2);
  auto trials = ListTrials(server, id, true);
  ASSERT_EQ(trials.size(), 6u);
  for (const v1::Trial& trial : trials) {
    EXPECT_EQ(trial.state(), v1::COMPLETED);
    if (before.count(trial.trial_id())) {
      EXPECT_DOUBLE_EQ(trial.value(), before[trial.trial_id()]);
      EXPECT_EQ(trial.intermediate_values_size(), 1);
    }
  }
  EXPECT_EQ(GetStudy(server, id).state(), v1::STUDY_COMPLETED);
}

TEST(Server, MaxParallelCapsRunningTrials) {
  TestServer server;
  CreateStudy(server, RandomSpec(10, 1, /*max_parallel=*/2));
  RawWorker a(&server.workers(), "a"), b(&server.workers(), "b"), c(&server.workers(), "c");
  v1::AcquireTrialResponse ta, tb, tc;
  ASSERT_TRUE(a.Acquire(&ta).ok());
  ASSERT_TRUE(b.Acquire(&tb).ok());
  ASSERT_TRUE(c.Acquire(&tc).ok());
  EXPECT_TRUE(ta.has_trial());
  EXPECT_TRUE(tb.has_trial());
  EXPECT_FALSE(tc.has_trial());
  ASSERT_TRUE(a.Complete(ta.lease(), 0.5, 1).ok());
  ASSERT_TRUE(c.Acquire(&tc).ok());
  EXPECT_TRUE(tc.has_trial());
}

TEST(Server, LongPollIsAnsweredWhenAStudyArrives) {
  TestServer server;
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  std::thread creator([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CreateStudy(server, RandomSpec(1, 1));
  });
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(worker.Acquire(&trial, /*wait_seconds=*/10).ok());
  creator.join();
  EXPECT_TRUE(trial.has_trial());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
}

TEST(Server, StopStudyTellsRunningWorkersToStop) {
  TestServer server;
  int64_t id = CreateStudy(server, RandomSpec(5, 3));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  v1::StopStudyRequest request;
  request.set_study_id(id);
  v1::Study stopped;
  grpc::ClientContext context;
  ASSERT_TRUE(server.studies().StopStudy(&context, request, &stopped).ok());
  EXPECT_EQ(stopped.state(), v1::STUDY_STOPPED);
  v1::HeartbeatResponse beat;
  ASSERT_TRUE(worker.Heartbeat(trial.lease(), &beat).ok());
  EXPECT_TRUE(beat.stop());
  v1::ReportIntermediateResponse report;
  ASSERT_TRUE(worker.Report(trial.lease(), 1, 0.3, &report).ok());
  EXPECT_TRUE(report.stop());
  v1::AcquireTrialResponse none;
  ASSERT_TRUE(worker.Acquire(&none).ok());
  EXPECT_FALSE(none.has_trial());
}

TEST(Server, WorkerNamesHostsAndDevicesAreChecked) {
  TestServer server;
  const auto register_worker = [&](const std::string& name, const std::string& host,
                                   std::vector<std::string> devices, std::string* message) {
    v1::RegisterWorkerRequest request;
    request.set_name(name);
    request.set_host(host);
    for (const std::string& device : devices) request.add_devices(device);
    v1::RegisterWorkerResponse response;
    grpc::ClientContext context;
    grpc::Status status = server.workers().RegisterWorker(&context, request, &response);
    if (message != nullptr) *message = status.error_message();
    return status.error_code();
  };
  std::string message;
  EXPECT_EQ(register_worker("node-1:4242", "node-1", {"cuda:0", "cuda:1"}, nullptr),
            grpc::StatusCode::OK);
  EXPECT_EQ(register_worker("bad name", "h", {}, &message), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(message, HasSubstr("name:"));
  EXPECT_EQ(register_worker("x\x1b[2J", "h", {}, nullptr), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(register_worker(std::string(257, 'a'), "h", {}, nullptr),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(register_worker("w", "host\nnext", {}, &message), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(message, HasSubstr("host:"));
  EXPECT_EQ(register_worker("w", "h", {"cuda 0"}, &message), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(message, HasSubstr("devices:"));
  EXPECT_EQ(register_worker("w", "h", {""}, nullptr), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(Server, MalformedRequestsGetInvalidArgumentOrNotFound) {
  TestServer server;
  int64_t id = CreateStudy(server, RandomSpec(2, 2));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());

  EXPECT_EQ(worker.Report(trial.lease(), 0, 0.5).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(worker.Report(trial.lease(), 3, 0.5).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(worker.Report(trial.lease(), 1, std::nan("")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(worker.Report(trial.lease(), 1, 0.5, nullptr, /*execution=*/5).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(worker.Complete(trial.lease(), INFINITY, 2).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(worker.Complete(trial.lease(), 0.5, 2, "no-such-checkpoint").error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(worker.Fail(trial.lease(), "", true).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::Lease bogus = trial.lease();
  bogus.set_trial_id(999999);
  EXPECT_EQ(worker.Complete(bogus, 0.5, 2).error_code(), grpc::StatusCode::NOT_FOUND);
  bogus = trial.lease();
  bogus.set_attempt(0);
  EXPECT_EQ(worker.Complete(bogus, 0.5, 2).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  bogus.set_attempt(7);
  EXPECT_EQ(worker.Complete(bogus, 0.5, 2).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  v1::AcquireTrialRequest acquire;
  acquire.set_worker_id(4242);
  v1::AcquireTrialResponse ignored;
  grpc::ClientContext c1;
  EXPECT_EQ(server.workers().AcquireTrial(&c1, acquire, &ignored).error_code(),
            grpc::StatusCode::NOT_FOUND);
  acquire.set_worker_id(worker.id());
  acquire.set_wait_seconds(-1);
  grpc::ClientContext c2;
  EXPECT_EQ(server.workers().AcquireTrial(&c2, acquire, &ignored).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::GetStudyRequest get;
  get.set_study_id(id + 100);
  v1::Study study;
  grpc::ClientContext c3;
  EXPECT_EQ(server.studies().GetStudy(&c3, get, &study).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::GetBestTrialsRequest best;
  best.set_study_id(id);
  best.set_k(-1);
  v1::GetBestTrialsResponse best_response;
  grpc::ClientContext c4;
  EXPECT_EQ(server.studies().GetBestTrials(&c4, best, &best_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::CreateStudyRequest empty;
  v1::CreateStudyResponse created;
  grpc::ClientContext c5;
  EXPECT_EQ(server.studies().CreateStudy(&c5, empty, &created).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  std::string data, sha;
  EXPECT_EQ(worker.Download(trial.lease(), "../../etc/passwd", &data, &sha).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(worker.Download(trial.lease(), std::string(32, 'a'), &data, &sha).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // The trial is still usable after all that.
  EXPECT_TRUE(worker.Complete(trial.lease(), 0.5, 2).ok());
}

TEST(Server, CheckpointUploadNeedsTheLeaseAndRoundTrips) {
  TestServer server;
  CreateStudy(server, RandomSpec(1, 2));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  std::string payload(3 << 20, 'x');
  payload[12345] = 'y';
  v1::UploadCheckpointResponse uploaded;
  ASSERT_TRUE(worker.Upload(trial.lease(), 1, payload, &uploaded).ok());
  EXPECT_EQ(uploaded.size_bytes(), static_cast<int64_t>(payload.size()));
  EXPECT_EQ(uploaded.sha256(), Sha256Hex(payload));
  std::string data, sha;
  ASSERT_TRUE(worker.Download(trial.lease(), uploaded.checkpoint_id(), &data, &sha).ok());
  EXPECT_EQ(data, payload);
  EXPECT_EQ(sha, uploaded.sha256());
  v1::Lease stale = trial.lease();
  stale.set_attempt(stale.attempt() + 1);
  v1::UploadCheckpointResponse refused;
  EXPECT_EQ(worker.Upload(stale, 1, "x", &refused).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// Uploads go through common/atomic_file: the directory holds the committed checkpoint and no
// temp file; an upload refused half-way (over the size limit) leaves nothing.
TEST(Server, CheckpointUploadsLeaveOnlyCommittedFiles) {
  server::ServerOptions options;
  options.max_checkpoint_bytes = 1 << 20;
  TestServer server(options);
  CreateStudy(server, RandomSpec(1, 2));
  RawWorker worker(&server.workers(), "w");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  v1::UploadCheckpointResponse uploaded;
  ASSERT_TRUE(worker.Upload(trial.lease(), 1, std::string(1000, 'c'), &uploaded).ok());
  v1::UploadCheckpointResponse refused;
  EXPECT_EQ(worker.Upload(trial.lease(), 2, std::string(3 << 20, 'd'), &refused).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  std::vector<std::string> files;
  const std::string dir = server.db_path() + ".checkpoints";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(files, std::vector<std::string>{uploaded.checkpoint_id() + ".ckpt"});
}

TEST(Server, WatchStreamsUntilTheStudyFinishes) {
  server::ServerOptions options;
  options.watch_interval_seconds = 0.05;
  TestServer server(options);
  int64_t id = CreateStudy(server, RandomSpec(3, 1));
  std::thread runner([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    RawWorker worker(&server.workers(), "w");
    RunAll(worker);
  });
  v1::WatchStudyRequest request;
  request.set_study_id(id);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto reader = server.studies().WatchStudy(&context, request);
  v1::StudyEvent event;
  std::vector<v1::StudyEvent::Kind> kinds;
  int trial_updates = 0;
  while (reader->Read(&event)) {
    kinds.push_back(event.kind());
    if (event.kind() == v1::StudyEvent::TRIAL_UPDATED) ++trial_updates;
  }
  runner.join();
  EXPECT_TRUE(reader->Finish().ok());
  ASSERT_FALSE(kinds.empty());
  EXPECT_EQ(kinds.front(), v1::StudyEvent::SNAPSHOT);
  EXPECT_EQ(kinds.back(), v1::StudyEvent::STUDY_FINISHED);
  EXPECT_GE(trial_updates, 3);
  EXPECT_EQ(event.study().trial_counts().at("COMPLETED"), 3);
}

// A watcher that stops reading costs one pending batch, not a snapshot per change: 20 trials
// finish one by one (a change in each poll interval) on a study with a 900 KB spec while the
// client reads nothing; afterwards it gets every trial's final state, few snapshots and the
// finish. Snapshots carry spec_yaml only when asked.
TEST(Server, AWatcherThatStopsReadingGetsCoalescedEvents) {
  server::ServerOptions options;
  options.watch_interval_seconds = 0.02;
  TestServer server(options);
  const int64_t id =
      CreateStudy(server, RandomSpec(20, 1) + "# " + std::string(900 * 1000, 'x') + "\n");
  v1::WatchStudyRequest request;
  request.set_study_id(id);
  request.set_with_spec_yaml(true);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto reader = server.studies().WatchStudy(&context, request);
  {
    RawWorker worker(&server.workers(), "w");
    for (int i = 0; i < 20; ++i) {
      v1::AcquireTrialResponse trial;
      ASSERT_TRUE(worker.Acquire(&trial).ok());
      ASSERT_TRUE(trial.has_trial());
      ASSERT_TRUE(worker.Complete(trial.lease(), 0.5, 1).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(60));
    }
  }
  v1::StudyEvent event;
  int snapshots = 0;
  std::set<int64_t> completed;
  while (reader->Read(&event)) {
    if (event.kind() == v1::StudyEvent::TRIAL_UPDATED && event.trial().state() == v1::COMPLETED) {
      completed.insert(event.trial().trial_id());
    }
    if (event.kind() != v1::StudyEvent::TRIAL_UPDATED) {
      ++snapshots;
      EXPECT_GT(event.study().spec_yaml().size(), 900000u);
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(event.kind(), v1::StudyEvent::STUDY_FINISHED);
  // The first snapshot holds the trials that existed then; every other trial's end arrives.
  EXPECT_GE(completed.size(), 19u);
  // Without coalescing: one 900 KB snapshot per interval that saw a change (about 20).
  EXPECT_LE(snapshots, 8);

  v1::WatchStudyRequest lean;
  lean.set_study_id(id);
  grpc::ClientContext lean_context;
  auto lean_reader = server.studies().WatchStudy(&lean_context, lean);
  ASSERT_TRUE(lean_reader->Read(&event));
  EXPECT_TRUE(event.study().spec_yaml().empty());
  EXPECT_EQ(event.study().name(), GetStudy(server, id).name());
  lean_context.TryCancel();
  while (lean_reader->Read(&event)) {
  }
  lean_reader->Finish();
}

TEST(Server, WatchOfAnUnknownStudyIsNotFound) {
  TestServer server;
  v1::WatchStudyRequest request;
  request.set_study_id(77);
  grpc::ClientContext context;
  auto reader = server.studies().WatchStudy(&context, request);
  v1::StudyEvent event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(Server, FinishedTrialsKeepTheNameOfTheWorkerThatFinishedThem) {
  TestServer server;
  int64_t id = CreateStudy(server, RandomSpec(1, 2));
  RawWorker worker(&server.workers(), "node-7:gpu0");
  v1::AcquireTrialResponse trial;
  ASSERT_TRUE(worker.Acquire(&trial).ok());
  ASSERT_TRUE(trial.has_trial());
  ASSERT_TRUE(worker.Complete(trial.lease(), 0.5, 2).ok());
  std::vector<v1::Trial> trials = ListTrials(server, id);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state(), v1::COMPLETED);
  EXPECT_EQ(trials[0].worker_name(), "node-7:gpu0");
}

}  // namespace
}  // namespace tuner::testing
