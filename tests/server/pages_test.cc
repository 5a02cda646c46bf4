// Issue 13 row 9 through the gRPC API: ListStudies and ListTrials answer in pages bounded by
// count and bytes, so studies with large specs and studies with many trials stay listable
// (also after a restart) by a client with gRPC's default 4 MiB receive limit; a bad page_size
// or page_token is INVALID_ARGUMENT naming it. A new spec over the limits is refused fast,
// while a stored one over them still loads.
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "search/spec_limits.h"
#include "storage/database.h"
#include "tests/server/specs.h"
#include "tests/server/study_rpc.h"
#include "tests/testing/test_server.h"
#include "tuner-server/pagination.h"

namespace tuner::testing {
namespace {

using ::testing::HasSubstr;

// gRPC's default max receive size on a client (grpc::CreateChannel without arguments).
constexpr size_t kClientReceiveLimit = 4 << 20;
// What one page may hold: the byte bound plus the item that crossed it.
constexpr size_t kMaxPageBytes = server::kMaxPageBytes + (1 << 20) + 4096;

grpc::Status ListStudies(TestServer& server, const v1::ListStudiesRequest& request,
                         v1::ListStudiesResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return server.studies().ListStudies(&context, request, response);
}

grpc::Status ListTrialsPage(TestServer& server, const v1::ListTrialsRequest& request,
                            v1::ListTrialsResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return server.studies().ListTrials(&context, request, response);
}

// Every page of ListStudies; each reply's size goes to page_bytes.
std::vector<v1::Study> AllStudies(TestServer& server, v1::ListStudiesRequest request,
                                  std::vector<size_t>* page_bytes) {
  std::vector<v1::Study> studies;
  do {
    v1::ListStudiesResponse response;
    const grpc::Status status = ListStudies(server, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) break;
    page_bytes->push_back(response.ByteSizeLong());
    studies.insert(studies.end(), response.studies().begin(), response.studies().end());
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return studies;
}

struct PageSize {
  int items = 0;
  size_t bytes = 0;
};

std::vector<v1::Trial> AllTrials(TestServer& server, v1::ListTrialsRequest request,
                                 std::vector<PageSize>* pages) {
  std::vector<v1::Trial> trials;
  do {
    v1::ListTrialsResponse response;
    const grpc::Status status = ListTrialsPage(server, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) break;
    pages->push_back({response.trials_size(), response.ByteSizeLong()});
    trials.insert(trials.end(), response.trials().begin(), response.trials().end());
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return trials;
}

// The attack: 24 studies with a 900 KB spec each, 21.6 MB in all. On main one ListStudies
// reply carried every spec: over the server's 16 MiB send limit (RESOURCE_EXHAUSTED for
// everyone, also after a restart) and over a client's 4 MiB receive limit long before.
TEST(Pages, StudiesWithLargeSpecsAreListedInBoundedPagesAlsoAfterARestart) {
  TestServer server;
  const std::string padding = "# " + std::string(900 * 1000, 'x') + "\n";
  std::vector<int64_t> ids;
  for (int i = 0; i < 24; ++i) ids.push_back(CreateStudy(server, RandomSpec(1, 1) + padding));

  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "as created" : "after a restart");
    // Without spec_yaml (the default) the whole list is one small page.
    v1::ListStudiesResponse plain;
    ASSERT_TRUE(ListStudies(server, {}, &plain).ok());
    ASSERT_EQ(plain.studies_size(), 24);
    EXPECT_TRUE(plain.next_page_token().empty());
    EXPECT_LT(plain.ByteSizeLong(), 64u << 10);
    for (const v1::Study& study : plain.studies()) EXPECT_TRUE(study.spec_yaml().empty());

    // With spec_yaml: every study, in id order, each page under the bound.
    v1::ListStudiesRequest request;
    request.set_with_spec_yaml(true);
    std::vector<size_t> page_bytes;
    const std::vector<v1::Study> studies = AllStudies(server, request, &page_bytes);
    std::vector<int64_t> listed;
    size_t total = 0;
    for (const v1::Study& study : studies) {
      listed.push_back(study.study_id());
      EXPECT_GT(study.spec_yaml().size(), 900000u);
    }
    EXPECT_EQ(listed, ids);
    for (size_t bytes : page_bytes) {
      EXPECT_LE(bytes, kMaxPageBytes);
      EXPECT_LT(bytes, kClientReceiveLimit);
      total += bytes;
    }
    EXPECT_GT(total, size_t{16} << 20);  // what one reply used to carry
    EXPECT_GE(page_bytes.size(), 12u);

    // page_size counts too.
    request.set_with_spec_yaml(false);
    request.set_page_size(5);
    page_bytes.clear();
    EXPECT_EQ(AllStudies(server, request, &page_bytes).size(), 24u);
    EXPECT_EQ(page_bytes.size(), 5u);  // 5 + 5 + 5 + 5 + 4
    server.Restart();
  }
}

// Writes `count` COMPLETED trials of study_id straight into a stopped server's db (RPCs would
// take minutes), the first `with_values` of them with `epochs` intermediate values of 10
// metrics each.
void AddTrials(const std::string& db_path, int64_t study_id, int count, int with_values,
               int epochs) {
  auto db = storage::Database::Open(db_path);
  ASSERT_TRUE(db.ok()) << db.status();
  auto snapshot = (*db)->LoadSnapshot();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  int64_t next_id = 1;
  int64_t next_number = 0;
  for (const storage::TrialRow& row : snapshot->trials) {
    next_id = std::max(next_id, row.id + 1);
    if (row.study_id == study_id) next_number = std::max(next_number, row.number + 1);
  }
  std::string metrics = "{";
  for (int m = 0; m < 10; ++m) metrics += (m ? ",\"metric_" : "\"metric_") + std::to_string(m) + "\":0.123456789";
  metrics += "}";
  ASSERT_TRUE((*db)->Begin().ok());
  for (int i = 0; i < count; ++i) {
    storage::TrialRow trial;
    trial.id = next_id + i;
    trial.study_id = study_id;
    trial.number = next_number + i;
    trial.params_json =
        R"({"units": 256, "dropout": 0.3, "optimizer": "adam", "learning_rate": 0.001})";
    trial.state = "COMPLETED";
    trial.value = 0.5 + 1e-4 * i;
    trial.epochs_done = 1;
    trial.budget_epochs = 1;
    trial.created_at = 1.7e9;
    ASSERT_TRUE((*db)->Write(trial).ok());
    if (i >= with_values) continue;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      storage::IntermediateRow value;
      value.trial_id = trial.id;
      value.epoch = epoch;
      value.value = 0.5;
      value.metrics_json = metrics;
      value.reported_at = 1.7e9;
      ASSERT_TRUE((*db)->Write(value).ok());
    }
  }
  ASSERT_TRUE((*db)->Commit().ok());
}

// 3,000 trials, 300 of them with 100 epochs of values (about 8 MB with the values): on main
// ListTrials with the values was one reply past a client's 4 MiB limit.
TEST(Pages, ManyTrialsAreListedInPagesBoundedByCountAndBytes) {
  TestServer server;
  const int64_t id = CreateStudy(server, RandomSpec(5000, 1));
  server.Stop();
  AddTrials(server.db_path(), id, 3000, 300, 100);
  server.Start();

  v1::ListTrialsRequest request;
  request.set_study_id(id);
  std::vector<PageSize> pages;
  std::vector<v1::Trial> trials = AllTrials(server, request, &pages);
  ASSERT_EQ(trials.size(), 3000u);
  for (size_t i = 0; i < trials.size(); ++i) ASSERT_EQ(trials[i].number(), static_cast<int64_t>(i));
  EXPECT_EQ(pages.size(), 3u);  // the default page size is 1000

  request.set_with_intermediate_values(true);
  pages.clear();
  trials = AllTrials(server, request, &pages);
  ASSERT_EQ(trials.size(), 3000u);
  size_t values = 0;
  size_t total = 0;
  for (size_t i = 0; i < trials.size(); ++i) {
    ASSERT_EQ(trials[i].number(), static_cast<int64_t>(i));
    values += trials[i].intermediate_values_size();
    total += trials[i].ByteSizeLong();
  }
  EXPECT_EQ(values, 300u * 100u);
  EXPECT_GT(total, kClientReceiveLimit);  // what one reply used to carry
  EXPECT_GT(pages.size(), 5u);
  for (const PageSize& page : pages) {
    EXPECT_LE(page.items, 1000);
    EXPECT_LE(page.bytes, kMaxPageBytes);
    EXPECT_LT(page.bytes, kClientReceiveLimit);
  }

  // page_size with a state filter: pages of exactly 7 but the last.
  request.set_with_intermediate_values(false);
  request.set_page_size(7);
  request.add_states(v1::COMPLETED);
  pages.clear();
  trials = AllTrials(server, request, &pages);
  EXPECT_EQ(trials.size(), 3000u);
  ASSERT_EQ(pages.size(), 429u);  // 428 * 7 + 4
  for (size_t p = 0; p + 1 < pages.size(); ++p) EXPECT_EQ(pages[p].items, 7) << "page " << p;
}

TEST(Pages, ABadPageSizeOrPageTokenIsInvalidArgumentNamingIt) {
  TestServer server;
  const int64_t a = CreateStudy(server, RandomSpec(5, 1));
  const int64_t b = CreateStudy(server, RandomSpec(5, 1));
  server.Stop();
  AddTrials(server.db_path(), a, 3, 0, 0);
  AddTrials(server.db_path(), b, 3, 0, 0);
  server.Start();

  const auto trials_status = [&](int64_t study, int32_t page_size, const std::string& token) {
    v1::ListTrialsRequest request;
    request.set_study_id(study);
    request.set_page_size(page_size);
    request.set_page_token(token);
    v1::ListTrialsResponse response;
    return ListTrialsPage(server, request, &response);
  };
  const auto studies_status = [&](int32_t page_size, const std::string& token) {
    v1::ListStudiesRequest request;
    request.set_page_size(page_size);
    request.set_page_token(token);
    v1::ListStudiesResponse response;
    return ListStudies(server, request, &response);
  };
  for (const grpc::Status& status : {studies_status(-1, ""), studies_status(1001, ""),
                                     trials_status(a, -5, ""), trials_status(a, 10001, "")}) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("page_size: must be 0 (the default"));
  }

  // A real token of study a's trials, and of the studies.
  v1::ListTrialsRequest request;
  request.set_study_id(a);
  request.set_page_size(2);
  v1::ListTrialsResponse first;
  ASSERT_TRUE(ListTrialsPage(server, request, &first).ok());
  ASSERT_EQ(first.trials_size(), 2);
  ASSERT_FALSE(first.next_page_token().empty());
  v1::ListStudiesRequest studies_request;
  studies_request.set_page_size(1);
  v1::ListStudiesResponse studies_page;
  ASSERT_TRUE(ListStudies(server, studies_request, &studies_page).ok());
  ASSERT_FALSE(studies_page.next_page_token().empty());

  for (const grpc::Status& status :
       {trials_status(a, 0, "not-a-token"), trials_status(a, 0, first.next_page_token() + "x"),
        trials_status(b, 0, first.next_page_token()),  // another study's
        trials_status(a, 0, studies_page.next_page_token()),
        studies_status(0, first.next_page_token()), studies_status(0, "%%%")}) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("page_token: "));
  }
  // The token still works where it belongs, with any page_size.
  request.set_page_size(0);
  request.set_page_token(first.next_page_token());
  v1::ListTrialsResponse rest;
  ASSERT_TRUE(ListTrialsPage(server, request, &rest).ok());
  ASSERT_EQ(rest.trials_size(), 1);
  EXPECT_EQ(rest.trials(0).number(), 2);
  EXPECT_TRUE(rest.next_page_token().empty());
}

