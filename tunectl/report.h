// The HTML report of one study (`tunectl report STUDY --html FILE`): a header (name, algorithm,
// state, counts, best value and params), the optimization history with the best so far, the
// learning curves of every trial, parallel coordinates over the params, the Hyperband brackets
// and a table of the trials. One self-contained page: inline SVG and CSS, no script, nothing
// fetched when it is opened. Pure: no I/O and no clock, so it is unit-tested on hand-made
// studies; every string that comes from the study is HTML-escaped.
#ifndef TUNER_TUNECTL_REPORT_H_
#define TUNER_TUNECTL_REPORT_H_

#include <string>
#include <vector>

#include "proto/tuner.pb.h"

namespace tuner::tunectl {

namespace v1 = ::tuner::v1;

// study as GetStudy returns it; trials as ListTrials returns them (any order), with their
// intermediate values for the learning curves. Log axes and the Hyperband schedule come from
// study.spec_yaml; when it does not parse, the axes are fitted to the trials instead.
// ensembles as ListEnsembles returns them: the newest COMPLETED one gets an Ensemble section.
std::string StudyReportHtml(const v1::Study& study, const std::vector<v1::Trial>& trials,
                            const std::vector<v1::Ensemble>& ensembles = {});

}  // namespace tuner::tunectl

#endif  // TUNER_TUNECTL_REPORT_H_
