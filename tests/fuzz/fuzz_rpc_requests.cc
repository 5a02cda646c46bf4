// fuzz_rpc_requests: request validation and the state machine of every RPC. The first byte
// picks the RPC (low 5 bits, modulo the count) and whether the lease clock then jumps past
// every deadline (bit 7: Tick() after the call); the rest is parsed as that RPC's request proto
// (inputs that do not parse are skipped). Each input gets a fresh Scheduler over in-memory
// SQLite holding one study (fixed spec), one registered worker (id 1) and one leased trial
// (trial id 1, attempt 1, token kFuzzToken: the fixture draws no random tokens), so seeds can
// name a live lease.
//
// Checked: no crash or UB (ASan/UBSan), and every Done callback runs exactly once — parked
// long-polls are answered by Shutdown().
//
// Built as a libFuzzer target (tests/fuzz/CMakeLists.txt, clang) and as a plain regression
// runner with regression_main.cc (tests/fuzz/ctest.cmake, any compiler).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "proto/tuner.pb.h"
#include "spdlog/spdlog.h"
#include "storage/database.h"
#include "storage/group_committer.h"
#include "tuner-server/checkpoint_store.h"
#include "tuner-server/scheduler.h"

namespace {

namespace v1 = ::tuner::v1;
using tuner::server::Scheduler;

constexpr char kSpec[] = R"(name: fuzz
algorithm: {kind: random, max_trials: 4}
seed: 5
executions_per_trial: 2
max_attempts: 2
search_space:
  units: {type: choice, values: [128, 256]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
  layers: {type: int, min: 1, max: 4}
trainer: {kind: synthetic, epochs: 3}
)";

// Every lease's token (make_rpc_seeds.py's FUZZ_TOKEN), so inputs are reproducible.
constexpr char kFuzzToken[] = "0123456789abcdef0123456789abcdef";

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fuzz_rpc_requests: %s\n", what);
  std::abort();
}

// Counts Done calls; a second call on the same callback is a bug.
class DoneTracker {
 public:
  Scheduler::Done Make() {
    ++issued_;
    auto called = std::make_shared<std::atomic<int>>(0);
    calls_.push_back(called);
    return [this, called](const absl::Status& status) {
      if (called->fetch_add(1) != 0) Die("a Done callback ran twice");
      last_ = status;
    };
  }
  void ExpectAllOnce() const {
    for (const auto& called : calls_) {
      if (called->load() != 1) Die("a Done callback did not run exactly once");
    }
  }
  absl::Status last_;

 private:
  int issued_ = 0;
  std::vector<std::shared_ptr<std::atomic<int>>> calls_;
};

struct Fixture {
  double now = 1.0e9;
  std::unique_ptr<tuner::storage::GroupCommitter> committer;
  std::unique_ptr<tuner::storage::Database> reader;
  std::unique_ptr<Scheduler> scheduler;
  DoneTracker tracker;
  // Outputs must outlive a parked AcquireTrial until Shutdown().
  v1::CreateStudyResponse created;
  v1::RegisterWorkerResponse registered;
  v1::AcquireTrialResponse leased;
};

void Flush(Fixture& f) {
  if (!f.committer->Flush().ok()) Die("commit failed");
}

std::unique_ptr<Fixture> MakeFixture() {
  auto f = std::make_unique<Fixture>();
  auto writer = tuner::storage::Database::Open(":memory:");
  auto reader = tuner::storage::Database::Open(":memory:");
  if (!writer.ok() || !reader.ok()) Die("cannot open an in-memory db");
  f->committer = std::make_unique<tuner::storage::GroupCommitter>(std::move(*writer));
  f->reader = std::move(*reader);
  tuner::server::SchedulerOptions options;
  options.lease_seconds = 2;
  options.max_wait_seconds = 5;
  options.max_studies = 4;
  Fixture* raw = f.get();
  options.clock = [raw] { return raw->now; };
  options.lease_token = [] { return std::string(kFuzzToken); };
  f->scheduler = std::make_unique<Scheduler>(options, f->committer.get(), f->reader.get());
  if (!f->scheduler->Load(tuner::storage::Snapshot{}, {}).ok()) Die("Load failed");

  v1::CreateStudyRequest create;
  create.set_spec_yaml(kSpec);
  f->scheduler->CreateStudy(create, &f->created, f->tracker.Make());
  Flush(*f);
  if (!f->tracker.last_.ok() || f->created.study_id() != 1) Die("fixture: CreateStudy failed");
  v1::RegisterWorkerRequest reg;
  reg.set_name("fuzz-worker");
  reg.set_host("localhost");
  f->scheduler->RegisterWorker(reg, &f->registered, f->tracker.Make());
  Flush(*f);
  if (!f->tracker.last_.ok() || f->registered.worker_id() != 1) Die("fixture: Register failed");
  v1::AcquireTrialRequest acquire;
  acquire.set_worker_id(1);
  f->scheduler->AcquireTrial(acquire, &f->leased, f->tracker.Make());
  Flush(*f);
  if (!f->tracker.last_.ok() || !f->leased.has_trial() || f->leased.lease().trial_id() != 1 ||
      f->leased.lease().attempt() != 1 || f->leased.lease().token() != kFuzzToken) {
    Die("fixture: AcquireTrial did not lease trial 1 attempt 1");
  }
  return f;
}

