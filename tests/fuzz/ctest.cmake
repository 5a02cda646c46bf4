# The fuzz targets as plain regression tests (any compiler, no libFuzzer): each runs its
# regression cases (tests/fuzz/regressions/<target>/, every crash ever found) and its seed
# corpus (tests/fuzz/corpus/<target>/). Included from tests/CMakeLists.txt:
#   include(${PROJECT_SOURCE_DIR}/tests/fuzz/ctest.cmake)
set(TUNER_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(TUNER_FUZZ_TARGETS fuzz_study_spec fuzz_rpc_requests)
if(TUNER_WITH_TORCH)
  list(APPEND TUNER_FUZZ_TARGETS fuzz_state_dict)
endif()
foreach(target ${TUNER_FUZZ_TARGETS})
  add_executable(${target}_regressions ${TUNER_FUZZ_DIR}/${target}.cc
    ${TUNER_FUZZ_DIR}/regression_main.cc)
  target_include_directories(${target}_regressions PRIVATE ${PROJECT_SOURCE_DIR})
  add_test(NAME fuzz.${target}.regressions
    COMMAND ${target}_regressions ${TUNER_FUZZ_DIR}/regressions/${target}
            ${TUNER_FUZZ_DIR}/corpus/${target})
  set_tests_properties(fuzz.${target}.regressions PROPERTIES TIMEOUT 120)
endforeach()
target_link_libraries(fuzz_study_spec_regressions PRIVATE tuner_search)
target_link_libraries(fuzz_rpc_requests_regressions PRIVATE tuner_server)
if(TUNER_WITH_TORCH)
  target_link_libraries(fuzz_state_dict_regressions PRIVATE tuner_torch_trainer)
endif()
