// tunectl/format.h: numbers, params, states and tables as people read them.
#include "tunectl/format.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace tuner::tunectl {
namespace {

TEST(FormatFloat, IsTheShortestTextThatReadsBackLikePythonRepr) {
  EXPECT_EQ(FormatFloat(0.3), "0.3");
  EXPECT_EQ(FormatFloat(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatFloat(0.0001), "0.0001");
  EXPECT_EQ(FormatFloat(1e-05), "1e-05");
  EXPECT_EQ(FormatFloat(0.00123), "0.00123");
  EXPECT_EQ(FormatFloat(1.0), "1.0");
  EXPECT_EQ(FormatFloat(0.0), "0.0");
  EXPECT_EQ(FormatFloat(-2.5), "-2.5");
  EXPECT_EQ(FormatFloat(123456.0), "123456.0");
  EXPECT_EQ(FormatFloat(1e16), "1e+16");
  EXPECT_EQ(FormatFloat(1.5e-7), "1.5e-07");
  EXPECT_EQ(FormatFloat(std::nan("")), "nan");
  EXPECT_EQ(FormatFloat(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(FormatValue, ShowsFourDecimals) {
  EXPECT_EQ(FormatValue(0.91234567), "0.9123");
  EXPECT_EQ(FormatValue(1), "1.0000");
  EXPECT_EQ(FormatValue(-1.23456), "-1.2346");
}

TEST(FormatMetric, KeepsSmallMagnitudesReadable) {
  EXPECT_EQ(FormatMetric(0.25), "0.2500");
  EXPECT_EQ(FormatMetric(0.001234567), "0.001235");
  EXPECT_EQ(FormatMetric(0), "0.0000");
}

TEST(FormatParam, KeepsIntsFloatsAndStringsApart) {
  v1::ParamValue v;
  v.set_int_value(256);
  EXPECT_EQ(FormatParam(v), "256");
  v.set_float_value(256);
  EXPECT_EQ(FormatParam(v), "256.0");
  v.set_string_value("adam");
  EXPECT_EQ(FormatParam(v), "adam");
}

TEST(FormatParams, SortsByName) {
  google::protobuf::Map<std::string, v1::ParamValue> params;
  params["units"].set_int_value(128);
  params["dropout"].set_float_value(0.2);
  params["optimizer"].set_string_value("adam");
  EXPECT_EQ(FormatParams(params), "dropout=0.2 optimizer=adam units=128");
}

TEST(ParseTrialState, IsCaseInsensitiveAndNamesTheChoicesWhenUnknown) {
  EXPECT_EQ(ParseTrialState("completed"), v1::COMPLETED);
  EXPECT_EQ(ParseTrialState("Pruned"), v1::PRUNED);
  EXPECT_EQ(ParseTrialState("STOPPED"), v1::STOPPED);
  EXPECT_FALSE(ParseTrialState("done").has_value());
  EXPECT_FALSE(ParseTrialState("").has_value());
  EXPECT_EQ(UnknownTrialStateMessage("done"),
            "unknown trial state \"done\" (allowed: pending, running, paused, completed, pruned, "
            "failed, stopped)");
}

TEST(TrialCounts, DoneCountsEveryFinalState) {
  v1::Study study;
  (*study.mutable_trial_counts())["COMPLETED"] = 3;
  (*study.mutable_trial_counts())["PRUNED"] = 2;
  (*study.mutable_trial_counts())["FAILED"] = 1;
  (*study.mutable_trial_counts())["RUNNING"] = 4;
  EXPECT_EQ(DoneCount(study), 6);
  EXPECT_EQ(TotalCount(study), 10);
  EXPECT_EQ(DoneOfPlanned(study), "6/?");
  study.set_planned_trials(20);
  EXPECT_EQ(DoneOfPlanned(study), "6/20");
}

TEST(FormatDuration, UsesTheTwoLargestUnits) {
  EXPECT_EQ(FormatDuration(45), "45s");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatDuration(2 * 3600 + 7 * 60 + 9), "2h07m");
  EXPECT_EQ(FormatDuration(3 * 86400 + 4 * 3600), "3d04h");
  EXPECT_EQ(FormatDuration(-1), "-");
  EXPECT_EQ(FormatDuration(std::nan("")), "-");
}

TEST(ProgressBar, FillsInProportionAndIsFullOnlyWhenDone) {
  EXPECT_EQ(ProgressBar(0, 10, 10), "[----------]");
  EXPECT_EQ(ProgressBar(5, 10, 10), "[#####-----]");
  EXPECT_EQ(ProgressBar(99, 100, 10), "[#########-]");
  EXPECT_EQ(ProgressBar(10, 10, 10), "[##########]");
  EXPECT_EQ(ProgressBar(3, 0, 4), "[----]");
}

TEST(Table, PadsColumnsToTheWidestCellAndRightAlignsNumbers) {
  Table table({"ID", "NAME", "VALUE"});
  table.SetAlign(0, Table::Align::kRight);
  table.SetAlign(2, Table::Align::kRight);
  table.AddRow({"1", "cifar", "0.9123"});
  table.AddRow({"12", "a-much-longer-name", "-"});
  EXPECT_EQ(table.Render(),
            "ID  NAME                 VALUE\n"
            " 1  cifar               0.9123\n"
            "12  a-much-longer-name       -\n");
}

TEST(Table, HasNoTrailingSpacesAndPadsShortRows) {
  Table table({"A", "LONG-HEADER"});
  table.AddRow({"xyz"});
  EXPECT_EQ(table.Render(), "A    LONG-HEADER\nxyz\n");
}

TEST(Table, CountsUtf8CharactersNotBytes) {
  Table table({"NAME", "X"});
  table.AddRow({"étude", "1"});
  table.AddRow({"study", "2"});
  EXPECT_EQ(table.Render(), "NAME   X\nétude  1\nstudy  2\n");
}

TEST(FitWidth, CutsLinesSoTheyNeverWrap) {
  EXPECT_EQ(FitWidth("abcdef", 5), "abcd");
  EXPECT_EQ(FitWidth("abc", 5), "abc");
  EXPECT_EQ(FitWidth("éééé", 4), "ééé");
}

}  // namespace
}  // namespace tuner::tunectl
