#include "api/keys.h"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>
#include <utility>

#include "log/file_util.h"

namespace logbook::api {

namespace {

constexpr size_t kHashBytes = crypto_generichash_BYTES;  // 32: BLAKE2b-256
constexpr size_t kHashKeyBytes = 32;
constexpr size_t kKeyIdBytes = kKeyIdChars / 2;
constexpr size_t kSecretBytes = 32;
constexpr size_t kMaxKeysFileBytes = 16 << 20;
constexpr int kB64Variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
static_assert(sodium_base64_ENCODED_LEN(kSecretBytes, kB64Variant) == kKeySecretChars + 1);
static_assert(kHashBytes == 32);

using KeyHash = std::array<uint8_t, kHashBytes>;

void EnsureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();  // no usable CSPRNG: nothing safe to do
  });
}

void Wipe(std::string* s) { sodium_memzero(s->data(), s->size()); }

// The store's BLAKE2b key. Wiped when it goes away; copied only on purpose (CopyFrom).
class HashKey {
 public:
  HashKey() = default;
  ~HashKey() { sodium_memzero(bytes_.data(), bytes_.size()); }
  HashKey(const HashKey&) = delete;
  HashKey& operator=(const HashKey&) = delete;

  void Randomize() {
    EnsureSodium();
    randombytes_buf(bytes_.data(), bytes_.size());
  }
  void CopyFrom(const HashKey& other) { bytes_ = other.bytes_; }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return kHashKeyBytes; }

 private:
  std::array<uint8_t, kHashKeyBytes> bytes_{};
};

std::string Where(const std::string& path) { return "keys file '" + path + "': "; }

std::string ToHex(const uint8_t* bytes, size_t n) {
  std::string hex(n * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes, n);
  hex.pop_back();  // the terminating NUL
  return hex;
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Decodes exactly n bytes from 2n lowercase hex chars.
bool FromHex(std::string_view hex, uint8_t* out, size_t n) {
  if (hex.size() != n * 2 || !IsLowerHex(hex)) return false;
  size_t bin_len = 0;
  return sodium_hex2bin(out, n, hex.data(), hex.size(), nullptr, &bin_len, nullptr) == 0 &&
         bin_len == n;
}

bool IsKeyId(std::string_view id) { return id.size() == kKeyIdChars && IsLowerHex(id); }

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

KeyHash KeyedHash(const HashKey& key, std::string_view text) {
  KeyHash h;
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(text.data()),
                     text.size(), key.data(), key.size());
  return h;
}

// Tenant as given to Create or stored in the file ("*") to its form in memory ("" = all).
Status NormalizeTenant(std::string_view tenant, std::string* out) {
  if (tenant.empty() || tenant == "*") {
    out->clear();
    return Status::OK();
  }
  Status s = ValidateTenantName(tenant);
  if (!s.ok()) return s;
  *out = std::string(tenant);
  return Status::OK();
}

bool IsKeyRole(Role role) {
  Role parsed = Role::kNone;
  return role != Role::kNone && ParseRole(RoleName(role), &parsed) && parsed == role;
}

struct Entry {
  KeyInfo info;
  KeyHash hash{};
};

}  // namespace

struct KeyStore::Table {
  HashKey hash_key;
  std::map<std::string, Entry, std::less<>> keys;  // by key id
  bool on_disk = false;  // read from or written to the file; `stamp` is valid
  FileStamp stamp;
};

namespace {

using Table = KeyStore::Table;
using Json = nlohmann::json;

std::unique_ptr<Table> CloneTable(const Table& t) {
  auto c = std::make_unique<Table>();
  c->hash_key.CopyFrom(t.hash_key);
  c->keys = t.keys;
  c->on_disk = t.on_disk;
  c->stamp = t.stamp;
  return c;
}

Status GetString(const Json& obj, const char* field, const std::string& where, std::string* out) {
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_string()) {
    return Status::Corruption(where + "\"" + field + "\" is missing or not a string");
  }
  *out = it->get<std::string>();
  return Status::OK();
}

Status GetMicros(const Json& obj, const char* field, const std::string& where, int64_t* out) {
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_number_integer() ||
      (it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX) || it->get<int64_t>() < 0) {
    return Status::Corruption(where + "\"" + field +
                              "\" is missing or not a non-negative integer (microseconds)");
  }
  *out = it->get<int64_t>();
  return Status::OK();
}

