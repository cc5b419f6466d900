#include "engine/costs.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "engine/engine.h"
#include "projections/view_store.h"

namespace logbook {

namespace {

__extension__ typedef unsigned __int128 u128;  // exact products of tokens and prices

constexpr int64_t kMicrosPerUsd = 1000000;
constexpr int64_t kMaxUsdMicros =
    1000000000000000LL;  // a billion dollars: far above any call or budget
constexpr uint64_t kMaxTokens = 1000000000000ULL;  // 1e12 per call
constexpr size_t kMaxNameBytes = 128;
constexpr size_t kMaxTextBytes = 4096;
constexpr size_t kGovernanceShown = 20;
constexpr auto kViewWait = std::chrono::seconds(5);

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Thresholds are compared as parts per million, in integers.
int64_t Ppm(double fraction) { return std::llround(fraction * 1e6); }

// spent * 1e6 >= ppm * budget, without overflow.
bool Reaches(int64_t spent, int64_t budget, double threshold) {
  if (budget <= 0 || spent < 0) return false;
  return static_cast<u128>(spent) * 1000000u >=
         static_cast<u128>(std::max<int64_t>(Ppm(threshold), 0)) * static_cast<u128>(budget);
}

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::string CostStream(std::string_view tenant) {
  return "tenant/" + std::string(tenant) + "/costs";
}

nlohmann::json Usd(int64_t micros) { return static_cast<double>(micros) / 1e6; }

nlohmann::json StatsJson(const UsageStats& s) {
  nlohmann::json j = {{"events", s.events},
                      {"successes", s.successes},
                      {"failures", s.events - s.successes},
                      {"success_rate", nullptr},
                      {"tokens_in", s.tokens_in},
                      {"tokens_out", s.tokens_out},
                      {"tokens", s.tokens_in + s.tokens_out},
                      {"usd_micros", s.usd_micros},
                      {"usd", Usd(s.usd_micros)},
                      {"avg_latency_ms", nullptr},
                      {"p95_latency_ms", nullptr}};
  if (s.events > 0) {
    j["success_rate"] = static_cast<double>(s.successes) / static_cast<double>(s.events);
    j["avg_latency_ms"] = s.latency_sum_ms / s.events;
    j["p95_latency_ms"] = s.LatencyPercentile(0.95);
  }
  return j;
}

nlohmann::json TenantJson(std::string_view tenant) {
  if (tenant == kAllTenants) return nullptr;
  return std::string(tenant);
}

template <typename T>
bool Get(const nlohmann::json& j, const char* key, T* out, std::string* err) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  try {
    *out = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    *err = std::string(key) + " has the wrong type";
    return false;
  }
  return true;
}

// "2e-05" -> "0.00002", "1.5e+02" -> "150": scientific notation as a plain
// decimal, digit for digit (no arithmetic); anything else is returned as is.
std::string PlainDecimal(const std::string& text) {
  const size_t e = text.find_first_of("eE");
  if (e == std::string::npos) return text;
  std::string mant = text.substr(0, e);
  const std::string exp_text = text.substr(e + 1);
  if (exp_text.empty() || exp_text.size() > 4) return text;
  int exp = 0;
  size_t i = (exp_text[0] == '+' || exp_text[0] == '-') ? 1 : 0;
  if (i == exp_text.size()) return text;
  for (; i < exp_text.size(); ++i) {
    if (exp_text[i] < '0' || exp_text[i] > '9') return text;
    exp = exp * 10 + (exp_text[i] - '0');
  }
  if (exp_text[0] == '-') exp = -exp;
  const size_t dot = mant.find('.');
  std::string digits = mant.substr(0, dot);
  int point = static_cast<int>(digits.size());  // digits before the point
  if (dot != std::string::npos) digits += mant.substr(dot + 1);
  point += exp;
  if (point <= 0) return "0." + std::string(static_cast<size_t>(-point), '0') + digits;
  if (static_cast<size_t>(point) >= digits.size()) {
    return digits + std::string(static_cast<size_t>(point) - digits.size(), '0');
  }
  return digits.substr(0, static_cast<size_t>(point)) + "." +
         digits.substr(static_cast<size_t>(point));
}

}  // namespace

bool ParseUsd(std::string_view text, int64_t* micros) {
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view frac =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() || whole.size() > 12 || frac.size() > 6) return false;
  if (dot != std::string_view::npos && frac.empty()) return false;
  int64_t v = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  int64_t f = 0;
  for (size_t i = 0; i < 6; ++i) {
    const char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return false;
    f = f * 10 + (c - '0');
  }
  *micros = v * kMicrosPerUsd + f;
  return true;
}

