#include "tuner-server/worker_service.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/sha256.h"
#include "spdlog/spdlog.h"
#include "tuner-server/unary.h"

namespace tuner::server {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

// Receives a checkpoint: the first chunk names the lease (only a worker holding the trial's
// lease may upload for it) and declares the size, which must fit --max-checkpoint-bytes and
// the disk budget (reserved in the CheckpointStore until the checkpoint is deleted). Data goes
// to a temp file (common/atomic_file) that is fsynced, renamed into place and its directory
// fsynced, then recorded in SQLite (size + sha256) before the upload is acknowledged. An upload
// that is cancelled, breaks, ends before or after its declared size, or is refused leaves
// nothing behind: no row, no file, no reservation.
class UploadReactor : public grpc::ServerReadReactor<v1::CheckpointChunk> {
 public:
  UploadReactor(grpc::CallbackServerContext* context, Scheduler* scheduler,
                CheckpointStore* store, v1::UploadCheckpointResponse* response)
      : context_(context), scheduler_(scheduler), store_(store), response_(response) {
    StartRead(&chunk_);
  }

  // May run beside the other reactions: only a flag here.
  void OnCancel() override { cancelled_ = true; }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Close();
      return;
    }
    if (!started_) {
      absl::Status s = Begin();
      if (!s.ok()) {
        Fail(s);
        return;
      }
    }
    size_ += static_cast<int64_t>(chunk_.data().size());
    if (size_ > declared_) {
      Fail(absl::InvalidArgumentError(absl::StrCat(
          "upload passed the ", declared_, " bytes its first chunk declared (size_bytes)")));
      return;
    }
    hasher_.Update(chunk_.data().data(), chunk_.data().size());
    if (absl::Status s = file_->Append(chunk_.data()); !s.ok()) {
      Fail(s);
      return;
    }
    StartRead(&chunk_);
  }

  void OnDone() override {
    if (reserved_ > 0) store_->Release(reserved_);
    delete this;
  }

 private:
  absl::Status Begin() {
    started_ = true;
    trial_id_ = chunk_.lease().trial_id();  // for the log line of a refusal
    if (auto s = scheduler_->CheckLease(chunk_.lease()); !s.ok()) return s;
    if (chunk_.epoch() < 1) return absl::InvalidArgumentError("epoch: must be >= 1");
    if (chunk_.size_bytes() < 1) {
      return absl::InvalidArgumentError(
          "size_bytes: the first chunk must declare the checkpoint's size (>= 1 bytes)");
    }
    if (chunk_.size_bytes() > store_->max_bytes()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "checkpoint of ", chunk_.size_bytes(), " bytes is larger than the server's limit of ",
          store_->max_bytes(), " bytes (--max-checkpoint-bytes)"));
    }
    lease_ = chunk_.lease();
    epoch_ = chunk_.epoch();
    declared_ = chunk_.size_bytes();
    if (auto s = store_->Reserve(declared_); !s.ok()) return s;
    reserved_ = declared_;
    id_ = store_->NewId();
    absl::StatusOr<std::string> path = store_->PathFor(id_);
    if (!path.ok()) return path.status();
    absl::StatusOr<std::unique_ptr<AtomicFile>> file = AtomicFile::Create(*path);
    if (!file.ok()) return file.status();
    file_ = std::move(*file);
    return absl::OkStatus();
  }

  // The stream ended: a half-close after the whole checkpoint, or a cancel / broken call.
  void Close() {
    if (!started_) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty upload: no chunk sent"));
      return;
    }
    if (Cancelled()) {
      Fail(absl::CancelledError("upload cancelled by the client"));
      return;
    }
    if (size_ != declared_) {
      Fail(absl::InvalidArgumentError(absl::StrCat("upload ended after ", size_, " of the ",
                                                   declared_, " bytes it declared")));
      return;
    }
    // Data and directory entry are on disk before the db row makes the checkpoint visible.
    if (absl::Status s = file_->Commit(); !s.ok()) {
      Fail(s);
      return;
    }
    if (Cancelled()) {  // while the file was synced
      RemoveCommitted(absl::CancelledError("upload cancelled by the client"));
      return;
    }
    storage::CheckpointRow row;
    row.id = id_;
    row.trial_id = trial_id_;
    row.epoch = epoch_;
    row.size_bytes = size_;
    row.sha256 = hasher_.HexDigest();
    row.path = std::filesystem::path(file_->path()).filename().string();
    row.created_at = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    response_->set_checkpoint_id(row.id);
    response_->set_size_bytes(row.size_bytes);
    response_->set_sha256(row.sha256);
    scheduler_->AddCheckpoint(lease_, row, [this](const absl::Status& s) {
      if (!s.ok()) {
        RemoveCommitted(s);
        return;
      }
      reserved_ = 0;  // now the stored checkpoint's, released when it is deleted
      spdlog::info("trial {}: checkpoint {} stored ({} bytes, epoch {})", trial_id_, id_, size_,
                   epoch_);
      Finish(grpc::Status::OK);
    });
  }

  bool Cancelled() const { return cancelled_ || context_->IsCancelled(); }

  void Fail(const absl::Status& status) {
    if (file_ != nullptr) file_->Abandon();
    spdlog::warn("trial {}: checkpoint upload refused: {}", trial_id_, status.ToString());
    Finish(ToGrpc(status));
  }

  // The file was committed but is not recorded: it goes again.
  void RemoveCommitted(const absl::Status& status) {
    std::error_code error;
    std::filesystem::remove(file_->path(), error);
    response_->Clear();
    spdlog::warn("trial {}: checkpoint upload refused: {}", trial_id_, status.ToString());
    Finish(ToGrpc(status));
  }

  grpc::CallbackServerContext* const context_;
  Scheduler* const scheduler_;
  CheckpointStore* const store_;
  v1::UploadCheckpointResponse* const response_;
  std::atomic<bool> cancelled_{false};
  v1::CheckpointChunk chunk_;
  bool started_ = false;
  v1::Lease lease_;
  int64_t trial_id_ = 0;
  int epoch_ = 0;
  int64_t declared_ = 0;
  int64_t reserved_ = 0;  // bytes reserved against the disk budget, given back in OnDone
  std::string id_;
  std::unique_ptr<AtomicFile> file_;  // set by Begin
  int64_t size_ = 0;
  Sha256 hasher_;
};