template <typename Request>
bool Parse(const uint8_t* data, size_t size, Request* request) {
  return request->ParseFromArray(data, static_cast<int>(size));
}

// Runs one request; false when the bytes do not parse as the chosen request.
bool RunOne(Fixture& f, int rpc, const uint8_t* data, size_t size) {
  Scheduler& s = *f.scheduler;
  switch (rpc) {
    case 0: {
      v1::CreateStudyRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::CreateStudyResponse response;
      s.CreateStudy(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 1: {
      v1::GetStudyRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::Study study;
      (void)s.GetStudy(request.study_id(), &study);
      return true;
    }
    case 2: {
      v1::ListStudiesRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::ListStudiesResponse response;
      (void)s.ListStudies(request, &response);
      return true;
    }
    case 3: {
      v1::ListTrialsRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::ListTrialsResponse response;
      (void)s.ListTrials(request, &response);
      return true;
    }
    case 4: {
      v1::GetBestTrialsRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::GetBestTrialsResponse response;
      (void)s.GetBestTrials(request, &response);
      return true;
    }
    case 5: {
      v1::StopStudyRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::Study response;
      s.StopStudy(request.study_id(), &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 6: {
      v1::WatchStudyRequest request;
      if (!Parse(data, size, &request)) return false;
      uint64_t version = 0;
      v1::Study study;
      std::vector<v1::Trial> changed;
      bool finished = false;
      (void)s.Poll(request.study_id(), &version, &study, &changed, &finished);
      return true;
    }
    case 7: {
      v1::RegisterWorkerRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::RegisterWorkerResponse response;
      s.RegisterWorker(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 8: {
      v1::AcquireTrialRequest request;
      if (!Parse(data, size, &request)) return false;
      static thread_local v1::AcquireTrialResponse response;  // may stay parked until Shutdown
      response.Clear();
      s.AcquireTrial(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 9: {
      v1::HeartbeatRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::HeartbeatResponse response;
      s.Heartbeat(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 10: {
      v1::ReportIntermediateRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::ReportIntermediateResponse response;
      s.ReportIntermediate(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 11: {
      v1::CompleteTrialRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::CompleteTrialResponse response;
      s.CompleteTrial(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 12: {
      v1::FailTrialRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::FailTrialResponse response;
      s.FailTrial(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 13: {  // UploadCheckpoint's first chunk: the lease check the service makes
      v1::CheckpointChunk request;
      if (!Parse(data, size, &request)) return false;
      (void)s.CheckLease(request.lease());
      return true;
    }
    case 14: {  // DownloadCheckpoint: id pattern (no path escapes) and metadata lookup
      v1::DownloadCheckpointRequest request;
      if (!Parse(data, size, &request)) return false;
      static auto store = tuner::server::CheckpointStore::Open("/tmp/tuner-fuzz-checkpoints", 0);
      if (!store.ok()) Die("cannot open the checkpoint store");
      absl::StatusOr<std::string> path = (*store)->PathFor(request.checkpoint_id());
      if (path.ok() && path->find("..") != std::string::npos) Die("checkpoint path escapes");
      (void)s.FindCheckpoint(request);
      return true;
    }
    case 15: {
      v1::EnqueueTrialRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::EnqueueTrialResponse response;
      s.EnqueueTrial(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 16: {
      v1::CreateEnsembleRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::Ensemble response;
      s.CreateEnsemble(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 17: {
      v1::ListEnsemblesRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::ListEnsemblesResponse response;
      (void)s.ListEnsembles(request, &response);
      return true;
    }
    case 18: {
      v1::CompleteEnsembleRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::Ensemble response;
      s.CompleteEnsemble(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
    case 19: {
      v1::FailEnsembleRequest request;
      if (!Parse(data, size, &request)) return false;
      v1::Ensemble response;
      s.FailEnsemble(request, &response, f.tracker.Make());
      Flush(f);
      return true;
    }
  }
  return false;
}

constexpr int kRpcs = 20;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  google::protobuf::SetLogHandler(nullptr);  // "invalid UTF-8" on every other input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int rpc = (data[0] & 0x1f) % kRpcs;
  const bool expire = (data[0] & 0x80) != 0;
  std::unique_ptr<Fixture> f = MakeFixture();
  const bool parsed = RunOne(*f, rpc, data + 1, size - 1);
  if (parsed && expire) {
    f->now += 100;  // past every lease and long-poll deadline
    f->scheduler->Tick();
    Flush(*f);
  }
  f->scheduler->Shutdown();  // answers parked long-polls
  Flush(*f);
  f->tracker.ExpectAllOnce();
  // Teardown: the committer drains before the scheduler it calls back into goes away.
  f->committer.reset();
  return parsed ? 0 : -1;  // -1: libFuzzer keeps unparseable inputs out of the corpus
}