bool UsdFromJson(const nlohmann::json& j, int64_t* micros) {
  if (j.is_string()) return ParseUsd(j.get<std::string>(), micros);
  if (j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0)) {
    const uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(kMaxUsdMicros / kMicrosPerUsd)) return false;
    *micros = static_cast<int64_t>(v) * kMicrosPerUsd;
    return true;
  }
  // A float goes through its shortest round-trip text, which is the decimal
  // the sender wrote (0.15 -> "0.15", 0.00002 -> "2e-05"), then is parsed exactly.
  if (j.is_number_float()) return ParseUsd(PlainDecimal(j.dump()), micros);
  return false;
}

std::string FormatUsd(int64_t micros, int decimals) {
  decimals = std::clamp(decimals, 0, 6);
  int64_t div = 1;
  for (int i = decimals; i < 6; ++i) div *= 10;
  const bool neg = micros < 0;
  const u128 abs = neg ? static_cast<u128>(-(micros + 1)) + 1 : static_cast<u128>(micros);
  const u128 q = (abs + static_cast<u128>(div / 2)) / static_cast<u128>(div);
  int64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  std::string out = neg ? "-" : "";
  out += std::to_string(static_cast<uint64_t>(q / static_cast<u128>(scale)));
  if (decimals > 0) {
    std::string frac = std::to_string(static_cast<uint64_t>(q % static_cast<u128>(scale)));
    out += "." + std::string(static_cast<size_t>(decimals) - frac.size(), '0') + frac;
  }
  return out;
}

Result<PricingTable> PricingTable::Parse(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("pricing table: not a JSON object");
  }
  PricingTable t;
  for (auto& [provider, models] : j.items()) {
    if (!ValidName(provider) || !models.is_object()) {
      return Status::InvalidArgument("pricing table: provider '" + provider +
                                     "' must map model names to prices");
    }
    for (auto& [model, price] : models.items()) {
      const std::string where = "pricing table: " + provider + "/" + model + ": ";
      if (!ValidName(model) || !price.is_object()) {
        return Status::InvalidArgument(where +
                                       "must be {\"input_per_1m\": .., \"output_per_1m\": ..}");
      }
      Price p;
      for (auto& [k, v] : price.items()) {
        int64_t* dst = k == "input_per_1m"    ? &p.in_per_1m_usd_micros
                       : k == "output_per_1m" ? &p.out_per_1m_usd_micros
                                              : nullptr;
        if (dst == nullptr) return Status::InvalidArgument(where + "unknown field '" + k + "'");
        if (!UsdFromJson(v, dst)) {
          return Status::InvalidArgument(
              where + k + " must be dollars per 1M tokens (>= 0, at most 6 decimals)");
        }
      }
      t.prices_[{provider, model}] = p;
    }
  }
  return t;
}

Result<PricingTable> PricingTable::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("pricing file '" + path + "' cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  Result<PricingTable> t = Parse(ss.str());
  if (!t.ok()) return Status::InvalidArgument(path + ": " + t.status().message());
  return t;
}

PricingTable PricingTable::Default() {
  // List prices in USD per 1M tokens (input, output) when this table was written.
  static constexpr std::string_view kDefault = R"({
    "openai": {
      "gpt-4o": {"input_per_1m": 2.50, "output_per_1m": 10.00},
      "gpt-4o-mini": {"input_per_1m": 0.15, "output_per_1m": 0.60},
      "text-embedding-3-small": {"input_per_1m": 0.02, "output_per_1m": 0},
      "text-embedding-3-large": {"input_per_1m": 0.13, "output_per_1m": 0}
    },
    "anthropic": {
      "claude-3-5-sonnet": {"input_per_1m": 3.00, "output_per_1m": 15.00},
      "claude-3-5-haiku": {"input_per_1m": 0.80, "output_per_1m": 4.00}
    }
  })";
  Result<PricingTable> t = Parse(kDefault);
  return t.ok() ? std::move(t).value() : PricingTable();
}

const Price* PricingTable::Find(std::string_view provider, std::string_view model) const {
  auto it = prices_.find(std::pair<std::string, std::string>(provider, model));
  if (it == prices_.end()) it = prices_.find(std::pair<std::string, std::string>(provider, "*"));
  return it == prices_.end() ? nullptr : &it->second;
}

