// The sections of `tunectl report` (tunectl/report.h). Each turns the prepared study data into
// one block of HTML holding an inline SVG plot, or a sentence when there is nothing to plot.
// Pure functions, no I/O; every string that came from the study is escaped.
#ifndef TUNER_TUNECTL_REPORT_SECTIONS_H_
#define TUNER_TUNECTL_REPORT_SECTIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "proto/tuner.pb.h"
#include "search/study_spec.h"

namespace tuner::tunectl::report {

namespace v1 = ::tuner::v1;

// What every section reads, prepared once by StudyReportHtml. Value type.
struct ReportData {
  v1::Study study;
  std::vector<v1::Trial> trials;          // sorted by number
  std::optional<search::StudySpec> spec;  // study.spec_yaml parsed; nullopt when it does not parse
  bool maximize = true;                   // the study's direction
  bool hyperband = false;
  std::vector<v1::Ensemble> ensembles;    // ListEnsembles, oldest first
};

// Whether objective a beats b in the study's direction.
bool Better(double a, double b, bool maximize);

// "trial 17 (number 16) COMPLETED value 0.9123 dropout=0.3 units=256": hover titles.
std::string TrialTitle(const v1::Trial& trial);

// Objective of each finished trial by trial number, with the best-so-far step line.
std::string HistorySection(const ReportData& data);
// The objective per epoch: one polyline per trial and execution, styled by trial state.
std::string CurvesSection(const ReportData& data);
// Parallel coordinates: one axis per param (log when the spec says so; choices categorical)
// and one for the objective; a line per trial coloured by its objective.
std::string ParallelSection(const ReportData& data);
// Per bracket and rung: configurations planned and reached, epochs each trains to.
std::string HyperbandSection(const ReportData& data);
// The newest COMPLETED top-k ensemble: its test accuracy against each member's; empty when
// the study has none.
std::string EnsembleSection(const ReportData& data);

}  // namespace tuner::tunectl::report

#endif  // TUNER_TUNECTL_REPORT_SECTIONS_H_
