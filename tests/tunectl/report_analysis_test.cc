// The report's analysis plots (issue 17 item 5): param importances (tunectl/param_importance.h),
// slice, contour and EDF sections, the finish-ordered history with stopped trials, and the
// ASHA rung section.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "search/study_spec.h"
#include "tests/tunectl/fake_study_service.h"
#include "tests/tunectl/run_cli.h"
#include "tunectl/param_importance.h"
#include "tunectl/report.h"

namespace tuner::tunectl {
namespace {

using testing::FloatParam;
using testing::IntParam;
using testing::StringParam;

constexpr const char* kSpec = R"(name: analysis
objective: {metric: val_loss, direction: minimize}
algorithm: {kind: random, max_trials: 60}
search_space:
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-1, log: true}
  units: {type: int, min: 16, max: 512}
  optimizer: {type: choice, values: [adam, sgd, rmsprop]}
  momentum: {type: float, min: 0.0, max: 0.99, when: {optimizer: [sgd]}}
trainer: {kind: synthetic, epochs: 2}
)";

constexpr const char* kAshaSpec = R"(name: asha
algorithm: {kind: asha, min_epochs: 1, max_epochs: 9, eta: 3, max_trials: 12}
search_space:
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-1, log: true}
trainer: {kind: synthetic}
)";

std::vector<search::ParamSpec> Params(const char* spec) {
  absl::StatusOr<search::StudySpec> parsed = search::ParseStudySpec(spec);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed->space.params;
}

v1::Study Study(const char* spec, const char* algorithm, v1::Direction direction) {
  v1::Study s;
  s.set_study_id(3);
  s.set_name("analysis");
  s.set_state(v1::STUDY_COMPLETED);
  s.set_algorithm(algorithm);
  s.set_objective_metric("val_loss");
  s.set_direction(direction);
  s.set_spec_yaml(spec);
  return s;
}

// `count` completed trials (the importance test takes 200: with 60, chance correlations of
// the independent params reach a share of 0.2 for some seeds) whose value depends on log10(learning_rate) only (plus `noise`); units
// and optimizer are drawn independently; momentum exists for sgd only.
std::vector<v1::Trial> LearningRateTrials(double noise, int count = 60) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> n(0, 1);
  const char* optimizers[] = {"adam", "sgd", "rmsprop"};
  std::vector<v1::Trial> trials;
  for (int i = 0; i < count; ++i) {
    v1::Trial t;
    t.set_trial_id(10 + i);
    t.set_number(i);
    t.set_state(v1::COMPLETED);
    t.set_bracket(-1);
    const double log_lr = -4 + 3 * u(rng);
    const std::string optimizer = optimizers[i % 3];
    (*t.mutable_params())["learning_rate"] = FloatParam(std::pow(10, log_lr));
    (*t.mutable_params())["units"] = IntParam(16 + static_cast<int64_t>(496 * u(rng)));
    (*t.mutable_params())["optimizer"] = StringParam(optimizer);
    if (optimizer == "sgd") (*t.mutable_params())["momentum"] = FloatParam(0.99 * u(rng));
    t.set_has_value(true);
    t.set_value((log_lr + 2.5) * (log_lr + 2.5) + noise * n(rng));
    t.set_finished_at(1000 + i);
    trials.push_back(t);
  }
  return trials;
}

TEST(ParamImportance, TheParamThatDecidesTheValueTakesNearlyAllTheShare) {
  const std::vector<ParamImportance> out =
      ParamImportances(LearningRateTrials(0.05, 200), Params(kSpec));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].name, "learning_rate");
  EXPECT_GT(out[0].share, 0.85);
  EXPECT_GT(out[0].explained, 0.8);  // 8 rank groups of a smooth function: most of it
  EXPECT_EQ(out[0].levels, 8);
  double sum = 0;
  for (const ParamImportance& i : out) sum += i.share;
  EXPECT_NEAR(sum, 1.0, 1e-9);
  for (size_t k = 1; k < out.size(); ++k) {
    EXPECT_LT(out[k].share, 0.1) << out[k].name;  // noise: the bias correction keeps it near 0
  }
}