int64_t PricingTable::Cost(const Price& p, uint64_t tokens_in, uint64_t tokens_out) {
  const u128 total = static_cast<u128>(tokens_in) * static_cast<u128>(p.in_per_1m_usd_micros) +
                     static_cast<u128>(tokens_out) * static_cast<u128>(p.out_per_1m_usd_micros);
  const u128 micros = (total + 500000u) / 1000000u;  // half up
  return micros > static_cast<u128>(kMaxUsdMicros) ? kMaxUsdMicros : static_cast<int64_t>(micros);
}

nlohmann::json PricingTable::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, p] : prices_) {
    j[key.first][key.second] = {{"input_per_1m", Usd(p.in_per_1m_usd_micros)},
                                {"output_per_1m", Usd(p.out_per_1m_usd_micros)}};
  }
  return j;
}

Status UsageFromJson(const nlohmann::json& j, UsageInput* u) {
  if (!j.is_object()) return Status::InvalidArgument("a usage record must be a JSON object");
  static const std::vector<std::string> kFields = {
      "event_id",    "provider",       "model",      "kind",       "tokens_in",
      "tokens_out",  "latency_ms",     "success",    "error_code", "error_message",
      "occurred_at", "occurred_at_us", "usd_micros", "cost_usd",   "request_id",
      "session_id",  "user",           "workflow",   "metadata"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(kFields.begin(), kFields.end(), it.key()) == kFields.end()) {
      return Status::InvalidArgument("unknown field '" + it.key() + "'");
    }
  }
  std::string err;
  int64_t latency = 0;
  if (!Get(j, "event_id", &u->event_id, &err) || !Get(j, "provider", &u->provider, &err) ||
      !Get(j, "model", &u->model, &err) || !Get(j, "kind", &u->kind, &err) ||
      !Get(j, "tokens_in", &u->tokens_in, &err) || !Get(j, "tokens_out", &u->tokens_out, &err) ||
      !Get(j, "latency_ms", &latency, &err) || !Get(j, "success", &u->success, &err) ||
      !Get(j, "error_code", &u->error_code, &err) ||
      !Get(j, "error_message", &u->error_message, &err) ||
      !Get(j, "occurred_at_us", &u->occurred_at_us, &err) ||
      !Get(j, "request_id", &u->request_id, &err) || !Get(j, "session_id", &u->session_id, &err) ||
      !Get(j, "user", &u->user, &err) || !Get(j, "workflow", &u->workflow, &err)) {
    return Status::InvalidArgument(err);
  }
  for (const char* k : {"tokens_in", "tokens_out"}) {
    if (j.contains(k) && !j[k].is_number_unsigned() && !j[k].is_null()) {
      return Status::InvalidArgument(std::string(k) + " must be a non-negative integer");
    }
  }
  if (j.contains("latency_ms") && !j["latency_ms"].is_null() &&
      !j["latency_ms"].is_number_integer()) {
    return Status::InvalidArgument("latency_ms must be an integer");
  }
  if (latency < 0 || latency > UINT32_MAX)
    return Status::InvalidArgument("latency_ms is out of range");
  u->latency_ms = static_cast<uint32_t>(latency);
  if (j.contains("occurred_at") && !j["occurred_at"].is_null()) {
    if (!j["occurred_at"].is_string() ||
        !ParseTimestamp(j["occurred_at"].get<std::string>(), &u->occurred_at_us)) {
      return Status::InvalidArgument("occurred_at must be an RFC 3339 UTC time");
    }
  }
  if (u->occurred_at_us < 0) return Status::InvalidArgument("occurred_at_us must not be negative");
  if (j.contains("usd_micros") && j.contains("cost_usd")) {
    return Status::InvalidArgument("send usd_micros or cost_usd, not both");
  }
  if (j.contains("usd_micros") && !j["usd_micros"].is_null()) {
    if (!j["usd_micros"].is_number_integer() || j["usd_micros"].get<int64_t>() < 0) {
      return Status::InvalidArgument("usd_micros must be a non-negative integer");
    }
    u->usd_micros = j["usd_micros"].get<int64_t>();
  }
  if (j.contains("cost_usd") && !j["cost_usd"].is_null()) {
    int64_t m = 0;
    if (!UsdFromJson(j["cost_usd"], &m)) {
      return Status::InvalidArgument("cost_usd must be dollars (>= 0, at most 6 decimals)");
    }
    u->usd_micros = m;
  }
  if (j.contains("metadata") && !j["metadata"].is_null()) {
    if (!j["metadata"].is_object())
      return Status::InvalidArgument("metadata must be a JSON object");
    u->metadata_json = Dump(j["metadata"]);
  }
  return Status::OK();
}

