#pragma once
// ShareSecrets: the keys that sign workspace share links, kept in a file.
//
// The file (JSON, mode 0600; default <data-dir>/share_secret.json):
//
//   {"format": 1,
//    "secrets": [{"id": "<16 hex>", "key": "<64 hex: 32 random bytes>",
//                 "created_at_us": 1700000000000000, "not_after_us": 0}, ...],
//    "previous": {"id": "<16 hex>", "grace_until_us": 1700000000000000}}
//
// "previous" (absent before the first rotation) describes the rotation that
// made the current secret, also after the previous secret itself was dropped.
//
// The newest secret with not_after_us 0 is current: new links are signed
// with it. Rotate() adds a new current secret and gives the previous one
// not_after_us = rotation time + grace, so links signed with it keep working
// until then; with no grace they stop at once. Secrets past not_after_us are
// dropped (and wiped) at the next rotation. No secret ever enters the log,
// the logs or an HTTP response; only secret ids do.
//
// A link's MAC is libsodium's crypto_auth (HMAC-SHA-512-256) under a secret;
// Sign and Verify run inside this class so keys never leave it, and Verify
// compares in constant time.
//
// Writers (OpenOrCreate on a missing file, Rotate) hold an flock on
// "<path>.lock" while they re-read the file and replace it (write
// "<path>.tmp" 0600, fsync, rename, fsync the directory), so concurrent
// rotations never lose each other's secrets. A server calls ReloadIfChanged
// periodically, so a rotation by another process (`logbook workspace
// rotate-secret`) takes effect without a restart.
//
// Thread-safety: all methods may be called from any thread.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "log/status.h"

namespace logbook {

constexpr size_t kShareMacBytes = 32;
using ShareMac = std::array<uint8_t, kShareMacBytes>;

struct ShareSecretInfo {
  std::string id;
  int64_t created_at_us = 0;
  int64_t not_after_us = 0;  // 0: current (or not yet retired)
  bool current = false;
};

struct ShareSecretRotation {
  std::string secret_id;
  std::string previous_secret_id;
  int64_t rotated_at_us = 0;
  int64_t grace_until_us = 0;  // links of the previous secret work before this
};

class ShareSecrets {
 public:
  // Loads `path`; when it does not exist, creates it with a first secret.
  static Result<std::unique_ptr<ShareSecrets>> OpenOrCreate(const std::string& path,
                                                            int64_t now_us);
  // Loads `path`; kNotFound when it does not exist, kCorruption when malformed.
  static Result<std::unique_ptr<ShareSecrets>> Open(const std::string& path);
  ~ShareSecrets();
  ShareSecrets(const ShareSecrets&) = delete;
  ShareSecrets& operator=(const ShareSecrets&) = delete;

  // MAC of `message` under the current secret; *secret_id gets its id.
  void Sign(std::string_view message, std::string* secret_id, ShareMac* mac) const;
  // True when `mac` is the MAC of `message` under secret `secret_id` and that
  // secret is still usable at now_us. Constant time in the MAC; an unknown or
  // retired secret costs the same work as a known one.
  bool Verify(std::string_view secret_id, std::string_view message, const ShareMac& mac,
              int64_t now_us) const;
  // Is the secret current, or retired less than its grace ago?
  bool Usable(std::string_view secret_id, int64_t now_us) const;

  // Makes a new current secret; the previous one stays usable for grace_us.
  Result<ShareSecretRotation> Rotate(int64_t grace_us, int64_t now_us);
  // Re-reads the file if its inode, size or mtime changed. Returns true when
  // the current secret changed. On an error the secrets in memory are kept.
  Result<bool> ReloadIfChanged();

  std::string current_id() const;
  // The rotation that made the current secret (previous_secret_id empty for
  // the first secret).
  ShareSecretRotation LastRotation() const;
  std::vector<ShareSecretInfo> List() const;
  const std::string& path() const { return path_; }

  struct Table;  // share_secrets.cc

 private:
  ShareSecrets(std::string path, std::shared_ptr<const Table> table);
  std::shared_ptr<const Table> Snapshot() const;
  void Install(std::shared_ptr<const Table> table);

  const std::string path_;
  std::mutex update_mu_;   // serialises Rotate and ReloadIfChanged
  mutable std::mutex mu_;  // guards table_ (the pointer only)
  std::shared_ptr<const Table> table_;
};

}  // namespace logbook
