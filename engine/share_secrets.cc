#include "engine/share_secrets.h"

#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "log/file_util.h"

namespace logbook {

namespace {

constexpr int kFileFormat = 1;
constexpr size_t kKeyBytes = crypto_auth_KEYBYTES;  // 32
constexpr size_t kIdBytes = 8;                      // 16 hex chars
constexpr size_t kMaxFileBytes = 1 << 20;
static_assert(crypto_auth_BYTES == kShareMacBytes);

// 32 secret bytes, wiped when destroyed.
class SecretKey {
 public:
  SecretKey() = default;
  ~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }
  SecretKey(const SecretKey& o) : bytes_(o.bytes_) {}
  SecretKey& operator=(const SecretKey& o) {
    bytes_ = o.bytes_;
    return *this;
  }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }

 private:
  std::array<uint8_t, kKeyBytes> bytes_{};
};

void Wipe(std::string* s) {
  if (!s->empty()) sodium_memzero(s->data(), s->size());
  s->clear();
}

std::string ToHex(const uint8_t* bytes, size_t n) {
  std::string hex(n * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes, n);
  hex.pop_back();
  return hex;
}

bool FromHex(std::string_view hex, uint8_t* out, size_t n) {
  if (hex.size() != n * 2) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  size_t len = 0;
  return sodium_hex2bin(out, n, hex.data(), hex.size(), nullptr, &len, nullptr) == 0 && len == n;
}

struct Entry {
  ShareSecretInfo info;
  SecretKey key;
};

}  // namespace

struct ShareSecrets::Table {
  std::vector<Entry> secrets;  // oldest first; the last with not_after_us 0 is current
  std::string previous_id;     // the rotation that made the current secret
  int64_t previous_grace_until_us = 0;
  FileStamp stamp;
  const Entry* Current() const {
    for (auto it = secrets.rbegin(); it != secrets.rend(); ++it) {
      if (it->info.not_after_us == 0) return &*it;
    }
    return nullptr;
  }
  const Entry* Find(std::string_view id) const {
    for (const Entry& e : secrets) {
      if (e.info.id == id) return &e;
    }
    return nullptr;
  }
};