std::string_view BudgetDecisionName(BudgetDecision d) {
  switch (d) {
    case BudgetDecision::kAllow:
      return "allow";
    case BudgetDecision::kThrottle:
      return "throttle";
    case BudgetDecision::kDeny:
      return "deny";
  }
  return "allow";
}

nlohmann::json BudgetLine::ToJson() const {
  return {{"scope", scope},
          {"window", window},
          {"spent_usd_micros", spent_usd_micros},
          {"projected_usd_micros", projected_usd_micros},
          {"budget_usd_micros", budget_usd_micros},
          {"ratio", budget_usd_micros > 0
                        ? static_cast<double>(spent_usd_micros + projected_usd_micros) /
                              static_cast<double>(budget_usd_micros)
                        : 0.0},
          {"soft_threshold", soft_threshold},
          {"hard_threshold", hard_threshold},
          {"level", level == BudgetDecision::kDeny       ? "hard"
                    : level == BudgetDecision::kThrottle ? "soft"
                                                         : "ok"}};
}

Costs::Costs(Engine& engine, CostOptions options, PricingTable pricing)
    : engine_(engine), options_(std::move(options)), pricing_(std::move(pricing)) {}

std::string Costs::Stream(std::string_view tenant) { return CostStream(tenant); }

bool Costs::ParseWindow(std::string_view text, int64_t* hours) {
  if (text.size() < 2 || text.size() > 5) return false;
  const char unit = text.back();
  const std::string_view num = text.substr(0, text.size() - 1);
  if (num.find_first_not_of("0123456789") != std::string_view::npos) return false;
  const int64_t n = std::stoll(std::string(num));
  if (unit == 'h' && n >= 1 && n <= 8784) {
    *hours = n;
    return true;
  }
  if (unit == 'd' && n >= 1 && n <= 366) {
    *hours = n * 24;
    return true;
  }
  return false;
}

Result<std::vector<EventInput>> Costs::PrepareUsage(
    const std::string& tenant, const std::vector<UsageInput>& usage,
    std::vector<std::pair<int64_t, std::string>>* priced) const {
  if (tenant.empty()) return Status::InvalidArgument("usage needs a tenant");
  if (Status s = ValidateTenantName(tenant); !s.ok()) return s;
  if (usage.empty()) return Status::InvalidArgument("no usage records");
  const int64_t now = engine_.Now();
  std::vector<EventInput> out;
  out.reserve(usage.size());
  for (size_t i = 0; i < usage.size(); ++i) {
    const UsageInput& u = usage[i];
    const std::string where = usage.size() > 1 ? "usage " + std::to_string(i + 1) + ": " : "";
    if (!ValidName(u.provider))
      return Status::InvalidArgument(where + "provider must be 1-128 printable bytes");
    if (!ValidName(u.model))
      return Status::InvalidArgument(where + "model must be 1-128 printable bytes");
    if (u.kind != "chat" && u.kind != "embedding") {
      return Status::InvalidArgument(where + "kind must be \"chat\" or \"embedding\"");
    }
    if (u.tokens_in > kMaxTokens || u.tokens_out > kMaxTokens) {
      return Status::InvalidArgument(where + "token counts above 1e12");
    }
    for (const std::string* s :
         {&u.error_code, &u.request_id, &u.session_id, &u.user, &u.workflow}) {
      if (s->size() > kMaxNameBytes * 2)
        return Status::InvalidArgument(where + "a text field is over 256 bytes");
    }
    if (u.error_message.size() > kMaxTextBytes) {
      return Status::InvalidArgument(where + "error_message is over 4096 bytes");
    }
    int64_t usd = 0;
    std::string source = "caller";
    Price price;
    if (u.usd_micros) {
      if (*u.usd_micros < 0 || *u.usd_micros > kMaxUsdMicros) {
        return Status::InvalidArgument(where + "usd_micros is out of range");
      }
      usd = *u.usd_micros;
    } else if (const Price* p = pricing_.Find(u.provider, u.model)) {
      price = *p;
      usd = PricingTable::Cost(price, u.tokens_in, u.tokens_out);
      source = "pricing";
    } else if (u.tokens_in == 0 && u.tokens_out == 0) {
      source = "none";  // nothing to price: a call that failed before using tokens
    } else {
      return Status::InvalidArgument(where + "no price for " + u.provider + "/" + u.model +
                                     " in the pricing table; send usd_micros or cost_usd");
    }
    nlohmann::json p = {{"tenant", tenant},
                        {"provider", u.provider},
                        {"model", u.model},
                        {"kind", u.kind},
                        {"tokens_in", u.tokens_in},
                        {"tokens_out", u.tokens_out},
                        {"usd_micros", usd},
                        {"latency_ms", u.latency_ms},
                        {"success", u.success},
                        {"error_code", u.error_code},
                        {"error_message", u.error_message},
                        {"occurred_at_us", u.occurred_at_us != 0 ? u.occurred_at_us : now},
                        {"request_id", u.request_id},
                        {"session_id", u.session_id},
                        {"user", u.user},
                        {"workflow", u.workflow},
                        {"metadata_json", u.metadata_json},
                        {"cost_source", source},
                        {"price_in_per_1m_usd_micros", price.in_per_1m_usd_micros},
                        {"price_out_per_1m_usd_micros", price.out_per_1m_usd_micros}};
    out.push_back(EventInput{"UsageRecorded", u.event_id, Dump(p)});
    if (priced != nullptr) priced->emplace_back(usd, source);
  }
  return out;
}

