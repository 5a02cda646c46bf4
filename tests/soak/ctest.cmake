# The short soak (150 trials, 8 workers, one server kill, about 30 s) as a ctest test. The long
# one (1000 trials, 16 workers, two server kills) is run by hand: see docs/reliability.md.
# Included from tests/CMakeLists.txt:
#   include(${PROJECT_SOURCE_DIR}/tests/soak/ctest.cmake)
add_test(NAME soak.short
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/soak.sh $<TARGET_FILE:tuner-server>
          $<TARGET_FILE:trial-worker> --trials 150 --workers 8 --server-kills 1 --seconds 90)
set_tests_properties(soak.short PROPERTIES TIMEOUT 120 RUN_SERIAL TRUE)
