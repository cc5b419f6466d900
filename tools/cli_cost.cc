// CLI commands for LLM costs: cost report|alerts|check|pricing|budget set|budget list, and
// the global pricing, budget and alert settings.

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tools/cli_common.h"

namespace logbook::cli {

namespace {

// A dollar flag ("5", "0.15"): parsed exactly into micro-dollars.
std::function<void(const std::string&)> UsdSetter(int64_t* dst, const std::string& name) {
  return [dst, name](const std::string& text) {
    if (!ParseUsd(text, dst)) {
      throw CLI::ValidationError(name,
                                 "'" + text + "' is not dollars (digits, at most 6 decimals)");
    }
  };
}

std::string Percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", ratio * 100.0);
  return buf;
}

// The footer of seed 001: "Costs: openai/gpt-4o in=150 out=80 $0.0021 | ... | Total $0.0022
// (tokens=380)".
std::string Footer(const nlohmann::json& summary) {
  std::string out = "Costs: ";
  for (const auto& m : summary["by_model"]) {
    out += m["provider"].get<std::string>() + "/" + m["model"].get<std::string>() +
           " in=" + std::to_string(m["tokens_in"].get<uint64_t>()) +
           " out=" + std::to_string(m["tokens_out"].get<uint64_t>()) + " $" +
           FormatUsd(m["usd_micros"].get<int64_t>(), 4) + " | ";
  }
  const auto& t = summary["totals"];
  out += "Total $" + FormatUsd(t["usd_micros"].get<int64_t>(), 4) +
         " (tokens=" + std::to_string(t["tokens"].get<uint64_t>()) + ")";
  return out;
}

void PrintReport(const nlohmann::json& s, const nlohmann::json& a, int64_t days) {
  const std::string who =
      s["tenant_id"].is_null() ? "all tenants" : "tenant " + s["tenant_id"].get<std::string>();
  std::printf("Cost report: %s, last %lld day(s) (%s .. %s)\n", who.c_str(),
              static_cast<long long>(days), s["from"].get<std::string>().c_str(),
              s["to"].get<std::string>().c_str());
  std::printf("  %-36s %8s %8s %12s %12s %12s %8s\n", "PROVIDER/MODEL", "CALLS", "SUCCESS",
              "TOKENS IN", "TOKENS OUT", "USD", "P95 MS");
  for (const auto& m : s["by_model"]) {
    const std::string name = m["provider"].get<std::string>() + "/" + m["model"].get<std::string>();
    std::printf("  %-36s %8llu %8s %12llu %12llu %12s %8u\n", name.c_str(),
                static_cast<unsigned long long>(m["events"].get<uint64_t>()),
                Percent(m["success_rate"].get<double>()).c_str(),
                static_cast<unsigned long long>(m["tokens_in"].get<uint64_t>()),
                static_cast<unsigned long long>(m["tokens_out"].get<uint64_t>()),
                FormatUsd(m["usd_micros"].get<int64_t>(), 4).c_str(),
                m["p95_latency_ms"].get<uint32_t>());
  }
  std::printf("Budgets:\n");
  if (a["budgets"].empty()) std::printf("  (none set)\n");
  for (const auto& b : a["budgets"]) {
    std::printf("  %-6s %-7s $%s of $%s (%s) %s\n", b["scope"].get<std::string>().c_str(),
                b["window"].get<std::string>().c_str(),
                FormatUsd(b["spent_usd_micros"].get<int64_t>(), 4).c_str(),
                FormatUsd(b["budget_usd_micros"].get<int64_t>(), 4).c_str(),
                Percent(b["ratio"].get<double>()).c_str(), b["level"].get<std::string>().c_str());
  }
  std::vector<const nlohmann::json*> anomalies, others;
  for (const auto& al : a["alerts"]) {
    (al["type"] == "anomaly" ? anomalies : others).push_back(&al);
  }
  std::printf("Alerts (last %s):%s\n", a["window"].get<std::string>().c_str(),
              others.empty() ? " none" : "");
  for (const auto* al : others) {
    const auto& x = *al;
    if (x["type"] == "budget") {
      std::printf("  budget %s: %s %s at %s of the budget\n", x["level"].get<std::string>().c_str(),
                  x["scope"].get<std::string>().c_str(), x["window"].get<std::string>().c_str(),
                  Percent(x["ratio"].get<double>()).c_str());
    } else {
      std::printf("  success rate %s in %s .. %s (%llu calls)\n",
                  Percent(x["success_rate"].get<double>()).c_str(),
                  x["window_start"].get<std::string>().c_str(),
                  x["window_end"].get<std::string>().c_str(),
                  static_cast<unsigned long long>(x["events"].get<uint64_t>()));
    }
  }
  std::printf("Cost Anomalies:%s\n", anomalies.empty() ? " none" : "");
  for (const auto* al : anomalies) {
    const auto& x = *al;
    std::printf("  %s: $%s against a mean of $%s per hour",
                x["hour_start"].get<std::string>().c_str(),
                FormatUsd(x["observed_usd_micros"].get<int64_t>(), 4).c_str(),
                FormatUsd(x["baseline_mean_usd_micros"].get<int64_t>(), 4).c_str());
    if (x["sigma"].is_number()) std::printf(" (%.1f sigma)", x["sigma"].get<double>());
    std::printf("\n");
  }
  std::printf("%s\n", Footer(s).c_str());
}

struct CostFlags {
  std::string tenant, window = "24h", request_id, workflow, file, projected, daily, monthly;
  int64_t days = 30;
  double soft = 0, hard = 0;
  bool json = false, global = false;
  std::string actor = "cli";
};

// Budgets from a JSON file shaped like seed 001's budgets.yaml:
// {"global": {"daily": 100.0, "monthly": 2000.0}, "tenants": {"t1": {"daily": 20.0, ...}}}.
Status ReadBudgetFile(const std::string& path, const CostOptions& defaults,
                      std::vector<std::pair<std::string, BudgetRecord>>* out) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("budget file '" + path + "' cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::InvalidArgument(path + ": not a JSON object");
  auto one = [&](const std::string& who, const nlohmann::json& b) -> Status {
    if (!b.is_object()) return Status::InvalidArgument(path + ": " + who + " must be an object");
    BudgetRecord r;
    r.soft_threshold = defaults.soft_threshold;
    r.hard_threshold = defaults.hard_threshold;
    for (auto& [k, v] : b.items()) {
      if (k == "daily" || k == "monthly") {
        if (!UsdFromJson(v, k == "daily" ? &r.daily_usd_micros : &r.monthly_usd_micros)) {
          return Status::InvalidArgument(path + ": " + who + "." + k + " must be dollars");
        }
      } else if ((k == "soft_threshold" || k == "hard_threshold") && v.is_number()) {
        (k == "soft_threshold" ? r.soft_threshold : r.hard_threshold) = v.get<double>();
      } else {
        return Status::InvalidArgument(path + ": " + who + ": unknown or malformed field '" + k +
                                       "'");
      }
    }
    out->emplace_back(who, r);
    return Status::OK();
  };
  for (auto& [k, v] : j.items()) {
    if (k == "global") {
      if (Status s = one("", v); !s.ok()) return s;
    } else if (k == "tenants" && v.is_object()) {
      for (auto& [t, b] : v.items()) {
        if (Status s = ValidateTenantName(t); !s.ok() || t.empty()) {
          return Status::InvalidArgument(path + ": bad tenant name '" + t + "'");
        }
        if (Status s = one(t, b); !s.ok()) return s;
      }
    } else {
      return Status::InvalidArgument(path + ": unknown field '" + k +
                                     "' (expected global, tenants)");
    }
  }
  return Status::OK();
}

}  // namespace