Result<AppendResult> Costs::RecordUsage(const std::string& tenant,
                                        const std::vector<UsageInput>& usage, const Actor& actor) {
  Result<std::vector<EventInput>> events = PrepareUsage(tenant, usage);
  if (!events.ok()) return events.status();
  return engine_.AppendJson(Stream(tenant), tenant, actor, ExpectedVersion::Any(), *events);
}

Result<BudgetRecord> Costs::EffectiveBudget(ViewReader& r, std::string_view tenant) const {
  Result<std::optional<BudgetRecord>> set = CostsProjection::Budget(r, tenant);
  if (!set.ok()) return set.status();
  BudgetRecord b;
  if (set->has_value()) {
    b = **set;
  } else if (tenant == kAllTenants) {
    b.daily_usd_micros = options_.global_daily_usd_micros;
    b.monthly_usd_micros = options_.global_monthly_usd_micros;
  } else {
    b.daily_usd_micros = options_.tenant_daily_usd_micros;
    b.monthly_usd_micros = options_.tenant_monthly_usd_micros;
  }
  if (b.soft_threshold <= 0 || !set->has_value()) b.soft_threshold = options_.soft_threshold;
  if (b.hard_threshold <= 0 || !set->has_value()) b.hard_threshold = options_.hard_threshold;
  return b;
}

Result<std::vector<BudgetLine>> Costs::Lines(ViewReader& r, std::string_view tenant, int64_t now,
                                             int64_t projected) const {
  std::vector<BudgetLine> lines;
  std::vector<std::pair<std::string, std::string_view>> scopes;
  if (tenant != kAllTenants) scopes.emplace_back("tenant", tenant);
  scopes.emplace_back("global", kAllTenants);
  for (const auto& [scope, who] : scopes) {
    Result<BudgetRecord> b = EffectiveBudget(r, who);
    if (!b.ok()) return b.status();
    Result<int64_t> day = CostsProjection::DaySpend(r, who, DayStart(now));
    if (!day.ok()) return day.status();
    Result<int64_t> month = CostsProjection::MonthSpend(r, who, MonthStart(now));
    if (!month.ok()) return month.status();
    for (const auto& [window, limit, spent] :
         {std::tuple<const char*, int64_t, int64_t>{"daily", b->daily_usd_micros, *day},
          std::tuple<const char*, int64_t, int64_t>{"monthly", b->monthly_usd_micros, *month}}) {
      if (limit <= 0) continue;
      BudgetLine l;
      l.scope = scope;
      l.window = window;
      l.spent_usd_micros = spent;
      l.projected_usd_micros = projected;
      l.budget_usd_micros = limit;
      l.soft_threshold = b->soft_threshold;
      l.hard_threshold = b->hard_threshold;
      const int64_t total = spent + projected;
      l.level = Reaches(total, limit, b->hard_threshold)   ? BudgetDecision::kDeny
                : Reaches(total, limit, b->soft_threshold) ? BudgetDecision::kThrottle
                                                           : BudgetDecision::kAllow;
      lines.push_back(std::move(l));
    }
  }
  return lines;
}