TEST(ParamImportance, AnInactiveConditionalParamIsALevelOfItsOwn) {
  // The value is the optimizer's alone: momentum (sgd only) splits sgd from the rest by
  // being inactive elsewhere, so it explains part of it too; units explains nothing.
  std::vector<v1::Trial> trials = LearningRateTrials(0);
  for (v1::Trial& t : trials) {
    const std::string optimizer = t.params().at("optimizer").string_value();
    t.set_value(optimizer == "sgd" ? 1.0 : optimizer == "adam" ? 0.0 : 0.1);
  }
  const std::vector<ParamImportance> out = ParamImportances(trials, Params(kSpec));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].name, "optimizer");
  EXPECT_NEAR(out[0].explained, 1.0, 1e-9);
  EXPECT_EQ(out[0].levels, 3);
  EXPECT_EQ(out[1].name, "momentum");
  EXPECT_GT(out[1].explained, 0.5);
  EXPECT_EQ(out[1].levels, 9);  // 8 groups among the sgd trials + inactive
  for (const ParamImportance& i : out) {
    if (i.name == "units") EXPECT_LT(i.share, 0.05);
  }
}

TEST(ParamImportance, TooFewOrConstantValuesGiveNothing) {
  std::vector<v1::Trial> trials = LearningRateTrials(0);
  std::vector<v1::Trial> three(trials.begin(), trials.begin() + 3);
  EXPECT_TRUE(ParamImportances(three, Params(kSpec)).empty());
  for (v1::Trial& t : trials) t.set_value(0.5);
  EXPECT_TRUE(ParamImportances(trials, Params(kSpec)).empty());
  // Only COMPLETED trials count.
  trials = LearningRateTrials(0);
  for (v1::Trial& t : trials) t.set_state(v1::PRUNED);
  EXPECT_TRUE(ParamImportances(trials, Params(kSpec)).empty());
}

TEST(ReportAnalysis, ImportanceSliceContourAndEdfArePlotted) {
  const std::vector<v1::Trial> trials = LearningRateTrials(0.05);
  const std::string html = StudyReportHtml(Study(kSpec, "random", v1::MINIMIZE), trials);
  // Importances: one bar per param, learning_rate first.
  EXPECT_EQ(Count(html, "<rect class=\"importance-bar\""), 4u);
  const size_t section = html.find("id=\"importance\"");
  ASSERT_NE(section, std::string::npos);
  EXPECT_LT(html.find(">learning_rate</text>", section), html.find(">units</text>", section));
  // Slice: a point per trial and param it has (momentum: the 20 sgd trials).
  EXPECT_EQ(Count(html, "<circle class=\"slice-pt\""), 60u * 3 + 20);
  EXPECT_NE(html.find(">learning_rate (log)</text>"), std::string::npos);
  EXPECT_NE(html.find(">rmsprop</text>"), std::string::npos);  // a choice axis names its values
  // Contour over the two most important numeric params: learning_rate and one of the two
  // noise params; a 30 x 30 shading and a dot per trial that has both.
  const bool with_units = html.find("<h2>Contour: learning_rate and units</h2>") != std::string::npos;
  const bool with_momentum =
      html.find("<h2>Contour: learning_rate and momentum</h2>") != std::string::npos;
  EXPECT_TRUE(with_units != with_momentum);
  EXPECT_EQ(Count(html, "<circle class=\"contour-pt\""), with_units ? 60u : 20u);
  const size_t contour = html.find("id=\"contour\"");
  EXPECT_EQ(Count(html.substr(contour, html.find("</section>", contour) - contour), "<rect x="),
            30u * 30 + 20);  // the shading and the 20-step colour key
  // EDF: one step line over the 60 values.
  EXPECT_EQ(Count(html, "<polyline class=\"edf-line\""), 1u);
  EXPECT_NE(html.find("of the 60 completed trials"), std::string::npos);
}

