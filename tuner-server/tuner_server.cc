#include "tuner-server/tuner_server.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "spdlog/spdlog.h"

namespace tuner::server {

namespace {

// Says so when the db is about to be created: a wrong --db path, or a db file emptied by
// accident, would otherwise look like a server whose studies vanished.
void LogIfNewDb(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) spdlog::info("db {} does not exist: creating a new, empty db", path);
    return;
  }
  if (st.st_size == 0) {
    spdlog::warn("db {} is an empty file (0 bytes): starting a new, empty db in it", path);
  }
}

// gRPC 1.51 has no cap on connections (ConnectionListener keeps one); what it does offer bounds
// how long a connection may hold a descriptor without doing anything, and its memory.
void SetConnectionLimits(const ServerOptions& options, grpc::ServerBuilder* builder) {
  auto ms = [](double seconds) {
    return static_cast<int>(std::min(seconds * 1000.0, double{std::numeric_limits<int>::max()}));
  };
  // A TCP connection that never completes the HTTP/2 (and TLS) handshake: 120 s by default.
  builder->AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                              ms(options.handshake_timeout_seconds));
  // An established connection with no call in flight gets GOAWAY (clients reconnect on their
  // next call; a worker's parked AcquireTrial is a call, so workers are not idle).
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ms(options.connection_idle_seconds));
  // Pings find peers that vanished without a FIN (a crashed node): 60 s + 20 s for the ack.
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Clients may ping every 10 s (also without calls); more often, twice, and they get GOAWAY.
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_streams_per_connection);
  // Memory for gRPC's buffers, and threads for the synchronous reflection service (the
  // tuner services use the callback API, which this does not limit).
  grpc::ResourceQuota quota("tuner-server");
  quota.Resize(static_cast<size_t>(options.grpc_memory_bytes));
  quota.SetMaxThreads(16);
  builder->SetResourceQuota(quota);
}

}  // namespace

