// `tunectl report`: the pure HTML generator (tunectl/report.h) on hand-made studies, its SVG
// helpers (tunectl/svg.h), and the command end to end through RunTunectl against the in-process
// FakeStudyService.
#include "tunectl/report.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/tunectl/fake_study_service.h"
#include "tests/tunectl/run_cli.h"
#include "tunectl/cli.h"
#include "tunectl/commands.h"
#include "tunectl/svg.h"

namespace tuner::tunectl {
namespace {

using testing::FloatParam;
using testing::IntParam;
using testing::StringParam;

constexpr const char* kRandomSpec = R"(name: rs
algorithm: {kind: random, max_trials: 5}
search_space:
  units: {type: choice, values: [128, 256, 512]}
  optimizer: {type: choice, values: [adam, rmsprop]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic, epochs: 4}
)";

// R = 9, eta = 3: brackets 9@1 -> 3@3 -> 1@9, 5@3 -> 1@9, 3@9 (6 rungs in all).
constexpr const char* kHyperbandSpec = R"(name: hb
algorithm: {kind: hyperband, max_epochs: 9, eta: 3}
search_space:
  units: {type: choice, values: [128, 256, 512]}
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic}
)";

v1::Study MakeStudy(const std::string& name, const std::string& algorithm, const char* spec,
                    v1::Direction direction = v1::MAXIMIZE) {
  v1::Study s;
  s.set_study_id(7);
  s.set_name(name);
  s.set_state(v1::STUDY_COMPLETED);
  s.set_algorithm(algorithm);
  s.set_objective_metric("val_accuracy");
  s.set_direction(direction);
  s.set_spec_yaml(spec);
  s.set_created_at(1'700'000'000);
  return s;
}

// A trial with `epochs` per-epoch values for each of `executions`, rising to `value`.
v1::Trial MakeTrial(int64_t number, v1::TrialState state, double value, int epochs,
                    int executions = 1) {
  v1::Trial t;
  t.set_trial_id(100 + number);
  t.set_study_id(7);
  t.set_number(number);
  t.set_state(state);
  t.set_bracket(-1);
  t.set_budget_epochs(epochs);
  t.set_epochs_done(epochs);
  (*t.mutable_params())["units"] = IntParam(128);
  (*t.mutable_params())["optimizer"] = StringParam(number % 2 == 0 ? "adam" : "rmsprop");
  (*t.mutable_params())["learning_rate"] = FloatParam(0.001);
  if (state == v1::COMPLETED || state == v1::PRUNED) {
    t.set_has_value(true);
    t.set_value(value);
  }
  for (int e = 0; e < executions; ++e) {
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      v1::IntermediateValue* v = t.add_intermediate_values();
      v->set_execution(e);
      v->set_epoch(epoch);
      v->set_value(value * epoch / epochs - 0.01 * e);
    }
  }
  return t;
}

void SetBest(v1::Study& study, const std::vector<v1::Trial>& trials) {
  const bool maximize = study.direction() != v1::MINIMIZE;
  for (const v1::Trial& t : trials) {
    if (t.state() != v1::COMPLETED) continue;
    if (!study.has_best() || (maximize ? t.value() > study.best_trial().value()
                                       : t.value() < study.best_trial().value())) {
      study.set_has_best(true);
      *study.mutable_best_trial() = t;
    }
  }
}

// The points attribute of the one <polyline class="CLASS" ...>.
std::string PointsOf(const std::string& html, const std::string& cls) {
  const size_t at = html.find("<polyline class=\"" + cls + "\" points=\"");
  if (at == std::string::npos) return "";
  const size_t start = html.find("points=\"", at) + 8;
  return html.substr(start, html.find('"', start) - start);
}

void ExpectSelfContained(const std::string& html) {
  for (const char* banned : {"http://", "https://", "src=", "<script", "<link", "@import",
                             "url(", "<iframe", "<img"}) {
    EXPECT_EQ(Count(html, banned), 0u) << "found " << banned;
  }
  EXPECT_EQ(Count(html, "<svg"), Count(html, "</svg>"));
  EXPECT_EQ(Count(html, "<polyline"), Count(html, "</polyline>"));
  EXPECT_EQ(Count(html, "<section"), Count(html, "</section>"));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
}

std::vector<v1::Trial> RandomTrials() {
  std::vector<v1::Trial> trials;
  trials.push_back(MakeTrial(0, v1::COMPLETED, 0.80, 4, 2));
  trials.push_back(MakeTrial(1, v1::COMPLETED, 0.90, 4, 2));
  trials.push_back(MakeTrial(2, v1::COMPLETED, 0.85, 4, 2));
  v1::Trial failed = MakeTrial(3, v1::FAILED, 0.5, 2);
  failed.set_fail_reason("out of memory");
  trials.push_back(failed);
  trials.push_back(MakeTrial(4, v1::RUNNING, 0.4, 1));
  return trials;
}

