#include "api/metrics.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <string_view>
#include <system_error>

namespace logbook::api {

namespace {

bool IsValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

[[maybe_unused]] bool IsValidMetricName(std::string_view name) { return IsValidName(name, true); }

// Label names may not contain ':' and names starting "__" are reserved.
[[maybe_unused]] bool IsValidLabelName(std::string_view name) {
  return IsValidName(name, false) && !name.starts_with("__");
}

// Label names valid, none twice, sorted by name: one label set, one key.
Labels Normalize(const Labels& labels) {
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    assert(IsValidLabelName(sorted[i].first));  // programmer error: fix the label name
    assert(i == 0 || sorted[i].first != sorted[i - 1].first);  // a label given twice
  }
  return sorted;
}

// Drops a trailing +Inf (always implied) and checks the rest.
std::vector<double> NormalizeBounds(std::vector<double> bounds) {
  if (!bounds.empty() && bounds.back() == INFINITY) bounds.pop_back();
  for (size_t i = 0; i < bounds.size(); ++i) {
    assert(std::isfinite(bounds[i]));             // bounds are finite upper limits
    assert(i == 0 || bounds[i - 1] < bounds[i]);  // strictly increasing
  }
  return bounds;
}

// A sample value or "le" bound as Prometheus (and Go's ParseFloat) reads it:
// shortest round-trip text, "+Inf", "-Inf", "NaN".
void AppendDouble(std::string* out, double v) {
  if (std::isnan(v)) {
    out->append("NaN");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
  } else {
    char buf[32];
    [[maybe_unused]] auto [end, ec] =
        std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general);
    assert(ec == std::errc());  // 32 bytes hold any double
    out->append(buf, end);
  }
}

void AppendUint(std::string* out, uint64_t v) { out->append(std::to_string(v)); }

// Escapes backslash and newline, and double quote if `quote` (label values
// escape all three, HELP text the first two).
void AppendEscaped(std::string* out, std::string_view v, bool quote) {
  for (char c : v) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

// `{a="1",b="2"}` plus an optional trailing le="..."; nothing for no labels.
void AppendLabels(std::string* out, const Labels& labels, const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out->push_back(',');
    first = false;
    out->append(name);
    out->append("=\"");
    AppendEscaped(out, value, /*quote=*/true);
    out->push_back('"');
  }
  if (le != nullptr) {
    if (!first) out->push_back(',');
    out->append("le=\"");
    out->append(*le);
    out->push_back('"');
  }
  out->push_back('}');
}

void AppendSample(std::string* out, const std::string& name, std::string_view suffix,
                  const Labels& labels, const std::string* le = nullptr) {
  out->append(name);
  out->append(suffix);
  AppendLabels(out, labels, le);
  out->push_back(' ');
}

}  // namespace

void Counter::Inc(double v) {
  assert(v >= 0);  // counters only go up (NaN is refused too)
  value_.fetch_add(v, std::memory_order_relaxed);
}

void Gauge::Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(NormalizeBounds(std::move(bounds))),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double v) {
  // The first bound >= v: Prometheus buckets are "less than or equal".
  const size_t i = std::isnan(v)
                       ? bounds_.size()
                       : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                             bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

MetricsRegistry::Family& MetricsRegistry::GetFamily(const std::string& name,
                                                    const std::string& help, Type type) {
  assert(IsValidMetricName(name));  // programmer error: fix the metric name
  auto [it, created] = families_.try_emplace(name);
  Family& f = it->second;
  if (created) {
    f.type = type;
    f.help = help;
  }
  assert(f.type == type);  // one name, one type
  return f;
}

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const Labels& labels) {
  Labels key = Normalize(labels);
  std::lock_guard<std::mutex> lock(mu_);
  return GetFamily(name, help, Type::kCounter).counters.try_emplace(std::move(key)).first->second;
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const Labels& labels) {
  Labels key = Normalize(labels);
  std::lock_guard<std::mutex> lock(mu_);
  return GetFamily(name, help, Type::kGauge).gauges.try_emplace(std::move(key)).first->second;
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         std::vector<double> buckets, const Labels& labels) {
  Labels key = Normalize(labels);
  for ([[maybe_unused]] const auto& [label, value] : key) {
    assert(label != "le");  // reserved for the bucket bound
  }
  buckets = NormalizeBounds(std::move(buckets));
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = GetFamily(name, help, Type::kHistogram);
  if (f.histograms.empty()) f.buckets = buckets;
  assert(buckets == f.buckets);  // one family, one set of buckets
  return f.histograms.try_emplace(std::move(key), std::move(buckets)).first->second;
}

std::string MetricsRegistry::Render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) {
      out.append("# HELP ").append(name).push_back(' ');
      AppendEscaped(&out, f.help, /*quote=*/false);
      out.push_back('\n');
    }
    out.append("# TYPE ").append(name);
    switch (f.type) {
      case Type::kCounter:
        out.append(" counter\n");
        for (const auto& [labels, c] : f.counters) {
          AppendSample(&out, name, "", labels);
          AppendDouble(&out, c.value());
          out.push_back('\n');
        }
        break;
      case Type::kGauge:
        out.append(" gauge\n");
        for (const auto& [labels, g] : f.gauges) {
          AppendSample(&out, name, "", labels);
          AppendDouble(&out, g.value());
          out.push_back('\n');
        }
        break;
      case Type::kHistogram: {
        out.append(" histogram\n");
        std::vector<std::string> les;
        for (double b : f.buckets) {
          les.emplace_back();
          AppendDouble(&les.back(), b);
        }
        les.emplace_back("+Inf");
        for (const auto& [labels, h] : f.histograms) {
          const Histogram::Snapshot s = h.snapshot();
          for (size_t i = 0; i < les.size(); ++i) {
            AppendSample(&out, name, "_bucket", labels, &les[i]);
            AppendUint(&out, s.cumulative[i]);
            out.push_back('\n');
          }
          AppendSample(&out, name, "_sum", labels);
          AppendDouble(&out, s.sum);
          out.push_back('\n');
          AppendSample(&out, name, "_count", labels);
          AppendUint(&out, s.count);
          out.push_back('\n');
        }
        break;
      }
    }
  }
  return out;
}

std::vector<double> MetricsRegistry::LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

}  // namespace logbook::api
