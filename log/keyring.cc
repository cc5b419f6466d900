#include "log/keyring.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>

#include "log/coding.h"
#include "log/file_util.h"
#include "log/record.h"

namespace logbook {

namespace {

constexpr size_t kKeyBytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
static_assert(kKeyBytes == 32);
static_assert(kSealNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kSealTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);
constexpr size_t kMaxKeyFileBytes = 64 << 20;
constexpr const char* kMasterFile = "master.key";
constexpr const char* kTenantFile = "tenant-keys.json";
constexpr std::string_view kMasterMagic = "logbook-master-key 1";
constexpr std::string_view kWrapDomain = "logbook/tenant-key/v1";

void EnsureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();  // no usable CSPRNG: nothing safe to do
  });
}

std::string Hex(const uint8_t* p, size_t n) {
  std::string hex(n * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), p, n);
  hex.pop_back();
  return hex;
}

bool Unhex(std::string_view hex, std::string* out) {
  out->assign(hex.size() / 2, '\0');
  size_t n = 0;
  if (hex.size() % 2 != 0 ||
      sodium_hex2bin(reinterpret_cast<unsigned char*>(out->data()), out->size(), hex.data(),
                     hex.size(), nullptr, &n, nullptr) != 0 ||
      n != out->size()) {
    return false;
  }
  return true;
}

// Associated data of a wrapped key: binds it to its tenant and key id.
std::string WrapAd(std::string_view tenant, uint32_t key_id) {
  std::string ad(kWrapDomain);
  ad.push_back('\0');
  ad.append(tenant);
  ad.push_back('\0');
  char id[4];
  coding::EncodeFixed32LE(id, key_id);
  ad.append(id, 4);
  return ad;
}

// nonce || XChaCha20-Poly1305(plain, ad) || tag under `key`: the form of
// both sealed payloads and wrapped data keys.
std::string SealWith(const uint8_t* key, std::string_view ad, const void* plain, size_t n) {
  std::string out(kSealNonceBytes + n + kSealTagBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  RandomBytes(o, kSealNonceBytes);  // random 192-bit nonces never repeat in practice
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      o + kSealNonceBytes, nullptr, static_cast<const unsigned char*>(plain), n,
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, o, key);
  return out;
}

std::string MasterPath(const std::string& dir, uint32_t generation = 0) {
  std::string p = dir + "/" + kMasterFile;
  return generation == 0 ? p : p + "." + std::to_string(generation);
}

std::string TenantPath(const std::string& dir, uint32_t generation = 0) {
  std::string p = dir + "/" + kTenantFile;
  return generation == 0 ? p : p + "." + std::to_string(generation);
}

}  // namespace

// 32 key bytes in guarded memory, wiped by sodium_free.
struct KeyRing::SecretKey {
  SecretKey() : bytes(static_cast<uint8_t*>(sodium_malloc(kKeyBytes))) {
    if (bytes == nullptr) std::abort();  // out of locked memory: cannot hold keys safely
  }
  ~SecretKey() { sodium_free(bytes); }
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  uint8_t* bytes;
};

namespace {

std::string MasterFileText(uint32_t id, const uint8_t* key) {
  std::string hex = Hex(key, kKeyBytes);
  std::string text = std::string(kMasterMagic) + "\nid " + std::to_string(id) + "\nkey " + hex + "\n";
  sodium_memzero(hex.data(), hex.size());
  return text;
}

// Parses master.key into *id and key (32 bytes). The text is wiped by the caller.
Status ParseMasterFile(const std::string& path, const std::string& text, uint32_t* id,
                       uint8_t* key) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption("master key file '" + path + "': " + why);
  };
  if (text.rfind(std::string(kMasterMagic) + "\n", 0) != 0) return bad("not a logbook master key");
  const size_t id_at = text.find("\nid ");
  const size_t key_at = text.find("\nkey ");
  if (id_at == std::string::npos || key_at == std::string::npos) return bad("missing id or key");
  const std::string id_text = text.substr(id_at + 4, text.find('\n', id_at + 4) - id_at - 4);
  if (id_text.empty() || id_text.size() > 9 ||
      id_text.find_first_not_of("0123456789") != std::string::npos) {
    return bad("bad id");
  }
  *id = static_cast<uint32_t>(std::stoul(id_text));
  const std::string_view hex(text.data() + key_at + 5, std::min<size_t>(64, text.size() - key_at - 5));
  size_t n = 0;
  if (hex.size() != 64 ||
      sodium_hex2bin(key, kKeyBytes, hex.data(), hex.size(), nullptr, &n, nullptr) != 0 ||
      n != kKeyBytes) {
    return bad("bad key");
  }
  return Status::OK();
}

}  // namespace