Result<std::vector<BudgetLine>> Costs::BudgetStatus(std::string_view tenant) {
  auto r = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), CostsProjection::kName);
  return Lines(*r, tenant, engine_.Now(), 0);
}

Result<nlohmann::json> Costs::Summary(std::string_view tenant, int64_t window_hours) {
  const int64_t now = engine_.Now();
  const int64_t to = HourStart(now) + kMicrosPerHour;
  const int64_t from = to - window_hours * kMicrosPerHour;
  auto r = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), CostsProjection::kName);
  Result<std::vector<ModelUsage>> usage = CostsProjection::Usage(*r, tenant, from, to);
  if (!usage.ok()) return usage.status();
  UsageStats total;
  nlohmann::json models = nlohmann::json::array();
  for (const ModelUsage& m : *usage) {
    total.Add(m.stats);
    nlohmann::json j = StatsJson(m.stats);
    j["provider"] = m.provider;
    j["model"] = m.model;
    models.push_back(std::move(j));
  }
  return nlohmann::json{
      {"tenant_id", TenantJson(tenant)}, {"window", std::to_string(window_hours) + "h"},
      {"from", FormatTimestamp(from)},   {"to", FormatTimestamp(now)},
      {"totals", StatsJson(total)},      {"by_model", std::move(models)}};
}

Result<nlohmann::json> Costs::Alerts(std::string_view tenant, int64_t window_hours) {
  const int64_t now = engine_.Now();
  const int64_t to = HourStart(now) + kMicrosPerHour;
  const int64_t from = to - window_hours * kMicrosPerHour;
  auto r = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), CostsProjection::kName);
  nlohmann::json alerts = nlohmann::json::array();

  // Budgets: where today's and this month's spend stand.
  Result<std::vector<BudgetLine>> lines = Lines(*r, tenant, now, 0);
  if (!lines.ok()) return lines.status();
  nlohmann::json budgets = nlohmann::json::array();
  for (const BudgetLine& l : *lines) {
    budgets.push_back(l.ToJson());
    if (l.level == BudgetDecision::kAllow) continue;
    nlohmann::json a = l.ToJson();
    a["type"] = "budget";
    alerts.push_back(std::move(a));
  }

  // Success rate per quarter-hour, and hourly spend for the anomaly baseline.
  const int64_t base_hours = std::max<int64_t>(options_.anomaly_baseline_hours, 1);
  const int64_t base_from = from - base_hours * kMicrosPerHour;
  Result<std::vector<QuarterCount>> quarters = CostsProjection::Quarters(*r, tenant, base_from, to);
  if (!quarters.ok()) return quarters.status();
  const int64_t rate_ppm = Ppm(options_.success_rate_threshold);
  std::vector<int64_t> baseline(static_cast<size_t>(base_hours), 0);
  uint64_t baseline_events = 0;
  std::map<int64_t, int64_t> hour_spend;
  for (const QuarterCount& q : *quarters) {
    if (q.start_us < from) {
      baseline[static_cast<size_t>((q.start_us - base_from) / kMicrosPerHour)] += q.usd_micros;
      baseline_events += q.events;
      continue;
    }
    hour_spend[HourStart(q.start_us)] += q.usd_micros;
    if (q.events >= std::max<uint64_t>(options_.success_min_events, 1) &&
        static_cast<u128>(q.successes) * 1000000u <
            static_cast<u128>(std::max<int64_t>(rate_ppm, 0)) * q.events) {
      alerts.push_back(
          {{"type", "success_rate"},
           {"window_start", FormatTimestamp(q.start_us)},
           {"window_end", FormatTimestamp(q.start_us + kMicrosPerQuarter)},
           {"events", q.events},
           {"successes", q.successes},
           {"success_rate", static_cast<double>(q.successes) / static_cast<double>(q.events)},
           {"threshold", options_.success_rate_threshold}});
    }
  }

  // Spend anomalies: hours of the window against the baseline hours' mean.
  double mean = 0, stddev = 0;
  for (int64_t v : baseline) mean += static_cast<double>(v);
  mean /= static_cast<double>(base_hours);
  for (int64_t v : baseline)
    stddev += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
  stddev = std::sqrt(stddev / static_cast<double>(base_hours));
  const bool evaluated = baseline_events >= options_.anomaly_min_events;
  if (evaluated) {
    for (const auto& [hour, spend] : hour_spend) {
      if (spend < options_.anomaly_min_usd_micros) continue;
      const double over = static_cast<double>(spend) - mean;
      nlohmann::json sigma = nullptr;
      if (stddev > 0) {
        if (over / stddev < options_.anomaly_sigma) continue;
        sigma = over / stddev;
      } else if (over <= 0) {
        continue;  // a flat baseline: any spend above it is an anomaly
      }
      alerts.push_back({{"type", "anomaly"},
                        {"hour_start", FormatTimestamp(hour)},
                        {"observed_usd_micros", spend},
                        {"baseline_mean_usd_micros", std::llround(mean)},
                        {"baseline_stddev_usd_micros", std::llround(stddev)},
                        {"baseline_events", baseline_events},
                        {"sigma", sigma},
                        {"threshold_sigma", options_.anomaly_sigma}});
    }
  }

  Result<std::vector<uint64_t>> gov =
      CostsProjection::RecentGovernance(*r, tenant, kGovernanceShown);
  if (!gov.ok()) return gov.status();
  nlohmann::json events = nlohmann::json::array();
  for (uint64_t lsn : *gov) {
    Result<Event> e = engine_.log().ReadEvent(lsn);
    if (!e.ok() && e.status().IsNotFound()) continue;  // removed by retention
    if (!e.ok()) return e.status();
    events.push_back(Engine::EventToJson(*e));
  }
  return nlohmann::json{{"tenant_id", TenantJson(tenant)},
                        {"window", std::to_string(window_hours) + "h"},
                        {"from", FormatTimestamp(from)},
                        {"to", FormatTimestamp(now)},
                        {"alerts", std::move(alerts)},
                        {"budgets", std::move(budgets)},
                        {"anomaly_baseline",
                         {{"hours", base_hours},
                          {"events", baseline_events},
                          {"evaluated", evaluated},
                          {"mean_usd_micros", std::llround(mean)},
                          {"stddev_usd_micros", std::llround(stddev)}}},
                        {"settings",
                         {{"soft_threshold", options_.soft_threshold},
                          {"hard_threshold", options_.hard_threshold},
                          {"success_rate_threshold", options_.success_rate_threshold},
                          {"success_min_events", options_.success_min_events},
                          {"anomaly_sigma", options_.anomaly_sigma},
                          {"anomaly_min_usd_micros", options_.anomaly_min_usd_micros},
                          {"anomaly_min_events", options_.anomaly_min_events}}},
                        {"governance_events", std::move(events)}};
}

