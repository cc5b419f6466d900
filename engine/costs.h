#pragma once
// Costs: LLM usage, pricing, budgets and alerts as commands and queries.
//
// Money is integer micro-dollars everywhere (1 USD = 1,000,000). Prices are
// micro-dollars per 1M tokens, so a usage costs
//   round_half_up((tokens_in * price_in + tokens_out * price_out) / 1,000,000)
// computed in 128-bit integers; sums are exact. Dollar amounts given as text
// ("0.15") are parsed exactly (ParseUsd), never through a double.
//
// Every query reads the costs view (projections/costs.h); windows are whole
// UTC hours ending with the current one, evaluated with the engine's clock:
// "24h" is the current hour and the 23 before it. Budget periods are the UTC
// day and the UTC calendar month.
//
// Thread-safety: all methods may be called from any thread.

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "log/log.h"
#include "projections/costs.h"

namespace logbook {

class Engine;
struct EventInput;

// "12", "0.15", "1.234567" (dollars; at most 6 decimals; no sign, exponent
// or spaces; at most 12 integer digits) -> micro-dollars, exactly. False otherwise.
bool ParseUsd(std::string_view text, int64_t* micros);
// The same for a JSON number or string; a number goes through its shortest
// decimal form, so 0.15 is 150000 exactly.
bool UsdFromJson(const nlohmann::json& j, int64_t* micros);
// Micro-dollars as dollars with `decimals` (0-6) digits, rounded half away
// from zero: FormatUsd(2100, 4) == "0.0021".
std::string FormatUsd(int64_t micros, int decimals = 6);

struct Price {
  int64_t in_per_1m_usd_micros = 0;
  int64_t out_per_1m_usd_micros = 0;
};

// Prices per provider and model: {"openai": {"gpt-4o": {"input_per_1m": 2.50,
// "output_per_1m": 10.00}, "*": {...}}}. A model "*" prices every other model
// of its provider.
class PricingTable {
 public:
  static Result<PricingTable> Parse(std::string_view json);
  static Result<PricingTable> Load(const std::string& path);
  // The built-in table (docs/operations.md lists it); a pricing file replaces it whole.
  static PricingTable Default();

  const Price* Find(std::string_view provider, std::string_view model) const;
  static int64_t Cost(const Price& p, uint64_t tokens_in, uint64_t tokens_out);
  nlohmann::json ToJson() const;
  size_t size() const { return prices_.size(); }

 private:
  std::map<std::pair<std::string, std::string>, Price, std::less<>> prices_;
};

struct CostOptions {
  std::string pricing_file;  // "" = the built-in table
  // Budgets of tenants (and the global one) without a BudgetSet; 0 = no limit.
  int64_t tenant_daily_usd_micros = 0;
  int64_t tenant_monthly_usd_micros = 0;
  int64_t global_daily_usd_micros = 0;
  int64_t global_monthly_usd_micros = 0;
  double soft_threshold = 0.8;  // throttle at 80% of a budget
  double hard_threshold = 1.0;  // deny at 100%
  // Spend anomalies (ANOMALY_*): an hour's spend at least `anomaly_sigma`
  // standard deviations above the mean hourly spend of the baseline hours
  // before the alert window, and at least anomaly_min_usd_micros, when the
  // baseline holds at least anomaly_min_events usage events.
  double anomaly_sigma = 3.0;
  int64_t anomaly_min_usd_micros = 3000000;
  uint64_t anomaly_min_events = 10;
  int64_t anomaly_baseline_hours = 168;
  // Success rate alerts: a 15-minute window (aligned to :00, :15, :30, :45)
  // with at least success_min_events calls and a success rate under this.
  double success_rate_threshold = 0.98;
  uint64_t success_min_events = 1;
};

// One LLM or embedding call to record.
struct UsageInput {
  std::string event_id;  // "" = generated; the idempotency key of the record
  std::string provider;
  std::string model;
  std::string kind = "chat";  // "chat" | "embedding"
  uint64_t tokens_in = 0;
  uint64_t tokens_out = 0;
  uint32_t latency_ms = 0;
  bool success = true;
  std::string error_code;
  std::string error_message;
  int64_t occurred_at_us = 0;         // 0 = now
  std::optional<int64_t> usd_micros;  // absent: priced from the table
  std::string request_id;
  std::string session_id;
  std::string user;
  std::string workflow;
  std::string metadata_json;  // "" or a JSON object
};

// Parses one usage record of the HTTP API (docs/api.md); kInvalidArgument
// naming the field.
Status UsageFromJson(const nlohmann::json& j, UsageInput* out);

enum class BudgetDecision : uint8_t { kAllow = 0, kThrottle = 1, kDeny = 2 };
std::string_view BudgetDecisionName(BudgetDecision d);  // "allow", "throttle", "deny"

// One budget limit against one period's spend.
struct BudgetLine {
  std::string scope;   // "tenant" | "global"
  std::string window;  // "daily" | "monthly"
  int64_t spent_usd_micros = 0;
  int64_t projected_usd_micros = 0;
  int64_t budget_usd_micros = 0;
  double soft_threshold = 0;
  double hard_threshold = 0;
  BudgetDecision level = BudgetDecision::kAllow;  // of spent + projected
  nlohmann::json ToJson() const;
};

struct BudgetCheckResult {
  BudgetDecision decision = BudgetDecision::kAllow;
  std::vector<BudgetLine> lines;  // every limit that applies
  uint64_t event_lsn = 0;         // the BudgetThrottled/BudgetDenied recorded, if any
  std::string event_type;
};

class Costs {
 public:
  Costs(Engine& engine, CostOptions options, PricingTable pricing);