Status KeyRing::Create(const std::string& dir) {
  EnsureSodium();
  std::error_code ec;
  if (std::filesystem::exists(MasterPath(dir), ec)) {
    return Status::InvalidArgument("key directory '" + dir + "' already holds a master key");
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create key directory '" + dir + "': " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  KeyRing ring;
  ring.dir_ = dir;
  ring.master_id_ = 1;
  ring.master_ = std::make_unique<SecretKey>();
  randombytes_buf(ring.master_->bytes, kKeyBytes);
  // The key list first: a master key without it would be an unusable ring.
  Status s = ring.Persist();
  if (!s.ok()) return s;
  std::string text = MasterFileText(ring.master_id_, ring.master_->bytes);
  s = WriteFileAtomic(MasterPath(dir), text, 0600);
  sodium_memzero(text.data(), text.size());
  return s;
}

Result<std::unique_ptr<KeyRing>> KeyRing::Open(const std::string& dir) {
  EnsureSodium();
  std::unique_ptr<KeyRing> ring(new KeyRing());
  ring->dir_ = dir;
  Status s = ring->Load();
  if (!s.ok()) return s;
  return ring;
}

KeyRing::~KeyRing() = default;

Status KeyRing::Load() {
  try {
    return LoadList();
  } catch (const nlohmann::json::exception& e) {  // a field of the wrong JSON type
    return Status::Corruption("key list '" + TenantPath(dir_) + "': " + e.what());
  }
}

Status KeyRing::LoadList() {
  std::string list_text;
  Status s = ReadSmallFile(TenantPath(dir_), kMaxKeyFileBytes, &list_text);
  if (!s.ok()) {
    if (s.code() == Status::Code::kNotFound) {
      return Status::NotFound("key directory '" + dir_ + "' has no " + kTenantFile);
    }
    return s;
  }
  nlohmann::json j = nlohmann::json::parse(list_text, nullptr, false);
  auto bad = [&](const std::string& why) {
    return Status::Corruption("key list '" + TenantPath(dir_) + "': " + why);
  };
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "logbook-tenant-keys" ||
      j.value("version", 0) != 1) {
    return bad("not a logbook tenant key list (version 1)");
  }
  if (!j["master_key_id"].is_number_unsigned() || !j["next_key_id"].is_number_unsigned() ||
      !j["keys"].is_array() || !j["destroyed"].is_array()) {
    return bad("missing fields");
  }
  const auto wanted = j["master_key_id"].get<uint32_t>();
  next_key_id_ = j["next_key_id"].get<uint32_t>();

  // The master key of the list's generation: master.key, or the new
  // generation's file when a rotation stopped between its two renames.
  master_ = std::make_unique<SecretKey>();
  bool found = false;
  for (const std::string& path : {MasterPath(dir_), MasterPath(dir_, wanted)}) {
    std::string text;
    s = ReadSmallFile(path, 4096, &text);
    if (s.code() == Status::Code::kNotFound) continue;
    if (!s.ok()) return s;
    uint32_t id = 0;
    s = ParseMasterFile(path, text, &id, master_->bytes);
    sodium_memzero(text.data(), text.size());
    if (!s.ok()) return s;
    if (id == wanted) {
      found = true;
      break;
    }
  }
  if (!found) {
    sodium_memzero(master_->bytes, kKeyBytes);
    return Status::NotFound("key directory '" + dir_ + "' has no master key " +
                            std::to_string(wanted) + " (the key list was wrapped under it)");
  }
  master_id_ = wanted;

  for (const auto& k : j["keys"]) {
    if (!k.is_object() || !k["key_id"].is_number_unsigned() || !k["tenant"].is_string() ||
        !k["wrapped"].is_string()) {
      return bad("malformed key entry");
    }
    Entry e;
    e.info.key_id = k["key_id"].get<uint32_t>();
    e.info.tenant = k["tenant"].get<std::string>();
    e.info.created_at_us = k.value("created_at_us", int64_t{0});
    if (!Unhex(k["wrapped"].get<std::string>(), &e.wrapped) ||
        e.wrapped.size() != kSealNonceBytes + kKeyBytes + kSealTagBytes) {
      return bad("key " + std::to_string(e.info.key_id) + " is malformed");
    }
    e.key = std::make_shared<SecretKey>();
    const std::string ad = WrapAd(e.info.tenant, e.info.key_id);
    const auto* w = reinterpret_cast<const unsigned char*>(e.wrapped.data());
    unsigned long long n = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            e.key->bytes, &n, nullptr, w + kSealNonceBytes, e.wrapped.size() - kSealNonceBytes,
            reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), w, master_->bytes) != 0 ||
        n != kKeyBytes) {
      return bad("key " + std::to_string(e.info.key_id) + " does not unwrap under master key " +
                 std::to_string(master_id_));
    }
    current_[e.info.tenant] = std::max(current_[e.info.tenant], e.info.key_id);
    const uint32_t id = e.info.key_id;
    keys_[id] = std::move(e);
  }
  for (const auto& k : j["destroyed"]) {
    if (!k.is_object() || !k["key_id"].is_number_unsigned() || !k["tenant"].is_string()) {
      return bad("malformed destroyed entry");
    }
    Entry e;
    e.info.key_id = k["key_id"].get<uint32_t>();
    e.info.tenant = k["tenant"].get<std::string>();
    e.info.created_at_us = k.value("created_at_us", int64_t{0});
    e.info.destroyed = true;
    e.info.destroyed_at_us = k.value("destroyed_at_us", int64_t{0});
    const uint32_t id = e.info.key_id;
    keys_[id] = std::move(e);
  }
  return Status::OK();
}

