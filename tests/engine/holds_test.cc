// Legal holds: the view, the service's rules, the CLI's exit codes.

#include "engine/holds.h"

#include <doctest/doctest.h>

#include "projections/view_store.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

std::unique_ptr<Engine> OpenAt(const std::string& dir) {
  EngineOptions o;
  o.data_dir = dir;
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  return std::move(e).value();
}

const Actor kBy{"ops-carol", Role::kCompliance};

}  // namespace

TEST_SUITE("engine/holds") {
  TEST_CASE("HoldsBlockUntilReleasedAndSurviveRestartAndRebuild") {
    TempDir d;
    {
      auto e = OpenAt(d.Sub("data"));
      HoldService holds(*e);
      CHECK(holds.CheckNoHold("acme").ok());
      Result<HoldEntry> h = holds.Apply("acme", "case-17", "litigation 17, counsel", kBy);
      REQUIRE_MESSAGE(h.ok(), h.status().ToString());
      CHECK(h->lsn > 0);
      Status s = holds.CheckNoHold("acme");
      CHECK(s.code() == Status::Code::kHeld);
      CHECK(s.message().find("litigation 17") != std::string::npos);
      CHECK(holds.CheckNoHold("globex").ok());  // other tenants are free
      // The same id twice is refused; a second hold is fine.
      CHECK(holds.Apply("acme", "case-17", "again", kBy).status().code() ==
            Status::Code::kInvalidArgument);
      REQUIRE(holds.Apply("acme", "", "regulator request", kBy).ok());
      REQUIRE(holds.List("acme")->size() == 2);
      // With two in force, a release must name one.
      CHECK(holds.Release("acme", "", "", kBy).status().code() == Status::Code::kInvalidArgument);
      CHECK(holds.Release("acme", "nope", "", kBy).status().code() == Status::Code::kNotFound);
      REQUIRE(holds.Release("acme", "case-17", "settled", kBy).ok());
      CHECK(holds.CheckNoHold("acme").code() == Status::Code::kHeld);  // the other remains
    }
    auto e = OpenAt(d.Sub("data"));
    HoldService holds(*e);
    REQUIRE(holds.List("acme")->size() == 1);
    REQUIRE(e->projector().Reset("holds").ok());
    REQUIRE(e->projector().CatchUp().ok());
    REQUIRE(holds.List("")->size() == 1);
    REQUIRE(holds.Release("acme", "", "closed", kBy).ok());  // its only hold now
    CHECK(holds.CheckNoHold("acme").ok());
    CHECK(holds.Release("acme", "", "", kBy).status().code() == Status::Code::kNotFound);
    CHECK(holds.Apply("", "x", "r", kBy).status().code() == Status::Code::kInvalidArgument);
    CHECK(holds.Apply("acme", "x", "", kBy).status().code() == Status::Code::kInvalidArgument);
  }

  TEST_CASE("HoldEventsOnOtherStreamsOrForOtherTenantsDoNotCount") {
    TempDir d;
    auto e = OpenAt(d.Sub("data"));
    const std::string p = R"({"tenant":"acme","hold_id":"h1","reason":"r"})";
    // Right type, wrong stream; right stream, payload naming another tenant.
    REQUIRE(e->AppendJson("somewhere/else", "acme", kBy, ExpectedVersion::Any(),
                          {{"HoldApplied", "", p}}).ok());
    REQUIRE(e->AppendJson(ComplianceStream("globex"), "globex", kBy, ExpectedVersion::Any(),
                          {{"HoldApplied", "", p}}).ok());
    HoldService holds(*e);
    CHECK(holds.List("")->empty());
  }

  TEST_CASE("CliHoldExitCodes") {
    TempDir d;
    const std::string cli = CliPath() + " --data-dir " + d.Sub("data") + " ";
    std::string out, err;
    REQUIRE(RunCommand(cli + "init", &out, &err) == 0);
    CHECK(RunCommand(cli + "hold check --tenant acme", &out, &err) == 0);
    REQUIRE(RunCommand(cli + "hold apply --tenant acme --reason 'case 9' --id c9", &out, &err) == 0);
    CHECK(out.find("\"hold_id\":\"c9\"") != std::string::npos);
    CHECK(RunCommand(cli + "hold check --tenant acme", &out, &err) == 3);
    CHECK(err.find("legal hold") != std::string::npos);
    CHECK(err.find("case 9") != std::string::npos);
    REQUIRE(RunCommand(cli + "holds list", &out, &err) == 0);
    CHECK(out.find("c9") != std::string::npos);
    CHECK(RunCommand(cli + "hold release --tenant acme --id other", &out, &err) == 7);
    CHECK(RunCommand(cli + "hold apply --tenant acme", &out, &err) == 4);  // --reason required
    REQUIRE(RunCommand(cli + "hold release --tenant acme --reason done", &out, &err) == 0);
    CHECK(RunCommand(cli + "hold check --tenant acme", &out, &err) == 0);
  }
}
