#include "tunectl/commands.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/status/statusor.h"
#include "common/atomic_file.h"
#include "tunectl/ensemble_view.h"
#include "tunectl/format.h"
#include "tunectl/json_view.h"
#include "tunectl/report.h"
#include "tunectl/study_view.h"
#include "tunectl/trials_export.h"

namespace tuner::tunectl {
namespace {

// start-study's CreateStudy request_id: 128 random bits as 32 hex digits, new for each run.
std::string NewRequestId() {
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) {
    char part[9];
    std::snprintf(part, sizeof(part), "%08x", static_cast<unsigned>(random()));
    id += part;
  }
  return id;
}

// CreateStudy answers that leave its outcome open or say "try again": the call is sent again,
// with the same request_id, so the server creates the study at most once.
constexpr int kCreateStudyAttempts = 3;
bool RetryCreateStudy(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// The whole file; the error names the file and says why it could not be read.
absl::StatusOr<std::string> ReadSpecFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError("cannot read spec file " + path + ": it is a directory");
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError("cannot read spec file " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buffer[64 * 1024];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
  const bool failed = std::ferror(file) != 0;
  const int read_errno = errno;
  std::fclose(file);
  if (failed) {
    return absl::DataLossError("cannot read spec file " + path + ": " + std::strerror(read_errno));
  }
  return text;
}

// Writes the report through common/atomic_file (readers see the old file or the whole new one;
// a failure leaves nothing behind). Errors name the path and say why.
absl::Status WriteReport(const std::string& path, const std::string& text) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError("cannot write report " + path + ": it is a directory");
  }
  // 0644: a report is for sharing.
  const absl::Status written = WriteFileAtomically(path, text, 0644);
  if (written.ok()) return written;
  // "cannot write <path>: why" becomes "cannot write report <path>: why".
  std::string message(written.message());
  const std::string plain = "cannot write " + path;
  if (message.compare(0, plain.size(), plain) == 0) {
    message = "cannot write report " + path + message.substr(plain.size());
  }
  return absl::Status(written.code(), message);
}

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

std::string Quoted(const std::string& text) { return "\"" + text + "\""; }

// Whether a trial's params are the configuration given as text (enqueue's NAME=VALUE): the
// same names, and each value the same when read as the trial's param type.
bool SameParams(const google::protobuf::Map<std::string, v1::ParamValue>& trial,
                const google::protobuf::Map<std::string, v1::ParamValue>& given) {
  if (trial.size() != given.size()) return false;
  for (const auto& [name, value] : trial) {
    auto it = given.find(name);
    if (it == given.end()) return false;
    const std::string& text = it->second.string_value();
    switch (value.kind_case()) {
      case v1::ParamValue::kIntValue: {
        int64_t parsed = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
        if (ec != std::errc() || end != text.data() + text.size() || parsed != value.int_value()) {
          return false;
        }
        break;
      }
      case v1::ParamValue::kFloatValue: {
        char* end = nullptr;
        const double parsed = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || parsed != value.float_value()) {
          return false;
        }
        break;
      }
      case v1::ParamValue::kStringValue:
        if (text != value.string_value()) return false;
        break;
      case v1::ParamValue::KIND_NOT_SET:
        return false;
    }
  }
  return true;
}

std::string Seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof(text), "%gs", s);
  return text;
}

}  // namespace

Commands::Commands(v1::StudyService::StubInterface& stub, ClientOptions options,
                   std::ostream& out, std::ostream& err)
    : stub_(stub), options_(std::move(options)), out_(out), err_(err) {}

std::unique_ptr<grpc::ClientContext> Commands::NewContext(bool with_deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (with_deadline) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::duration<double>(options_.timeout_s)));
  }
  for (const auto& [key, value] : options_.metadata) context->AddMetadata(key, value);
  return context;
}

