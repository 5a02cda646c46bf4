// `tunectl watch`: the ETA from epochs (tunectl/eta.h), the redraw while no event comes, the
// plain log of trial events, and a study whose every trial failed.
#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/tunectl/fake_study_service.h"
#include "tests/tunectl/run_cli.h"
#include "tunectl/commands.h"
#include "tunectl/eta.h"
#include "tunectl/study_view.h"
#include "tunectl/watch_screen.h"

namespace tuner::tunectl {
namespace {

// A synthetic study as a server would show it: `trials` trials of `epochs` epochs each, run by
// `workers` workers; each epoch of a trial takes its own time (0.6 to 1.4 x the mean), so the
// epochs of a trial come at a steady pace while trials differ. Snapshots at every epoch.
struct SyntheticStudy {
  struct Snapshot {
    double at;
    v1::Study study;
  };
  std::vector<Snapshot> snapshots;
  double end = 0;

  SyntheticStudy(int trials, int epochs, int workers, double mean_epoch_s, uint32_t seed) {
    std::mt19937 random(seed);
    std::uniform_real_distribution<double> pace(0.6, 1.4);
    std::vector<double> free_at(workers, 0.0);
    struct Epoch {
      double at;
      bool last;
    };
    std::vector<Epoch> epochs_at;
    for (int t = 0; t < trials; ++t) {
      auto worker = std::min_element(free_at.begin(), free_at.end());
      const double epoch_s = mean_epoch_s * pace(random);
      for (int e = 1; e <= epochs; ++e) epochs_at.push_back({*worker + e * epoch_s, e == epochs});
      *worker += epochs * epoch_s;
    }
    std::sort(epochs_at.begin(), epochs_at.end(),
              [](const Epoch& a, const Epoch& b) { return a.at < b.at; });
    int64_t done_epochs = 0;
    int64_t done_trials = 0;
    for (const Epoch& e : epochs_at) {
      ++done_epochs;
      done_trials += e.last ? 1 : 0;
      v1::Study study;
      study.set_study_id(1);
      study.set_state(v1::STUDY_RUNNING);
      study.set_created_at(1000);
      study.set_planned_trials(trials);
      (*study.mutable_trial_counts())["COMPLETED"] = done_trials;
      study.set_epochs_done(done_epochs);
      study.set_planned_epochs(static_cast<int64_t>(trials) * epochs);
      snapshots.push_back({1000 + e.at, study});
    }
    end = 1000 + epochs_at.back().at;
  }
};

// The ETA a 1 s redraw shows, second by second, from the first snapshot to the end.
struct Redraws {
  std::vector<double> at;
  std::vector<double> eta;
};

template <typename EtaAt>
Redraws Replay(const SyntheticStudy& s, EtaEstimator& estimator, EtaAt eta_at) {
  Redraws redraws;
  size_t next = 0;
  for (double now = s.snapshots.front().at; now < s.end; now += 1) {
    while (next < s.snapshots.size() && s.snapshots[next].at <= now) {
      estimator.Observe(s.snapshots[next].study, s.snapshots[next].at);
      ++next;
    }
    const std::optional<double> eta = eta_at(s.snapshots[next - 1].study, now);
    if (!eta) continue;
    redraws.at.push_back(now);
    redraws.eta.push_back(*eta);
  }
  return redraws;
}

// How far the ETA rose above the lowest it showed before, beyond `tolerance` of that lowest
// value and half a second: <= 0 when it only fell, within the tolerance.
double WorstRise(const Redraws& r, double tolerance) {
  double worst = 0;
  double lowest = r.eta.empty() ? 0 : r.eta[0];
  for (size_t i = 1; i < r.eta.size(); ++i) {
    worst = std::max(worst, r.eta[i] - lowest * (1 + tolerance) - 0.5);
    lowest = std::min(lowest, r.eta[i]);
  }
  return worst;
}

// The ETA of before this change: trials left over trials done per second (no credit for the
// epochs of running trials).
std::optional<double> TrialEta(const v1::Study& study, double now) {
  const double done = static_cast<double>(study.trial_counts().at("COMPLETED"));
  if (done <= 0) return std::nullopt;
  return (study.planned_trials() - done) / (done / (now - study.created_at()));
}

TEST(EtaEstimator, FallsSecondBySecondWithinTheRateNoise) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    // 12 trials of 8 epochs on 3 workers, ~1.5 s an epoch: about 48 s.
    const SyntheticStudy study(12, 8, 3, 1.5, seed);
    EtaEstimator estimator;
    const Redraws redraws = Replay(
        study, estimator, [&](const v1::Study&, double now) { return estimator.SecondsLeft(now); });
    // Unknown ("?") only for the first 5 s.
    ASSERT_GT(redraws.eta.size(), 30u);
    EXPECT_LE(redraws.at.front(), study.snapshots.front().at + 6) << "seed " << seed;
    // Redraw after redraw, the ETA never rises more than the rate's noise (15 %) above the
    // lowest it showed.
    EXPECT_LE(WorstRise(redraws, 0.15), 0.0) << "seed " << seed;
    // And it tells the time: half-way, within 30 % of the real time left.
    const size_t half = redraws.eta.size() / 2;
    const double real = study.end - redraws.at[half];
    EXPECT_NEAR(redraws.eta[half], real, 0.3 * real) << "seed " << seed;
  }
}

