#include <doctest/doctest.h>

#include "api/http.h"
#include "api/router.h"

using namespace logbook;
using namespace logbook::api;

TEST_SUITE("api/http") {
  TEST_CASE("RouterMatchesStreamNamesWithSlashes") {
    Router r;
    int hit = 0;
    r.Add("POST", "/v1/streams/{stream...}/events", Role::kOperator, [&](Request&, Reply) { hit = 1; });
    r.Add("GET", "/v1/streams/{stream...}/events", Role::kViewer, [&](Request&, Reply) { hit = 2; });
    r.Add("GET", "/v1/items/{id}", Role::kViewer, [&](Request&, Reply) { hit = 3; });
    Router::Match m = r.Find("POST", "/v1/streams/session/abc/events");
    REQUIRE(m.route != nullptr);
    CHECK(m.params["stream"] == "session/abc");
    m = r.Find("GET", "/v1/streams/a%2Fb/events");
    REQUIRE(m.route != nullptr);
    CHECK(m.params["stream"] == "a/b");
    m = r.Find("DELETE", "/v1/streams/x/events");
    CHECK(m.route == nullptr);
    CHECK(m.method_mismatch);
    CHECK(m.allowed.size() == 2);
    CHECK(r.Find("GET", "/v1/streams//events").route == nullptr);
    CHECK(r.Find("GET", "/v1/items/1/2").route == nullptr);
    CHECK(r.Find("GET", "/v1/items/7").params["id"] == "7");
    CHECK(r.Find("GET", "/nothing").route == nullptr);
    CHECK_FALSE(r.Find("GET", "/nothing").method_mismatch);
  }

  TEST_CASE("QueryStringsDecodeAndRejectBadEscapes") {
    std::map<std::string, std::string> q;
    REQUIRE(ParseQuery("a=1&b=x%20y+z&c", &q));
    CHECK(q["a"] == "1");
    CHECK(q["b"] == "x y z");
    CHECK(q.count("c") == 1);
    std::map<std::string, std::string> bad;
    CHECK_FALSE(ParseQuery("a=%zz", &bad));
    CHECK_FALSE(ParseQuery("a=%4", &bad));
  }

  TEST_CASE("RolesFollowTheDocumentedOrder") {
    CHECK(RoleAllows(Role::kAdmin, Role::kCompliance));
    CHECK(RoleAllows(Role::kOperator, Role::kViewer));
    CHECK_FALSE(RoleAllows(Role::kViewer, Role::kOperator));
    CHECK_FALSE(RoleAllows(Role::kOperator, Role::kAdmin));
    CHECK(RoleAllows(Role::kAuditor, Role::kViewer));
    CHECK_FALSE(RoleAllows(Role::kAuditor, Role::kOperator));
    CHECK(RoleAllows(Role::kCompliance, Role::kAuditor));
    CHECK_FALSE(RoleAllows(Role::kAuditor, Role::kCompliance));
    CHECK_FALSE(RoleAllows(Role::kNone, Role::kViewer));
  }

  TEST_CASE("StatusesMapToHttpErrors") {
    CHECK(Response::FromStatus(Status::Conflict("x", 4)).status == 409);
    CHECK(Response::FromStatus(Status::InvalidArgument("x")).status == 422);
    CHECK(Response::FromStatus(Status::NotFound("x")).status == 404);
    CHECK(Response::FromStatus(Status::ReadOnly("x")).status == 503);
    auto j = nlohmann::json::parse(Response::Error(400, "bad_request", "m").body);
    CHECK(j["error"]["code"] == "bad_request");
    CHECK(j["error"]["message"] == "m");
  }
}