Status ParseKey(const Json& k, const std::string& where, Entry* e) {
  if (!k.is_object()) return Status::Corruption(where + "is not an object");
  std::string text;
  Status s = GetString(k, "id", where, &e->info.key_id);
  if (s.ok() && !IsKeyId(e->info.key_id)) {
    s = Status::Corruption(where + "\"id\" is not 12 lowercase hex chars");
  }
  if (s.ok()) s = GetString(k, "hash", where, &text);
  if (s.ok() && !FromHex(text, e->hash.data(), e->hash.size())) {
    s = Status::Corruption(where + "\"hash\" is not 64 lowercase hex chars");
  }
  if (s.ok()) s = GetString(k, "tenant", where, &text);
  if (s.ok() && text.empty()) {
    s = Status::Corruption(where + "\"tenant\" is empty (all tenants is \"*\")");
  }
  if (s.ok()) {
    Status t = NormalizeTenant(text, &e->info.tenant);
    if (!t.ok()) s = Status::Corruption(where + t.message());
  }
  if (s.ok()) s = GetString(k, "role", where, &text);
  if (s.ok() && (!ParseRole(text, &e->info.role) || e->info.role == Role::kNone)) {
    s = Status::Corruption(where + "\"role\" '" + text + "' is not a key role");
  }
  if (s.ok()) s = GetString(k, "label", where, &e->info.label);
  if (s.ok()) s = GetMicros(k, "created_at_us", where, &e->info.created_at_us);
  if (s.ok()) s = GetMicros(k, "revoked_at_us", where, &e->info.revoked_at_us);
  return s;
}

// Parses the contents of a keys file, then wipes them.
Result<std::unique_ptr<Table>> ParseTable(const std::string& path, std::string* contents) {
  const std::string where = Where(path);
  Json j;
  try {
    j = Json::parse(*contents);
  } catch (const Json::parse_error& e) {
    Wipe(contents);
    return Status::Corruption("keys file '" + path + "' is not valid JSON (at byte " +
                              std::to_string(e.byte) + ")");
  }
  Wipe(contents);
  if (!j.is_object()) return Status::Corruption("keys file '" + path + "' is not a JSON object");
  auto format = j.find("format");
  if (format == j.end() || !format->is_number_integer()) {
    return Status::Corruption(where + "\"format\" is missing or not an integer");
  }
  if (format->get<int64_t>() != kKeysFileFormat) {
    return Status::InvalidArgument("keys file '" + path + "' has format " + format->dump() +
                                   "; this logbook reads format " +
                                   std::to_string(kKeysFileFormat));
  }
  auto t = std::make_unique<Table>();
  auto hash_key = j.find("hash_key");
  if (hash_key == j.end() || !hash_key->is_string()) {
    return Status::Corruption(where + "\"hash_key\" is missing or not a string");
  }
  std::string& hash_key_hex = hash_key->get_ref<std::string&>();
  const bool key_ok = FromHex(hash_key_hex, t->hash_key.data(), HashKey::size());
  Wipe(&hash_key_hex);
  if (!key_ok) return Status::Corruption(where + "\"hash_key\" is not 64 lowercase hex chars");
  auto keys = j.find("keys");
  if (keys == j.end() || !keys->is_array()) {
    return Status::Corruption(where + "\"keys\" is missing or not an array");
  }
  for (size_t i = 0; i < keys->size(); ++i) {
    Entry e;
    Status s = ParseKey((*keys)[i], where + "keys[" + std::to_string(i) + "]: ", &e);
    if (!s.ok()) return s;
    if (t->keys.count(e.info.key_id) != 0) {
      return Status::Corruption(where + "keys[" + std::to_string(i) + "]: duplicate id '" +
                                e.info.key_id + "'");
    }
    std::string id = e.info.key_id;
    t->keys.emplace(std::move(id), std::move(e));
  }
  return t;
}

// Reads and parses the keys file at `path`, remembering its stamp.
// kNotFound when there is no file.
Result<std::unique_ptr<Table>> ReadTable(const std::string& path) {
  std::string contents;
  struct stat st;
  Status s = ReadSmallFile(path, kMaxKeysFileBytes, &contents, &st);
  if (!s.ok()) return s;
  Result<std::unique_ptr<Table>> t = ParseTable(path, &contents);
  if (!t.ok()) return t.status();
  (*t)->on_disk = true;
  (*t)->stamp = StampOf(st);
  return t;
}