TEST(EtaEstimator, TheTrialCountEtaItReplacesRoseWellBeyondThatNoise) {
  // The same study and tolerance fail the old formula: its ETA grows while trials run.
  const SyntheticStudy study(12, 8, 3, 1.5, 1);
  EtaEstimator unused;
  const Redraws redraws = Replay(study, unused, TrialEta);
  EXPECT_GT(WorstRise(redraws, 0.15), 5.0);
}

TEST(EtaEstimator, CountsDownBetweenSnapshotsAndIsUnknownWithoutAPlan) {
  v1::Study study;
  study.set_state(v1::STUDY_RUNNING);
  study.set_created_at(1000);
  study.set_epochs_done(10);
  study.set_planned_epochs(30);
  EtaEstimator estimator;
  estimator.Observe(study, 1010);  // 1 epoch a second so far: 20 s left
  EXPECT_DOUBLE_EQ(*estimator.SecondsLeft(1010), 20);
  EXPECT_DOUBLE_EQ(*estimator.SecondsLeft(1013), 17);  // a slow epoch: time still passes
  EXPECT_EQ(FormatEta(study, 1010), "20s");
  study.set_created_at(1006);
  EXPECT_EQ(FormatEta(study, 1010), "?");  // created 4 s ago: too early to tell
  study.set_created_at(1000);
  study.set_planned_epochs(0);
  estimator.Observe(study, 1011);
  EXPECT_FALSE(estimator.SecondsLeft(1011));
  EXPECT_EQ(FormatEta(study, 1011), "?");
}

v1::StudyEvent Snapshot(int64_t epochs_done, v1::StudyEvent::Kind kind = v1::StudyEvent::SNAPSHOT) {
  v1::StudyEvent event;
  event.set_kind(kind);
  v1::Study* study = event.mutable_study();
  study->set_study_id(1);
  study->set_name("cifar");
  study->set_state(kind == v1::StudyEvent::STUDY_FINISHED ? v1::STUDY_COMPLETED
                                                          : v1::STUDY_RUNNING);
  study->set_algorithm("random");
  study->set_planned_trials(10);
  study->set_created_at(1000);
  study->set_epochs_done(epochs_done);
  study->set_planned_epochs(100);
  return event;
}

class WatchTest : public ::testing::Test {
 protected:
  int Watch(bool live, double* clock) {
    auto channel = grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials());
    stub_ = v1::StudyService::NewStub(channel);
    ClientOptions client;
    client.server = server_.address();
    Commands commands(*stub_, client, out_, err_);
    WatchOptions options;
    options.live = live;
    options.width = [] { return 80; };
    options.redraw_s = 0.05;
    // Each look at the clock is a second later, so each frame shows its own elapsed time.
    options.now = [clock] { return *clock += 1; };
    return commands.Watch("1", options);
  }
  testing::FakeServer server_;
  std::unique_ptr<v1::StudyService::Stub> stub_;
  std::ostringstream out_, err_;
};