Result<nlohmann::json> Costs::Events(std::string_view tenant, size_t limit) {
  auto r = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), CostsProjection::kName);
  Result<std::vector<uint64_t>> lsns = CostsProjection::RecentUsage(*r, tenant, limit);
  if (!lsns.ok()) return lsns.status();
  nlohmann::json out = nlohmann::json::array();
  for (uint64_t lsn : *lsns) {
    Result<Event> e = engine_.log().ReadEvent(lsn);
    if (!e.ok() && e.status().IsNotFound()) continue;  // removed by retention
    if (!e.ok()) return e.status();
    out.push_back(Engine::EventToJson(*e));
  }
  return out;
}

Result<BudgetCheckResult> Costs::Check(const std::string& tenant, int64_t projected,
                                       const std::string& request_id, const std::string& workflow,
                                       const Actor& actor) {
  if (tenant.empty()) return Status::InvalidArgument("a budget check needs a tenant");
  if (Status s = ValidateTenantName(tenant); !s.ok()) return s;
  if (projected < 0 || projected > kMaxUsdMicros) {
    return Status::InvalidArgument("projected cost must be 0..1e9 dollars");
  }
  const int64_t now = engine_.Now();
  auto r = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), CostsProjection::kName);
  Result<std::vector<BudgetLine>> lines = Lines(*r, tenant, now, projected);
  if (!lines.ok()) return lines.status();
  BudgetCheckResult out;
  const BudgetLine* worst = nullptr;
  for (const BudgetLine& l : *lines) {
    if (l.level > out.decision) {
      out.decision = l.level;
      worst = &l;
    }
  }
  if (worst != nullptr) {
    nlohmann::json p = {{"scope", worst->scope},
                        {"tenant", tenant},
                        {"window", worst->window},
                        {"spent_usd_micros", worst->spent_usd_micros},
                        {"budget_usd_micros", worst->budget_usd_micros},
                        {"projected_usd_micros", projected},
                        {"request_id", request_id},
                        {"workflow", workflow}};
    if (out.decision == BudgetDecision::kDeny) {
      out.event_type = "BudgetDenied";
      p["threshold"] = worst->hard_threshold;
      p["reason"] = "budget_exceeded";
      p["denied_at_us"] = now;
    } else {
      out.event_type = "BudgetThrottled";
      p["threshold"] = worst->soft_threshold;
      p["throttled_at_us"] = now;
    }
    Result<AppendResult> a =
        engine_.AppendJson(Stream(tenant), tenant, actor, ExpectedVersion::Any(),
                           {EventInput{out.event_type, "", Dump(p)}});
    if (!a.ok()) return a.status();
    out.event_lsn = a->last_lsn;
  }
  out.lines = std::move(lines).value();
  return out;
}