Status KeyRing::Persist(const std::string& suffix) const {
  nlohmann::json keys = nlohmann::json::array();
  nlohmann::json destroyed = nlohmann::json::array();
  for (const auto& [id, e] : keys_) {
    if (e.info.destroyed) {
      destroyed.push_back({{"key_id", id},
                           {"tenant", e.info.tenant},
                           {"created_at_us", e.info.created_at_us},
                           {"destroyed_at_us", e.info.destroyed_at_us}});
    } else {
      keys.push_back({{"key_id", id},
                      {"tenant", e.info.tenant},
                      {"created_at_us", e.info.created_at_us},
                      {"wrapped", Hex(reinterpret_cast<const uint8_t*>(e.wrapped.data()),
                                      e.wrapped.size())}});
    }
  }
  const nlohmann::json j = {{"format", "logbook-tenant-keys"}, {"version", 1},
                            {"master_key_id", master_id_},     {"next_key_id", next_key_id_},
                            {"keys", std::move(keys)},         {"destroyed", std::move(destroyed)}};
  return WriteFileAtomic(TenantPath(dir_) + suffix, j.dump(1) + "\n", 0600);
}

uint32_t KeyRing::master_key_id() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return master_id_;
}

Result<KeyRing::SealKey> KeyRing::KeyFor(std::string_view tenant) {
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto it = current_.find(tenant);
    if (it != current_.end()) return SealKey{it->second, keys_.at(it->second).key};
  }
  std::unique_lock<std::shared_mutex> l(mu_);
  auto it = current_.find(tenant);
  if (it != current_.end()) return SealKey{it->second, keys_.at(it->second).key};
  Entry e;
  e.info.key_id = next_key_id_;
  e.info.tenant = std::string(tenant);
  e.info.created_at_us = NowMicros();
  e.key = std::make_shared<SecretKey>();
  randombytes_buf(e.key->bytes, kKeyBytes);
  e.wrapped = SealWith(master_->bytes, WrapAd(tenant, e.info.key_id), e.key->bytes, kKeyBytes);
  const uint32_t id = e.info.key_id;
  keys_[id] = std::move(e);
  ++next_key_id_;
  // Durable before any payload is sealed with it.
  Status s = Persist();
  if (!s.ok()) {
    keys_.erase(id);
    --next_key_id_;
    return s;
  }
  current_[std::string(tenant)] = id;
  return SealKey{id, keys_.at(id).key};
}

void KeyRing::Seal(const SealKey& key, std::string_view ad, std::string* payload) {
  *payload = SealWith(key.key->bytes, ad, payload->data(), payload->size());
}