std::vector<KeyInfo> SortedInfos(const Table& t) {
  std::vector<KeyInfo> v;
  v.reserve(t.keys.size());
  for (const auto& [id, e] : t.keys) v.push_back(e.info);
  std::sort(v.begin(), v.end(), [](const KeyInfo& a, const KeyInfo& b) {
    return std::tie(a.created_at_us, a.key_id) < std::tie(b.created_at_us, b.key_id);
  });
  return v;
}

// The file text of `t`; the caller wipes it after use (it holds the hash key).
std::string SerializeTable(const Table& t) {
  nlohmann::ordered_json keys = nlohmann::ordered_json::array();
  for (const KeyInfo& k : SortedInfos(t)) {
    const Entry& e = t.keys.find(k.key_id)->second;
    keys.push_back({{"id", k.key_id},
                    {"hash", ToHex(e.hash.data(), e.hash.size())},
                    {"tenant", k.tenant.empty() ? std::string("*") : k.tenant},
                    {"role", RoleName(k.role)},
                    {"label", k.label},
                    {"created_at_us", k.created_at_us},
                    {"revoked_at_us", k.revoked_at_us}});
  }
  nlohmann::ordered_json j = {{"format", kKeysFileFormat},
                              {"hash_key", ToHex(t.hash_key.data(), HashKey::size())},
                              {"keys", std::move(keys)}};
  // Labels are checked to be UTF-8 on Create; `replace` only keeps dump() from throwing.
  std::string text = j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  Wipe(&j["hash_key"].get_ref<std::string&>());
  text.push_back('\n');
  return text;
}

}  // namespace

KeyStore::KeyStore(std::string path, std::unique_ptr<Table> table)
    : path_(std::move(path)), table_(std::move(table)) {}

KeyStore::~KeyStore() = default;

Result<std::unique_ptr<KeyStore>> KeyStore::Load(const std::string& path) {
  EnsureSodium();
  Result<std::unique_ptr<Table>> t = ReadTable(path);
  if (!t.ok()) return t.status();
  return std::unique_ptr<KeyStore>(new KeyStore(path, std::move(t).value()));
}

std::unique_ptr<KeyStore> KeyStore::CreateEmpty(const std::string& path) {
  auto t = std::make_unique<Table>();
  t->hash_key.Randomize();
  return std::unique_ptr<KeyStore>(new KeyStore(path, std::move(t)));
}

template <typename Fn>
Status KeyStore::Update(Fn&& change) {
  std::lock_guard<std::mutex> update(update_mu_);
  LockFile lock;
  Status s = lock.Acquire(path_);
  if (!s.ok()) return s;

  // Start from the file as it is now, so that changes by other writers are kept.
  std::unique_ptr<Table> next;
  Result<std::unique_ptr<Table>> read = ReadTable(path_);
  if (read.ok()) {
    next = std::move(read).value();
  } else if (read.status().IsNotFound()) {
    next = CloneTable(*Snapshot());
    next->on_disk = false;
  } else {
    return read.status();  // never overwrite a file we cannot read
  }

  bool write = false;
  Status changed = change(*next, &write);
  if (write && changed.ok()) {
    std::string text = SerializeTable(*next);
    struct stat st;
    s = WriteFileAtomic(path_, text, 0600, &st);  // 0600: it holds the hash key
    Wipe(&text);
    if (!s.ok()) return s;
    next->on_disk = true;
    next->stamp = StampOf(st);
  }
  // Install what the file now holds, even when `change` refused (it was read fresh).
  std::shared_ptr<const Table> installed(std::move(next));
  std::lock_guard<std::mutex> write_lock(mu_);
  table_ = std::move(installed);
  return changed;
}

