#include "projections/costs.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "log/coding.h"
#include "log/event_types.h"
#include "projections/payload.h"

namespace logbook {

namespace {

constexpr uint16_t kUsage = static_cast<uint16_t>(fb::EventType::UsageRecorded);
constexpr uint16_t kBudgetSet = static_cast<uint16_t>(fb::EventType::BudgetSet);
constexpr uint16_t kAnomaly = static_cast<uint16_t>(fb::EventType::CostAnomaly);

// ---- varints (LevelDB's encoding: 7 bits per byte, low bits first)

void PutVarint(std::string* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// Spend sums saturate instead of overflowing: a usage appended around the
// API may carry any amount.
int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

uint64_t Inv(int64_t ts) { return UINT64_MAX - static_cast<uint64_t>(std::max<int64_t>(ts, 0)); }

// ---- calendar (Howard Hinnant's civil-date algorithms, proleptic Gregorian)

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

int64_t Floor(int64_t us, int64_t unit) { return std::max<int64_t>(us, 0) / unit * unit; }

// ---- keys

std::string TenantPrefix(char kind, std::string_view tenant) {
  std::string k(1, kind);
  k.append(tenant);
  k.push_back('\0');
  return k;
}

std::string TimeKey(char kind, std::string_view tenant, int64_t ts) {
  std::string k = TenantPrefix(kind, tenant);
  coding::PutFixed64BE(&k, static_cast<uint64_t>(ts));
  return k;
}

// NUL separates provider from model in keys; keep it out of the names.
std::string KeyName(std::string s) {
  std::replace(s.begin(), s.end(), '\0', '?');
  return s;
}

std::string ModelKey(char kind, std::string_view tenant, int64_t ts, const std::string& provider,
                     const std::string& model) {
  std::string k = TimeKey(kind, tenant, ts);
  k.append(provider);
  k.push_back('\0');
  k.append(model);
  return k;
}

std::string IndexKey(char kind, std::string_view tenant, int64_t ts, uint64_t lsn) {
  std::string k = TenantPrefix(kind, tenant);
  coding::PutFixed64BE(&k, Inv(ts));
  coding::PutFixed64BE(&k, lsn);
  return k;
}

// ---- values

std::string EncodeQuarter(const QuarterCount& q) {
  std::string v;
  PutVarint(&v, q.events);
  PutVarint(&v, q.successes);
  PutVarint(&v, ZigZag(q.usd_micros));
  return v;
}

bool DecodeQuarter(std::string_view v, QuarterCount* q) {
  uint64_t usd = 0;
  if (!GetVarint(&v, &q->events) || !GetVarint(&v, &q->successes) || !GetVarint(&v, &usd)) {
    return false;
  }
  q->usd_micros = UnZigZag(usd);
  return v.empty();
}

Result<int64_t> GetSpend(ViewReader& r, const std::string& key) {
  Result<std::optional<std::string>> v = r.Get(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return int64_t{0};
  std::string_view in = **v;
  uint64_t z = 0;
  if (!GetVarint(&in, &z) || !in.empty()) return Status::Corruption("costs: spend of bad form");
  return UnZigZag(z);
}

Status AddSpend(ViewTxn& txn, const std::string& key, int64_t usd) {
  Result<int64_t> cur = GetSpend(txn, key);
  if (!cur.ok()) return cur.status();
  std::string v;
  PutVarint(&v, ZigZag(SatAdd(*cur, usd)));
  txn.Put(key, v);
  return Status::OK();
}

Status AddStats(ViewTxn& txn, const std::string& key, const UsageStats& add) {
  Result<std::optional<std::string>> cur = txn.Get(key);
  if (!cur.ok()) return cur.status();
  UsageStats s;
  if (cur->has_value() && !UsageStats::Decode(**cur, &s)) {
    return Status::Corruption("costs: usage bucket of bad form");
  }
  s.Add(add);
  txn.Put(key, s.Encode());
  return Status::OK();
}

Status AddQuarter(ViewTxn& txn, const std::string& key, const QuarterCount& add) {
  Result<std::optional<std::string>> cur = txn.Get(key);
  if (!cur.ok()) return cur.status();
  QuarterCount q;
  if (cur->has_value() && !DecodeQuarter(**cur, &q)) {
    return Status::Corruption("costs: quarter bucket of bad form");
  }
  q.events += add.events;
  q.successes += add.successes;
  q.usd_micros = SatAdd(q.usd_micros, add.usd_micros);
  txn.Put(key, EncodeQuarter(q));
  return Status::OK();
}

std::string BudgetJson(const BudgetRecord& b) {
  return nlohmann::json{{"daily_usd_micros", b.daily_usd_micros},
                        {"monthly_usd_micros", b.monthly_usd_micros},
                        {"soft_threshold", b.soft_threshold},
                        {"hard_threshold", b.hard_threshold},
                        {"by", b.by},
                        {"set_at_us", b.set_at_us},
                        {"lsn", b.lsn}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool BudgetFromJson(std::string_view text, BudgetRecord* b) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  try {
    b->daily_usd_micros = j.at("daily_usd_micros").get<int64_t>();
    b->monthly_usd_micros = j.at("monthly_usd_micros").get<int64_t>();
    b->soft_threshold = j.at("soft_threshold").get<double>();
    b->hard_threshold = j.at("hard_threshold").get<double>();
    b->by = j.at("by").get<std::string>();
    b->set_at_us = j.at("set_at_us").get<int64_t>();
    b->lsn = j.at("lsn").get<uint64_t>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

Status ApplyUsage(const Event& e, ViewTxn& txn) {
  payload::Root<fb::UsageRecorded> p(e);
  if (!p) return Status::OK();  // encrypted or unreadable: nothing to count
  const int64_t t =
      std::max<int64_t>(p->occurred_at_us() != 0 ? p->occurred_at_us() : e.recorded_at_us, 0);
  const std::string provider = KeyName(payload::Str(p->provider()));
  const std::string model = KeyName(payload::Str(p->model()));
  UsageStats one;
  one.events = 1;
  one.successes = p->success() ? 1 : 0;
  one.tokens_in = p->tokens_in();
  one.tokens_out = p->tokens_out();
  one.usd_micros = std::max<int64_t>(p->usd_micros(), 0);
  one.latency_sum_ms = p->latency_ms();
  one.latency_max_ms = p->latency_ms();
  one.latency[LatencyBucket(p->latency_ms())] = 1;
  const QuarterCount q{0, 1, one.successes, one.usd_micros};
  for (std::string_view tenant : {std::string_view(e.tenant), kAllTenants}) {
    Status s = AddStats(txn, ModelKey('h', tenant, HourStart(t), provider, model), one);
    if (s.ok()) s = AddStats(txn, ModelKey('d', tenant, DayStart(t), provider, model), one);
    if (s.ok()) s = AddQuarter(txn, TimeKey('q', tenant, QuarterStart(t)), q);
    if (s.ok()) s = AddSpend(txn, TimeKey('D', tenant, DayStart(t)), one.usd_micros);
    if (s.ok()) s = AddSpend(txn, TimeKey('M', tenant, MonthStart(t)), one.usd_micros);
    if (!s.ok()) return s;
  }
  txn.Put(IndexKey('e', e.tenant, t, e.lsn), "");
  return Status::OK();
}

Status ApplyBudgetSet(const Event& e, ViewTxn& txn) {
  payload::Root<fb::BudgetSet> p(e);
  if (!p || e.actor.role != Role::kAdmin) return Status::OK();
  const std::string scope = payload::Str(p->scope());
  std::string_view target;
  if (scope == "global" && e.tenant.empty()) {
    target = kAllTenants;
  } else if ((scope == "tenant" || scope.empty()) && !e.tenant.empty()) {
    target = e.tenant;
  } else {
    return Status::OK();
  }
  BudgetRecord b;
  b.daily_usd_micros = std::max<int64_t>(p->daily_usd_micros(), 0);
  b.monthly_usd_micros = std::max<int64_t>(p->monthly_usd_micros(), 0);
  b.soft_threshold = p->soft_threshold();
  b.hard_threshold = p->hard_threshold();
  b.by = p->by() ? p->by()->str() : e.actor.id;
  b.set_at_us = p->set_at_us() != 0 ? p->set_at_us() : e.recorded_at_us;
  b.lsn = e.lsn;
  txn.Put("b" + std::string(target), BudgetJson(b));
  return Status::OK();
}

// Scans usage buckets of one kind ('h' or 'd') in [from, to) into `acc`.
Status ScanUsage(ViewReader& r, char kind, std::string_view tenant, int64_t from, int64_t to,
                 std::map<std::pair<std::string, std::string>, UsageStats>* acc) {
  if (from >= to) return Status::OK();
  const std::string prefix = TenantPrefix(kind, tenant);
  const std::string start = TimeKey(kind, tenant, from);
  Status bad;
  Status s = r.Scan(prefix, start, [&](std::string_view k, std::string_view v) {
    if (k.size() < prefix.size() + 9) {
      bad = Status::Corruption("costs: usage key of bad length");
      return false;
    }
    const auto ts = static_cast<int64_t>(coding::DecodeFixed64BE(k.data() + prefix.size()));
    if (ts >= to) return false;
    const std::string_view names = k.substr(prefix.size() + 8);
    const size_t nul = names.find('\0');
    UsageStats st;
    if (nul == std::string_view::npos || !UsageStats::Decode(v, &st)) {
      bad = Status::Corruption("costs: usage bucket of bad form");
      return false;
    }
    (*acc)[{std::string(names.substr(0, nul)), std::string(names.substr(nul + 1))}].Add(st);
    return true;
  });
  if (!bad.ok()) return bad;
  return s;
}

Result<std::vector<uint64_t>> IndexLsns(ViewReader& r, char kind, std::string_view tenant,
                                        size_t limit) {
  const std::string prefix = TenantPrefix(kind, tenant);
  std::vector<uint64_t> out;
  Status bad;
  Status s = r.Scan(prefix, [&](std::string_view k, std::string_view) {
    if (k.size() != prefix.size() + 16) {
      bad = Status::Corruption("costs: index key of bad length");
      return false;
    }
    out.push_back(coding::DecodeFixed64BE(k.data() + prefix.size() + 8));
    return out.size() < limit;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

}  // namespace

int64_t QuarterStart(int64_t us) { return Floor(us, kMicrosPerQuarter); }
int64_t HourStart(int64_t us) { return Floor(us, kMicrosPerHour); }
int64_t DayStart(int64_t us) { return Floor(us, kMicrosPerDay); }

int64_t MonthStart(int64_t us) {
  int64_t y;
  unsigned m;
  CivilFromDays(DayStart(us) / kMicrosPerDay, &y, &m);
  return DaysFromCivil(y, m, 1) * kMicrosPerDay;
}

int64_t NextMonthStart(int64_t us) {
  int64_t y;
  unsigned m;
  CivilFromDays(DayStart(us) / kMicrosPerDay, &y, &m);
  if (m == 12) return DaysFromCivil(y + 1, 1, 1) * kMicrosPerDay;
  return DaysFromCivil(y, m + 1, 1) * kMicrosPerDay;
}

size_t LatencyBucket(uint32_t ms) {
  if (ms < 16) return ms;
  const int msb = 31 - std::countl_zero(ms);  // >= 4
  const uint32_t sub = (ms >> (msb - 3)) & 7;
  return 16 + static_cast<size_t>(msb - 4) * 8 + sub;
}

uint32_t LatencyBucketUpper(size_t bucket) {
  if (bucket < 16) return static_cast<uint32_t>(bucket);
  const int msb = 4 + static_cast<int>((bucket - 16) / 8);
  const uint64_t sub = (bucket - 16) % 8;
  const uint64_t lower = (8 + sub) << (msb - 3);
  const uint64_t upper = lower + (uint64_t{1} << (msb - 3)) - 1;
  return static_cast<uint32_t>(std::min<uint64_t>(upper, UINT32_MAX));
}

void UsageStats::Add(const UsageStats& o) {
  events += o.events;
  successes += o.successes;
  tokens_in += o.tokens_in;
  tokens_out += o.tokens_out;
  usd_micros = SatAdd(usd_micros, o.usd_micros);
  latency_sum_ms += o.latency_sum_ms;
  latency_max_ms = std::max(latency_max_ms, o.latency_max_ms);
  for (size_t i = 0; i < kLatencyBuckets; ++i) latency[i] += o.latency[i];
}

uint32_t UsageStats::LatencyPercentile(double q) const {
  uint64_t total = 0;
  for (uint64_t c : latency) total += c;
  if (total == 0) return 0;
  // Rank of the q-quantile: the ceil(q * n)-th smallest value.
  const auto rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(total))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kLatencyBuckets; ++i) {
    seen += latency[i];
    if (seen >= rank) return std::min(LatencyBucketUpper(i), latency_max_ms);
  }
  return latency_max_ms;
}

// events successes tokens_in tokens_out zigzag(usd) latency_sum latency_max n (bucket count)*n
std::string UsageStats::Encode() const {
  std::string v;
  PutVarint(&v, events);
  PutVarint(&v, successes);
  PutVarint(&v, tokens_in);
  PutVarint(&v, tokens_out);
  PutVarint(&v, ZigZag(usd_micros));
  PutVarint(&v, latency_sum_ms);
  PutVarint(&v, latency_max_ms);
  uint64_t n = 0;
  for (uint64_t c : latency) n += c != 0;
  PutVarint(&v, n);
  for (size_t i = 0; i < kLatencyBuckets; ++i) {
    if (latency[i] == 0) continue;
    PutVarint(&v, i);
    PutVarint(&v, latency[i]);
  }
  return v;
}

bool UsageStats::Decode(std::string_view v, UsageStats* out) {
  UsageStats s;
  uint64_t usd = 0, max = 0, n = 0;
  if (!GetVarint(&v, &s.events) || !GetVarint(&v, &s.successes) || !GetVarint(&v, &s.tokens_in) ||
      !GetVarint(&v, &s.tokens_out) || !GetVarint(&v, &usd) || !GetVarint(&v, &s.latency_sum_ms) ||
      !GetVarint(&v, &max) || max > UINT32_MAX || !GetVarint(&v, &n) || n > kLatencyBuckets) {
    return false;
  }
  s.usd_micros = UnZigZag(usd);
  s.latency_max_ms = static_cast<uint32_t>(max);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t bucket = 0, count = 0;
    if (!GetVarint(&v, &bucket) || !GetVarint(&v, &count) || bucket >= kLatencyBuckets)
      return false;
    s.latency[bucket] = count;
  }
  if (!v.empty()) return false;
  *out = s;
  return true;
}

Status CostsProjection::Apply(const Event& e, ViewTxn& txn) {
  if (e.type < kUsage || e.type > kAnomaly) return Status::OK();
  if (e.type == kUsage) return ApplyUsage(e, txn);
  if (e.type == kBudgetSet) {
    Status s = ApplyBudgetSet(e, txn);
    if (!s.ok()) return s;
  }
  // Governance events, newest first, by the stream's tenant.
  const std::string_view tenant = e.tenant.empty() ? kAllTenants : std::string_view(e.tenant);
  txn.Put(IndexKey('g', tenant, e.recorded_at_us, e.lsn), "");
  return Status::OK();
}

Result<std::vector<ModelUsage>> CostsProjection::Usage(ViewReader& r, std::string_view tenant,
                                                       int64_t from_us, int64_t to_us) {
  std::map<std::pair<std::string, std::string>, UsageStats> acc;
  from_us = std::max<int64_t>(from_us, 0);
  to_us = std::max<int64_t>(to_us, 0);
  const int64_t first_day =
      DayStart(from_us) == from_us ? from_us : DayStart(from_us) + kMicrosPerDay;
  const int64_t last_day = DayStart(to_us);
  Status s;
  if (first_day >= last_day) {
    s = ScanUsage(r, 'h', tenant, from_us, to_us, &acc);
  } else {
    s = ScanUsage(r, 'h', tenant, from_us, first_day, &acc);
    if (s.ok()) s = ScanUsage(r, 'd', tenant, first_day, last_day, &acc);
    if (s.ok()) s = ScanUsage(r, 'h', tenant, last_day, to_us, &acc);
  }
  if (!s.ok()) return s;
  std::vector<ModelUsage> out;
  out.reserve(acc.size());
  for (auto& [names, stats] : acc) out.push_back({names.first, names.second, stats});
  return out;
}

Result<std::vector<QuarterCount>> CostsProjection::Quarters(ViewReader& r, std::string_view tenant,
                                                            int64_t from_us, int64_t to_us) {
  const std::string prefix = TenantPrefix('q', tenant);
  std::vector<QuarterCount> out;
  Status bad;
  Status s = r.Scan(prefix, TimeKey('q', tenant, std::max<int64_t>(from_us, 0)),
                    [&](std::string_view k, std::string_view v) {
                      QuarterCount q;
                      if (k.size() != prefix.size() + 8 || !DecodeQuarter(v, &q)) {
                        bad = Status::Corruption("costs: quarter bucket of bad form");
                        return false;
                      }
                      q.start_us =
                          static_cast<int64_t>(coding::DecodeFixed64BE(k.data() + prefix.size()));
                      if (q.start_us >= to_us) return false;
                      out.push_back(q);
                      return true;
                    });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

Result<int64_t> CostsProjection::DaySpend(ViewReader& r, std::string_view tenant,
                                          int64_t day_start) {
  return GetSpend(r, TimeKey('D', tenant, day_start));
}

Result<int64_t> CostsProjection::MonthSpend(ViewReader& r, std::string_view tenant,
                                            int64_t month_start) {
  return GetSpend(r, TimeKey('M', tenant, month_start));
}

Result<std::optional<BudgetRecord>> CostsProjection::Budget(ViewReader& r,
                                                            std::string_view tenant) {
  Result<std::optional<std::string>> v = r.Get("b" + std::string(tenant));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<BudgetRecord>();
  BudgetRecord b;
  if (!BudgetFromJson(**v, &b)) return Status::Corruption("costs: budget of bad form");
  return std::optional<BudgetRecord>(b);
}

Result<std::map<std::string, BudgetRecord>> CostsProjection::Budgets(ViewReader& r) {
  std::map<std::string, BudgetRecord> out;
  Status bad;
  Status s = r.Scan("b", [&](std::string_view k, std::string_view v) {
    BudgetRecord b;
    if (!BudgetFromJson(v, &b)) {
      bad = Status::Corruption("costs: budget of bad form");
      return false;
    }
    out[std::string(k.substr(1))] = b;
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<uint64_t>> CostsProjection::RecentUsage(ViewReader& r, std::string_view tenant,
                                                           size_t limit) {
  return IndexLsns(r, 'e', tenant, limit);
}

Result<std::vector<uint64_t>> CostsProjection::RecentGovernance(ViewReader& r,
                                                                std::string_view tenant,
                                                                size_t limit) {
  return IndexLsns(r, 'g', tenant, limit);
}

Result<nlohmann::json> CostsProjection::Dump(ViewReader& reader) {
  // A summary: the view is too large to print whole (one key per usage).
  nlohmann::json days = nlohmann::json::object();
  Status bad;
  Status s = reader.Scan("D", [&](std::string_view k, std::string_view v) {
    const size_t nul = k.find('\0');
    std::string_view in = v;
    uint64_t z = 0;
    if (nul == std::string_view::npos || k.size() != nul + 9 || !GetVarint(&in, &z)) {
      bad = Status::Corruption("costs: spend of bad form");
      return false;
    }
    const auto day = static_cast<int64_t>(coding::DecodeFixed64BE(k.data() + nul + 1));
    days[std::string(k.substr(1, nul - 1))][std::to_string(day)] = UnZigZag(z);
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  Result<std::map<std::string, BudgetRecord>> budgets = Budgets(reader);
  if (!budgets.ok()) return budgets.status();
  nlohmann::json b = nlohmann::json::object();
  for (const auto& [t, rec] : *budgets) b[t] = nlohmann::json::parse(BudgetJson(rec));
  return nlohmann::json{{"daily_spend_usd_micros", std::move(days)}, {"budgets", std::move(b)}};
}

}  // namespace logbook
