// Encryption at rest through the engine: sealed on disk, open on read,
// crypto-shredding of one tenant in a copy of the data directory.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/engine.h"
#include "log/keyring.h"
#include "log/verify.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

Result<std::unique_ptr<Engine>> TryOpen(const std::string& data, const std::string& keys,
                                        bool create_keys = true, bool read_only = false) {
  EngineOptions o;
  o.data_dir = data;
  o.key_dir = keys;
  o.create_keys = create_keys;
  o.read_only = read_only;
  o.create_if_missing = !read_only;
  return Engine::Open(o);
}

std::unique_ptr<Engine> Open(const std::string& data, const std::string& keys) {
  Result<std::unique_ptr<Engine>> e = TryOpen(data, keys);
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  return std::move(e).value();
}

void Append(Engine& e, const std::string& stream, const std::string& tenant,
            const std::string& reason) {
  Result<AppendResult> r = e.AppendJson(stream, tenant, {"test", Role::kOperator},
                                        ExpectedVersion::Any(),
                                        {{"SessionClosed", "", R"({"reason":")" + reason + "\"}"}});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
}

// Every byte under `dir`, concatenated: what a thief with a copy would read.
std::string AllBytes(const std::string& dir) {
  std::string all;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  return all;
}

std::string PayloadText(const Event& e) { return Engine::EventToJson(e).dump(); }

}  // namespace

TEST_SUITE("engine/encryption") {
  TEST_CASE("TenantPayloadsAreSealedOnDiskAndOpenOnRead") {
    TempDir d;
    {
      auto e = Open(d.Sub("data"), d.Sub("keys"));
      REQUIRE(e->keyring() != nullptr);
      for (int i = 0; i < 50; ++i) Append(*e, "s/acme", "acme", "acme-secret-" + std::to_string(i));
      Append(*e, "s/globex", "globex", "globex-secret");
      Append(*e, "$system/x", "", "system-plain-text");
      Result<std::vector<Event>> all = e->log().ReadAll(1, 100);
      REQUIRE(all.ok());
      REQUIRE(all->size() >= 52);
      for (const Event& ev : *all) {
        CHECK(ev.payload_encoding == 0);
        CHECK(ev.payload_error.empty());
        CHECK((ev.tenant.empty() ? ev.key_id == 0 : ev.key_id != 0));
      }
      CHECK(PayloadText(all->at(0)).find("acme-secret-0") != std::string::npos);
      Result<std::vector<Event>> g = e->log().ReadStream("s/globex", 1, 10);
      REQUIRE(g.ok());
      CHECK(PayloadText(g->at(0)).find("globex-secret") != std::string::npos);
      VerifyReport v = VerifyLog(e->log(), VerifyOptions{});
      CHECK_MESSAGE(v.clean(), v.status.ToString());
    }
    // Flushed or not, no tenant's payload is in any file of the data
    // directory; the system stream's is.
    const std::string bytes = AllBytes(d.Sub("data"));
    CHECK(bytes.find("acme-secret") == std::string::npos);
    CHECK(bytes.find("globex-secret") == std::string::npos);
    CHECK(bytes.find("system-plain-text") != std::string::npos);
  }

  TEST_CASE("AnEncryptedLogRefusesToTakePlaintextWithoutItsKeys") {
    TempDir d;
    { auto e = Open(d.Sub("data"), d.Sub("keys")); Append(*e, "s/1", "acme", "x"); }
    Result<std::unique_ptr<Engine>> e = TryOpen(d.Sub("data"), d.Sub("elsewhere"), false);
    REQUIRE(!e.ok());
    CHECK(e.status().code() == Status::Code::kNotFound);
    CHECK(e.status().message().find("elsewhere") != std::string::npos);
    e = TryOpen(d.Sub("data"), "", false);
    CHECK(e.status().code() == Status::Code::kNotFound);
    // A plaintext log stays plaintext when no keys exist.
    auto plain = Open(d.Sub("plain"), "");
    CHECK(plain->keyring() == nullptr);
  }

  TEST_CASE("ShreddingATenantMakesEvenAnOlderCopyUnreadableForItOnly") {
    TempDir d;
    {
      auto e = Open(d.Sub("data"), d.Sub("keys"));
      Append(*e, "s/acme", "acme", "acme-before");
      Append(*e, "s/globex", "globex", "globex-before");
    }
    std::filesystem::copy(d.Sub("data"), d.Sub("copy"), std::filesystem::copy_options::recursive);
    {
      auto e = Open(d.Sub("data"), d.Sub("keys"));
      Result<size_t> n = e->keyring()->DestroyTenant("acme");
      REQUIRE(n.ok());
      CHECK(*n == 1);
    }
    auto copy = Open(d.Sub("copy"), d.Sub("keys"));
    Result<std::vector<Event>> acme = copy->log().ReadStream("s/acme", 1, 10);
    REQUIRE(acme.ok());  // the envelope is readable; the payload is not
    REQUIRE(acme->size() == 1);
    CHECK(acme->at(0).payload_encoding == 1);
    CHECK(acme->at(0).payload_error.find("destroyed") != std::string::npos);
    const std::string json = PayloadText(acme->at(0));
    CHECK(json.find("\"payload_encrypted\":true") != std::string::npos);
    CHECK(json.find("acme-before") == std::string::npos);
    Result<std::vector<Event>> globex = copy->log().ReadStream("s/globex", 1, 10);
    REQUIRE(globex.ok());
    CHECK(PayloadText(globex->at(0)).find("globex-before") != std::string::npos);
    // The chain still verifies: it covers the ciphertext.
    VerifyReport v = VerifyLog(copy->log(), VerifyOptions{});
    CHECK(v.clean());
    // The views rebuild over a shredded event without stopping.
    REQUIRE(copy->projector().Reset("").ok());
    REQUIRE(copy->projector().CatchUp().ok());
  }

  TEST_CASE("RotatedMasterKeyOpensTheSameLog") {
    TempDir d;
    {
      auto e = Open(d.Sub("data"), d.Sub("keys"));
      Append(*e, "s/acme", "acme", "rotated-text");
      REQUIRE(e->keyring()->RotateMaster().ok());
      Append(*e, "s/acme", "acme", "after-rotation");
    }
    auto e = Open(d.Sub("data"), d.Sub("keys"));
    CHECK(e->keyring()->master_key_id() == 2);
    Result<std::vector<Event>> r = e->log().ReadStream("s/acme", 1, 10);
    REQUIRE(r.ok());
    REQUIRE(r->size() == 2);
    CHECK(PayloadText(r->at(0)).find("rotated-text") != std::string::npos);
    CHECK(PayloadText(r->at(1)).find("after-rotation") != std::string::npos);
  }
}
