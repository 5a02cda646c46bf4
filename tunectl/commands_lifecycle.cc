// `tunectl delete`: DeleteStudy.
#include "tunectl/commands.h"
#include "tunectl/json_view.h"

namespace tuner::tunectl {
namespace {

std::string Count(int64_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

int Commands::Delete(const std::string& study_text, bool json) {
  const std::optional<int64_t> id = ResolveStudy(study_text);
  if (!id) return kExitError;
  v1::DeleteStudyRequest request;
  request.set_study_id(*id);
  auto context = NewContext(true);
  v1::DeleteStudyResponse response;
  const grpc::Status status = stub_.DeleteStudy(context.get(), request, &response);
  if (!status.ok()) return Fail(status);
  if (json) {
    out_ << Json{{"study_id", response.study_id()},
                 {"name", response.name()},
                 {"trials_deleted", response.trials_deleted()},
                 {"checkpoints_deleted", response.checkpoints_deleted()},
                 {"ensembles_deleted", response.ensembles_deleted()}}
                .dump(2)
         << "\n";
  } else {
    out_ << "deleted study " << response.study_id() << " \"" << response.name() << "\" with "
         << Count(response.trials_deleted(), "trial") << ", "
         << Count(response.checkpoints_deleted(), "checkpoint") << " and "
         << Count(response.ensembles_deleted(), "ensemble") << "\n";
  }
  return kExitOk;
}

}  // namespace tuner::tunectl
