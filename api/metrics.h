#pragma once
// A minimal Prometheus registry: counters, gauges and histograms rendered in
// the text exposition format 0.0.4 (Content-Type:
// "text/plain; version=0.0.4; charset=utf-8").
//
// A family is a metric name with its help text and type; a metric is one
// family plus one label set. The registry owns every metric for its whole
// life, so a hot path looks a metric up once (say in a constructor) and keeps
// the reference:
//
//   Counter& appends_ = registry.GetCounter(
//       "logbook_http_requests_total", "HTTP requests.", {{"route", "append"}});
//   ...
//   appends_.Inc();
//
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]* (metrics) and [a-zA-Z_][a-zA-Z0-9_]*
// (labels, which may not start with "__"); a bad name, a label given twice,
// or one name used for two types is a programmer error and asserts.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace logbook::api {

// Label name/value pairs. Their order does not matter: the registry sorts
// them by name, and renders them in that order.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing value. Thread-safety: lock-free; any thread.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // v must be >= 0 (asserted).
  void Inc(double v = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down. Thread-safety: lock-free; any thread.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets. Thread-safety: Observe is
// lock-free and may race with snapshot(); a snapshot taken during concurrent
// observations may pair a sum with counts from a moment apart, but its counts
// are always cumulative and its count equals its last (+Inf) bucket.
class Histogram {
 public:
  // `bounds`: finite upper bounds (inclusive, as Prometheus' "le"), strictly
  // increasing (asserted). A trailing +Inf is dropped: it is always implied.
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // NaN is counted in the +Inf bucket only.
  void Observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // bounds().size() + 1 entries; the last is +Inf
    double sum = 0;
    uint64_t count = 0;  // == cumulative.back()
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  // Per-bucket (not cumulative) counts; counts_[bounds_.size()] is (last, +Inf).
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Thread-safety: every method may be called from any thread. GetX and Render
// take one mutex (around the family map); updates to the returned metrics do
// not.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Families are created on first use and live as long as the registry; a
  // metric is one family name + one label set (label values escaped per the
  // exposition format). Returned references stay valid. The first call for a
  // family fixes its help text (and, for histograms, its buckets: later calls
  // must pass the same ones).
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  // "le" is reserved for the bucket label.
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          std::vector<double> buckets, const Labels& labels = {});

  // Prometheus text exposition format 0.0.4: # HELP, # TYPE, samples sorted
  // by family name, then by label set; histograms as _bucket{le="..."}
  // (cumulative, ending with le="+Inf"), _sum, _count. Every line ends "\n".
  std::string Render() const;

  // Request latency buckets in seconds: 0.0005, 0.001, 0.0025, 0.005, 0.01,
  // 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5.
  static std::vector<double> LatencyBuckets();

 private:
  enum class Type : uint8_t { kCounter = 0, kGauge = 1, kHistogram = 2 };
  struct Family {
    Type type = Type::kCounter;
    std::string help;
    std::vector<double> buckets;  // histograms only
    // One of these is used, per `type`. std::map: sorted for Render, and its
    // nodes never move, so references handed out stay valid.
    std::map<Labels, Counter> counters;
    std::map<Labels, Gauge> gauges;
    std::map<Labels, Histogram> histograms;
  };

  // Finds or creates the family (mu_ held); asserts that its type matches.
  Family& GetFamily(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;  // guarded by mu_
};

}  // namespace logbook::api
