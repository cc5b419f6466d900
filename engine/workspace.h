#pragma once
// WorkspaceService: users' saved items, share links and bookmarks as events
// (docs/api.md "Workspace"), read back from the "workspace" view
// (projections/workspace.h) and, for content, from the log itself.
//
// Every method takes the tenant the caller acts for; objects of other
// tenants are never found (kNotFound, exactly like missing ones). A user's
// items are that user's: another user of the same tenant gets kNotFound.
//
// Commands (Plan*) check their input against the views and return the
// events to append; the reply is built once the append is durable
// (engine/planned_append.h). Reads first wait (bounded) until the views
// include every event acknowledged so far, so a client reads its own writes.
//
// Share links: a token is "<share_id>.<mac>", share_id 32 hex chars, mac the
// URL-safe base64 (no padding) of crypto_auth under a share secret
// (engine/share_secrets.h) of
//   "logbook/share/v1" 0 tenant 0 item_id 0 version 0 expires_at_us 0 share_id
// so a token names exactly what it grants. Only a BLAKE2b-256 hash of the
// token is stored (ShareLinkCreated.token_hash). A link opens while it is
// not revoked, not expired, its item not deleted, its MAC verifies under its
// secret and that secret is current or within its grace after a rotation.
// Expiry is judged with the service's clock (injectable for tests).
//
// Thread-safety: all methods may be called from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "engine/planned_append.h"
#include "engine/share_secrets.h"
#include "projections/workspace.h"

namespace logbook {

struct WorkspaceOptions {
  size_t max_content_bytes = 256 * 1024;
  int64_t default_share_ttl_us = int64_t{24} * 3600 * 1000000;   // 24 hours
  int64_t max_share_ttl_us = int64_t{30} * 24 * 3600 * 1000000;  // 30 days
  int64_t default_secret_grace_us = 0;  // rotation invalidates old links at once
  std::function<int64_t()> clock;       // µs since the epoch; NowMicros() when empty
  std::chrono::milliseconds view_wait{2000};
};
constexpr size_t kMaxWorkspaceContentLimit = 3 << 20;  // the log takes payloads up to 4 MiB
constexpr size_t kMaxItemTitle = 500;
constexpr size_t kMaxItemKind = 64;
constexpr size_t kMaxLabel = 200;

struct SaveItemInput {
  std::string tenant;
  std::string user;
  std::string item_id;  // empty: a new item with a generated id
  std::string kind;     // empty: "note"
  std::string title;
  nlohmann::json content;                    // a string (text) or any other JSON value but null
  std::optional<uint64_t> expected_version;  // the item's version the client last saw
};

class WorkspaceService {
 public:
  // `secrets` may be null for read-only use (the CLI): share links then
  // neither open nor get created.
  WorkspaceService(Engine& engine, ShareSecrets* secrets, WorkspaceOptions options);

  const WorkspaceOptions& options() const { return options_; }
  int64_t Now() const;

  // The bytes of `content` counted against max_content_bytes: a string's
  // UTF-8 bytes, any other value's compact JSON text.
  static size_t ContentBytes(const nlohmann::json& content);

  // ---- items
  Result<PlannedAppend> PlanSave(const SaveItemInput& in);
  Result<PlannedAppend> PlanDelete(const std::string& tenant, const std::string& user,
                                   const std::string& item_id,
                                   std::optional<uint64_t> expected_version);
  // The item with its content: the latest version, or `version` (> 0). An
  // empty user skips the owner check (operators' CLI).
  Result<nlohmann::json> GetItem(const std::string& tenant, const std::string& user,
                                 const std::string& item_id, uint64_t version = 0);
  // {"items":[...], "next_after": id | null}; an empty user lists the tenant.
  Result<nlohmann::json> ListItems(const std::string& tenant, const std::string& user,
                                   bool include_deleted, const std::string& after, size_t limit);
  Result<nlohmann::json> ListVersions(const std::string& tenant, const std::string& user,
                                      const std::string& item_id);

  // ---- share links
  // version 0: the latest; ttl_us 0: the default TTL.
  Result<PlannedAppend> PlanCreateShare(const std::string& tenant, const std::string& user,
                                        const std::string& item_id, uint64_t version,
                                        int64_t ttl_us);
  Result<PlannedAppend> PlanRevokeShare(const std::string& tenant, const std::string& user,
                                        const std::string& share_id, const std::string& reason);
  Result<nlohmann::json> ListShares(const std::string& tenant, const std::string& user,
                                    const std::string& item_id);
  // The shared item version, read-only. kNotFound, always with the same
  // message, for a malformed, forged, expired, revoked or retired token.
  Result<nlohmann::json> OpenShare(const std::string& token);

  // ---- bookmarks (of one of the user's items, or of a share link by its token)
  Result<PlannedAppend> PlanAddBookmark(const std::string& tenant, const std::string& user,
                                        const std::string& item_id, const std::string& share_token,
                                        const std::string& label);
  Result<PlannedAppend> PlanRemoveBookmark(const std::string& tenant, const std::string& user,
                                           const std::string& bookmark_id);
  Result<nlohmann::json> ListBookmarks(const std::string& tenant, const std::string& user);

  // ---- the share secret
  // Rotates the secret file (grace: the option's default when nullopt) and
  // plans the audit event ShareSecretRotated on stream $system.
  Result<PlannedAppend> RotateSecret(std::optional<int64_t> grace_us, const std::string& by);
  // For a running server: re-reads the secret file if another process
  // changed it. When the current secret is not yet recorded in the log,
  // returns the ShareSecretRotated event to append. Its event id is derived
  // from the secret id, so recording a rotation twice writes it once.
  Result<std::optional<PlannedAppend>> SyncSecret();
  // After SyncSecret's event is durable.
  void MarkSecretRecorded(const std::string& secret_id);

 private:
  Status Settle();
  std::unique_ptr<ViewReader> Reader() const;
  Result<nlohmann::json> ItemJson(const std::string& tenant, const ItemInfo& item, uint64_t version,
                                  bool for_share);
  PlannedAppend SecretEvent(const ShareSecretRotation& r, const std::string& by);
  // The share of a token that opens now; kNotFound (one message) otherwise.
  Result<ShareInfo> ValidShare(const std::string& token, int64_t now);
  std::string ShareStatus(const ShareInfo& s, int64_t now);

  Engine& engine_;
  ShareSecrets* secrets_;
  WorkspaceOptions options_;
  std::mutex mu_;
  std::string recorded_secret_id_;  // guarded by mu_
};

}  // namespace logbook
