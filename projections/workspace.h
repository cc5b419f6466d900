#pragma once
// View "workspace": users' saved items, their versions, share links and
// bookmarks (docs/api.md "Workspace").
//
// Events count only on their canonical streams, with the tenant taken from
// the envelope (a payload's tenant, when set, must agree):
//   WorkspaceItemSaved/Deleted     workspace/<tenant>/<item_id>
//   ShareLinkCreated/Revoked       workspace/<tenant>/<item_id>/shares
//   BookmarkAdded/Removed          bookmarks/<tenant>/<user>
// An event elsewhere (a generic append) is ignored, so the view cannot be
// steered from another stream. An item's version is the stream version of
// the event that made it, so version N of an item is version N of its stream.
//
// Keys (inside the view); components are separated by 0x00 (names never
// contain it), version = u64 BE:
//   "i" tenant 0 item_id                  -> ItemInfo (JSON)
//   "u" tenant 0 owner 0 item_id          -> ""      a user's items
//   "v" tenant 0 item_id 0 version        -> VersionInfo (JSON)
//   "s" share_id                          -> ShareInfo (JSON)   share ids are global
//   "x" tenant 0 item_id 0 share_id       -> ""      an item's share links
//   "b" tenant 0 user 0 bookmark_id       -> BookmarkInfo (JSON)
// Values are small JSON objects: read a few per request, and easy to extend.
// Content is not copied into the view: it is read from the log by LSN.

#include "projections/projection.h"

namespace logbook {

// Names used in stream names and view keys: users, item ids, channels.
// 1..max bytes of [A-Za-z0-9._:@=+-] (no '/', no 0x00).
bool IsValidWorkspaceName(std::string_view s, size_t max);
constexpr size_t kMaxItemId = 48;    // "workspace/" + tenant(128) + "/" + id + "/shares" <= 200
constexpr size_t kMaxUserName = 60;  // "bookmarks/" + tenant(128) + "/" + user <= 200

std::string ItemStream(std::string_view tenant, std::string_view item_id);
std::string ShareStream(std::string_view tenant, std::string_view item_id);
std::string BookmarkStream(std::string_view tenant, std::string_view user);

struct ItemInfo {
  std::string item_id;
  std::string owner;
  std::string kind;
  std::string title;
  uint64_t version = 0;  // stream version of the latest save
  uint64_t lsn = 0;      // LSN of the latest save
  uint64_t saves = 0;
  uint64_t size_bytes = 0;
  std::string content_hash;
  int64_t created_at_us = 0;
  int64_t updated_at_us = 0;
  bool deleted = false;
  uint64_t deleted_version = 0;
  int64_t deleted_at_us = 0;
};

struct VersionInfo {
  uint64_t version = 0;
  bool deleted = false;  // a WorkspaceItemDeleted took this version
  uint64_t lsn = 0;
  int64_t at_us = 0;
  std::string title;
  uint64_t size_bytes = 0;
  std::string content_hash;
  std::string by;
};

struct ShareInfo {
  std::string share_id;
  std::string tenant;
  std::string item_id;
  uint64_t item_version = 0;
  std::string secret_id;
  std::string token_hash;  // hex BLAKE2b-256 of the token
  int64_t created_at_us = 0;
  int64_t expires_at_us = 0;
  std::string by;
  int64_t revoked_at_us = 0;  // 0: not revoked
  std::string revoke_reason;
};

struct BookmarkInfo {
  std::string bookmark_id;
  std::string item_id;
  std::string share_id;  // non-empty: a bookmark of a share link
  std::string label;
  int64_t added_at_us = 0;
};

class WorkspaceProjection : public Projection {
 public:
  static constexpr std::string_view kName = "workspace";
  std::string_view name() const override { return kName; }
  uint32_t version() const override { return 1; }
  Status Apply(const Event& e, ViewTxn& txn) override;
  Result<nlohmann::json> Dump(ViewReader& reader) override;

  // Queries. nullopt: no such entry (in this tenant).
  static Result<std::optional<ItemInfo>> GetItem(ViewReader& r, std::string_view tenant,
                                                 std::string_view item_id);
  // Items in item id order after `after`; of one owner, or of the whole tenant
  // when owner is empty. Deleted items only with include_deleted.
  static Result<std::vector<ItemInfo>> ListItems(ViewReader& r, std::string_view tenant,
                                                 std::string_view owner, bool include_deleted,
                                                 std::string_view after, size_t limit);
  static Result<std::optional<VersionInfo>> GetVersion(ViewReader& r, std::string_view tenant,
                                                       std::string_view item_id, uint64_t version);
  static Result<std::vector<VersionInfo>> ListVersions(ViewReader& r, std::string_view tenant,
                                                       std::string_view item_id);
  static Result<std::optional<ShareInfo>> GetShare(ViewReader& r, std::string_view share_id);
  static Result<std::vector<ShareInfo>> ListShares(ViewReader& r, std::string_view tenant,
                                                   std::string_view item_id);
  static Result<std::optional<BookmarkInfo>> GetBookmark(ViewReader& r, std::string_view tenant,
                                                         std::string_view user,
                                                         std::string_view bookmark_id);
  static Result<std::vector<BookmarkInfo>> ListBookmarks(ViewReader& r, std::string_view tenant,
                                                         std::string_view user);
};

// The id of the bookmark of an item ("i-<item_id>") or of a share link
// ("s-<share_id>"): one bookmark per target, so adding twice is idempotent.
std::string ItemBookmarkId(std::string_view item_id);
std::string ShareBookmarkId(std::string_view share_id);

}  // namespace logbook