void AddCostCommands(CLI::App& app, GlobalFlags& g, Runner* run) {
  // ---- settings, global so that `serve` and the commands below agree
  app.add_option("--pricing-file", g.costs.pricing_file,
                 "Pricing table JSON (USD per 1M tokens per provider/model); default: built-in")
      ->envname("LOGBOOK_PRICING_FILE")
      ->group("Costs");
  struct UsdFlag {
    const char* flag;
    const char* env;
    int64_t* dst;
    const char* what;
  };
  const UsdFlag usd_flags[] = {
      {"--tenant-budget-daily", "LOGBOOK_TENANT_BUDGET_DAILY", &g.costs.tenant_daily_usd_micros,
       "Daily budget (USD) of tenants without one set; 0 = none"},
      {"--tenant-budget-monthly", "LOGBOOK_TENANT_BUDGET_MONTHLY",
       &g.costs.tenant_monthly_usd_micros,
       "Monthly budget (USD) of tenants without one set; 0 = none"},
      {"--global-budget-daily", "LOGBOOK_GLOBAL_BUDGET_DAILY", &g.costs.global_daily_usd_micros,
       "Daily budget (USD) of all tenants together, unless one was set; 0 = none"},
      {"--global-budget-monthly", "LOGBOOK_GLOBAL_BUDGET_MONTHLY",
       &g.costs.global_monthly_usd_micros,
       "Monthly budget (USD) of all tenants together, unless one was set; 0 = none"},
      {"--anomaly-min-dollars", "LOGBOOK_ANOMALY_MIN_DOLLARS", &g.costs.anomaly_min_usd_micros,
       "An hour's spend below this is never an anomaly (default 3.0)"}};
  for (const UsdFlag& u : usd_flags) {
    app.add_option_function<std::string>(u.flag, UsdSetter(u.dst, u.flag), u.what)
        ->envname(u.env)
        ->group("Costs");
  }
  app.add_option("--budget-soft-threshold", g.costs.soft_threshold,
                 "Throttle at this fraction of a budget")
      ->envname("LOGBOOK_BUDGET_SOFT_THRESHOLD")
      ->check(CLI::Range(0.0001, 10.0))
      ->capture_default_str()
      ->group("Costs");
  app.add_option("--budget-hard-threshold", g.costs.hard_threshold,
                 "Deny at this fraction of a budget")
      ->envname("LOGBOOK_BUDGET_HARD_THRESHOLD")
      ->check(CLI::Range(0.0001, 10.0))
      ->capture_default_str()
      ->group("Costs");
  app.add_option("--anomaly-sigma", g.costs.anomaly_sigma, "Standard deviations above the baseline")
      ->envname("LOGBOOK_ANOMALY_SIGMA")
      ->check(CLI::Range(0.0, 1000.0))
      ->capture_default_str()
      ->group("Costs");
  app.add_option("--anomaly-min-events", g.costs.anomaly_min_events,
                 "Usage events the baseline needs before anomalies are looked for")
      ->envname("LOGBOOK_ANOMALY_MIN_EVENTS")
      ->capture_default_str()
      ->group("Costs");
  app.add_option("--anomaly-baseline-hours", g.costs.anomaly_baseline_hours,
                 "Hours before the alert window that form the baseline")
      ->envname("LOGBOOK_ANOMALY_BASELINE_HOURS")
      ->check(CLI::Range(int64_t{1}, int64_t{8784}))
      ->capture_default_str()
      ->group("Costs");
  app.add_option("--success-rate-threshold", g.costs.success_rate_threshold,
                 "Alert when a 15-minute window's success rate is under this")
      ->envname("LOGBOOK_SUCCESS_RATE_THRESHOLD")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->group("Costs");
  app.add_option("--success-rate-min-events", g.costs.success_min_events,
                 "Calls a 15-minute window needs to be judged")
      ->envname("LOGBOOK_SUCCESS_RATE_MIN_EVENTS")
      ->capture_default_str()
      ->group("Costs");

  auto f = std::make_shared<CostFlags>();
  auto* cost = app.add_subcommand(
      "cost", "LLM usage costs, budgets and alerts (served from the costs view)");
  cost->require_subcommand(1);

  // ---- cost report
  auto* report = cost->add_subcommand(
      "report",
      "Spend per provider/model, budgets, alerts and anomalies, ending with the cost footer");
  report->add_option("--tenant", f->tenant, "Only this tenant (default: all tenants)");
  report->add_option("--days", f->days, "Window in days, ending with the current hour")
      ->check(CLI::Range(int64_t{1}, int64_t{366}))
      ->capture_default_str();
  report->add_flag("--json", f->json, "The summary and alerts as JSON");
  report->callback([&g, run, f] {
    *run = [&g, f] {
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      const std::string tenant = f->tenant.empty() ? std::string(kAllTenants) : f->tenant;
      Result<nlohmann::json> s = (*e)->costs().Summary(tenant, f->days * 24);
      if (!s.ok()) return Fail(s.status());
      Result<nlohmann::json> a = (*e)->costs().Alerts(tenant, 24);
      if (!a.ok()) return Fail(a.status());
      if (f->json) {
        nlohmann::json j = {{"summary", *s}, {"alerts", *a}, {"footer", Footer(*s)}};
        std::printf("%s\n",
                    j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      } else {
        PrintReport(*s, *a, f->days);
      }
      return kExitOk;
    };
  });

  // ---- cost alerts
  auto* alerts = cost->add_subcommand("alerts", "Budget, success-rate and anomaly alerts as JSON");
  alerts->add_option("--tenant", f->tenant, "Only this tenant (default: all tenants)");
  alerts->add_option("--window", f->window, "24h, 7d, ...")->capture_default_str();
  alerts->callback([&g, run, f] {
    *run = [&g, f] {
      int64_t hours = 0;
      if (!Costs::ParseWindow(f->window, &hours))
        return FailUsage("--window must be like 24h or 7d");
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      Result<nlohmann::json> a = (*e)->costs().Alerts(
          f->tenant.empty() ? kAllTenants : std::string_view(f->tenant), hours);
      if (!a.ok()) return Fail(a.status());
      std::printf("%s\n", a->dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return kExitOk;
    };
  });

  // ---- cost check
  auto* check = cost->add_subcommand(
      "check",
      "Allow, throttle or deny a projected cost for a tenant (records throttles and denials).\n"
      "Exit 0 for allow and throttle, 2 for deny.");
  check->add_option("--tenant", f->tenant, "Tenant")->required();
  check->add_option("--projected", f->projected, "Projected cost in USD, e.g. 0.015")->required();
  check->add_option("--request-id", f->request_id, "Request or job id recorded with the decision");
  check->add_option("--workflow", f->workflow, "Workflow recorded with the decision");
  check->add_option("--actor", f->actor, "Principal recorded with the event")
      ->capture_default_str();
  check->callback([&g, run, f] {
    *run = [&g, f] {
      int64_t projected = 0;
      if (!ParseUsd(f->projected, &projected))
        return FailUsage("--projected must be dollars, e.g. 0.015");
      OpenFlags of;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      Result<BudgetCheckResult> r = (*e)->costs().Check(
          f->tenant, projected, f->request_id, f->workflow, Actor{f->actor, Role::kOperator});
      if (!r.ok()) return Fail(r.status());
      std::printf("%s", std::string(BudgetDecisionName(r->decision)).c_str());
      for (const BudgetLine& l : r->lines) {
        if (l.level == BudgetDecision::kAllow) continue;
        std::printf(": %s %s budget $%s, spent $%s + projected $%s", l.scope.c_str(),
                    l.window.c_str(), FormatUsd(l.budget_usd_micros, 4).c_str(),
                    FormatUsd(l.spent_usd_micros, 4).c_str(),
                    FormatUsd(l.projected_usd_micros, 4).c_str());
        break;
      }
      std::printf("\n");
      return r->decision == BudgetDecision::kDeny ? kExitDenied : kExitOk;
    };
  });

  // ---- cost pricing
  auto* pricing = cost->add_subcommand("pricing", "The pricing table in force, as JSON");
  pricing->callback([&g, run] {
    *run = [&g] {
      Result<PricingTable> t = g.costs.pricing_file.empty()
                                   ? PricingTable::Default()
                                   : PricingTable::Load(g.costs.pricing_file);
      if (!t.ok()) return Fail(t.status());
      std::printf("%s\n", t->ToJson().dump(2).c_str());
      return kExitOk;
    };
  });

  // ---- cost budget set|list
  auto* budget = cost->add_subcommand("budget", "Set or list budgets (BudgetSet events)");
  budget->require_subcommand(1);
  auto* set = budget->add_subcommand(
      "set",
      "Set a tenant's budget (--tenant) or the global one (--global) from flags, or every\n"
      "budget in a JSON file (--file: {\"global\":{\"daily\":25.0,\"monthly\":500.0},\n"
      "\"tenants\":{\"t1\":{\"daily\":5.0,\"monthly\":100.0}}}). Amounts in USD; 0 = no limit.");
  set->add_option("--tenant", f->tenant, "Tenant");
  set->add_flag("--global", f->global, "The budget of all tenants together");
  set->add_option("--daily", f->daily, "Daily budget in USD");
  set->add_option("--monthly", f->monthly, "Monthly budget in USD");
  set->add_option("--soft", f->soft, "Soft threshold (default --budget-soft-threshold)");
  set->add_option("--hard", f->hard, "Hard threshold (default --budget-hard-threshold)");
  set->add_option("--file", f->file, "Budgets JSON file");
  set->add_option("--actor", f->actor, "Principal recorded with the events")->capture_default_str();
  set->callback([&g, run, f] {
    *run = [&g, f] {
      std::vector<std::pair<std::string, BudgetRecord>> budgets;  // "" = global
      if (!f->file.empty()) {
        if (!f->tenant.empty() || f->global || !f->daily.empty() || !f->monthly.empty()) {
          return FailUsage("--file replaces --tenant, --global, --daily and --monthly");
        }
        if (Status s = ReadBudgetFile(f->file, g.costs, &budgets); !s.ok()) return Fail(s);
      } else {
        if (f->global == !f->tenant.empty()) return FailUsage("give --tenant or --global");
        BudgetRecord b;
        b.soft_threshold = f->soft > 0 ? f->soft : g.costs.soft_threshold;
        b.hard_threshold = f->hard > 0 ? f->hard : g.costs.hard_threshold;
        if (!f->daily.empty() && !ParseUsd(f->daily, &b.daily_usd_micros)) {
          return FailUsage("--daily must be dollars, e.g. 5.00");
        }
        if (!f->monthly.empty() && !ParseUsd(f->monthly, &b.monthly_usd_micros)) {
          return FailUsage("--monthly must be dollars, e.g. 100");
        }
        budgets.emplace_back(f->tenant, b);
      }
      OpenFlags of;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      for (const auto& [tenant, b] : budgets) {
        Result<AppendResult> r = (*e)->costs().SetBudget(tenant.empty() ? "global" : "tenant",
                                                         tenant, b, Actor{f->actor, Role::kAdmin});
        if (!r.ok()) return Fail(r.status());
        std::printf("set %s budget: daily $%s, monthly $%s (soft %g, hard %g) at LSN %llu\n",
                    tenant.empty() ? "global" : ("tenant " + tenant).c_str(),
                    FormatUsd(b.daily_usd_micros, 2).c_str(),
                    FormatUsd(b.monthly_usd_micros, 2).c_str(), b.soft_threshold, b.hard_threshold,
                    static_cast<unsigned long long>(r->last_lsn));
      }
      return kExitOk;
    };
  });
  auto* blist =
      budget->add_subcommand("list", "Budgets set, the defaults, and where spend stands, as JSON");
  blist->add_option("--tenant", f->tenant, "Also the status of this tenant's budget lines");
  blist->callback([&g, run, f] {
    *run = [&g, f] {
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      Result<nlohmann::json> all = (*e)->costs().Budgets();
      if (!all.ok()) return Fail(all.status());
      Result<std::vector<BudgetLine>> lines =
          (*e)->costs().BudgetStatus(f->tenant.empty() ? kAllTenants : std::string_view(f->tenant));
      if (!lines.ok()) return Fail(lines.status());
      nlohmann::json status = nlohmann::json::array();
      for (const BudgetLine& l : *lines) status.push_back(l.ToJson());
      (*all)["status"] = std::move(status);
      std::printf("%s\n",
                  all->dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return kExitOk;
    };
  });
}

}  // namespace logbook::cli