Status KeyRing::Unseal(uint32_t key_id, std::string_view ad, std::string* payload) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = keys_.find(key_id);
  if (it == keys_.end()) {
    return Status::NotFound("data key " + std::to_string(key_id) + " is not in key directory '" +
                            dir_ + "'");
  }
  if (it->second.key == nullptr) {
    return Status::NotFound("data key " + std::to_string(key_id) + " of tenant '" +
                            it->second.info.tenant + "' was destroyed (crypto-shredded)");
  }
  if (payload->size() < kSealNonceBytes + kSealTagBytes) {
    return Status::Corruption("sealed payload of " + std::to_string(payload->size()) +
                              " bytes is too short");
  }
  std::string out(payload->size() - kSealNonceBytes - kSealTagBytes, '\0');
  const auto* p = reinterpret_cast<const unsigned char*>(payload->data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(out.data()), nullptr, nullptr, p + kSealNonceBytes,
          payload->size() - kSealNonceBytes, reinterpret_cast<const unsigned char*>(ad.data()),
          ad.size(), p, it->second.key->bytes) != 0) {
    return Status::Corruption("sealed payload does not authenticate under data key " +
                              std::to_string(key_id));
  }
  payload->swap(out);
  return Status::OK();
}

bool KeyRing::IsDestroyed(uint32_t key_id) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = keys_.find(key_id);
  return it != keys_.end() && it->second.info.destroyed;
}

Result<size_t> KeyRing::DestroyTenant(std::string_view tenant) {
  std::unique_lock<std::shared_mutex> l(mu_);
  std::vector<Entry*> live;
  for (auto& [id, e] : keys_) {
    if (e.info.tenant == tenant && !e.info.destroyed) live.push_back(&e);
  }
  if (live.empty()) return size_t{0};
  const int64_t now = NowMicros();
  for (Entry* e : live) {
    e->info.destroyed = true;
    e->info.destroyed_at_us = now;
  }
  Status s = Persist();
  if (!s.ok()) {
    // Not persisted: the keys still exist on disk, so keep them usable.
    for (Entry* e : live) {
      e->info.destroyed = false;
      e->info.destroyed_at_us = 0;
    }
    return s;
  }
  for (Entry* e : live) {
    e->key.reset();  // sodium_free wipes it
    sodium_memzero(e->wrapped.data(), e->wrapped.size());
    e->wrapped.clear();
  }
  if (auto it = current_.find(tenant); it != current_.end()) current_.erase(it);
  return live.size();
}

Result<uint32_t> KeyRing::RotateMaster() {
  std::unique_lock<std::shared_mutex> l(mu_);
  const uint32_t old_id = master_id_;
  const uint32_t new_id = old_id + 1;
  // 1. Keep this generation's files for backups taken under it.
  std::string text;
  Status s = ReadSmallFile(TenantPath(dir_), kMaxKeyFileBytes, &text);
  if (s.ok()) s = WriteFileAtomic(TenantPath(dir_, old_id), text, 0600);
  if (!s.ok()) return s;
  text = MasterFileText(old_id, master_->bytes);
  s = WriteFileAtomic(MasterPath(dir_, old_id), text, 0600);
  sodium_memzero(text.data(), text.size());
  if (!s.ok()) return s;
  // 2. The new master key, under its generation's name.
  SecretKey fresh;
  randombytes_buf(fresh.bytes, kKeyBytes);
  text = MasterFileText(new_id, fresh.bytes);
  s = WriteFileAtomic(MasterPath(dir_, new_id), text, 0600);
  if (!s.ok()) {
    sodium_memzero(text.data(), text.size());
    return s;
  }
  // 3. Every live data key re-wrapped under it; the list names the new id.
  std::map<uint32_t, std::string> rewrapped;
  for (const auto& [id, e] : keys_) {
    if (e.key == nullptr) continue;
    rewrapped[id] = SealWith(fresh.bytes, WrapAd(e.info.tenant, id), e.key->bytes, kKeyBytes);
  }
  std::map<uint32_t, std::string> previous;
  for (auto& [id, w] : rewrapped) previous[id] = std::exchange(keys_[id].wrapped, w);
  master_id_ = new_id;
  s = Persist();
  if (!s.ok()) {
    for (auto& [id, w] : previous) keys_[id].wrapped = w;
    master_id_ = old_id;
    sodium_memzero(text.data(), text.size());
    return s;
  }
  std::memcpy(master_->bytes, fresh.bytes, kKeyBytes);
  // 4. master.key becomes the new key. A crash before this rename is
  // recovered by Load, which finds master.key.<new id>.
  s = WriteFileAtomic(MasterPath(dir_), text, 0600);
  sodium_memzero(text.data(), text.size());
  if (!s.ok()) return s;
  std::error_code ec;
  std::filesystem::remove(MasterPath(dir_, new_id), ec);  // now a duplicate of master.key
  return new_id;
}

std::vector<TenantKeyInfo> KeyRing::List() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<TenantKeyInfo> out;
  for (const auto& [id, e] : keys_) out.push_back(e.info);
  return out;
}

}  // namespace logbook