TEST(ReportAnalysis, HistoryIsInFinishOrderAndShowsStoppedTrials) {
  std::vector<v1::Trial> trials = LearningRateTrials(0);
  trials.resize(4);
  // Finish order 2, 0, 3, 1: trial number 2 is the first point.
  const double finished[] = {20, 40, 10, 30};
  for (int i = 0; i < 4; ++i) trials[i].set_finished_at(finished[i]);
  v1::Trial stopped = trials[3];
  stopped.set_trial_id(99);
  stopped.set_number(4);
  stopped.set_state(v1::STOPPED);
  stopped.set_has_value(false);
  stopped.set_finished_at(50);
  for (int e = 0; e < 2; ++e) {
    v1::IntermediateValue* v = stopped.add_intermediate_values();
    v->set_epoch(1);
    v->set_execution(e);
    v->set_value(e == 0 ? 0.25 : 0.75);
  }
  trials.push_back(stopped);
  const std::string html = StudyReportHtml(Study(kSpec, "random", v1::MINIMIZE), trials);
  const size_t first = html.find("<circle class=\"pt completed\" cx");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(html.find("1. to finish: trial 12 (number 2)", first), std::string::npos);
  EXPECT_LT(html.find("1. to finish: trial 12"), html.find("2. to finish: trial 10"));
  // The stopped trial is drawn, at the mean of its executions' last values.
  EXPECT_EQ(Count(html, "<circle class=\"pt stopped\" cx"), 1u);
  EXPECT_NE(html.find("5. to finish: trial 99 (number 4) STOPPED"), std::string::npos);
  EXPECT_NE(html.find("1 stopped with the study"), std::string::npos);
}

TEST(ReportAnalysis, AshaShowsItsRungsAndNotAHyperbandGrid) {
  // Rungs 1, 3, 9 epochs: 6 trials started, 2 reached 3 epochs, 1 reached 9.
  std::vector<v1::Trial> trials;
  for (int i = 0; i < 6; ++i) {
    v1::Trial t;
    t.set_trial_id(200 + i);
    t.set_number(i);
    t.set_bracket(0);
    t.set_rung(i == 0 ? 2 : i == 1 ? 1 : 0);
    t.set_state(i == 0 ? v1::COMPLETED : v1::PAUSED);
    t.set_budget_epochs(i == 0 ? 9 : i == 1 ? 3 : 1);
    (*t.mutable_params())["learning_rate"] = FloatParam(0.001 * (i + 1));
    t.set_has_value(true);
    t.set_value(0.5 + 0.01 * i);
    trials.push_back(t);
  }
  v1::Study study = Study(kAshaSpec, "asha", v1::MAXIMIZE);
  v1::BracketProgress* progress = study.add_brackets();
  progress->set_bracket(0);
  progress->set_rung(2);
  progress->set_rungs(3);
  progress->set_trials(6);
  const std::string html = StudyReportHtml(study, trials);
  EXPECT_NE(html.find("<h2>ASHA brackets and rungs</h2>"), std::string::npos);
  EXPECT_EQ(Count(html, "<rect class=\"rung\""), 3u);
  EXPECT_NE(html.find(">6 trials reached 1 epoch</text>"), std::string::npos);
  EXPECT_NE(html.find(">2 trials reached 3 epochs</text>"), std::string::npos);
  EXPECT_NE(html.find(">1 trial reached 9 epochs</text>"), std::string::npos);
  EXPECT_NE(html.find("r = 1, R = 9 epochs, eta = 3"), std::string::npos);
  EXPECT_EQ(Count(html, "R = 0"), 0u);
  EXPECT_EQ(Count(html, "? trials"), 0u);
}

}  // namespace
}  // namespace tuner::tunectl