Result<std::string> KeyStore::Create(std::string_view tenant, Role role, std::string_view label,
                                     Principal* out) {
  std::string norm_tenant;
  Status s = NormalizeTenant(tenant, &norm_tenant);
  if (!s.ok()) return s;
  if (!IsKeyRole(role)) {
    return Status::InvalidArgument("role '" + std::string(RoleName(role)) +
                                   "' cannot be given to a key");
  }
  if (label.size() > kMaxKeyLabel) {
    return Status::InvalidArgument("label is longer than " + std::to_string(kMaxKeyLabel) +
                                   " bytes");
  }
  if (std::any_of(label.begin(), label.end(),
                  [](char c) { return static_cast<uint8_t>(c) < 0x20 || c == 0x7f; }) ||
      !IsValidUtf8(label)) {
    return Status::InvalidArgument("label must be UTF-8 text without control characters");
  }
  EnsureSodium();

  std::string text;
  Principal p;
  s = Update([&](Table& t, bool* write) {
    std::string id;
    do {
      uint8_t raw[kKeyIdBytes];
      randombytes_buf(raw, sizeof(raw));
      id = ToHex(raw, sizeof(raw));
    } while (t.keys.count(id) != 0);
    uint8_t secret[kSecretBytes];
    char b64[kKeySecretChars + 1];
    randombytes_buf(secret, sizeof(secret));
    sodium_bin2base64(b64, sizeof(b64), secret, sizeof(secret), kB64Variant);
    text.clear();
    text.reserve(kKeyTextChars);  // one buffer: no stray copies of the secret
    text.append(kKeyPrefix).append(id).append(1, '_').append(b64, kKeySecretChars);
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(b64, sizeof(b64));

    Entry e;
    e.info.key_id = id;
    e.info.tenant = norm_tenant;
    e.info.label = std::string(label);
    e.info.role = role;
    e.info.created_at_us = NowMicros();
    e.hash = KeyedHash(t.hash_key, text);
    t.keys.emplace(id, std::move(e));
    p = {id, norm_tenant, role};
    *write = true;
    return Status::OK();
  });
  if (!s.ok()) {
    Wipe(&text);
    return s;
  }
  if (out != nullptr) *out = std::move(p);
  return text;
}

Status KeyStore::Revoke(std::string_view key_id) {
  return Update([&](Table& t, bool* write) {
    auto it = t.keys.find(key_id);
    if (it == t.keys.end()) {
      return Status::NotFound("no key with id '" + std::string(key_id) + "' in keys file '" +
                              path_ + "'");
    }
    if (it->second.info.revoked_at_us != 0) return Status::OK();  // already revoked
    it->second.info.revoked_at_us = std::max<int64_t>(NowMicros(), 1);
    *write = true;
    return Status::OK();
  });
}

std::shared_ptr<const KeyStore::Table> KeyStore::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  return table_;
}

std::vector<KeyInfo> KeyStore::List() const {
  return SortedInfos(*Snapshot());
}

std::optional<Principal> KeyStore::Authenticate(std::string_view presented) const {
  // lbk_<12 hex>_<43 base64url>; the id and the secret are at fixed offsets.
  constexpr size_t kIdAt = kKeyPrefix.size();
  constexpr size_t kSecretAt = kIdAt + kKeyIdChars + 1;
  if (presented.size() != kKeyTextChars || presented.substr(0, kIdAt) != kKeyPrefix ||
      presented[kSecretAt - 1] != '_') {
    return std::nullopt;
  }
  const std::string_view id = presented.substr(kIdAt, kKeyIdChars);
  const std::string_view secret = presented.substr(kSecretAt);
  if (!IsKeyId(id) || !std::all_of(secret.begin(), secret.end(), IsBase64UrlChar)) {
    return std::nullopt;
  }
  const std::shared_ptr<const Table> table = Snapshot();
  auto it = table->keys.find(id);
  if (it == table->keys.end()) return std::nullopt;
  const Entry& e = it->second;
  KeyHash h = KeyedHash(table->hash_key, presented);
  const bool match = sodium_memcmp(h.data(), e.hash.data(), h.size()) == 0;
  sodium_memzero(h.data(), h.size());
  if (!match || e.info.revoked_at_us != 0) return std::nullopt;
  return Principal{e.info.key_id, e.info.tenant, e.info.role};
}

Status KeyStore::ReloadIfChanged() {
  std::lock_guard<std::mutex> update(update_mu_);  // a concurrent Create must not be undone
  bool on_disk = false;
  FileStamp known;
  {
    const std::shared_ptr<const Table> table = Snapshot();
    on_disk = table->on_disk;
    known = table->stamp;
  }
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      if (!on_disk) return Status::OK();  // CreateEmpty, no key created yet
      return Status::NotFound("keys file '" + path_ +
                              "' has disappeared; keeping the keys loaded before");
    }
    return Status::IOError(ErrnoText("cannot stat keys file", path_, errno));
  }
  if (on_disk && StampOf(st) == known) return Status::OK();

  Result<std::unique_ptr<Table>> t = ReadTable(path_);
  if (!t.ok()) return t.status();
  std::shared_ptr<const Table> installed(std::move(t).value());
  std::lock_guard<std::mutex> write(mu_);
  table_ = std::move(installed);
  return Status::OK();
}

}  // namespace logbook::api
