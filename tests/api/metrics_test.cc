#include "api/metrics.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

using namespace logbook::api;

TEST_SUITE("api/metrics") {
  TEST_CASE("CounterWithLabelsRendersLabelsSortedByName") {
    MetricsRegistry reg;
    Counter& ok = reg.GetCounter("logbook_http_requests_total", "HTTP requests served.",
                                 {{"route", "append"}, {"code", "200"}});
    ok.Inc();
    ok.Inc(2);
    reg.GetCounter("logbook_http_requests_total", "ignored: the first help wins",
                   {{"code", "409"}, {"route", "append"}})
        .Inc();
    // The same label set in another order is the same metric.
    CHECK(&reg.GetCounter("logbook_http_requests_total", "",
                          {{"code", "200"}, {"route", "append"}}) == &ok);
    CHECK(ok.value() == 3);
    CHECK(reg.Render() ==
          "# HELP logbook_http_requests_total HTTP requests served.\n"
          "# TYPE logbook_http_requests_total counter\n"
          "logbook_http_requests_total{code=\"200\",route=\"append\"} 3\n"
          "logbook_http_requests_total{code=\"409\",route=\"append\"} 1\n");
  }

  TEST_CASE("GaugeSetAndAddRender") {
    MetricsRegistry reg;
    Gauge& g = reg.GetGauge("logbook_subscribers", "Open subscriptions.");
    g.Set(5);
    g.Add(-1.5);
    CHECK(g.value() == 3.5);
    CHECK(reg.Render() ==
          "# HELP logbook_subscribers Open subscriptions.\n"
          "# TYPE logbook_subscribers gauge\n"
          "logbook_subscribers 3.5\n");
    g.Set(INFINITY);
    CHECK(reg.Render().ends_with("logbook_subscribers +Inf\n"));
    g.Set(-INFINITY);
    CHECK(reg.Render().ends_with("logbook_subscribers -Inf\n"));
    g.Set(NAN);
    CHECK(reg.Render().ends_with("logbook_subscribers NaN\n"));
  }

  TEST_CASE("HistogramRendersCumulativeBucketsInfSumCountAndEscapedLabels") {
    MetricsRegistry reg;
    Histogram& h = reg.GetHistogram("logbook_latency_seconds", "Latency.\nIn seconds, C:\\",
                                    {0.125, 0.5, 1}, {{"path", "a\"b\\c\nd"}});
    h.Observe(0.0625);
    h.Observe(0.125);  // on a bound: counted in le="0.125"
    h.Observe(0.25);
    h.Observe(2);  // above every bound: +Inf only
    CHECK(reg.Render() ==
          "# HELP logbook_latency_seconds Latency.\\nIn seconds, C:\\\\\n"
          "# TYPE logbook_latency_seconds histogram\n"
          "logbook_latency_seconds_bucket{path=\"a\\\"b\\\\c\\nd\",le=\"0.125\"} 2\n"
          "logbook_latency_seconds_bucket{path=\"a\\\"b\\\\c\\nd\",le=\"0.5\"} 3\n"
          "logbook_latency_seconds_bucket{path=\"a\\\"b\\\\c\\nd\",le=\"1\"} 3\n"
          "logbook_latency_seconds_bucket{path=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 4\n"
          "logbook_latency_seconds_sum{path=\"a\\\"b\\\\c\\nd\"} 2.4375\n"
          "logbook_latency_seconds_count{path=\"a\\\"b\\\\c\\nd\"} 4\n");
    const Histogram::Snapshot s = h.snapshot();
    CHECK(s.cumulative == std::vector<uint64_t>{2, 3, 3, 4});
    CHECK(s.count == 4);
    CHECK(s.sum == 2.4375);
  }

  TEST_CASE("LatencyBucketsRenderAsShortBounds") {
    MetricsRegistry reg;
    Histogram& h = reg.GetHistogram("rpc_seconds", "", MetricsRegistry::LatencyBuckets());
    CHECK(h.bounds().size() == 13);
    h.Observe(0.003);
    CHECK(reg.Render() ==
          "# TYPE rpc_seconds histogram\n"
          "rpc_seconds_bucket{le=\"0.0005\"} 0\n"
          "rpc_seconds_bucket{le=\"0.001\"} 0\n"
          "rpc_seconds_bucket{le=\"0.0025\"} 0\n"
          "rpc_seconds_bucket{le=\"0.005\"} 1\n"
          "rpc_seconds_bucket{le=\"0.01\"} 1\n"
          "rpc_seconds_bucket{le=\"0.025\"} 1\n"
          "rpc_seconds_bucket{le=\"0.05\"} 1\n"
          "rpc_seconds_bucket{le=\"0.1\"} 1\n"
          "rpc_seconds_bucket{le=\"0.25\"} 1\n"
          "rpc_seconds_bucket{le=\"0.5\"} 1\n"
          "rpc_seconds_bucket{le=\"1\"} 1\n"
          "rpc_seconds_bucket{le=\"2.5\"} 1\n"
          "rpc_seconds_bucket{le=\"5\"} 1\n"
          "rpc_seconds_bucket{le=\"+Inf\"} 1\n"
          "rpc_seconds_sum 0.003\n"
          "rpc_seconds_count 1\n");
  }

  TEST_CASE("FamiliesRenderSortedByNameThenLabels") {
    MetricsRegistry reg;
    reg.GetGauge("zeta", "Z.").Set(1);
    reg.GetCounter("alpha_total", "A.", {{"k", "b"}}).Inc(1000000);
    reg.GetCounter("alpha_total", "A.", {{"k", "a"}}).Inc(0.5);
    reg.GetHistogram("mid:seconds", "M.", {1, INFINITY});  // a trailing +Inf is implied
    CHECK(reg.Render() ==
          "# HELP alpha_total A.\n"
          "# TYPE alpha_total counter\n"
          "alpha_total{k=\"a\"} 0.5\n"
          "alpha_total{k=\"b\"} 1e+06\n"
          "# HELP mid:seconds M.\n"
          "# TYPE mid:seconds histogram\n"
          "mid:seconds_bucket{le=\"1\"} 0\n"
          "mid:seconds_bucket{le=\"+Inf\"} 0\n"
          "mid:seconds_sum 0\n"
          "mid:seconds_count 0\n"
          "# HELP zeta Z.\n"
          "# TYPE zeta gauge\n"
          "zeta 1\n");
  }

  TEST_CASE("ConcurrentUpdatesFromEightThreadsSumExactly") {
    MetricsRegistry reg;
    constexpr int kThreads = 8, kPerThread = 100000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&reg, t] {
        // Every thread looks the metrics up itself, racing with the others.
        Counter& c = reg.GetCounter("ops_total", "Ops.", {{"kind", "all"}});
        Gauge& g = reg.GetGauge("inflight", "In flight.");
        Histogram& h = reg.GetHistogram("op_seconds", "Op time.", {0.25, 1});
        Counter& own = reg.GetCounter("ops_by_thread_total", "", {{"t", std::to_string(t)}});
        for (int i = 0; i < kPerThread; ++i) {
          c.Inc();
          own.Inc();
          g.Add(1);
          g.Add(-0.5);
          h.Observe(0.5);
          if (i % 20000 == 0) (void)reg.Render();  // renders race with updates; result unused
        }
      });
    }
    for (auto& th : threads) th.join();
    constexpr double kTotal = double{kThreads} * kPerThread;
    CHECK(reg.GetCounter("ops_total", "", {{"kind", "all"}}).value() == kTotal);
    CHECK(reg.GetGauge("inflight", "").value() == kTotal / 2);
    const Histogram::Snapshot s = reg.GetHistogram("op_seconds", "", {0.25, 1}).snapshot();
    CHECK(s.cumulative == std::vector<uint64_t>{0, 800000, 800000});
    CHECK(s.count == 800000);
    CHECK(s.sum == kTotal / 2);
    const std::string text = reg.Render();
    CHECK(text.find("ops_total{kind=\"all\"} 800000\n") != std::string::npos);
    CHECK(text.find("ops_by_thread_total{t=\"7\"} 100000\n") != std::string::npos);
    CHECK(text.find("op_seconds_count 800000\n") != std::string::npos);
  }
}