TEST_F(WatchTest, RedrawsWhileNoEventComes) {
  // A snapshot, 0.6 s of nothing (a slow epoch), the end.
  server_.service().SetWatchEvents({Snapshot(50), Snapshot(100, v1::StudyEvent::STUDY_FINISHED)},
                                   /*pause_after=*/1, /*pause_s=*/0.6);
  double clock = 1049;
  ASSERT_EQ(Watch(/*live=*/true, &clock), kExitOk) << err_.str();
  const std::string text = out_.str();
  size_t frames = 0;
  for (size_t at = text.find("\x1b[J"); at != std::string::npos; at = text.find("\x1b[J", at + 1)) {
    ++frames;
  }
  // Two events, yet a frame about every 0.05 s of the pause.
  EXPECT_GE(frames, 5u) << text;
  // The frames count down: elapsed grows and the ETA falls while nothing arrives.
  EXPECT_NE(text.find("elapsed 50s  ETA 50s"), std::string::npos) << text;
  EXPECT_NE(text.find("elapsed 52s  ETA 48s"), std::string::npos) << text;
  // Every line fits 80 columns.
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t escape = line.rfind("\x1b[J");
    if (escape != std::string::npos) line = line.substr(escape + 3);
    EXPECT_LE(line.size(), 79u) << line;
  }
}

v1::StudyEvent TrialEvent(v1::TrialState state, int epochs_done) {
  v1::StudyEvent event;
  event.set_kind(v1::StudyEvent::TRIAL_UPDATED);
  *event.mutable_trial() = testing::MakeTrial(13, 1, 2, state, 512, 0.5, "adam", 0.01);
  event.mutable_trial()->set_epochs_done(epochs_done);
  return event;
}

TEST_F(WatchTest, PlainPrintsALinePerTrialEventNotPerEpoch) {
  v1::StudyEvent done = Snapshot(4);
  (*done.mutable_study()->mutable_trial_counts())["COMPLETED"] = 1;
  server_.service().SetWatchEvents({Snapshot(0), TrialEvent(v1::RUNNING, 1), Snapshot(1),
                                    TrialEvent(v1::RUNNING, 2), Snapshot(2),
                                    TrialEvent(v1::RUNNING, 3), Snapshot(3),
                                    TrialEvent(v1::COMPLETED, 4), done,
                                    Snapshot(4, v1::StudyEvent::STUDY_FINISHED)});
  double clock = 1000;
  ASSERT_EQ(Watch(/*live=*/false, &clock), kExitOk) << err_.str();
  const std::string text = out_.str();
  // The first snapshot, the trial started, the trial completed, the study line after it, the
  // end: not a line for each of the epochs in between.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5) << text;
  EXPECT_NE(text.find("trial 13 (number 2) RUNNING  epoch 1/4"), std::string::npos) << text;
  EXPECT_EQ(text.find("epoch 2/4"), std::string::npos) << text;
  EXPECT_NE(text.find("trial 13 (number 2) COMPLETED"), std::string::npos) << text;
}

TEST_F(WatchTest, AStudyWhoseEveryTrialFailedEndsTheWatchWithAnError) {
  v1::StudyEvent failed = TrialEvent(v1::FAILED, 0);
  failed.mutable_trial()->set_worker_name("w1");
  failed.mutable_trial()->set_fail_reason("trainer: CUDA out of memory\nTraceback ...");
  v1::StudyEvent end = Snapshot(0, v1::StudyEvent::STUDY_FINISHED);
  (*end.mutable_study()->mutable_trial_counts())["FAILED"] = 10;
  server_.service().SetWatchEvents({Snapshot(0), failed, end});
  double clock = 1000;
  EXPECT_EQ(Watch(/*live=*/false, &clock), kExitError);
  EXPECT_EQ(err_.str(),
            "error: study 1 ended with every trial failed (10 of 10); trial 13 (number 2) on w1: "
            "trainer: CUDA out of memory; tunectl trials 1 --state failed shows each reason\n");
  EXPECT_NE(out_.str().find("study 1 FAILED"), std::string::npos) << out_.str();
}

}  // namespace
}  // namespace tuner::tunectl