int Commands::Fail(const grpc::Status& status) const {
  const std::string code = StatusCodeName(status.error_code());
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return Fail("cannot reach tuner-server at " + options_.server +
                  " (UNAVAILABLE): is it running? set --server or TUNER_SERVER" +
                  (options_.tls ? "; with TLS, also check --tls-ca, and --tls-cert/--tls-key "
                                  "when the server wants client certificates"
                                : "; if the server serves TLS, pass --tls-ca"));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Fail("tuner-server at " + options_.server + " did not answer within " +
                  Seconds(options_.timeout_s) + " (DEADLINE_EXCEEDED): raise --timeout if it is busy");
    case grpc::StatusCode::UNAUTHENTICATED:
      return Fail("tuner-server at " + options_.server + " refused the call (UNAUTHENTICATED): " +
                  status.error_message());
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
      if (!status.error_message().empty()) return Fail(status.error_message());
      break;
    default:
      break;
  }
  if (status.error_message().empty()) return Fail(code + " from tuner-server at " + options_.server);
  return Fail(status.error_message() + " (" + code + ")");
}

int Commands::Fail(const std::string& message) const {
  err_ << "error: " << message << "\n";
  err_.flush();
  return kExitError;
}

std::optional<int64_t> Commands::ResolveStudy(const std::string& study) {
  const bool numeric = !study.empty() && std::all_of(study.begin(), study.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
  if (numeric) {
    int64_t id = 0;
    const auto result = std::from_chars(study.data(), study.data() + study.size(), id);
    if (result.ec == std::errc()) return id;
    Fail("study id " + study + " is out of range");
    return std::nullopt;
  }
  const std::optional<std::vector<v1::Study>> studies = ListAllStudies(false);
  if (!studies) return std::nullopt;
  std::vector<int64_t> ids;
  for (const v1::Study& s : *studies) {
    if (s.name() == study) ids.push_back(s.study_id());
  }
  std::sort(ids.begin(), ids.end());
  if (ids.size() == 1) return ids[0];
  if (ids.empty()) {
    Fail("no study named " + Quoted(study) + " (tunectl studies lists them)");
  } else {
    std::string list;
    for (int64_t id : ids) list += (list.empty() ? "" : ", ") + std::to_string(id);
    Fail("study name " + Quoted(study) + " is ambiguous (ids " + list + "): give the id");
  }
  return std::nullopt;
}

// A server that hands back the token it was given would never end the loop.
constexpr char kStuckToken[] = "the server answered the same page_token again (a server bug)";

// Every item of a paged list: `call` fetches one page (its own deadline), `items` moves a
// page's items out; nullopt after `fail` reported an error.
template <typename Item, typename Request, typename Response, typename Call, typename Items,
          typename FailStatus, typename FailText>
std::optional<std::vector<Item>> FollowPages(Request request, Call call, Items items,
                                             FailStatus fail_status, FailText fail_text) {
  request.clear_page_token();
  std::vector<Item> all;
  do {
    Response response;
    const grpc::Status status = call(request, &response);
    if (!status.ok()) {
      fail_status(status);
      return std::nullopt;
    }
    const std::string& next = response.next_page_token();
    if (!next.empty() && next == request.page_token()) {
      fail_text(kStuckToken);
      return std::nullopt;
    }
    for (Item& item : items(response)) all.push_back(std::move(item));
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return all;
}

std::optional<std::vector<v1::Study>> Commands::ListAllStudies(bool with_spec_yaml) {
  v1::ListStudiesRequest request;
  request.set_with_spec_yaml(with_spec_yaml);
  return FollowPages<v1::Study, v1::ListStudiesRequest, v1::ListStudiesResponse>(
      request,
      [&](const v1::ListStudiesRequest& page, v1::ListStudiesResponse* response) {
        auto context = NewContext(true);
        return stub_.ListStudies(context.get(), page, response);
      },
      [](v1::ListStudiesResponse& response) -> auto& { return *response.mutable_studies(); },
      [&](const grpc::Status& status) { Fail(status); },
      [&](const std::string& message) { Fail(message); });
}

std::optional<std::vector<v1::Trial>> Commands::ListAllTrials(v1::ListTrialsRequest request) {
  return FollowPages<v1::Trial, v1::ListTrialsRequest, v1::ListTrialsResponse>(
      std::move(request),
      [&](const v1::ListTrialsRequest& page, v1::ListTrialsResponse* response) {
        auto context = NewContext(true);
        return stub_.ListTrials(context.get(), page, response);
      },
      [](v1::ListTrialsResponse& response) -> auto& { return *response.mutable_trials(); },
      [&](const grpc::Status& status) { Fail(status); },
      [&](const std::string& message) { Fail(message); });
}

std::optional<v1::Study> Commands::FetchStudy(int64_t study_id) {
  auto context = NewContext(true);
  v1::GetStudyRequest request;
  request.set_study_id(study_id);
  v1::Study study;
  const grpc::Status status = stub_.GetStudy(context.get(), request, &study);
  if (!status.ok()) {
    Fail(status);
    return std::nullopt;
  }
  return study;
}

int Commands::StartStudy(const std::string& spec_path, bool json) {
  absl::StatusOr<std::string> spec = ReadSpecFile(spec_path);
  if (!spec.ok()) return Fail(std::string(spec.status().message()));
  v1::CreateStudyRequest request;
  request.set_spec_yaml(std::move(*spec));
  request.set_request_id(NewRequestId());
  v1::CreateStudyResponse response;
  grpc::Status status;
  for (int attempt = 1;; ++attempt) {
    auto context = NewContext(true);
    status = stub_.CreateStudy(context.get(), request, &response);
    if (!RetryCreateStudy(status) || attempt == kCreateStudyAttempts) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
  }
  if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    // The server's message names the field path and what is allowed: keep it verbatim.
    return Fail(spec_path + ": " + status.error_message());
  }
  if (!status.ok()) return Fail(status);

  const v1::Study& study = response.study();
  const int64_t id = response.study_id() != 0 ? response.study_id() : study.study_id();
  if (json) {
    v1::Study shown = study;
    shown.set_study_id(id);
    out_ << StudyJson(shown).dump(2) << "\n";
  } else {
    out_ << id << "\n";
  }
  out_.flush();
  std::string line = "created study " + std::to_string(id);
  if (response.has_study()) {
    line += " " + Quoted(study.name()) + " (" + study.algorithm();
    if (study.planned_trials() > 0) {
      line += ", " + std::to_string(study.planned_trials()) + " trials planned";
    }
    line += ")";
  }
  err_ << line << "\n";
  return kExitOk;
}

int Commands::Studies(bool json) {
  // The JSON shows each study's spec_yaml, as it always did; the table has no use for it.
  std::optional<std::vector<v1::Study>> listed = ListAllStudies(/*with_spec_yaml=*/json);
  if (!listed) return kExitError;
  std::vector<v1::Study> studies = std::move(*listed);
  if (json) {
    std::sort(studies.begin(), studies.end(),
              [](const v1::Study& a, const v1::Study& b) { return a.study_id() < b.study_id(); });
    Json list = Json::array();
    for (const v1::Study& study : studies) list.push_back(StudyJson(study));
    out_ << Json{{"studies", std::move(list)}}.dump(2) << "\n";
  } else {
    out_ << StudiesTable(std::move(studies));
  }
  return kExitOk;
}

int Commands::Status(const std::string& study_text, bool json) {
  const std::optional<int64_t> id = ResolveStudy(study_text);
  if (!id) return kExitError;
  const std::optional<v1::Study> study = FetchStudy(*id);
  if (!study) return kExitError;
  if (json) {
    out_ << StudyJson(*study).dump(2) << "\n";
  } else {
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    SummaryOptions summary;
    summary.failure = LatestFailure(*study);
    for (const std::string& line : StudySummary(*study, now, summary)) out_ << line << "\n";
  }
  return kExitOk;
}

std::string Commands::LatestFailure(const v1::Study& study) {
  const int64_t failed = TrialCount(study, v1::FAILED);
  if (failed == 0 || failed != DoneCount(study)) return "";
  v1::ListTrialsRequest request;
  request.set_study_id(study.study_id());
  request.add_states(v1::FAILED);
  auto context = NewContext(true);
  v1::ListTrialsResponse response;
  if (!stub_.ListTrials(context.get(), request, &response).ok() || response.trials_size() == 0) {
    return "";
  }
  const v1::Trial* latest = &response.trials(0);
  for (const v1::Trial& trial : response.trials()) {
    if (trial.finished_at() > latest->finished_at()) latest = &trial;
  }
  const std::string reason = latest->fail_reason().substr(0, latest->fail_reason().find('\n'));
  return "trial " + std::to_string(latest->trial_id()) + " (number " +
         std::to_string(latest->number()) + ")" +
         (latest->worker_name().empty() ? "" : " on " + latest->worker_name()) + ": " +
         (reason.empty() ? "no reason given" : reason);
}

int Commands::Trials(const std::string& study_text, const std::vector<std::string>& states,
                     bool json, bool with_intermediate, const std::string& format_name) {
  const std::string format = format_name.empty() ? (json ? "json" : "table") : format_name;
  if (format != "table" && format != "json" && format != "yaml" && format != "csv") {
    err_ << "error: --format: must be one of table, json, yaml, csv (got " << Quoted(format)
         << ")\n";
    return kExitUsage;
  }
  if (json && format != "json") {
    err_ << "error: --json and --format " << format << " disagree: give one\n";
    return kExitUsage;
  }
  v1::ListTrialsRequest request;
  request.set_with_intermediate_values(with_intermediate);
  for (const std::string& state : states) {
    const std::optional<v1::TrialState> parsed = ParseTrialState(state);
    if (!parsed) {
      err_ << "error: --state: " << UnknownTrialStateMessage(state) << "\n";
      return kExitUsage;
    }
    request.add_states(*parsed);
  }
  const std::optional<int64_t> id = ResolveStudy(study_text);
  if (!id) return kExitError;
  request.set_study_id(*id);
  std::optional<std::vector<v1::Trial>> listed = ListAllTrials(request);
  if (!listed) return kExitError;
  std::vector<v1::Trial> trials = std::move(*listed);
  if (format == "json" || format == "yaml") {
    std::sort(trials.begin(), trials.end(),
              [](const v1::Trial& a, const v1::Trial& b) { return a.number() < b.number(); });
    Json list = Json::array();
    for (const v1::Trial& trial : trials) list.push_back(TrialJson(trial));
    const Json document{{"study_id", *id}, {"trials", std::move(list)}};
    out_ << (format == "json" ? document.dump(2) + "\n" : ToYaml(document));
  } else if (format == "csv") {
    out_ << TrialsCsv(std::move(trials), with_intermediate);
  } else if (trials.empty()) {
    // A bare header reads like a broken command: say what was asked for.
    std::string what = "no trials";
    if (!states.empty()) {
      std::string names;
      for (int state : request.states()) {
        std::string name = TrialStateName(static_cast<v1::TrialState>(state));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        names += (names.empty() ? "" : ", ") + name;
      }
      what = "no trials in state " + names;
    }
    out_ << "study " << *id << " has " << what << "\n";
  } else {
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    out_ << TrialsTable(std::move(trials), now);
  }
  return kExitOk;
}

int Commands::Best(const std::string& study_text, int k, bool json) {
  if (k < 1) {
    err_ << "error: -k: must be >= 1 (got " << k << ")\n";
    return kExitUsage;
  }
  const std::optional<int64_t> id = ResolveStudy(study_text);
  if (!id) return kExitError;
  v1::GetBestTrialsRequest request;
  request.set_study_id(*id);
  request.set_k(k);
  auto context = NewContext(true);
  v1::GetBestTrialsResponse response;
  const grpc::Status status = stub_.GetBestTrials(context.get(), request, &response);
  if (!status.ok()) return Fail(status);
  if (response.trials_size() == 0) {
    return Fail("study " + std::to_string(*id) + " has no completed trial yet");
  }
  const std::vector<v1::Trial> trials(response.trials().begin(), response.trials().end());
  if (json) {
    Json list = Json::array();
    for (const v1::Trial& trial : trials) list.push_back(TrialJson(trial));
    Json best{{"study_id", *id}, {"trials", std::move(list)}};
    best["latest_ensemble"] =
        response.has_latest_ensemble() ? EnsembleJson(response.latest_ensemble()) : Json();
    out_ << best.dump(2) << "\n";
  } else {
    out_ << BestTrialsText(trials);
    if (response.has_latest_ensemble()) out_ << EnsembleLine(response.latest_ensemble()) << "\n";
  }
  return kExitOk;
}

int Commands::Stop(const std::string& study_text, bool json) {
  const std::optional<int64_t> id = ResolveStudy(study_text);
  if (!id) return kExitError;
  v1::StopStudyRequest request;
  request.set_study_id(*id);
  auto context = NewContext(true);
  v1::Study study;
  const grpc::Status status = stub_.StopStudy(context.get(), request, &study);
  if (!status.ok()) return Fail(status);
  if (json) {
    out_ << StudyJson(study).dump(2) << "\n";
  } else {
    out_ << "study " << study.study_id() << " " << Quoted(study.name()) << ": "
         << StudyStateLabel(study.state()) << " (" << DoneOfPlanned(study) << " trials done)\n";
  }
  return kExitOk;
}

int Commands::Enqueue(const std::string& study_text, const std::vector<std::string>& params,
                      bool json, bool allow_duplicate) {
  v1::EnqueueTrialRequest request;
  for (const std::string& param : params) {
    const size_t equals = param.find('=');
    if (equals == std::string::npos || equals == 0) {
      err_ << "error: --param: expected NAME=VALUE (got " << Quoted(param) << ")\n";
      return kExitUsage;
    }
    const std::string name = param.substr(0, equals);
    if (request.params().count(name)) {
      err_ << "error: --param: " << name << " is given twice\n";
      return kExitUsage;
    }
    // Sent as text: the server knows each param's type and says which value it refuses.
    (*request.mutable_params())[name].set_string_value(param.substr(equals + 1));
  }
  const std::optional<int64_t> id = ResolveStudy(study_text);
  if (!id) return kExitError;
  request.set_study_id(*id);
  if (!allow_duplicate) {
    v1::ListTrialsRequest list;
    list.set_study_id(*id);
    const std::optional<std::vector<v1::Trial>> trials = ListAllTrials(list);
    if (!trials) return kExitError;
    for (const v1::Trial& trial : *trials) {
      if (!SameParams(trial.params(), request.params())) continue;
      return Fail("study " + std::to_string(*id) + " already has trial " +
                  std::to_string(trial.trial_id()) + " (number " + std::to_string(trial.number()) +
                  ", " + TrialStateName(trial.state()) + ") with these params: " +
                  FormatParams(trial.params()) + "; add --allow-duplicate to run them again");
    }
  }
  auto context = NewContext(true);
  v1::EnqueueTrialResponse response;
  const grpc::Status status = stub_.EnqueueTrial(context.get(), request, &response);
  if (!status.ok()) return Fail(status);
  const v1::Trial& trial = response.trial();
  if (json) {
    out_ << TrialJson(trial).dump(2) << "\n";
  } else {
    out_ << "enqueued trial " << trial.number() << " of study " << *id << ": "
         << FormatParams(trial.params()) << "\n";
  }
  return kExitOk;
}

int Commands::Report(const std::string& study_text, const std::string& html_path) {
  const std::optional<int64_t> id = ResolveStudy(study_text);
  if (!id) return kExitError;
  const std::optional<v1::Study> study = FetchStudy(*id);
  if (!study) return kExitError;
  v1::ListTrialsRequest request;
  request.set_study_id(*id);
  request.set_with_intermediate_values(true);
  const std::optional<std::vector<v1::Trial>> all_trials = ListAllTrials(request);
  if (!all_trials) return kExitError;
  const std::vector<v1::Trial>& trials = *all_trials;
  v1::ListEnsemblesRequest ensembles_request;
  ensembles_request.set_study_id(*id);
  auto ensembles_context = NewContext(true);
  v1::ListEnsemblesResponse ensembles_response;
  const grpc::Status listed =
      stub_.ListEnsembles(ensembles_context.get(), ensembles_request, &ensembles_response);
  // A server from before ensembles answers UNIMPLEMENTED: the report just has no section.
  if (!listed.ok() && listed.error_code() != grpc::StatusCode::UNIMPLEMENTED) return Fail(listed);
  const std::vector<v1::Ensemble> ensembles(ensembles_response.ensembles().begin(),
                                            ensembles_response.ensembles().end());
  const absl::Status written =
      WriteReport(html_path, StudyReportHtml(*study, trials, ensembles));
  if (!written.ok()) return Fail(std::string(written.message()));
  out_ << "wrote " << html_path << " (study " << *id << " " << Quoted(study->name()) << ", "
       << trials.size() << " trials)\n";
  return kExitOk;
}

}  // namespace tuner::tunectl