// Trials created between two pages come on a later page; none is listed twice.
TEST(Pages, TrialsAddedBetweenPagesAreListedOnceEach) {
  TestServer server;
  const int64_t id = CreateStudy(server, RandomSpec(50, 1));
  server.Stop();
  AddTrials(server.db_path(), id, 5, 0, 0);
  server.Start();
  v1::ListTrialsRequest request;
  request.set_study_id(id);
  request.set_page_size(4);
  v1::ListTrialsResponse first;
  ASSERT_TRUE(ListTrialsPage(server, request, &first).ok());
  ASSERT_EQ(first.trials_size(), 4);
  v1::EnqueueTrialRequest enqueue;
  enqueue.set_study_id(id);
  (*enqueue.mutable_params())["units"].set_int_value(128);
  (*enqueue.mutable_params())["dropout"].set_float_value(0.2);
  (*enqueue.mutable_params())["optimizer"].set_string_value("adam");
  (*enqueue.mutable_params())["learning_rate"].set_float_value(0.001);
  v1::EnqueueTrialResponse enqueued;
  grpc::ClientContext context;
  const grpc::Status status = server.studies().EnqueueTrial(&context, enqueue, &enqueued);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<int64_t> numbers;
  for (const v1::Trial& trial : first.trials()) numbers.push_back(trial.number());
  request.set_page_token(first.next_page_token());
  std::vector<PageSize> pages;
  for (const v1::Trial& trial : AllTrials(server, request, &pages)) numbers.push_back(trial.number());
  EXPECT_EQ(numbers, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
}

std::string ManyParamSpec(int params) {
  std::string spec = "name: many\nalgorithm: {kind: random, max_trials: 3}\n"
                     "trainer: {kind: synthetic}\nsearch_space:\n";
  for (int i = 0; i < params; ++i) {
    spec += "  p" + std::to_string(i) + ": {type: float, min: 0, max: 1}\n";
  }
  return spec;
}

// A 20,000-param spec cost 3.6 s of CPU per CreateStudy on main (and 27 s at each restart
// once stored); now it is refused before it is parsed, and nothing is created.
TEST(SpecLimits, ANewTwentyThousandParamStudyIsRefusedFastAndCreatesNothing) {
  TestServer server;
  v1::CreateStudyRequest request;
  request.set_spec_yaml(ManyParamSpec(20000));
  v1::CreateStudyResponse response;
  grpc::ClientContext context;
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status status = server.studies().CreateStudy(&context, request, &response);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "search_space: has 20000 params, more than the limit of 1000");
  EXPECT_LT(seconds, 2.0);  // ~0.25 s in a Release build
  v1::ListStudiesResponse listed;
  ASSERT_TRUE(ListStudies(server, {}, &listed).ok());
  EXPECT_EQ(listed.studies_size(), 0);
}