TEST(Report, RandomStudyPlotsEveryFinishedTrialAndEveryExecutionCurve) {
  v1::Study study = MakeStudy("rs", "random", kRandomSpec);
  const std::vector<v1::Trial> trials = RandomTrials();
  SetBest(study, trials);
  const std::string html = StudyReportHtml(study, trials);
  ExpectSelfContained(html);
  EXPECT_NE(html.find("Study report: rs"), std::string::npos);
  // History: a marker per completed trial, and the best-so-far line.
  EXPECT_EQ(Count(html, "<circle class=\"pt completed\" cx"), 3u);
  EXPECT_EQ(Count(html, "<polyline class=\"best-line\""), 1u);
  // Curves: 3 completed x 2 executions, the failed and the running trial.
  EXPECT_EQ(Count(html, "<polyline class=\"curve "), 8u);
  EXPECT_EQ(Count(html, "<polyline class=\"curve failed\""), 1u);
  EXPECT_EQ(Count(html, "<polyline class=\"curve active dot\""), 1u);  // 1 epoch: a dot
  EXPECT_EQ(Count(html, "<polyline class=\"curve completed best\""), 2u);  // trial 101's two
  // Parallel coordinates: one line per completed trial, the log axis labelled.
  EXPECT_EQ(Count(html, "<polyline class=\"pc-line\""), 3u);
  EXPECT_EQ(Count(html, ">log scale</text>"), 1u);
  EXPECT_NE(html.find(">rmsprop</text>"), std::string::npos);
  // No brackets section at all for random search (it was an empty card).
  EXPECT_EQ(Count(html, "id=\"brackets\""), 0u);
  EXPECT_EQ(Count(html, "class=\"rung\""), 0u);
  // Header and table.
  EXPECT_NE(html.find("0.9000 &nbsp;(trial 101"), std::string::npos);
  EXPECT_EQ(Count(html, "<tr"), 6u);  // header + 5 trials
  EXPECT_NE(html.find("out of memory"), std::string::npos);
}

TEST(Report, BestSoFarFollowsTheDirection) {
  std::vector<v1::Trial> trials;
  const double values[] = {0.5, 0.7, 0.3, 0.2};
  for (int i = 0; i < 4; ++i) trials.push_back(MakeTrial(i, v1::COMPLETED, values[i], 2));
  auto points = [&](v1::Direction direction) {
    const std::string line =
        PointsOf(StudyReportHtml(MakeStudy("d", "random", kRandomSpec, direction), trials),
                 "best-line");
    return Count(line, ",");
  };
  // maximize: 0.5, up to 0.7 at trial 1, flat to the end.
  EXPECT_EQ(points(v1::MAXIMIZE), 4u);
  // minimize: 0.5, down to 0.3 at trial 2, down to 0.2 at trial 3, flat to the end.
  EXPECT_EQ(points(v1::MINIMIZE), 6u);
}

TEST(Report, LogParamsUseALogAxis) {
  const char* spec = R"(name: lr
algorithm: {kind: random, max_trials: 1}
search_space:
  learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, log: true}
trainer: {kind: synthetic, epochs: 2}
)";
  v1::Trial trial = MakeTrial(0, v1::COMPLETED, 0.9, 2);
  trial.mutable_params()->clear();
  (*trial.mutable_params())["learning_rate"] = FloatParam(0.001);  // the log-middle of the range
  const std::string html = StudyReportHtml(MakeStudy("lr", "random", spec), {trial});
  // Axis from y = 350 (min) to y = 50 (max): on a log scale 1e-3 sits half-way.
  EXPECT_EQ(PointsOf(html, "pc-line").substr(0, 8), "110,200 ") << PointsOf(html, "pc-line");
}

