// `logbook approvals ...` and `logbook cost ...` run as the real binary.

#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

using namespace logbook::test;

namespace {

std::string LastLine(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

std::string Checkpoint(const std::string& id, int64_t expires_at_us,
                       const std::string& role = "Operator") {
  return "append --stream checkpoint/" + id +
         " --tenant acme --type CheckpointCreated --payload '" + R"({"checkpoint_id":")" + id +
         R"(","prompt":"Approve weekly report draft?","required_role":")" + role +
         R"(","source_ids":["s1","s2"],"dag_run_id":"abc123","expires_at_us":)" +
         std::to_string(expires_at_us) + "}'";
}

}  // namespace

TEST_SUITE("tools/cli") {
  TEST_CASE("ApprovalsListShowApproveReject") {
    TempDir dir;
    Cli cli{dir.Sub("d")};
    std::string out, err;
    REQUIRE(cli.Run("init", &out) == 0);
    const int64_t far = 4102444800000000;  // 2100-01-01
    REQUIRE(cli.Run(Checkpoint("cp1", far), &out, &err) == 0);
    REQUIRE(cli.Run(Checkpoint("cp2", far, "Admin"), &out, &err) == 0);
    // Already past its deadline: expired as soon as the directory is opened read-write.
    REQUIRE(cli.Run(Checkpoint("old", 1000000), &out, &err) == 0);

    REQUIRE(cli.Run("approvals list --status pending", &out, &err) == 0);
    CHECK(out.find("Pending Checkpoints") == 0);
    CHECK(out.find("cp1") != std::string::npos);
    CHECK(out.find("Required Role: Admin") != std::string::npos);
    CHECK(out.find("DAG Run: abc123") != std::string::npos);
    CHECK(out.find("old") == std::string::npos);
    REQUIRE(cli.Run("approvals list --status expired --json", &out) == 0);
    CHECK(nlohmann::json::parse(out)["checkpoint_id"] == "old");
    CHECK(cli.Run("approvals list --status open", &out, &err) == 4);

    REQUIRE(cli.Run("approvals show cp1", &out) == 0);
    CHECK(out.find("Prompt: Approve weekly report draft?") != std::string::npos);
    CHECK(cli.Run("approvals show cp1 --tenant globex", &out, &err) == 7);
    CHECK(cli.Run("approvals show nope", &out, &err) == 7);

    // Approving: the tenant is required, the role must reach, ids must be candidates.
    CHECK(cli.Run("approvals approve cp1 --source s1", &out, &err) == 4);
    CHECK(cli.Run("approvals approve cp1 --tenant acme --role viewer --source s1", &out, &err) ==
          2);
    CHECK(cli.Run("approvals approve cp2 --tenant acme --source s1", &out, &err) == 2);
    CHECK(cli.Run("approvals approve cp1 --tenant acme --source s9", &out, &err) == 5);
    CHECK(err.find("s9") != std::string::npos);
    CHECK(cli.Run("approvals approve nope --tenant acme", &out, &err) == 7);
    CHECK(cli.Run("approvals approve cp1 --tenant acme --kv novalue", &out, &err) == 4);
    REQUIRE(
        cli.Run("approvals approve cp1 --tenant acme --source s1 --kv signoff_text=ok --by manager",
                &out, &err) == 0);
    CHECK(out.find("approved checkpoint cp1") == 0);
    // Idempotent repeat; a different decision is a conflict.
    REQUIRE(cli.Run("approvals approve cp1 --tenant acme --source s1 --kv signoff_text=ok", &out,
                    &err) == 0);
    CHECK(out.find("nothing appended") != std::string::npos);
    CHECK(cli.Run("approvals reject cp1 --tenant acme --reason late", &out, &err) == 6);
    CHECK(cli.Run("approvals approve old --tenant acme", &out, &err) == 6);
    // An admin rejects cp2.
    CHECK(cli.Run("approvals reject cp2 --tenant acme", &out, &err) == 4);  // --reason is required
    REQUIRE(cli.Run("approvals reject cp2 --tenant acme --role admin --reason 'Budget concerns'",
                    &out, &err) == 0);

    REQUIRE(cli.Run("approvals show cp1 --json", &out) == 0);
    auto j = nlohmann::json::parse(out);
    CHECK(j["status"] == "approved");
    CHECK(j["decided_by"] == "manager");
    CHECK(j["data"]["signoff_text"] == "ok");

    REQUIRE(cli.Run("approvals audit --tenant acme", &out) == 0);
    std::vector<nlohmann::json> trail;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) trail.push_back(nlohmann::json::parse(line));
    REQUIRE(trail.size() == 6);  // 3 created, 1 expired, 1 approved, 1 rejected
    CHECK(trail.back()["action"] == "rejected");
    CHECK(trail.back()["reason"] == "Budget concerns");
    CHECK(trail.back()["role"] == "admin");
  }

  TEST_CASE("CostReportPrintsTheSeedFooter") {
    TempDir dir;
    Cli cli{dir.Sub("d")};
    std::string out, err;
    REQUIRE(cli.Run("init", &out) == 0);
    auto usage = [&](const std::string& model, int in, int outt, int usd) {
      return cli.Run(
          "append --stream tenant/acme/costs --tenant acme --type UsageRecorded --payload "
          "'{\"provider\":\"openai\",\"model\":\"" +
              model + "\",\"tokens_in\":" + std::to_string(in) +
              ",\"tokens_out\":" + std::to_string(outt) + ",\"usd_micros\":" + std::to_string(usd) +
              ",\"latency_ms\":200,\"success\":true}'",
          &out, &err);
    };
    REQUIRE(usage("gpt-4o", 150, 80, 2100) == 0);
    REQUIRE(usage("gpt-4o-mini", 100, 50, 100) == 0);
    REQUIRE(cli.Run("cost report --tenant acme", &out, &err) == 0);
    CHECK(LastLine(out) ==
          "Costs: openai/gpt-4o in=150 out=80 $0.0021 | openai/gpt-4o-mini in=100 out=50 $0.0001 | "
          "Total $0.0022 (tokens=380)");
    CHECK(out.find("Cost Anomalies: none") != std::string::npos);
    REQUIRE(cli.Run("cost report --days 7 --json", &out, &err) == 0);
    auto j = nlohmann::json::parse(out);
    CHECK(j["summary"]["totals"]["usd_micros"] == 2200);
    CHECK(j["summary"]["tenant_id"].is_null());
    CHECK(j["footer"].get<std::string>().find("Total $0.0022") != std::string::npos);
    REQUIRE(cli.Run("cost report --tenant globex", &out) == 0);
    CHECK(LastLine(out) == "Costs: Total $0.0000 (tokens=0)");
    CHECK(cli.Run("cost report --days 0", &out, &err) == 4);

    // Budgets and checks: $0.0025 a day; $0.0022 spent.
    CHECK(cli.Run("cost budget set --tenant acme --daily 0.0025x", &out, &err) == 4);
    CHECK(cli.Run("cost budget set --daily 1", &out, &err) == 4);
    REQUIRE(cli.Run("cost budget set --tenant acme --daily 0.0025", &out, &err) == 0);
    REQUIRE(cli.Run("cost check --tenant acme --projected 0.0001", &out, &err) == 0);
    CHECK(out.find("throttle") == 0);
    CHECK(cli.Run("cost check --tenant acme --projected 0.0003", &out, &err) == 2);
    CHECK(out.find("deny") == 0);
    REQUIRE(cli.Run("cost check --tenant globex --projected 5", &out, &err) == 0);
    CHECK(out.find("allow") == 0);
    const std::string file = dir.Sub("budgets.json");
    std::ofstream(file)
        << R"({"global":{"daily":25.0,"monthly":500},"tenants":{"acme":{"daily":"5.00"}}})";
    REQUIRE(cli.Run("cost budget set --file " + file, &out, &err) == 0);
    REQUIRE(cli.Run("cost budget list", &out, &err) == 0);
    j = nlohmann::json::parse(out);
    CHECK(j["global"]["daily_usd_micros"] == 25000000);
    CHECK(j["tenants"]["acme"]["daily_usd_micros"] == 5000000);
    std::ofstream(file) << R"({"tenants":{"acme":{"weekly":1}}})";
    CHECK(cli.Run("cost budget set --file " + file, &out, &err) == 5);
    REQUIRE(cli.Run("cost alerts --tenant acme", &out, &err) == 0);
    CHECK(nlohmann::json::parse(out)["governance_events"].size() ==
          4);  // 2 BudgetSet, throttle, deny

    // A pricing file replaces the built-in table; a bad one stops the command.
    std::ofstream(dir.Sub("pricing.json"))
        << R"({"acme-ai":{"m1":{"input_per_1m":1.5,"output_per_1m":3}}})";
    REQUIRE(cli.Run("--pricing-file " + dir.Sub("pricing.json") + " cost pricing", &out, &err) ==
            0);
    CHECK(nlohmann::json::parse(out)["acme-ai"]["m1"]["input_per_1m"] == 1.5);
    std::ofstream(dir.Sub("bad.json")) << R"({"acme-ai":{"m1":{"input_per_1m":"cheap"}}})";
    CHECK(cli.Run("--pricing-file " + dir.Sub("bad.json") + " cost report", &out, &err) == 5);
    CHECK(cli.Run("--pricing-file " + dir.Sub("missing.json") + " cost report", &out, &err) == 7);
    CHECK(cli.Run("--tenant-budget-daily abc cost report", &out, &err) == 4);
  }
}
