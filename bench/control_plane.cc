// Control-plane benchmark: N simulated workers (gRPC clients, one connection each) run
// acquire -> report per epoch -> complete against a real tuner-server on a temp SQLite file
// (durable: synchronous=FULL, group commit). Prints trials/s and AcquireTrial latency.
//
//   bench_control_plane WORKERS TRIALS EPOCHS
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/tuner.grpc.pb.h"
#include "spdlog/spdlog.h"
#include "tuner-server/tuner_server.h"

namespace {

namespace v1 = ::tuner::v1;
using Clock = std::chrono::steady_clock;

std::string Spec(int trials, int epochs) {
  return "name: bench\n"
         "algorithm: {kind: random, max_trials: " + std::to_string(trials) + "}\n"
         "seed: 1\n"
         "search_space:\n"
         "  units: {type: choice, values: [128, 256, 512]}\n"
         "  dropout: {type: float, min: 0.2, max: 0.5, step: 0.1}\n"
         "  optimizer: {type: choice, values: [adam, rmsprop]}\n"
         "  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}\n"
         "trainer: {kind: synthetic, epochs: " + std::to_string(epochs) + "}\n";
}

struct WorkerStats {
  int trials = 0;
  std::vector<double> acquire_us;
  int errors = 0;
};

void RunWorker(const std::string& address, int index, int epochs, WorkerStats* stats) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per simulated worker
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  auto stub = v1::WorkerService::NewStub(channel);
  v1::RegisterWorkerRequest reg;
  reg.set_name("bench-" + std::to_string(index));
  reg.set_host("localhost");
  v1::RegisterWorkerResponse registered;
  {
    grpc::ClientContext context;
    if (!stub->RegisterWorker(&context, reg, &registered).ok()) {
      stats->errors++;
      return;
    }
  }
  for (;;) {
    v1::AcquireTrialRequest acquire;
    acquire.set_worker_id(registered.worker_id());
    v1::AcquireTrialResponse trial;
    grpc::ClientContext context;
    auto start = Clock::now();
    grpc::Status status = stub->AcquireTrial(&context, acquire, &trial);
    stats->acquire_us.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    if (!status.ok()) {
      stats->errors++;
      return;
    }
    if (!trial.has_trial()) return;
    for (int epoch = 1; epoch <= trial.budget_epochs(); ++epoch) {
      v1::ReportIntermediateRequest report;
      *report.mutable_lease() = trial.lease();
      report.mutable_intermediate()->set_epoch(epoch);
      report.mutable_intermediate()->set_value(0.5 + 0.001 * epoch);
      v1::ReportIntermediateResponse answer;
      grpc::ClientContext report_context;
      if (!stub->ReportIntermediate(&report_context, report, &answer).ok()) stats->errors++;
    }
    v1::CompleteTrialRequest complete;
    *complete.mutable_lease() = trial.lease();
    complete.set_value(0.5);
    complete.set_epochs_done(trial.budget_epochs());
    v1::CompleteTrialResponse done;
    grpc::ClientContext complete_context;
    if (!stub->CompleteTrial(&complete_context, complete, &done).ok()) stats->errors++;
    stats->trials++;
  }
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  const int workers = argc > 1 ? std::atoi(argv[1]) : 8;
  const int trials = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int epochs = argc > 3 ? std::atoi(argv[3]) : 3;
  if (workers < 1 || trials < 1 || epochs < 1) {
    std::fprintf(stderr, "usage: bench_control_plane WORKERS TRIALS EPOCHS (all >= 1)\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  std::string dir = (std::filesystem::temp_directory_path() / "tuner-bench-XXXXXX").string();
  dir = mkdtemp(dir.data());
  tuner::server::ServerOptions options;
  options.db_path = dir + "/bench.db";
  options.listen = "127.0.0.1:0";
  auto server = tuner::server::TunerServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start tuner-server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  const std::string address = (*server)->address();
  {
    auto stub = v1::StudyService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    v1::CreateStudyRequest request;
    request.set_spec_yaml(Spec(trials, epochs));
    v1::CreateStudyResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub->CreateStudy(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "CreateStudy: %s\n", status.error_message().c_str());
      return 1;
    }
  }
  std::vector<WorkerStats> stats(workers);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back(RunWorker, address, i, epochs, &stats[i]);
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  int done = 0, errors = 0;
  std::vector<double> latencies;
  for (const WorkerStats& s : stats) {
    done += s.trials;
    errors += s.errors;
    latencies.insert(latencies.end(), s.acquire_us.begin(), s.acquire_us.end());
  }
  std::printf(
      "tuner workers=%d trials=%d epochs/trial=%d: %.1f trials/s (%.3f ms/trial), "
      "AcquireTrial p50 %.0f us p99 %.0f us, errors %d\n",
      workers, done, epochs, done / seconds, 1000.0 * seconds / std::max(done, 1),
      Percentile(latencies, 0.5), Percentile(latencies, 0.99), errors);
  (*server)->Shutdown();
  server->reset();
  std::filesystem::remove_all(dir);
  return done == trials && errors == 0 ? 0 : 1;
}
