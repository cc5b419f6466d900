#pragma once
// API keys: who may call the HTTP API, for which tenant, with which role.
//
// A key is shown to its owner once, as text:
//
//   lbk_<key_id>_<secret>
//        12 lowercase hex chars (6 random bytes): public, names the key
//                  43 chars: 32 random bytes, URL-safe base64 without padding
//
// The keys file (JSON, mode 0600) stores no secret. Per key it stores
// hash = hex(BLAKE2b-256 keyed with the file's 32-byte hash_key, over the
// whole key text), so a leaked file does not give working keys:
//
//   {"format": 1, "hash_key": "<64 hex>",
//    "keys": [{"id": "0a1b2c3d4e5f", "hash": "<64 hex>", "tenant": "acme" | "*",
//              "role": "admin", "label": "ci deploy", "created_at_us": 1700000000000000,
//              "revoked_at_us": 0}]}
//
// Writers (Create, Revoke) hold an flock on "<path>.lock" while they re-read
// the file, change it and replace it (write "<path>.tmp", fsync, rename,
// fsync the directory), so concurrent `logbook keys` commands and servers
// never lose each other's changes, and a revoked key is never brought back.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "log/record.h"
#include "log/status.h"

namespace logbook::api {

// Who is calling: the result of authenticating a key.
struct Principal {
  std::string key_id;
  std::string tenant;  // "" means all tenants
  Role role = Role::kNone;
};

// What `keys list` shows about a key. Never holds secret material.
struct KeyInfo {
  std::string key_id;
  std::string tenant;  // "" means all tenants ("*" in the file)
  std::string label;
  Role role = Role::kNone;
  int64_t created_at_us = 0;
  int64_t revoked_at_us = 0;  // 0 = active
};

constexpr std::string_view kKeyPrefix = "lbk_";
constexpr size_t kKeyIdChars = 12;
constexpr size_t kKeySecretChars = 43;
constexpr size_t kKeyTextChars = kKeyPrefix.size() + kKeyIdChars + 1 + kKeySecretChars;  // 60
constexpr size_t kMaxKeyLabel = 200;
constexpr int kKeysFileFormat = 1;

// The table of API keys of one keys file.
// Thread-safety: all methods may be called from any thread (a shared_mutex guards the table;
// Authenticate and List only take it shared).
class KeyStore {
 public:
  // Loads the keys file. kNotFound if it does not exist; kCorruption (not JSON, a field
  // missing or of the wrong type or form) or kInvalidArgument (unsupported format number),
  // naming the file and the field, if malformed; kIOError if it cannot be read.
  static Result<std::unique_ptr<KeyStore>> Load(const std::string& path);
  // A new, empty store for `path` with a fresh random hash key. Nothing is written until the
  // first Create; if another writer creates the file first, Create adopts that file.
  static std::unique_ptr<KeyStore> CreateEmpty(const std::string& path);

  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // Creates a key for `tenant` ("" or "*" = all tenants, otherwise a valid tenant name) with
  // `role` (not kNone) and a label of at most kMaxKeyLabel bytes of UTF-8 without control
  // characters (kInvalidArgument otherwise).
  // Re-reads the file, adds the key and persists the file before returning. Returns the key
  // text: the only time it exists outside the caller. *out, if given, gets its principal.
  Result<std::string> Create(std::string_view tenant, Role role, std::string_view label,
                             Principal* out = nullptr);
  // Marks the key revoked and persists the file. kNotFound for an unknown id; OK (and no
  // write) if it is already revoked.
  Status Revoke(std::string_view key_id);
  // Every key, active and revoked, sorted by creation time (then id).
  std::vector<KeyInfo> List() const;
  // The principal of a presented key text, or nullopt when it is malformed, unknown or
  // revoked. The keyed hashes are compared in constant time (sodium_memcmp). The presented
  // text is neither logged nor stored.
  std::optional<Principal> Authenticate(std::string_view presented) const;
  // Re-reads the file if its inode, size or mtime changed since this store last read or wrote
  // it, so that `logbook keys revoke` takes effect in a running server. On an error (the file
  // is gone, unreadable or malformed) the table in memory is kept and the error returned.
  // OK without reading while the file of a CreateEmpty store has not been written yet.
  Status ReloadIfChanged();

  const std::string& path() const { return path_; }

  // The parsed contents of a keys file; defined in keys.cc.
  struct Table;

 private:
  KeyStore(std::string path, std::unique_ptr<Table> table);

  // Under the lock file: re-reads the file (or copies the table in memory if there is no
  // file yet), lets `change` modify it, writes the file if `change` says so and installs it.
  template <typename Fn>
  Status Update(Fn&& change);

  const std::string path_;
  std::mutex update_mu_;          // serializes Create, Revoke and ReloadIfChanged; taken before mu_
  // Readers copy the pointer under a short plain lock and read the table
  // without any lock; writers build a new table and swap it in. So a stream
  // of authentications can never starve a reload (a reader-preferring
  // shared_mutex could).
  mutable std::mutex mu_;  // guards the pointer table_ only
  std::shared_ptr<const Table> table_;
  std::shared_ptr<const Table> Snapshot() const;
};

}  // namespace logbook::api