TEST(Report, HyperbandShowsEveryRungWithPlannedAndReachedTrials) {
  v1::Study study = MakeStudy("hb", "hyperband", kHyperbandSpec);
  std::vector<v1::Trial> trials;
  // Bracket 0: 9 trials at 1 epoch, 3 promoted to 3 epochs, 1 to 9 epochs.
  for (int i = 0; i < 9; ++i) {
    const int rung = i == 0 ? 2 : i < 3 ? 1 : 0;
    const int epochs = rung == 2 ? 9 : rung == 1 ? 3 : 1;
    v1::Trial t = MakeTrial(i, rung == 2 ? v1::COMPLETED : v1::PRUNED, 0.5 + 0.01 * i, epochs);
    t.set_bracket(0);
    t.set_rung(rung);
    trials.push_back(t);
  }
  // Bracket 1 has started: one trial running at rung 0.
  v1::Trial running = MakeTrial(9, v1::RUNNING, 0.3, 2);
  running.set_bracket(1);
  running.set_budget_epochs(3);
  trials.push_back(running);
  SetBest(study, trials);
  const std::string html = StudyReportHtml(study, trials);
  ExpectSelfContained(html);
  EXPECT_EQ(Count(html, "<rect class=\"rung\""), 6u);  // all 3 brackets' rungs, planned ones too
  EXPECT_NE(html.find(">9 trials @ 1 epoch</text>"), std::string::npos);
  EXPECT_NE(html.find(">3 trials @ 3 epochs</text>"), std::string::npos);
  EXPECT_NE(html.find(">reached 9/9, pruned 6</text>"), std::string::npos);
  EXPECT_NE(html.find(">reached 3/3, pruned 2</text>"), std::string::npos);
  EXPECT_NE(html.find(">reached 1/1, done 1</text>"), std::string::npos);
  EXPECT_NE(html.find(">reached 1/5, active 1</text>"), std::string::npos);
  EXPECT_NE(html.find(">reached 0/3</text>"), std::string::npos);
  EXPECT_NE(html.find("R = 9 epochs, eta = 3"), std::string::npos);
  // Pruned trials keep a visible curve of their own style; a 1-epoch curve is a dot.
  EXPECT_EQ(Count(html, "<polyline class=\"curve pruned"), 8u);
  EXPECT_EQ(Count(html, "<polyline class=\"curve pruned dot\""), 6u);
  EXPECT_EQ(Count(html, "<polyline class=\"curve "), 10u);
  EXPECT_NE(html.find("epoch (log scale"), std::string::npos);
  EXPECT_EQ(Count(html, "<polyline class=\"pc-line pc-early\""), 8u);
  EXPECT_EQ(Count(html, "<th>bracket</th>"), 1u);
}

TEST(Report, HyperbandWithoutAParsableSpecUsesTheStudysBrackets) {
  v1::Study study = MakeStudy("hb", "hyperband", "not: [a valid spec");
  v1::BracketProgress* progress = study.add_brackets();
  progress->set_bracket(0);
  progress->set_rungs(3);
  progress->set_trials(9);
  v1::Trial t = MakeTrial(0, v1::PAUSED, 0.5, 1);
  t.set_bracket(0);
  const std::string html = StudyReportHtml(study, {t});
  EXPECT_EQ(Count(html, "<rect class=\"rung\""), 3u);
  // Rung 0 plans what the bracket started with; nothing reads "? trials".
  EXPECT_NE(html.find(">9 trials @ 1 epoch</text>"), std::string::npos);
  EXPECT_EQ(Count(html, "? trials"), 0u);
}

TEST(Report, EmptyStudySaysSoInsteadOfDrawingEmptyPlots) {
  const std::string html = StudyReportHtml(MakeStudy("empty", "random", kRandomSpec), {});
  ExpectSelfContained(html);
  EXPECT_EQ(Count(html, "<svg"), 0u);
  EXPECT_NE(html.find("No finished trial has a value yet"), std::string::npos);
  EXPECT_NE(html.find("No trial has reported a per-epoch value yet"), std::string::npos);
  EXPECT_NE(html.find("No completed trial yet"), std::string::npos);
  EXPECT_NE(html.find("The study has no trials yet"), std::string::npos);
  EXPECT_NE(html.find("no completed trial yet"), std::string::npos);  // header's best
  // Trials that have not reported anything: still no empty plot.
  v1::Trial pending = MakeTrial(0, v1::PENDING, 0, 0);
  const std::string one = StudyReportHtml(MakeStudy("empty", "random", kRandomSpec), {pending});
  EXPECT_EQ(Count(one, "<svg"), 0u);
  EXPECT_EQ(Count(one, "<tr"), 2u);
}