// One AcquireTrial call. A parked call whose client goes away (cancelled, deadline passed) is
// taken off the waiters at once (OnCancel), so no trial is leased to it; a lease answered to a
// call that then failed (its client was gone when the answer went out) is returned without
// counting an attempt, so a dead client never burns a trial's attempts.
class AcquireReactor : public grpc::ServerUnaryReactor {
 public:
  AcquireReactor(grpc::CallbackServerContext* context, Scheduler* scheduler,
                 const v1::AcquireTrialRequest& request, v1::AcquireTrialResponse* response)
      : context_(context), scheduler_(scheduler), response_(response) {
    // Done runs exactly once unless CancelAcquire takes the waiter first (then OnCancel
    // finishes): the reactor is alive until OnDone, which follows Finish.
    scheduler_->AcquireTrial(request, response,
                             [this](const absl::Status& status) { Finish(ToGrpc(status)); });
  }

  void OnCancel() override {
    if (scheduler_->CancelAcquire(response_)) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "AcquireTrial: the call was cancelled"));
    }
  }

  void OnDone() override {
    // The request and response live until OnDone returns.
    if (context_->IsCancelled()) {
      if (response_->has_trial()) {
        scheduler_->ReturnLease(response_->lease(), nullptr);
      } else if (response_->has_ensemble_job()) {
        scheduler_->ReturnLease(response_->ensemble_job().lease(), nullptr);
      }
    }
    delete this;
  }

 private:
  grpc::CallbackServerContext* const context_;
  Scheduler* const scheduler_;
  v1::AcquireTrialResponse* const response_;
};