  // Validates and prices usage records of one tenant into UsageRecorded
  // events for stream tenant/<tenant>/costs. *priced, if given, gets each
  // record's (usd_micros, cost_source).
  Result<std::vector<EventInput>> PrepareUsage(
      const std::string& tenant, const std::vector<UsageInput>& usage,
      std::vector<std::pair<int64_t, std::string>>* priced = nullptr) const;
  Result<AppendResult> RecordUsage(const std::string& tenant, const std::vector<UsageInput>& usage,
                                   const Actor& actor);

  // Totals and per provider/model breakdown over the last `window_hours`
  // hours; tenant may be kAllTenants.
  Result<nlohmann::json> Summary(std::string_view tenant, int64_t window_hours);
  // Budget crossings, success-rate windows and spend anomalies within the last
  // `window_hours` hours, plus the newest governance events.
  Result<nlohmann::json> Alerts(std::string_view tenant, int64_t window_hours);
  // The newest usage events of a tenant, as Event JSON.
  Result<nlohmann::json> Events(std::string_view tenant, size_t limit);

  // Allow, throttle or deny `projected_usd_micros` more spend for `tenant`
  // against the tenant's and the global budgets (spent + projected reaching
  // the soft threshold throttles, the hard one denies). A throttle or deny is
  // recorded (BudgetThrottled / BudgetDenied) before this returns.
  Result<BudgetCheckResult> Check(const std::string& tenant, int64_t projected_usd_micros,
                                  const std::string& request_id, const std::string& workflow,
                                  const Actor& actor);
  // The budget lines of a tenant (or kAllTenants: the global ones) as they stand.
  Result<std::vector<BudgetLine>> BudgetStatus(std::string_view tenant);

  // Appends BudgetSet: scope "tenant" (stream tenant/<tenant>/costs) or
  // "global" (stream costs/global, tenant ""). Thresholds in (0, 10].
  Result<AppendResult> SetBudget(const std::string& scope, const std::string& tenant,
                                 const BudgetRecord& budget, const Actor& actor);
  // Budgets in force: every BudgetSet, and the defaults.
  Result<nlohmann::json> Budgets();

  const PricingTable& pricing() const { return pricing_; }
  const CostOptions& options() const { return options_; }

  static std::string Stream(std::string_view tenant);  // tenant/<tenant>/costs
  static constexpr std::string_view kGlobalStream = "costs/global";
  // "24h", "7d": hours; false for anything else (1h..8784h, 1d..366d).
  static bool ParseWindow(std::string_view text, int64_t* hours);

 private:
  Result<BudgetRecord> EffectiveBudget(ViewReader& r, std::string_view tenant) const;
  Result<std::vector<BudgetLine>> Lines(ViewReader& r, std::string_view tenant, int64_t now,
                                        int64_t projected) const;

  Engine& engine_;
  const CostOptions options_;
  const PricingTable pricing_;
};

}  // namespace logbook
