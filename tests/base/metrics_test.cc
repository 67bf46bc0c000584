#include "base/metrics.h"

#include <gtest/gtest.h>

namespace nexus {
namespace {

TEST(MetricsTest, RecordsCountsErrorsAndBuckets) {
  OpMetrics m("nexus_test", "op", {"read", "write"});
  ASSERT_NE(m.Find("read"), nullptr);
  EXPECT_EQ(m.Find("nope"), nullptr);
  m.Find("read")->Record(800, false);            // <= 1 us
  m.Find("read")->Record(3'000, true);           // <= 5 us
  m.Find("read")->Record(2'000'000'000, false);  // +Inf
  std::string out;
  m.AppendPrometheus(&out);
  EXPECT_NE(out.find("nexus_test_requests_total{op=\"read\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("nexus_test_errors_total{op=\"read\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("nexus_test_latency_seconds_bucket{op=\"read\",le=\"1e-06\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("nexus_test_latency_seconds_bucket{op=\"read\",le=\"5e-06\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("nexus_test_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("nexus_test_latency_seconds_count{op=\"read\"} 3\n"), std::string::npos);
  // Operations never called are left out.
  EXPECT_EQ(out.find("op=\"write\""), std::string::npos);
}

TEST(MetricsTest, TimerMarksFailures) {
  OpMetrics m("nexus_test", "op", {"x"});
  {
    OpTimer t(m.Find("x"));
    t.Fail();
  }
  { OpTimer t(m.Find("x")); }
  { OpTimer t(nullptr); }  // not measured: no crash
  EXPECT_EQ(m.Find("x")->count.load(), 2u);
  EXPECT_EQ(m.Find("x")->errors.load(), 1u);
}

}  // namespace
}  // namespace nexus
