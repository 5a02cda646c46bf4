// Views of top-k ensembles (`tunectl ensemble`, the ensemble line of `tunectl best`, --json):
// pure functions over the proto, unit-tested like the other views.
#ifndef TUNER_TUNECTL_ENSEMBLE_VIEW_H_
#define TUNER_TUNECTL_ENSEMBLE_VIEW_H_

#include <string>

#include "proto/tuner.pb.h"
#include "tunectl/json_view.h"

namespace tuner::tunectl {

// ENSEMBLE_COMPLETED -> COMPLETED, ...
std::string EnsembleStateLabel(v1::EnsembleState state);

// One line: "ensemble 4 (top 3 trials): test accuracy 0.8200 on 10000 test images, best
// member 0.7700 (+0.0500)"; for one not finished yet its state (and fail reason).
std::string EnsembleLine(const v1::Ensemble& ensemble);

// EnsembleLine, then a table of the members: TRIAL NUMBER VALUE TEST_ACCURACY PARAMS.
std::string EnsembleText(const v1::Ensemble& ensemble);

// {"ensemble_id", "study_id", "k", "state", "test_accuracy", "test_images", "members":
//  [{"trial_id", "number", "value", "test_accuracy", "checkpoint_id", "params"}], "attempt",
//  "worker_name", "fail_reason", "created_at", "finished_at"}; unset accuracies are null.
Json EnsembleJson(const v1::Ensemble& ensemble);

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_ENSEMBLE_VIEW_H_