TEST(Report, EscapesEveryStringFromTheStudy) {
  const std::string evil = "<script>alert(1)</script>";
  v1::Study study = MakeStudy(evil, "random<b>", "name: \"<script>x</script>\"\n");
  study.set_objective_metric("acc<i>");
  v1::Trial t = MakeTrial(0, v1::COMPLETED, 0.5, 2);
  (*t.mutable_params())["optimizer"] = StringParam("a<b>&\"c'");
  (*t.mutable_params())["<p>"] = StringParam("<u>");
  t.set_worker_name("<w>");
  v1::Trial failed = MakeTrial(1, v1::FAILED, 0, 1);
  failed.set_fail_reason("<img src=x onerror=alert(1)>");
  SetBest(study, {t});
  const std::string html = StudyReportHtml(study, {t, failed});
  for (const char* raw : {"<script", "<img", "<b>", "<i>", "<p>", "<u>", "<w>"}) {
    EXPECT_EQ(Count(html, raw), 0u) << raw;
  }
  EXPECT_NE(html.find("Study report: &lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("a&lt;b&gt;&amp;&quot;c&#39;"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
}

TEST(Svg, EscapeCoversTextAndAttributes) {
  EXPECT_EQ(svg::Escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(svg::Escape("plain"), "plain");
}

TEST(Svg, LinearAxisWidensToNiceTicks) {
  const svg::Axis axis = svg::FitAxis(0.31, 0.93, false, 300, 0);
  EXPECT_DOUBLE_EQ(axis.lo, 0.3);
  EXPECT_DOUBLE_EQ(axis.hi, 1.0);
  EXPECT_EQ(axis.Ticks().size(), 8u);  // 0.3, 0.4, ..., 1.0
  EXPECT_EQ(axis.Label(0.5), "0.5");
  EXPECT_DOUBLE_EQ(axis.Map(0.3), 300);
  EXPECT_DOUBLE_EQ(axis.Map(1.0), 0);
  EXPECT_DOUBLE_EQ(axis.Map(2.0), 0);  // clamped
}

TEST(Svg, LogAxisMapsDecadesEvenly) {
  const svg::Axis axis = svg::FitAxis(1e-4, 1e-2, true, 0, 200);
  EXPECT_DOUBLE_EQ(axis.Map(1e-3), 100);
  EXPECT_EQ(axis.Ticks(), (std::vector<double>{1e-4, 1e-3, 1e-2}));
  EXPECT_EQ(axis.Label(1e-4), "0.0001");
}

TEST(Svg, ViridisRunsFromPurpleToYellow) {
  EXPECT_EQ(svg::Viridis(0), "#440154");
  EXPECT_EQ(svg::Viridis(1), "#fde725");
  EXPECT_EQ(svg::Viridis(7), "#fde725");
}

// ---------------------------------------------------------------- the command

class ReportCommandTest : public ::testing::Test {
 protected:
  using Result = CliResult;
  Result Run(std::vector<std::string> args) { return RunCliAgainst(server_.address(), args); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::string Dir() {
    const std::string dir = ::testing::TempDir() + "/report-" +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
  }
  testing::FakeServer server_;
};

TEST_F(ReportCommandTest, WritesTheReportWithTheTrialsCurves) {
  const std::string path = Dir() + "/cifar.html";
  const Result r = Run({"report", "cifar", "--html", path});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "wrote " + path + " (study 1 \"cifar\", 3 trials)\n");
  EXPECT_EQ(r.err, "");
  const std::string html = Read(path);
  EXPECT_NE(html.find("Study report: cifar"), std::string::npos);
  // The fake sends per-epoch values only when asked: one curve for each of the 3 trials.
  EXPECT_EQ(Count(html, "<polyline class=\"curve "), 3u);
  EXPECT_EQ(Count(html, "<circle class=\"pt completed\" cx"), 2u);
  ExpectSelfContained(html);
}

TEST_F(ReportCommandTest, ReplacesAnExistingFileAndLeavesNoTempFile) {
  const std::string dir = Dir();
  std::ofstream(dir + "/r.html") << "old";
  ASSERT_EQ(Run({"report", "1", "--html", dir + "/r.html"}).code, kExitOk);
  EXPECT_NE(Read(dir + "/r.html").find("Study report: cifar"), std::string::npos);
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "r.html");
  }
  EXPECT_EQ(files, 1u);
  EXPECT_EQ(std::filesystem::status(dir + "/r.html").permissions() &
                std::filesystem::perms::others_read,
            std::filesystem::perms::others_read);
}

TEST_F(ReportCommandTest, BadPathIsAClearErrorNamingThePath) {
  const Result r = Run({"report", "cifar", "--html", "/nonexistent-dir/r.html"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "error: cannot write report /nonexistent-dir/r.html: No such file or directory\n");
  EXPECT_FALSE(std::filesystem::exists("/nonexistent-dir"));

  const std::string dir = Dir();
  const Result d = Run({"report", "cifar", "--html", dir});
  EXPECT_EQ(d.code, kExitError);
  EXPECT_EQ(d.err, "error: cannot write report " + dir + ": it is a directory\n");
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST_F(ReportCommandTest, UnknownStudyWritesNothing) {
  const std::string path = Dir() + "/r.html";
  const Result r = Run({"report", "99", "--html", path});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "error: study 99 not found\n");
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(ReportCommandTest, HtmlIsRequired) {
  const Result r = Run({"report", "cifar"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "error: --html is required (see tunectl report --help)\n");
}

}  // namespace
}  // namespace tuner::tunectl