Result<AppendResult> Costs::SetBudget(const std::string& scope, const std::string& tenant,
                                      const BudgetRecord& b, const Actor& actor) {
  if (actor.role != Role::kAdmin)
    return Status::InvalidArgument("setting a budget needs the admin role");
  if (scope != "tenant" && scope != "global") {
    return Status::InvalidArgument("scope must be \"tenant\" or \"global\"");
  }
  if (scope == "tenant") {
    if (tenant.empty()) return Status::InvalidArgument("a tenant budget needs a tenant");
    if (Status s = ValidateTenantName(tenant); !s.ok()) return s;
  }
  if (b.daily_usd_micros < 0 || b.monthly_usd_micros < 0 || b.daily_usd_micros > kMaxUsdMicros ||
      b.monthly_usd_micros > kMaxUsdMicros) {
    return Status::InvalidArgument("budgets must be 0 (no limit) or positive dollars");
  }
  if (!(b.soft_threshold > 0 && b.soft_threshold <= b.hard_threshold && b.hard_threshold <= 10)) {
    return Status::InvalidArgument("thresholds must satisfy 0 < soft <= hard <= 10");
  }
  const bool global = scope == "global";
  nlohmann::json p = {{"scope", scope},
                      {"tenant", global ? "" : tenant},
                      {"daily_usd_micros", b.daily_usd_micros},
                      {"monthly_usd_micros", b.monthly_usd_micros},
                      {"soft_threshold", b.soft_threshold},
                      {"hard_threshold", b.hard_threshold},
                      {"by", b.by.empty() ? actor.id : b.by},
                      {"set_at_us", engine_.Now()}};
  Result<AppendResult> a =
      engine_.AppendJson(global ? std::string(kGlobalStream) : Stream(tenant), global ? "" : tenant,
                         actor, ExpectedVersion::Any(), {EventInput{"BudgetSet", "", Dump(p)}});
  if (!a.ok()) return a;
  // The next check must see the new budget.
  (void)engine_.WaitForViews(a->last_lsn, kViewWait);  // durable either way; the view follows
  return a;
}

Result<nlohmann::json> Costs::Budgets() {
  auto r = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), CostsProjection::kName);
  Result<std::map<std::string, BudgetRecord>> all = CostsProjection::Budgets(*r);
  if (!all.ok()) return all.status();
  nlohmann::json tenants = nlohmann::json::object();
  nlohmann::json global = nullptr;
  for (const auto& [who, b] : *all) {
    nlohmann::json j = {{"daily_usd_micros", b.daily_usd_micros},
                        {"monthly_usd_micros", b.monthly_usd_micros},
                        {"soft_threshold", b.soft_threshold},
                        {"hard_threshold", b.hard_threshold},
                        {"by", b.by},
                        {"set_at", FormatTimestamp(b.set_at_us)}};
    if (who == kAllTenants) {
      global = std::move(j);
    } else {
      tenants[who] = std::move(j);
    }
  }
  return nlohmann::json{{"global", std::move(global)},
                        {"tenants", std::move(tenants)},
                        {"defaults",
                         {{"tenant_daily_usd_micros", options_.tenant_daily_usd_micros},
                          {"tenant_monthly_usd_micros", options_.tenant_monthly_usd_micros},
                          {"global_daily_usd_micros", options_.global_daily_usd_micros},
                          {"global_monthly_usd_micros", options_.global_monthly_usd_micros},
                          {"soft_threshold", options_.soft_threshold},
                          {"hard_threshold", options_.hard_threshold}}}};
}

}  // namespace logbook
