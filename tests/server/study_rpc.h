// StudyService calls the server tests share: each checks that the call succeeded.
#ifndef TUNER_TESTS_SERVER_STUDY_RPC_H_
#define TUNER_TESTS_SERVER_STUDY_RPC_H_

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/test_server.h"

namespace tuner::testing {

inline int64_t CreateStudy(TestServer& server, const std::string& spec) {
  v1::CreateStudyRequest request;
  request.set_spec_yaml(spec);
  v1::CreateStudyResponse response;
  grpc::ClientContext context;
  grpc::Status status = server.studies().CreateStudy(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.study_id();
}

inline v1::Study GetStudy(TestServer& server, int64_t id) {
  v1::GetStudyRequest request;
  request.set_study_id(id);
  v1::Study study;
  grpc::ClientContext context;
  EXPECT_TRUE(server.studies().GetStudy(&context, request, &study).ok());
  return study;
}

// Every trial of the study, page after page.
inline std::vector<v1::Trial> ListTrials(TestServer& server, int64_t id,
                                         bool with_values = false) {
  v1::ListTrialsRequest request;
  request.set_study_id(id);
  request.set_with_intermediate_values(with_values);
  std::vector<v1::Trial> trials;
  do {
    v1::ListTrialsResponse response;
    grpc::ClientContext context;
    const grpc::Status status = server.studies().ListTrials(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) break;
    trials.insert(trials.end(), response.trials().begin(), response.trials().end());
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return trials;
}

}  // namespace tuner::testing

#endif  // TUNER_TESTS_SERVER_STUDY_RPC_H_
