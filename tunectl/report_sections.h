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
#include "tunectl/param_importance.h"
#include "tunectl/svg.h"

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
  std::vector<ParamImportance> importances;  // of spec's params; empty without a spec
};

// Whether objective a beats b in the study's direction.
bool Better(double a, double b, bool maximize);

// "trial 17 (number 16) COMPLETED value 0.9123 dropout=0.3 units=256": hover titles.
std::string TrialTitle(const v1::Trial& trial);

// `<svg class="plot" ...>` opening a plot 1100 wide and `height` high, labelled for screen readers.
std::string SvgOpen(double height, const std::string& label);
// The COMPLETED trials with a finite value, in number order.
std::vector<const v1::Trial*> CompletedTrials(const ReportData& data);
// The objective's name ("objective" when the study has none).
std::string ObjectiveName(const ReportData& data);
// A spec value as the proto's, for labels and lookups.
v1::ParamValue ToProto(const search::ParamValue& value);
// An axis for one param of the spec: its range, log when the spec says so; a choice maps
// value i to position i, labelled with the value.
svg::Axis ParamAxis(const search::ParamSpec& param, double px_lo, double px_hi);
// Where a trial's value of `param` sits on ParamAxis; nullopt when it is not one of its values.
std::optional<double> ParamPosition(const search::ParamSpec& param, const v1::ParamValue& value);

// Objective of each finished trial by trial number, with the best-so-far step line.
std::string HistorySection(const ReportData& data);
// The objective per epoch: one polyline per trial and execution, styled by trial state.
std::string CurvesSection(const ReportData& data);
// Parallel coordinates: one axis per param (log when the spec says so; choices categorical)
// and one for the objective; a line per trial coloured by its objective.
std::string ParallelSection(const ReportData& data);
// Each param's share of the objective's variance (tunectl/param_importance.h) as bars.
std::string ImportanceSection(const ReportData& data);
// One scatter per param: the objective of every completed trial against its value.
std::string SliceSection(const ReportData& data);
// The two most important numeric params: the trials and an interpolated shading of the
// objective between them.
std::string ContourSection(const ReportData& data);
// The empirical distribution function of the completed trials' objective.
std::string EdfSection(const ReportData& data);
// Per bracket and rung: configurations planned and reached, epochs each trains to.
std::string HyperbandSection(const ReportData& data);
// The newest COMPLETED top-k ensemble: its test accuracy against each member's; empty when
// the study has none.
std::string EnsembleSection(const ReportData& data);

}  // namespace tuner::tunectl::report

#endif  // TUNER_TUNECTL_REPORT_SECTIONS_H_
