// `logbook lifecycle ...` run as the real binary: store, dry run, live run,
// rerun, restore, summary, roles (exit 2) and legal holds (exit 3).

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "projections/costs.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

// Stores an artifact `days_ago` days old (by the real clock; the CLI has no other).
std::string Store(const std::string& tenant, const std::string& id, int days_ago,
                  const std::string& tier = "hot") {
  const int64_t at = NowMicros() - days_ago * kMicrosPerDay - 60 * 1000000LL;
  return "lifecycle store --tenant " + tenant + " --artifact " + id +
         " --workflow weekly_report --bytes 1000 --hash " + std::string(64, 'c') +
         " --label Internal --tier " + tier + " --stored-at " + FormatTimestamp(at);
}

}  // namespace

TEST_SUITE("tools/cli") {
  TEST_CASE("LifecycleDryRunLiveRerunRestoreSummary") {
    TempDir dir;
    Cli cli{dir.Sub("d")};
    std::string out, err;
    REQUIRE(cli.Run("init", &out) == 0);
    REQUIRE_MESSAGE(cli.Run(Store("acme", "a-hot", 1), &out, &err) == 0, err);
    CHECK(json::parse(out)["created"] == true);
    REQUIRE(cli.Run(Store("acme", "a-due", 8), &out, &err) == 0);
    REQUIRE(cli.Run(Store("acme", "a-warm", 31, "warm"), &out, &err) == 0);
    REQUIRE(cli.Run(Store("globex", "g-cold", 91, "cold"), &out, &err) == 0);

    REQUIRE_MESSAGE(cli.Run("lifecycle run --dry-run --json", &out, &err) == 0, err);
    json plan = json::parse(out);
    CHECK(plan["mode"] == "dry_run");
    CHECK(plan["counts"]["hot_to_warm"] == 1);
    CHECK(plan["counts"]["warm_to_cold"] == 1);
    CHECK(plan["counts"]["purged_from_cold"] == 1);
    // Text form, and the days from the environment as the seed's runbook sets them.
    REQUIRE(cli.Run("lifecycle run --dry-run", &out, &err, "LOGBOOK_HOT_RETENTION_DAYS=1") == 0);
    CHECK(out.find("hot -> warm:       2") != std::string::npos);
    CHECK(out.find("acme/weekly_report/a-due  hot -> warm") != std::string::npos);
    // Nothing changed.
    REQUIRE(cli.Run("lifecycle run --dry-run --json", &out) == 0);
    CHECK(json::parse(out)["counts"]["hot_to_warm"] == 1);

    REQUIRE_MESSAGE(cli.Run("lifecycle run --live --json", &out, &err) == 0, err);
    json live = json::parse(out);
    CHECK(live["counts"]["done"] == 3);
    REQUIRE(cli.Run("lifecycle run --live --json", &out) == 0);
    CHECK(json::parse(out)["counts"]["total"] == 0);

    REQUIRE(cli.Run("lifecycle summary --json", &out) == 0);
    json sum = json::parse(out);
    REQUIRE(sum["tenants"].size() == 2);
    CHECK(sum["tenants"][0]["tenant"] == "acme");
    CHECK(sum["tenants"][0]["hot"]["count"] == 1);
    CHECK(sum["tenants"][0]["warm"]["count"] == 1);
    CHECK(sum["tenants"][0]["cold"]["count"] == 1);
    CHECK(sum["tenants"][1]["purged"]["count"] == 1);
    REQUIRE(cli.Run("lifecycle run --summary", &out) == 0);
    CHECK(out.find("globex") != std::string::npos);

    REQUIRE(cli.Run("lifecycle restore --tenant acme --artifact a-warm", &out, &err) == 0);
    json restored = json::parse(out);
    CHECK(restored["restored"] == true);
    CHECK(restored["from_tier"] == "cold");
    CHECK(restored["tier"] == "hot");
    CHECK(cli.Run("lifecycle restore --tenant globex --artifact g-cold", &out, &err) == 5);
    CHECK(err.find("cannot be restored") != std::string::npos);
    CHECK(cli.Run("lifecycle restore --tenant acme --artifact nope", &out, &err) == 7);

    REQUIRE(cli.Run("lifecycle list --tenant acme --tier hot", &out) == 0);
    CHECK(out.find("a-warm") != std::string::npos);
    CHECK(out.find("a-due") == std::string::npos);

    // Usage: a mode is required, and only one.
    CHECK(cli.Run("lifecycle run", &out, &err) == 4);
    CHECK(cli.Run("lifecycle run --dry-run --live", &out, &err) == 4);
    CHECK(cli.Run("lifecycle store --tenant acme --artifact x --bytes 1", &out, &err) == 4);
  }

  TEST_CASE("LifecycleRolesAndLegalHold") {
    TempDir dir;
    Cli cli{dir.Sub("d")};
    std::string out, err;
    REQUIRE(cli.Run("init", &out) == 0);
    REQUIRE(cli.Run(Store("acme", "old", 95, "cold"), &out, &err) == 0);
    REQUIRE(cli.Run(Store("globex", "old", 95, "cold"), &out, &err) == 0);
    REQUIRE(cli.Run(Store("acme", "new", 10), &out, &err) == 0);

    // Roles: a live run needs compliance or admin; auditors may plan and read.
    CHECK(cli.Run("--role auditor lifecycle run --live", &out, &err) == 2);
    CHECK(err.find("denied") != std::string::npos);
    CHECK(cli.Run("lifecycle run --live --role operator", &out, &err) == 2);
    CHECK(cli.Run("--role viewer lifecycle run --dry-run", &out, &err) == 2);
    CHECK(cli.Run("--role viewer lifecycle summary", &out, &err) == 2);
    CHECK(cli.Run("--role auditor lifecycle restore --tenant acme --artifact new", &out, &err) ==
          2);
    CHECK(cli.Run("--role auditor lifecycle store --tenant acme --artifact x --bytes 1 --hash " +
                      std::string(64, 'c'),
                  &out, &err) == 2);
    CHECK(cli.Run("--role auditor lifecycle run --dry-run", &out, &err) == 0);
    CHECK(cli.Run("--role operator lifecycle summary", &out, &err) == 0);

    REQUIRE(cli.Run("hold apply --tenant acme --reason 'case 12, counsel' --id c12", &out) == 0);
    // A dry run reports the hold; a live run does the rest and exits 3.
    REQUIRE(cli.Run("--role auditor lifecycle run --dry-run --json", &out, &err) == 0);
    CHECK(json::parse(out)["held"][0]["tenant"] == "acme");
    CHECK(cli.Run("--role compliance lifecycle run --live --json", &out, &err) == 3);
    json rep = json::parse(out);
    CHECK(rep["counts"]["purged_from_cold"] == 1);
    CHECK(rep["counts"]["hot_to_warm"] == 1);
    CHECK(rep["counts"]["purge_withheld_by_hold"] == 1);
    CHECK(err.find("case 12, counsel") != std::string::npos);
    REQUIRE(cli.Run("lifecycle list --tenant globex --tier purged", &out) == 0);
    CHECK(out.find("\"old\"") != std::string::npos);
    REQUIRE(cli.Run("lifecycle list --tenant acme --tier cold", &out) == 0);
    CHECK(out.find("\"old\"") != std::string::npos);

    REQUIRE(cli.Run("hold release --tenant acme --reason closed", &out) == 0);
    REQUIRE(cli.Run("lifecycle run --live --tenant acme --json", &out, &err) == 0);
    CHECK(json::parse(out)["counts"]["purged_from_cold"] == 1);
  }
}
