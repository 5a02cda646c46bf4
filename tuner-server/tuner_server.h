// TunerServer: wires the db, the scheduler, the gRPC services, the health and reflection
// services and the Asio timers into one running server. Used by main.cc and by tests, which
// start a real server on 127.0.0.1 with an OS-chosen port and a temp db.
#ifndef TUNER_TUNER_SERVER_TUNER_SERVER_H_
#define TUNER_TUNER_SERVER_TUNER_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "storage/database.h"
#include "storage/group_committer.h"
#include "tuner-server/auth.h"
#include "tuner-server/checkpoint_store.h"
#include "tuner-server/connection_listener.h"
#include "tuner-server/db_lock.h"
#include "tuner-server/metrics.h"
#include "tuner-server/metrics_endpoint.h"
#include "tuner-server/scheduler.h"
#include "tuner-server/study_service.h"
#include "tuner-server/worker_service.h"

namespace tuner::server {

struct ServerOptions {
  std::string db_path;                 // SQLite file; created when missing
  std::string listen = "127.0.0.1:50051";  // host:port; port 0 picks a free one
  std::string checkpoint_dir;          // default: <db_path>.checkpoints
  double lease_seconds = 30;
  double max_wait_seconds = 20;
  double tick_seconds = 0.2;           // lease and long-poll sweep
  double watch_interval_seconds = 0.5;
  // Checkpoints (issue 13 row 8): one upload's limit, all checkpoints' limit, and how many of
  // its uploads a trial keeps (the newest; the one it recorded is kept besides).
  int64_t max_checkpoint_bytes = kDefaultMaxCheckpointBytes;
  int64_t checkpoint_disk_budget = kDefaultCheckpointDiskBudget;
  int checkpoints_per_trial = kDefaultCheckpointsPerTrial;
  int max_message_bytes = 16 << 20;
  std::string auth_token;              // empty: no token required
  TlsFiles tls;                        // empty: plaintext
  std::string metrics_listen;          // host:port of the Prometheus endpoint; empty: off
  // Connection limits of the gRPC port (issue 13 row 4; see tuner_server.cc for the
  // keepalive settings and connection_listener.h for how the cap is counted).
  int max_connections = 4096;             // then new connections are closed at once
  double handshake_timeout_seconds = 10;  // a connection that sends no HTTP/2 preface / TLS
  double connection_idle_seconds = 300;   // a connection with no call this long gets GOAWAY
  int max_streams_per_connection = 256;   // concurrent calls on one connection
  int64_t grpc_memory_bytes = int64_t{1} << 30;  // gRPC's resource quota
};

// Thread-safe: Shutdown may be called from any thread (a signal handler's Asio callback).
class TunerServer {
 public:
  static absl::StatusOr<std::unique_ptr<TunerServer>> Start(const ServerOptions& options);
  ~TunerServer();

  int port() const { return port_; }
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }
  std::string address() const;
  // Stops accepting calls, answers parked long-polls, drains commits. Idempotent.
  void Shutdown();
  // Blocks until Shutdown.
  void Wait();
  boost::asio::io_context& io() { return io_; }
  Scheduler& scheduler() { return *scheduler_; }
  CheckpointStore& checkpoint_store() { return *checkpoints_; }

 private:
  explicit TunerServer(const ServerOptions& options);
  void ArmTick();

  const ServerOptions options_;
  std::unique_ptr<DbLock> db_lock_;  // taken first, released last: one server per db
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::unique_ptr<boost::asio::steady_timer> tick_;
  std::unique_ptr<storage::Database> reader_;
  std::unique_ptr<storage::GroupCommitter> committer_;
  std::unique_ptr<CheckpointStore> checkpoints_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<StudyServiceImpl> study_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  RpcMetrics rpc_metrics_;
  std::shared_ptr<SchedulerCollectable> gauges_;  // read by metrics_'s threads
  std::unique_ptr<MetricsEndpoint> metrics_;  // serves on its own threads; destroyed first of these
  std::unique_ptr<grpc::Server> server_;
  // gRPC's side of the port: listener_ accepts and hands each connection to it.
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> external_acceptor_;
  std::unique_ptr<ConnectionListener> listener_;  // on io_ (its handlers run there)
  std::thread io_thread_;
  int port_ = 0;
  std::once_flag shutdown_once_;
};

}  // namespace tuner::server

#endif  // TUNER_TUNER_SERVER_TUNER_SERVER_H_