// The limits apply to new studies only: a db that holds a study over both (made before the
// limits) loads and serves it; the same spec sent again is refused.
TEST(SpecLimits, AStoredStudyOverTheLimitsStillLoadsAfterARestart) {
  TestServer server;
  const int64_t id = CreateStudy(server, RandomSpec(3, 1));
  const std::string big = ManyParamSpec(1500) + "# " + std::string(search::kMaxSpecBytes, 'x') + "\n";
  server.Stop();
  {
    auto db = storage::Database::Open(server.db_path());
    ASSERT_TRUE(db.ok()) << db.status();
    auto snapshot = (*db)->LoadSnapshot();
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    ASSERT_EQ(snapshot->studies.size(), 1u);
    storage::StudyRow row = snapshot->studies[0];
    row.spec_yaml = big;
    ASSERT_TRUE((*db)->Begin().ok());
    ASSERT_TRUE((*db)->Write(row).ok());
    ASSERT_TRUE((*db)->Commit().ok());
  }
  server.Start();
  v1::Study study = GetStudy(server, id);
  EXPECT_EQ(study.spec_yaml(), big);
  v1::ListStudiesRequest with_spec;
  with_spec.set_with_spec_yaml(true);
  v1::ListStudiesResponse listed;
  ASSERT_TRUE(ListStudies(server, with_spec, &listed).ok());
  ASSERT_EQ(listed.studies_size(), 1);
  EXPECT_EQ(listed.studies(0).spec_yaml().size(), big.size());

  v1::CreateStudyRequest request;
  request.set_spec_yaml(big);
  v1::CreateStudyResponse response;
  grpc::ClientContext context;
  const grpc::Status status = server.studies().CreateStudy(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "spec_yaml: is " + std::to_string(big.size()) +
                " bytes, more than the limit of 1048576 (1 MiB)");
}

}  // namespace
}  // namespace tuner::testing
