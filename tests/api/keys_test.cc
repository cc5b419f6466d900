#include "api/keys.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::api;
using namespace logbook::test;

namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::unique_ptr<KeyStore> LoadStore(const std::string& path) {
  Result<std::unique_ptr<KeyStore>> r = KeyStore::Load(path);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

std::string CreateKey(KeyStore& store, std::string_view tenant, Role role,
                      std::string_view label = "", Principal* p = nullptr) {
  Result<std::string> r = store.Create(tenant, role, label, p);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

// A store with one key in a fresh keys file; returns the key text in *key.
std::unique_ptr<KeyStore> StoreWithKey(const TempDir& dir, std::string* key,
                                       Principal* p = nullptr) {
  auto store = KeyStore::CreateEmpty(dir.Sub("keys.json"));
  *key = CreateKey(*store, "acme", Role::kOperator, "ci deploy", p);
  return store;
}

// The key text with one character of the secret changed to another base64url character.
std::string ChangeSecretChar(std::string key, size_t from_end) {
  char& c = key[key.size() - 1 - from_end];
  c = c == 'A' ? 'B' : 'A';
  return key;
}

int FileMode(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 07777);
}

}  // namespace

TEST_SUITE("api/keys") {
  TEST_CASE("CreatedKeyHasDocumentedFormAndAuthenticatesAsItsTenantAndRole") {
    TempDir dir;
    std::string key;
    Principal created;
    auto store = StoreWithKey(dir, &key, &created);
    REQUIRE(key.size() == kKeyTextChars);
    CHECK(key.substr(0, 4) == "lbk_");
    CHECK(key[16] == '_');
    CHECK(key.substr(4, 12) == created.key_id);
    CHECK(created.key_id.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(key.substr(17).find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    CHECK(created.tenant == "acme");
    CHECK(created.role == Role::kOperator);

    std::optional<Principal> p = store->Authenticate(key);
    REQUIRE(p.has_value());
    CHECK(p->key_id == created.key_id);
    CHECK(p->tenant == "acme");
    CHECK(p->role == Role::kOperator);

    // The same key through a store loaded from the file ("restart").
    auto reloaded = LoadStore(store->path());
    p = reloaded->Authenticate(key);
    REQUIRE(p.has_value());
    CHECK(p->key_id == created.key_id);

    // Two keys never share an id or a secret.
    std::string second = CreateKey(*store, "acme", Role::kViewer);
    CHECK(second.substr(4, 12) != key.substr(4, 12));
    CHECK(second.substr(17) != key.substr(17));
    CHECK(store->Authenticate(second)->role == Role::kViewer);
  }

  TEST_CASE("WrongSecretMalformedTextAndUnknownIdAreRejected") {
    TempDir dir;
    std::string key;
    auto store = StoreWithKey(dir, &key);
    REQUIRE(store->Authenticate(key).has_value());

    CHECK_FALSE(store->Authenticate(ChangeSecretChar(key, 0)).has_value());
    CHECK_FALSE(store->Authenticate(ChangeSecretChar(key, 20)).has_value());

    std::string unknown_id = key;
    unknown_id[4] = unknown_id[4] == '0' ? '1' : '0';
    CHECK_FALSE(store->Authenticate(unknown_id).has_value());

    std::string upper_id = key;
    std::transform(upper_id.begin() + 4, upper_id.begin() + 16, upper_id.begin() + 4,
                   [](char c) { return static_cast<char>(std::toupper(c)); });
    if (upper_id != key) CHECK_FALSE(store->Authenticate(upper_id).has_value());

    std::string bad_secret_char = key;
    bad_secret_char.back() = '=';
    const std::vector<std::string> malformed = {
        "",
        "lbk_",
        key.substr(0, key.size() - 1),
        key + "A",
        "LBK_" + key.substr(4),
        "xyz_" + key.substr(4),
        key.substr(0, 16) + "-" + key.substr(17),
        bad_secret_char,
        "Bearer " + key,
        std::string(key.size(), 'a'),
    };
    for (const std::string& m : malformed) {
      CAPTURE(m);
      CHECK_FALSE(store->Authenticate(m).has_value());
    }
  }

  TEST_CASE("RevokedKeyIsRejectedAlsoAfterReloadFromFile") {
    TempDir dir;
    std::string key;
    Principal p;
    auto store = StoreWithKey(dir, &key, &p);
    std::string other = CreateKey(*store, "acme", Role::kAdmin);
    REQUIRE(store->Revoke(p.key_id).ok());
    CHECK_FALSE(store->Authenticate(key).has_value());
    CHECK(store->Authenticate(other).has_value());  // only the revoked key

    std::vector<KeyInfo> list = store->List();
    REQUIRE(list.size() == 2);
    CHECK(list[0].key_id == p.key_id);
    CHECK(list[0].revoked_at_us > 0);
    CHECK(list[1].revoked_at_us == 0);

    // A second instance reads the revocation from the file.
    auto second = LoadStore(store->path());
    CHECK_FALSE(second->Authenticate(key).has_value());
    CHECK(second->Authenticate(other).has_value());

    // Revoking again is OK and keeps the first revocation time.
    const int64_t revoked_at = list[0].revoked_at_us;
    CHECK(second->Revoke(p.key_id).ok());
    CHECK(second->List()[0].revoked_at_us == revoked_at);

    Status s = store->Revoke("0123456789ab");
    CHECK(s.IsNotFound());
    CHECK(s.message().find("0123456789ab") != std::string::npos);
  }

  TEST_CASE("KeysFileHoldsNoSecretAndIsMode0600") {
    TempDir dir;
    std::string key;
    Principal p;
    auto store = StoreWithKey(dir, &key, &p);
    const std::string path = store->path();
    std::string text = ReadText(path);
    CHECK(text.find(key) == std::string::npos);
    CHECK(text.find(key.substr(17)) == std::string::npos);
    CHECK(text.find(key.substr(17, 12)) == std::string::npos);  // not even a part
    CHECK(text.find(p.key_id) != std::string::npos);            // the public id is there
    CHECK(FileMode(path) == 0600);

    // The documented fields.
    nlohmann::json j = nlohmann::json::parse(text);
    CHECK(j["format"] == 1);
    CHECK(j["hash_key"].get<std::string>().size() == 64);
    REQUIRE(j["keys"].size() == 1);
    const nlohmann::json& k = j["keys"][0];
    CHECK(k["id"] == p.key_id);
    CHECK(k["hash"].get<std::string>().size() == 64);
    CHECK(k["tenant"] == "acme");
    CHECK(k["role"] == "operator");
    CHECK(k["label"] == "ci deploy");
    CHECK(k["created_at_us"].get<int64_t>() > 0);
    CHECK(k["revoked_at_us"] == 0);

    // A file made readable by others is rewritten 0600 by the next change.
    REQUIRE(::chmod(path.c_str(), 0644) == 0);
    REQUIRE(store->Revoke(p.key_id).ok());
    CHECK(FileMode(path) == 0600);
    (void)CreateKey(*store, "", Role::kViewer);  // the key itself is not needed
    CHECK(FileMode(path) == 0600);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

    // List holds no secret either.
    for (const KeyInfo& info : store->List()) {
      const std::string shown = info.key_id + info.tenant + info.label;
      CHECK(shown.find(key.substr(17)) == std::string::npos);
      CHECK(info.key_id.size() == kKeyIdChars);
    }
  }

  TEST_CASE("StarTenantMeansAllTenants") {
    TempDir dir;
    auto store = KeyStore::CreateEmpty(dir.Sub("keys.json"));
    Principal star, empty;
    std::string k1 = CreateKey(*store, "*", Role::kAuditor, "auditors", &star);
    std::string k2 = CreateKey(*store, "", Role::kCompliance, "", &empty);
    CHECK(star.tenant.empty());
    CHECK(empty.tenant.empty());
    CHECK(store->Authenticate(k1)->tenant.empty());
    CHECK(store->Authenticate(k2)->tenant.empty());
    for (const KeyInfo& info : store->List()) CHECK(info.tenant.empty());

    nlohmann::json j = nlohmann::json::parse(ReadText(store->path()));
    for (const nlohmann::json& k : j["keys"]) CHECK(k["tenant"] == "*");
    auto reloaded = LoadStore(store->path());
    CHECK(reloaded->Authenticate(k1)->tenant.empty());
    CHECK(reloaded->Authenticate(k2)->role == Role::kCompliance);
  }

  TEST_CASE("CreateRejectsBadTenantRoleAndLabelWithoutWriting") {
    TempDir dir;
    auto store = KeyStore::CreateEmpty(dir.Sub("keys.json"));
    CHECK(store->Create("a/b", Role::kAdmin, "").status().IsInvalidArgument());
    CHECK(store->Create("a b", Role::kAdmin, "").status().IsInvalidArgument());
    CHECK(store->Create(std::string(kMaxTenantName + 1, 't'), Role::kAdmin, "")
              .status()
              .IsInvalidArgument());
    CHECK(store->Create("acme", Role::kNone, "").status().IsInvalidArgument());
    CHECK(store->Create("acme", static_cast<Role>(77), "").status().IsInvalidArgument());
    CHECK(store->Create("acme", Role::kAdmin, "line\nbreak").status().IsInvalidArgument());
    CHECK(store->Create("acme", Role::kAdmin, "\xff\xfe").status().IsInvalidArgument());
    CHECK(store->Create("acme", Role::kAdmin, std::string(kMaxKeyLabel + 1, 'l'))
              .status()
              .IsInvalidArgument());
    CHECK(store->List().empty());
    CHECK_FALSE(std::filesystem::exists(store->path()));
    // UTF-8 labels are fine.
    CHECK(store->Create("acme", Role::kAdmin, "d\xc3\xa9ploiement \xe2\x80\x94 prod").ok());
    CHECK(LoadStore(store->path())->List()[0].label == "d\xc3\xa9ploiement \xe2\x80\x94 prod");
  }

  TEST_CASE("LoadOfMissingFileIsNotFoundAndCreateNeedsTheDirectory") {
    TempDir dir;
    Result<std::unique_ptr<KeyStore>> r = KeyStore::Load(dir.Sub("keys.json"));
    CHECK(r.status().IsNotFound());
    CHECK(r.status().message().find(dir.Sub("keys.json")) != std::string::npos);

    auto store = KeyStore::CreateEmpty(dir.Sub("no-such-dir/keys.json"));
    Result<std::string> k = store->Create("acme", Role::kAdmin, "");
    CHECK(k.status().IsNotFound());
    CHECK(store->List().empty());
    CHECK(store->ReloadIfChanged().ok());  // nothing written yet: nothing to reload
  }

  TEST_CASE("ReloadIfChangedPicksUpRevokeByAnotherInstance") {
    TempDir dir;
    std::string key;
    Principal p;
    auto server = StoreWithKey(dir, &key, &p);
    CHECK(server->ReloadIfChanged().ok());  // unchanged: a no-op
    REQUIRE(server->Authenticate(key).has_value());

    auto cli = LoadStore(server->path());
    REQUIRE(cli->Revoke(p.key_id).ok());
    CHECK(server->Authenticate(key).has_value());  // not re-read yet
    REQUIRE(server->ReloadIfChanged().ok());
    CHECK_FALSE(server->Authenticate(key).has_value());

    // Keys created elsewhere appear too.
    std::string fresh = CreateKey(*cli, "acme", Role::kViewer);
    CHECK_FALSE(server->Authenticate(fresh).has_value());
    REQUIRE(server->ReloadIfChanged().ok());
    CHECK(server->Authenticate(fresh).has_value());

    // A broken file is reported and the keys loaded before stay in force.
    WriteText(server->path(), "{\"format\": 1, \"hash_key\": ");
    Status s = server->ReloadIfChanged();
    CHECK(s.IsCorruption());
    CHECK(server->Authenticate(fresh).has_value());
    CHECK_FALSE(server->Authenticate(key).has_value());
  }

  TEST_CASE("ChangeByStaleInstanceKeepsAnotherInstancesRevoke") {
    TempDir dir;
    std::string key;
    Principal p;
    auto a = StoreWithKey(dir, &key, &p);
    auto b = LoadStore(a->path());
    REQUIRE(b->Revoke(p.key_id).ok());
    // `a` has not reloaded; its Create must start from the file, not from its stale table.
    std::string other = CreateKey(*a, "acme", Role::kViewer);
    CHECK_FALSE(a->Authenticate(key).has_value());
    auto c = LoadStore(a->path());
    CHECK_FALSE(c->Authenticate(key).has_value());
    CHECK(c->Authenticate(other).has_value());
    CHECK(c->List().size() == 2);

    // A CreateEmpty store whose file was created meanwhile adopts that file.
    auto late = KeyStore::CreateEmpty(a->path());
    std::string third = CreateKey(*late, "acme", Role::kAdmin);
    auto d = LoadStore(a->path());
    CHECK(d->List().size() == 3);
    CHECK(d->Authenticate(other).has_value());
    CHECK(d->Authenticate(third).has_value());
  }

  TEST_CASE("CorruptKeysFileGivesClearError") {
    TempDir dir;
    std::string key;
    Principal p;
    auto store = StoreWithKey(dir, &key, &p);
    const std::string path = store->path();
    const std::string good = ReadText(path);

    struct Case {
      std::string text;
      bool corruption;       // else kInvalidArgument
      std::string mentions;  // part of the message
    };
    auto replace = [&](const std::string& from, const std::string& to) {
      std::string t = good;
      size_t at = t.find(from);
      REQUIRE(at != std::string::npos);
      return t.replace(at, from.size(), to);
    };
    const std::vector<Case> cases = {
        {"", true, "not valid JSON"},
        {good.substr(0, good.size() / 2), true, "not valid JSON"},
        {"[1, 2]", true, "not a JSON object"},
        {replace("\"format\": 1", "\"format\": 2"), false, "format 2"},
        {replace("\"format\": 1", "\"formats\": 1"), true, "\"format\""},
        {replace("\"hash_key\": \"", "\"hash_key\": \"zz"), true, "\"hash_key\""},
        {replace("\"role\": \"operator\"", "\"role\": \"pilot\""), true, "keys[0]: \"role\""},
        {replace("\"tenant\": \"acme\"", "\"tenant\": \"\""), true, "keys[0]: \"tenant\""},
        {replace("\"tenant\": \"acme\"", "\"tenant\": \"a/b\""), true, "keys[0]: tenant"},
        {replace("\"id\": \"" + p.key_id, "\"id\": \"XY" + p.key_id), true, "keys[0]: \"id\""},
        {replace("\"revoked_at_us\": 0", "\"revoked_at_us\": -1"), true, "\"revoked_at_us\""},
        {replace("\"created_at_us\"", "\"created\""), true, "\"created_at_us\""},
        {replace("\"label\": \"ci deploy\"", "\"label\": 7"), true, "\"label\""},
    };
    for (const Case& c : cases) {
      CAPTURE(c.text);
      WriteText(path, c.text);
      Result<std::unique_ptr<KeyStore>> r = KeyStore::Load(path);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().IsCorruption() == c.corruption);
      CHECK(r.status().IsInvalidArgument() == !c.corruption);
      CHECK(r.status().message().find(path) != std::string::npos);
      CHECK_MESSAGE(r.status().message().find(c.mentions) != std::string::npos,
                    r.status().message());
    }

    // "keys" not an array.
    nlohmann::json j = nlohmann::json::parse(good);
    j["keys"] = {{"x", 1}};
    WriteText(path, j.dump());
    Result<std::unique_ptr<KeyStore>> not_array = KeyStore::Load(path);
    CHECK(not_array.status().IsCorruption());
    CHECK(not_array.status().message().find("\"keys\" is missing or not an array") !=
          std::string::npos);

    // A duplicated key entry.
    j = nlohmann::json::parse(good);
    j["keys"].push_back(j["keys"][0]);
    WriteText(path, j.dump());
    Result<std::unique_ptr<KeyStore>> dup = KeyStore::Load(path);
    CHECK(dup.status().IsCorruption());
    CHECK(dup.status().message().find("duplicate id") != std::string::npos);

    // A changed stored hash loads, but the key no longer matches it.
    j = nlohmann::json::parse(good);
    std::string hash = j["keys"][0]["hash"];
    hash[0] = hash[0] == '0' ? '1' : '0';
    j["keys"][0]["hash"] = hash;
    WriteText(path, j.dump());
    CHECK_FALSE(LoadStore(path)->Authenticate(key).has_value());

    // Writers refuse to overwrite a file they cannot read.
    WriteText(path, "garbage");
    CHECK(store->Create("acme", Role::kViewer, "").status().IsCorruption());
    CHECK(store->Revoke(p.key_id).IsCorruption());
    CHECK(ReadText(path) == "garbage");
  }

  TEST_CASE("AuthenticateWhileAnotherThreadCreatesAndReloads") {
    TempDir dir;
    std::string key;
    Principal p;
    auto store = StoreWithKey(dir, &key, &p);
    auto other = LoadStore(store->path());
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < 4; ++i) {
      readers.emplace_back([&] {
        while (!stop.load()) {
          if (!store->Authenticate(key).has_value()) failures.fetch_add(1);
          (void)store->List();  // exercised for races only
        }
      });
    }
    std::vector<std::string> created;
    for (int i = 0; i < 20; ++i) {
      created.push_back(CreateKey(i % 2 == 0 ? *store : *other, "acme", Role::kViewer));
      CHECK(store->ReloadIfChanged().ok());
    }
    stop.store(true);
    for (std::thread& t : readers) t.join();
    CHECK(failures.load() == 0);
    CHECK(store->List().size() == 21);
    for (const std::string& k : created) CHECK(store->Authenticate(k).has_value());
  }
}
