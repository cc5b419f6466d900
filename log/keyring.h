#pragma once
// KeyRing: the keys that encrypt tenants' payloads (docs/log_format.md,
// "Encryption").
//
// Each tenant's payloads are sealed with its own 256-bit data key
// (XChaCha20-Poly1305-IETF, libsodium), with the record's frame and envelope
// as associated data, so a ciphertext cannot be moved to another record.
// Data keys are stored wrapped (sealed) by a master key. Both live in a key
// directory *outside* the data directory:
//
//   <key dir>/master.key          the master key (0600)
//   <key dir>/tenant-keys.json    wrapped data keys by key id (0600)
//
// Keeping them apart from the log is what makes crypto-shredding work:
// DestroyTenant removes a tenant's wrapped keys from tenant-keys.json, after
// which no copy of the data directory -- taken before or after -- can be
// decrypted for that tenant with this key directory, while other tenants
// still can. RotateMaster re-wraps every data key under a new master key
// without touching the log; the previous generation's files are kept as
// master.key.<id> and tenant-keys.json.<id>, so an old backup still opens
// with the key files of its time.
//
// Key material lives in sodium_malloc'd memory (guard pages, no core dumps
// where the platform allows, wiped when freed).
//
// Thread-safety: all methods may be called concurrently.

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "log/status.h"

namespace logbook {

constexpr size_t kSealNonceBytes = 24;  // crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
constexpr size_t kSealTagBytes = 16;    // crypto_aead_xchacha20poly1305_ietf_ABYTES

struct TenantKeyInfo {
  uint32_t key_id = 0;
  std::string tenant;
  int64_t created_at_us = 0;
  bool destroyed = false;
  int64_t destroyed_at_us = 0;
};

class KeyRing {
 public:
  // Creates `dir` with a new master key and an empty key list. Fails with
  // kInvalidArgument if it already holds a master key.
  static Status Create(const std::string& dir);
  static Result<std::unique_ptr<KeyRing>> Open(const std::string& dir);
  ~KeyRing();
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;

  const std::string& dir() const { return dir_; }
  uint32_t master_key_id() const;

  struct SecretKey;  // 32 bytes in sodium_malloc'd memory
  // A data key held for sealing: stays usable while held, even if the
  // tenant is destroyed meanwhile.
  struct SealKey {
    uint32_t id = 0;
    std::shared_ptr<const SecretKey> key;
  };
  // The key that seals new payloads of `tenant`; the first call for a
  // tenant creates its data key and persists it (fsync) before returning.
  Result<SealKey> KeyFor(std::string_view tenant);
  // *payload := nonce || ciphertext || tag, sealed with `ad`.
  static void Seal(const SealKey& key, std::string_view ad, std::string* payload);
  // Inverse of Seal. kNotFound when the key was destroyed or is unknown
  // (the message says which), kCorruption when authentication fails.
  Status Unseal(uint32_t key_id, std::string_view ad, std::string* payload) const;
  // True when `key_id` was a data key of this directory and has been
  // destroyed; false for a live key and for one this directory never had.
  bool IsDestroyed(uint32_t key_id) const;

  // Crypto-shredding: forgets every data key of `tenant` (persisted before
  // returning). Returns how many keys were destroyed; 0 is not an error.
  Result<size_t> DestroyTenant(std::string_view tenant);
  // Re-wraps every data key under a new master key; returns its id.
  Result<uint32_t> RotateMaster();
  std::vector<TenantKeyInfo> List() const;

 private:
  KeyRing() = default;
  Status Load();
  Status LoadList();
  Status Persist(const std::string& suffix = "") const;  // requires mu_ held

  std::string dir_;
  mutable std::shared_mutex mu_;
  uint32_t master_id_ = 0;
  std::unique_ptr<SecretKey> master_;
  uint32_t next_key_id_ = 1;
  struct Entry {
    TenantKeyInfo info;
    std::string wrapped;              // nonce || sealed key, empty once destroyed
    std::shared_ptr<SecretKey> key;   // unwrapped; null once destroyed
  };
  std::map<uint32_t, Entry> keys_;
  std::map<std::string, uint32_t, std::less<>> current_;  // tenant -> live key id
};

}  // namespace logbook