// Sends a checkpoint file in 1 MiB chunks; the first carries its id, size and sha256 so the
// worker can verify what it got. Only to a worker whose lease covers it (FindCheckpoint).
class DownloadReactor : public grpc::ServerWriteReactor<v1::CheckpointChunk> {
 public:
  DownloadReactor(Scheduler* scheduler, CheckpointStore* store,
                  const v1::DownloadCheckpointRequest& request) {
    absl::StatusOr<std::string> path = store->PathFor(request.checkpoint_id());
    if (!path.ok()) {
      Finish(ToGrpc(path.status()));
      return;
    }
    absl::StatusOr<storage::CheckpointRow> row = scheduler->FindCheckpoint(request);
    if (!row.ok()) {
      Finish(ToGrpc(row.status()));
      return;
    }
    file_.open(*path, std::ios::binary);
    if (!file_) {
      Finish(grpc::Status(grpc::StatusCode::DATA_LOSS,
                          absl::StrCat("checkpoint ", row->id, " is recorded but its file ", *path,
                                       " is missing")));
      return;
    }
    chunk_.set_checkpoint_id(row->id);
    chunk_.set_size_bytes(row->size_bytes);
    chunk_.set_sha256(row->sha256);
    SendNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "download stream broken"));
      return;
    }
    chunk_.Clear();
    if (done_) {
      Finish(grpc::Status::OK);
      return;
    }
    SendNext();
  }

  void OnDone() override { delete this; }

 private:
  void SendNext() {
    std::string buffer(kChunkBytes, '\0');
    file_.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    buffer.resize(static_cast<size_t>(file_.gcount()));
    done_ = file_.eof() || buffer.empty();
    chunk_.set_data(std::move(buffer));
    StartWrite(&chunk_);
  }

  std::ifstream file_;
  v1::CheckpointChunk chunk_;
  bool done_ = false;
};

}  // namespace

grpc::ServerUnaryReactor* WorkerServiceImpl::RegisterWorker(
    grpc::CallbackServerContext* context, const v1::RegisterWorkerRequest* request,
    v1::RegisterWorkerResponse* response) {
  return Forward(context, *auth_, scheduler_, &Scheduler::RegisterWorker, request, response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::AcquireTrial(grpc::CallbackServerContext* context,
                                                          const v1::AcquireTrialRequest* request,
                                                          v1::AcquireTrialResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return Answer(context, s);
  return new AcquireReactor(context, scheduler_, *request, response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Heartbeat(grpc::CallbackServerContext* context,
                                                       const v1::HeartbeatRequest* request,
                                                       v1::HeartbeatResponse* response) {
  return Forward(context, *auth_, scheduler_, &Scheduler::Heartbeat, request, response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportIntermediate(
    grpc::CallbackServerContext* context, const v1::ReportIntermediateRequest* request,
    v1::ReportIntermediateResponse* response) {
  return Forward(context, *auth_, scheduler_, &Scheduler::ReportIntermediate, request, response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::CompleteTrial(grpc::CallbackServerContext* context,
                                                           const v1::CompleteTrialRequest* request,
                                                           v1::CompleteTrialResponse* response) {
  return Forward(context, *auth_, scheduler_, &Scheduler::CompleteTrial, request, response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::FailTrial(grpc::CallbackServerContext* context,
                                                       const v1::FailTrialRequest* request,
                                                       v1::FailTrialResponse* response) {
  return Forward(context, *auth_, scheduler_, &Scheduler::FailTrial, request, response);
}

grpc::ServerReadReactor<v1::CheckpointChunk>* WorkerServiceImpl::UploadCheckpoint(
    grpc::CallbackServerContext* context, v1::UploadCheckpointResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) {
    return new Refusal<grpc::ServerReadReactor<v1::CheckpointChunk>>(s);
  }
  return new UploadReactor(context, scheduler_, store_, response);
}

grpc::ServerWriteReactor<v1::CheckpointChunk>* WorkerServiceImpl::DownloadCheckpoint(
    grpc::CallbackServerContext* context, const v1::DownloadCheckpointRequest* request) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) {
    return new Refusal<grpc::ServerWriteReactor<v1::CheckpointChunk>>(s);
  }
  return new DownloadReactor(scheduler_, store_, *request);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::CompleteEnsemble(
    grpc::CallbackServerContext* context, const v1::CompleteEnsembleRequest* request,
    v1::Ensemble* response) {
  return Forward(context, *auth_, scheduler_, &Scheduler::CompleteEnsemble, request, response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::FailEnsemble(grpc::CallbackServerContext* context,
                                                          const v1::FailEnsembleRequest* request,
                                                          v1::Ensemble* response) {
  return Forward(context, *auth_, scheduler_, &Scheduler::FailEnsemble, request, response);
}

}  // namespace tuner::server