TunerServer::TunerServer(const ServerOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<TunerServer>> TunerServer::Start(const ServerOptions& options) {
  if (options.db_path.empty()) return absl::InvalidArgumentError("--db: a SQLite file is required");
  if (!(options.lease_seconds > 0)) return absl::InvalidArgumentError("--lease-seconds: must be > 0");
  std::unique_ptr<TunerServer> server(new TunerServer(options));

  // Before the db is opened (Open migrates): a second server on the same db stops here.
  auto lock = DbLock::Acquire(options.db_path);
  if (!lock.ok()) return lock.status();
  server->db_lock_ = std::move(*lock);
  LogIfNewDb(options.db_path);
  auto writer = storage::Database::Open(options.db_path);
  if (!writer.ok()) return writer.status();
  auto snapshot = (*writer)->LoadSnapshot();
  if (!snapshot.ok()) return snapshot.status();
  auto checkpoints = (*writer)->LoadCheckpoints();
  if (!checkpoints.ok()) return checkpoints.status();
  auto reader = storage::Database::Open(options.db_path);
  if (!reader.ok()) return reader.status();
  server->reader_ = std::move(*reader);
  server->committer_ = std::make_unique<storage::GroupCommitter>(std::move(*writer));

  const std::string checkpoint_dir =
      options.checkpoint_dir.empty() ? options.db_path + ".checkpoints" : options.checkpoint_dir;
  if (options.max_checkpoint_bytes < 1 || options.checkpoint_disk_budget < 1) {
    return absl::InvalidArgumentError(
        "--max-checkpoint-bytes and --checkpoint-disk-budget: must be >= 1");
  }
  if (options.checkpoints_per_trial < 1) {
    return absl::InvalidArgumentError("--checkpoints-per-trial: must be >= 1");
  }
  auto store = CheckpointStore::Open(checkpoint_dir, options.max_checkpoint_bytes,
                                     options.checkpoint_disk_budget);
  if (!store.ok()) return store.status();
  server->checkpoints_ = std::move(*store);

  SchedulerOptions scheduler_options;
  scheduler_options.lease_seconds = options.lease_seconds;
  scheduler_options.max_wait_seconds = options.max_wait_seconds;
  scheduler_options.checkpoints_per_trial = options.checkpoints_per_trial;
  scheduler_options.remove_checkpoint = [store = server->checkpoints_.get()](
                                            const storage::CheckpointRow& row) {
    store->Remove(row.id, row.size_bytes);
  };
  server->scheduler_ = std::make_unique<Scheduler>(scheduler_options, server->committer_.get(),
                                                   server->reader_.get());
  if (auto s = server->scheduler_->Load(*snapshot, *checkpoints); !s.ok()) return s;
  {
    // Files no row names (a crash between a row's deletion and its file's, an upload's temp
    // file) go now; then what no trial needs any more (those files go once that commits).
    std::set<std::string> ids;
    int64_t bytes = 0;
    for (const storage::CheckpointRow& row : server->scheduler_->Checkpoints()) {
      ids.insert(row.id);
      bytes += row.size_bytes;
    }
    if (int removed = server->checkpoints_->RemoveUnrecorded(ids, bytes); removed > 0) {
      spdlog::info("removed {} file(s) no checkpoint row names from {}", removed, checkpoint_dir);
    }
    server->scheduler_->CollectCheckpoints();
  }

  auto credentials = MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  server->auth_ = std::make_unique<Authenticator>(options.auth_token);
  server->study_service_ = std::make_unique<StudyServiceImpl>(
      server->scheduler_.get(), server->auth_.get(), &server->io_, options.watch_interval_seconds);
  server->worker_service_ = std::make_unique<WorkerServiceImpl>(
      server->scheduler_.get(), server->auth_.get(), server->checkpoints_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // No AddListeningPort: ConnectionListener owns the port (gRPC 1.51's own accept loop stops
  // for good on EMFILE) and hands each connection over here, with the same credentials.
  server->external_acceptor_ = builder.experimental().AddExternalConnectionAcceptor(
      grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, *credentials);
  builder.RegisterService(server->study_service_.get());
  builder.RegisterService(server->worker_service_.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  SetConnectionLimits(options, &builder);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(server->rpc_metrics_.InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->server_ = builder.BuildAndStart();
  if (!server->server_) return absl::InternalError("gRPC server did not start");
  ConnectionListener::Limits listener_limits;
  listener_limits.max_connections = options.max_connections;
  grpc::experimental::ExternalConnectionAcceptor* acceptor = server->external_acceptor_.get();
  auto listener = ConnectionListener::Start(
      server->io_, options.listen, [acceptor](int listener_fd, int fd) {
        grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
        connection.listener_fd = listener_fd;
        connection.fd = fd;
        acceptor->HandleNewConnection(&connection);
      },
      listener_limits);
  if (!listener.ok()) return listener.status();
  server->listener_ = std::move(*listener);
  server->port_ = server->listener_->port();
  if (grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService()) {
    health->SetServingStatus("tuner.v1.StudyService", true);
    health->SetServingStatus("tuner.v1.WorkerService", true);
  }
  server->work_ = std::make_unique<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
      server->io_.get_executor());
  if (!options.metrics_listen.empty()) {
    Scheduler* scheduler = server->scheduler_.get();
    server->gauges_ =
        std::make_shared<SchedulerCollectable>([scheduler] { return scheduler->Gauges(); });
    auto metrics = MetricsEndpoint::Start(options.metrics_listen,
                                          {server->rpc_metrics_.collectable(), server->gauges_});
    if (!metrics.ok()) return metrics.status();
    server->metrics_ = std::move(*metrics);
    spdlog::info("Prometheus metrics on http://{}:{}/metrics",
                 options.metrics_listen.substr(0, options.metrics_listen.rfind(':')),
                 server->metrics_->port());
  }
  server->tick_ = std::make_unique<boost::asio::steady_timer>(server->io_);
  server->ArmTick();
  server->io_thread_ = std::thread([s = server.get()] { s->io_.run(); });
  spdlog::info("tuner-server listening on {} ({}{}; db {}, checkpoints in {})",
               server->address(), options.tls.cert.empty() ? "plaintext" : "TLS",
               options.tls.client_ca.empty() ? "" : " with client certificates",
               options.db_path, checkpoint_dir);
  if (!server->auth_->enabled()) {
    spdlog::warn("no auth token configured: anyone who reaches {} can use this server",
                 server->address());
  }
  return server;
}

std::string TunerServer::address() const {
  std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
  return absl::StrCat(host, ":", port_);
}

void TunerServer::ArmTick() {
  tick_->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(options_.tick_seconds)));
  tick_->async_wait([this](const boost::system::error_code& error) {
    if (error) return;
    scheduler_->Tick();
    ArmTick();
  });
}

void TunerServer::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    spdlog::info("tuner-server shutting down");
    scheduler_->Shutdown();
    if (listener_) listener_->Stop();  // no connection is handed to gRPC after this
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    boost::asio::post(io_, [this] { tick_->cancel(); });
    work_.reset();
    io_.stop();
    if (io_thread_.joinable() && io_thread_.get_id() != std::this_thread::get_id()) {
      io_thread_.join();
    }
    if (auto s = committer_->Flush(); !s.ok()) spdlog::error("final commit: {}", s.ToString());
  });
}

void TunerServer::Wait() { server_->Wait(); }

TunerServer::~TunerServer() {
  if (server_) Shutdown();
  if (io_thread_.joinable()) io_thread_.join();
  // Commit callbacks use the scheduler, and one may still be due after Shutdown's Flush (a
  // callback's own follow-up commit): drain the committer while the scheduler and the
  // checkpoint store it calls still exist, not after the members declared below it are gone.
  committer_.reset();
}

}  // namespace tuner::server
