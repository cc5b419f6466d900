#include "log/keyring.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

std::unique_ptr<KeyRing> OpenRing(const std::string& dir) {
  Result<std::unique_ptr<KeyRing>> r = KeyRing::Open(dir);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SealText(KeyRing& ring, const std::string& tenant, const std::string& ad,
                     const std::string& text, uint32_t* key_id) {
  Result<KeyRing::SealKey> k = ring.KeyFor(tenant);
  REQUIRE(k.ok());
  *key_id = k->id;
  std::string p = text;
  KeyRing::Seal(*k, ad, &p);
  return p;
}

}  // namespace

TEST_SUITE("log/keyring") {
  TEST_CASE("SealedPayloadsOpenOnlyWithTheirKeyAndAssociatedData") {
    TempDir d;
    REQUIRE(KeyRing::Create(d.Sub("keys")).ok());
    CHECK(KeyRing::Create(d.Sub("keys")).code() == Status::Code::kInvalidArgument);
    CHECK((std::filesystem::status(d.Sub("keys/master.key")).permissions() &
           std::filesystem::perms::group_read) == std::filesystem::perms::none);
    auto ring = OpenRing(d.Sub("keys"));
    uint32_t acme = 0, globex = 0;
    const std::string sealed = SealText(*ring, "acme", "header-1", "the plaintext", &acme);
    (void)SealText(*ring, "globex", "x", "y", &globex);
    CHECK(acme != globex);
    CHECK(sealed.size() == std::string("the plaintext").size() + kSealNonceBytes + kSealTagBytes);
    CHECK(sealed.find("the plaintext") == std::string::npos);

    std::string p = sealed;
    REQUIRE(ring->Unseal(acme, "header-1", &p).ok());
    CHECK(p == "the plaintext");
    // Moved to another record (other associated data) or another key: refused.
    p = sealed;
    CHECK(ring->Unseal(acme, "header-2", &p).code() == Status::Code::kCorruption);
    p = sealed;
    CHECK(ring->Unseal(globex, "header-1", &p).code() == Status::Code::kCorruption);
    p = sealed;
    p[kSealNonceBytes + 2] ^= 1;
    CHECK(ring->Unseal(acme, "header-1", &p).code() == Status::Code::kCorruption);
    p = "short";
    CHECK(ring->Unseal(acme, "header-1", &p).code() == Status::Code::kCorruption);
    p = sealed;
    CHECK(ring->Unseal(999, "header-1", &p).code() == Status::Code::kNotFound);

    // The same tenant keeps its key, across a reopen too.
    uint32_t again = 0;
    (void)SealText(*ring, "acme", "h", "t", &again);
    CHECK(again == acme);
    ring.reset();
    ring = OpenRing(d.Sub("keys"));
    p = sealed;
    REQUIRE(ring->Unseal(acme, "header-1", &p).ok());
    CHECK(p == "the plaintext");
    // No key in clear text in the key list.
    CHECK(Slurp(d.Sub("keys/tenant-keys.json")).find("\"wrapped\"") != std::string::npos);
  }

  TEST_CASE("DestroyTenantForgetsItsKeysForGood") {
    TempDir d;
    REQUIRE(KeyRing::Create(d.Sub("keys")).ok());
    auto ring = OpenRing(d.Sub("keys"));
    uint32_t acme = 0, globex = 0;
    const std::string a = SealText(*ring, "acme", "ad", "acme data", &acme);
    const std::string g = SealText(*ring, "globex", "ad", "globex data", &globex);
    Result<size_t> n = ring->DestroyTenant("acme");
    REQUIRE(n.ok());
    CHECK(*n == 1);
    CHECK(*ring->DestroyTenant("acme") == 0);  // idempotent
    for (int reopen = 0; reopen < 2; ++reopen) {
      std::string p = a;
      Status s = ring->Unseal(acme, "ad", &p);
      CHECK(s.code() == Status::Code::kNotFound);
      CHECK(s.message().find("destroyed") != std::string::npos);
      p = g;
      REQUIRE(ring->Unseal(globex, "ad", &p).ok());
      CHECK(p == "globex data");
      ring = OpenRing(d.Sub("keys"));
    }
    // A new event of the tenant gets a new key.
    uint32_t fresh = 0;
    (void)SealText(*ring, "acme", "ad", "x", &fresh);
    CHECK(fresh != acme);
    bool listed = false;
    for (const TenantKeyInfo& k : ring->List()) {
      if (k.key_id == acme) listed = k.destroyed && k.destroyed_at_us > 0;
    }
    CHECK(listed);
  }

  TEST_CASE("RotationRewrapsKeysAndKeepsTheOldGenerationForBackups") {
    TempDir d;
    REQUIRE(KeyRing::Create(d.Sub("keys")).ok());
    auto ring = OpenRing(d.Sub("keys"));
    uint32_t acme = 0;
    const std::string sealed = SealText(*ring, "acme", "ad", "before rotation", &acme);
    std::filesystem::copy(d.Sub("keys"), d.Sub("backup-keys"));
    const std::string old_master = Slurp(d.Sub("keys/master.key"));

    Result<uint32_t> id = ring->RotateMaster();
    REQUIRE_MESSAGE(id.ok(), id.status().ToString());
    CHECK(*id == 2);
    CHECK(ring->master_key_id() == 2);
    CHECK(Slurp(d.Sub("keys/master.key")) != old_master);
    CHECK(Slurp(d.Sub("keys/master.key.1")) == old_master);
    CHECK(!std::filesystem::exists(d.Sub("keys/master.key.2")));
    ring = OpenRing(d.Sub("keys"));
    std::string p = sealed;
    REQUIRE(ring->Unseal(acme, "ad", &p).ok());
    CHECK(p == "before rotation");
    // The old generation still opens (a backup of its time).
    auto old = OpenRing(d.Sub("backup-keys"));
    p = sealed;
    REQUIRE(old->Unseal(acme, "ad", &p).ok());
    // The new master key does not open the old key list.
    std::filesystem::copy_file(d.Sub("keys/master.key"), d.Sub("backup-keys/master.key"),
                               std::filesystem::copy_options::overwrite_existing);
    CHECK(KeyRing::Open(d.Sub("backup-keys")).status().code() == Status::Code::kNotFound);
  }

  TEST_CASE("ARotationCutBetweenItsFilesStillOpens") {
    // The state a crash leaves after the key list was rewritten under the
    // new master key but before master.key was replaced.
    TempDir d;
    REQUIRE(KeyRing::Create(d.Sub("keys")).ok());
    auto ring = OpenRing(d.Sub("keys"));
    uint32_t acme = 0;
    const std::string sealed = SealText(*ring, "acme", "ad", "text", &acme);
    const std::string old_master = Slurp(d.Sub("keys/master.key"));
    REQUIRE(ring->RotateMaster().ok());
    ring.reset();
    std::filesystem::rename(d.Sub("keys/master.key"), d.Sub("keys/master.key.2"));
    std::ofstream(d.Sub("keys/master.key"), std::ios::binary | std::ios::trunc) << old_master;
    ring = OpenRing(d.Sub("keys"));
    CHECK(ring->master_key_id() == 2);
    std::string p = sealed;
    REQUIRE(ring->Unseal(acme, "ad", &p).ok());
    CHECK(p == "text");
  }

  TEST_CASE("DamagedKeyFilesAreReportedNotGuessed") {
    TempDir d;
    CHECK(KeyRing::Open(d.Sub("none")).status().code() == Status::Code::kNotFound);
    REQUIRE(KeyRing::Create(d.Sub("keys")).ok());
    {
      auto ring = OpenRing(d.Sub("keys"));
      uint32_t id = 0;
      (void)SealText(*ring, "acme", "ad", "x", &id);
    }
    std::string list = Slurp(d.Sub("keys/tenant-keys.json"));
    const size_t w = list.find("\"wrapped\": \"") + 12;
    list[w] = list[w] == 'a' ? 'b' : 'a';
    std::ofstream(d.Sub("keys/tenant-keys.json"), std::ios::trunc) << list;
    CHECK(KeyRing::Open(d.Sub("keys")).status().code() == Status::Code::kCorruption);
    std::ofstream(d.Sub("keys/tenant-keys.json"), std::ios::trunc) << "{not json";
    CHECK(KeyRing::Open(d.Sub("keys")).status().code() == Status::Code::kCorruption);
    std::ofstream(d.Sub("keys/master.key"), std::ios::trunc) << "hello";
    CHECK(!KeyRing::Open(d.Sub("keys")).ok());
  }
}