namespace {

using Table = ShareSecrets::Table;

std::string Where(const std::string& path) { return "share secret file '" + path + "': "; }

// Reads the file and the stamp of the version read.
Status ReadFile(const std::string& path, std::string* text, FileStamp* stamp) {
  struct stat st;
  if (Status s = ReadSmallFile(path, kMaxFileBytes, text, &st); !s.ok()) return s;
  if ((st.st_mode & 077) != 0) {
    spdlog::warn("share secret file '{}' is readable by others (mode {:o}); chmod 600 it", path,
                 st.st_mode & 0777);
  }
  *stamp = StampOf(st);
  return Status::OK();
}

Status Parse(const std::string& path, std::string* text, Table* t) {
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  Wipe(text);
  auto bad = [&](const std::string& what) { return Status::Corruption(Where(path) + what); };
  if (!j.is_object()) return bad("not a JSON object");
  if (!j.contains("format") || !j["format"].is_number_integer()) return bad("no format number");
  if (j["format"] != kFileFormat) {
    return Status::InvalidArgument(Where(path) + "unsupported format " + j["format"].dump());
  }
  if (!j.contains("secrets") || !j["secrets"].is_array() || j["secrets"].empty()) {
    return bad("\"secrets\" must be a non-empty array");
  }
  Status s;
  for (auto& x : j["secrets"]) {
    if (!x.is_object() || !x.contains("id") || !x["id"].is_string() || !x.contains("key") ||
        !x["key"].is_string() || !x.value("created_at_us", nlohmann::json()).is_number_integer() ||
        !x.value("not_after_us", nlohmann::json()).is_number_integer()) {
      s = bad("each secret needs id, key, created_at_us and not_after_us");
      break;
    }
    Entry e;
    e.info.id = x["id"].get<std::string>();
    e.info.created_at_us = x["created_at_us"].get<int64_t>();
    e.info.not_after_us = x["not_after_us"].get<int64_t>();
    std::string& hex = x["key"].get_ref<std::string&>();
    uint8_t id_bytes[kIdBytes];
    if (!FromHex(e.info.id, id_bytes, kIdBytes) || !FromHex(hex, e.key.data(), kKeyBytes)) {
      s = bad("secret '" + e.info.id + "' has a malformed id or key");
      break;
    }
    if (t->Find(e.info.id) != nullptr) {
      s = bad("secret id '" + e.info.id + "' appears twice");
      break;
    }
    t->secrets.push_back(std::move(e));
  }
  // The parsed document holds the keys as text: wipe them before it is freed.
  for (auto& x : j["secrets"]) {
    if (x.is_object() && x.contains("key") && x["key"].is_string()) {
      Wipe(&x["key"].get_ref<std::string&>());
    }
  }
  if (!s.ok()) return s;
  if (t->Current() == nullptr) return bad("no current secret (one with not_after_us 0)");
  if (j.contains("previous")) {
    const auto& prev = j["previous"];
    if (!prev.is_object() || !prev.value("id", nlohmann::json()).is_string() ||
        !prev.value("grace_until_us", nlohmann::json()).is_number_integer()) {
      return bad("\"previous\" needs id and grace_until_us");
    }
    t->previous_id = prev["id"].get<std::string>();
    t->previous_grace_until_us = prev["grace_until_us"].get<int64_t>();
  }
  for (auto& e : t->secrets) e.info.current = false;
  const_cast<Entry*>(t->Current())->info.current = true;
  return Status::OK();
}

std::string Serialize(const Table& t) {
  // Built by hand so that the key text exists in one buffer the caller wipes.
  std::string out;
  out.reserve(256 + 192 * t.secrets.size());  // no reallocation leaves key text behind
  out += "{\"format\": 1,\n \"secrets\": [";
  for (size_t i = 0; i < t.secrets.size(); ++i) {
    const Entry& e = t.secrets[i];
    std::string hex = ToHex(e.key.data(), kKeyBytes);
    out += i == 0 ? "\n  " : ",\n  ";
    out += "{\"id\": \"" + e.info.id + "\", \"key\": \"";
    out += hex;  // appended in place: no temporary copy of the key text
    Wipe(&hex);
    out += "\", \"created_at_us\": " + std::to_string(e.info.created_at_us) +
           ", \"not_after_us\": " + std::to_string(e.info.not_after_us) + "}";
  }
  out += "]";
  if (!t.previous_id.empty()) {
    out += ",\n \"previous\": {\"id\": \"" + t.previous_id +
           "\", \"grace_until_us\": " + std::to_string(t.previous_grace_until_us) + "}";
  }
  out += "}\n";
  return out;
}

Entry NewSecret(int64_t now_us) {
  Entry e;
  uint8_t id[kIdBytes];
  randombytes_buf(id, sizeof(id));
  e.info.id = ToHex(id, sizeof(id));
  e.info.created_at_us = now_us;
  crypto_auth_keygen(e.key.data());
  return e;
}

Result<std::shared_ptr<Table>> Load(const std::string& path) {
  std::string text;
  auto t = std::make_shared<Table>();
  if (Status s = ReadFile(path, &text, &t->stamp); !s.ok()) return s;
  if (Status s = Parse(path, &text, t.get()); !s.ok()) return s;
  return t;
}

Status Store(const std::string& path, Table* t) {
  std::string text = Serialize(*t);
  struct stat st;
  Status s = WriteFileAtomic(path, text, 0600, &st);
  Wipe(&text);
  if (s.ok()) t->stamp = StampOf(st);
  return s;
}

}  // namespace

ShareSecrets::ShareSecrets(std::string path, std::shared_ptr<const Table> table)
    : path_(std::move(path)), table_(std::move(table)) {}
ShareSecrets::~ShareSecrets() = default;

Result<std::unique_ptr<ShareSecrets>> ShareSecrets::Open(const std::string& path) {
  Result<std::shared_ptr<Table>> t = Load(path);
  if (!t.ok()) return t.status();
  return std::unique_ptr<ShareSecrets>(new ShareSecrets(path, std::move(t).value()));
}

Result<std::unique_ptr<ShareSecrets>> ShareSecrets::OpenOrCreate(const std::string& path,
                                                                 int64_t now_us) {
  Result<std::unique_ptr<ShareSecrets>> opened = Open(path);
  if (opened.ok() || !opened.status().IsNotFound()) return opened;
  LockFile lock;
  if (Status s = lock.Acquire(path); !s.ok()) return s;
  opened = Open(path);  // another process may have created it meanwhile
  if (opened.ok() || !opened.status().IsNotFound()) return opened;
  auto t = std::make_shared<Table>();
  t->secrets.push_back(NewSecret(now_us));
  t->secrets.back().info.current = true;
  if (Status s = Store(path, t.get()); !s.ok()) return s;
  return std::unique_ptr<ShareSecrets>(new ShareSecrets(path, std::move(t)));
}

std::shared_ptr<const Table> ShareSecrets::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  return table_;
}

void ShareSecrets::Install(std::shared_ptr<const Table> table) {
  std::lock_guard<std::mutex> l(mu_);
  table_ = std::move(table);
}

void ShareSecrets::Sign(std::string_view message, std::string* secret_id, ShareMac* mac) const {
  std::shared_ptr<const Table> t = Snapshot();
  const Entry* cur = t->Current();  // Parse and Rotate guarantee one
  *secret_id = cur->info.id;
  crypto_auth(mac->data(), reinterpret_cast<const unsigned char*>(message.data()), message.size(),
              cur->key.data());
}

bool ShareSecrets::Verify(std::string_view secret_id, std::string_view message, const ShareMac& mac,
                          int64_t now_us) const {
  std::shared_ptr<const Table> t = Snapshot();
  const Entry* e = t->Find(secret_id);
  const bool usable = e != nullptr && (e->info.not_after_us == 0 || now_us < e->info.not_after_us);
  // Unknown secrets are checked against a fixed dummy key: the same work, and never a match
  // that counts.
  static const SecretKey kDummy;
  const int r =
      crypto_auth_verify(mac.data(), reinterpret_cast<const unsigned char*>(message.data()),
                         message.size(), e != nullptr ? e->key.data() : kDummy.data());
  return r == 0 && usable;
}

bool ShareSecrets::Usable(std::string_view secret_id, int64_t now_us) const {
  std::shared_ptr<const Table> t = Snapshot();
  const Entry* e = t->Find(secret_id);
  return e != nullptr && (e->info.not_after_us == 0 || now_us < e->info.not_after_us);
}

Result<ShareSecretRotation> ShareSecrets::Rotate(int64_t grace_us, int64_t now_us) {
  if (grace_us < 0) return Status::InvalidArgument("grace must not be negative");
  std::lock_guard<std::mutex> u(update_mu_);
  LockFile lock;
  if (Status s = lock.Acquire(path_); !s.ok()) return s;
  // Re-read under the lock: another process may have rotated since we loaded.
  Result<std::shared_ptr<Table>> loaded = Load(path_);
  if (!loaded.ok()) return loaded.status();
  Table& old = **loaded;
  auto t = std::make_shared<Table>();
  ShareSecretRotation r;
  r.rotated_at_us = now_us;
  r.grace_until_us = now_us + grace_us;
  for (const Entry& e : old.secrets) {
    Entry copy = e;
    if (&e == old.Current()) {
      r.previous_secret_id = e.info.id;
      copy.info.not_after_us = r.grace_until_us;
    }
    copy.info.current = false;
    // Secrets whose grace has passed are of no use any more: drop them.
    if (copy.info.not_after_us != 0 && copy.info.not_after_us <= now_us) continue;
    t->secrets.push_back(std::move(copy));
  }
  t->secrets.push_back(NewSecret(now_us));
  t->secrets.back().info.current = true;
  r.secret_id = t->secrets.back().info.id;
  t->previous_id = r.previous_secret_id;
  t->previous_grace_until_us = r.grace_until_us;
  if (Status s = Store(path_, t.get()); !s.ok()) return s;
  Install(std::move(t));
  return r;
}

Result<bool> ShareSecrets::ReloadIfChanged() {
  std::lock_guard<std::mutex> u(update_mu_);
  std::shared_ptr<const Table> cur = Snapshot();
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) {
    return Status::IOError(ErrnoText("cannot stat share secret file", path_, errno));
  }
  if (StampOf(st) == cur->stamp) return false;
  Result<std::shared_ptr<Table>> t = Load(path_);
  if (!t.ok()) return t.status();
  const bool changed = (*t)->Current()->info.id != cur->Current()->info.id;
  Install(std::move(t).value());
  return changed;
}

std::string ShareSecrets::current_id() const { return Snapshot()->Current()->info.id; }

ShareSecretRotation ShareSecrets::LastRotation() const {
  std::shared_ptr<const Table> t = Snapshot();
  ShareSecretRotation r;
  r.secret_id = t->Current()->info.id;
  r.rotated_at_us = t->Current()->info.created_at_us;
  r.previous_secret_id = t->previous_id;
  r.grace_until_us = t->previous_id.empty() ? r.rotated_at_us : t->previous_grace_until_us;
  return r;
}

std::vector<ShareSecretInfo> ShareSecrets::List() const {
  std::shared_ptr<const Table> t = Snapshot();
  std::vector<ShareSecretInfo> out;
  for (const Entry& e : t->secrets) out.push_back(e.info);
  return out;
}

}  // namespace logbook
