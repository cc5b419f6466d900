#include "projections/workspace.h"

#include <flatbuffers/flatbuffers.h>

#include "log/coding.h"
#include "projections/payload.h"
#include "schemas/events_generated.h"

namespace logbook {

namespace {

using fb::EventType;

constexpr char kSep = '\0';

std::string Key(char tag, std::initializer_list<std::string_view> parts) {
  std::string k(1, tag);
  bool first = true;
  for (std::string_view p : parts) {
    if (!first) k.push_back(kSep);
    k.append(p);
    first = false;
  }
  return k;
}

std::string ItemKey(std::string_view tenant, std::string_view item) {
  return Key('i', {tenant, item});
}
std::string OwnerKey(std::string_view tenant, std::string_view owner, std::string_view item) {
  return Key('u', {tenant, owner, item});
}
std::string VersionKey(std::string_view tenant, std::string_view item, uint64_t version) {
  std::string k = Key('v', {tenant, item});
  k.push_back(kSep);
  coding::PutFixed64BE(&k, version);
  return k;
}
std::string ShareKey(std::string_view share_id) { return Key('s', {share_id}); }
std::string ItemShareKey(std::string_view tenant, std::string_view item, std::string_view share) {
  return Key('x', {tenant, item, share});
}
std::string BookmarkKey(std::string_view tenant, std::string_view user, std::string_view id) {
  return Key('b', {tenant, user, id});
}

// ---- JSON forms of the values (field names are stable: they are stored).

nlohmann::json ToJson(const ItemInfo& i) {
  return {{"item_id", i.item_id},
          {"owner", i.owner},
          {"kind", i.kind},
          {"title", i.title},
          {"version", i.version},
          {"lsn", i.lsn},
          {"saves", i.saves},
          {"size_bytes", i.size_bytes},
          {"content_hash", i.content_hash},
          {"created_at_us", i.created_at_us},
          {"updated_at_us", i.updated_at_us},
          {"deleted", i.deleted},
          {"deleted_version", i.deleted_version},
          {"deleted_at_us", i.deleted_at_us}};
}

nlohmann::json ToJson(const VersionInfo& v) {
  return {{"version", v.version},
          {"deleted", v.deleted},
          {"lsn", v.lsn},
          {"at_us", v.at_us},
          {"title", v.title},
          {"size_bytes", v.size_bytes},
          {"content_hash", v.content_hash},
          {"by", v.by}};
}

nlohmann::json ToJson(const ShareInfo& s) {
  return {{"share_id", s.share_id},
          {"tenant", s.tenant},
          {"item_id", s.item_id},
          {"item_version", s.item_version},
          {"secret_id", s.secret_id},
          {"token_hash", s.token_hash},
          {"created_at_us", s.created_at_us},
          {"expires_at_us", s.expires_at_us},
          {"by", s.by},
          {"revoked_at_us", s.revoked_at_us},
          {"revoke_reason", s.revoke_reason}};
}

nlohmann::json ToJson(const BookmarkInfo& b) {
  return {{"bookmark_id", b.bookmark_id},
          {"item_id", b.item_id},
          {"share_id", b.share_id},
          {"label", b.label},
          {"added_at_us", b.added_at_us}};
}

// Reads a stored value; false when it is not the JSON object we wrote.
bool Parse(std::string_view v, nlohmann::json* j) {
  *j = nlohmann::json::parse(v, nullptr, /*allow_exceptions=*/false);
  return j->is_object();
}

template <typename T>
void Get(const nlohmann::json& j, const char* name, T* out) {
  auto it = j.find(name);
  if (it != j.end() && !it->is_null()) *out = it->get<T>();
}

bool FromJson(std::string_view v, ItemInfo* i) {
  nlohmann::json j;
  if (!Parse(v, &j)) return false;
  try {
    Get(j, "item_id", &i->item_id);
    Get(j, "owner", &i->owner);
    Get(j, "kind", &i->kind);
    Get(j, "title", &i->title);
    Get(j, "version", &i->version);
    Get(j, "lsn", &i->lsn);
    Get(j, "saves", &i->saves);
    Get(j, "size_bytes", &i->size_bytes);
    Get(j, "content_hash", &i->content_hash);
    Get(j, "created_at_us", &i->created_at_us);
    Get(j, "updated_at_us", &i->updated_at_us);
    Get(j, "deleted", &i->deleted);
    Get(j, "deleted_version", &i->deleted_version);
    Get(j, "deleted_at_us", &i->deleted_at_us);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

bool FromJson(std::string_view v, VersionInfo* x) {
  nlohmann::json j;
  if (!Parse(v, &j)) return false;
  try {
    Get(j, "version", &x->version);
    Get(j, "deleted", &x->deleted);
    Get(j, "lsn", &x->lsn);
    Get(j, "at_us", &x->at_us);
    Get(j, "title", &x->title);
    Get(j, "size_bytes", &x->size_bytes);
    Get(j, "content_hash", &x->content_hash);
    Get(j, "by", &x->by);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

bool FromJson(std::string_view v, ShareInfo* s) {
  nlohmann::json j;
  if (!Parse(v, &j)) return false;
  try {
    Get(j, "share_id", &s->share_id);
    Get(j, "tenant", &s->tenant);
    Get(j, "item_id", &s->item_id);
    Get(j, "item_version", &s->item_version);
    Get(j, "secret_id", &s->secret_id);
    Get(j, "token_hash", &s->token_hash);
    Get(j, "created_at_us", &s->created_at_us);
    Get(j, "expires_at_us", &s->expires_at_us);
    Get(j, "by", &s->by);
    Get(j, "revoked_at_us", &s->revoked_at_us);
    Get(j, "revoke_reason", &s->revoke_reason);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

bool FromJson(std::string_view v, BookmarkInfo* b) {
  nlohmann::json j;
  if (!Parse(v, &j)) return false;
  try {
    Get(j, "bookmark_id", &b->bookmark_id);
    Get(j, "item_id", &b->item_id);
    Get(j, "share_id", &b->share_id);
    Get(j, "label", &b->label);
    Get(j, "added_at_us", &b->added_at_us);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

Status Bad(std::string_view what) {
  return Status::Corruption("workspace view: malformed " + std::string(what) + " entry");
}

template <typename T>
Result<std::optional<T>> Load(ViewReader& r, const std::string& key, std::string_view what) {
  Result<std::optional<std::string>> v = r.Get(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<T>();
  T out;
  if (!FromJson(**v, &out)) return Bad(what);
  return std::optional<T>(std::move(out));
}

// The time an event says it happened, or the writer's clock when it says nothing.
int64_t At(int64_t payload_us, const Event& e) {
  return payload_us != 0 ? payload_us : e.recorded_at_us;
}

// ---- the folds, one per event type. Each ignores events that are not on
// ---- their canonical stream or do not agree with the view (see the header).

Status ApplySaved(const Event& e, ViewTxn& txn) {
  const auto* p = DecodePayload<fb::WorkspaceItemSaved>(e);
  if (p == nullptr) return Status::OK();  // see DecodePayload
  const std::string item_id = Str(p->item_id());
  const std::string owner = Str(p->owner());
  if (!IsValidWorkspaceName(item_id, kMaxItemId) || !IsValidWorkspaceName(owner, kMaxUserName) ||
      e.stream != ItemStream(e.tenant, item_id) || !TenantAgrees(p->tenant(), e)) {
    return Status::OK();
  }
  Result<std::optional<ItemInfo>> cur = WorkspaceProjection::GetItem(txn, e.tenant, item_id);
  if (!cur.ok()) return cur.status();
  if (cur->has_value() && (*cur)->owner != owner) return Status::OK();  // owners never change
  const int64_t at = At(p->saved_at_us(), e);
  ItemInfo it;
  if (cur->has_value()) {
    it = std::move(**cur);
  } else {
    it.item_id = item_id;
    it.owner = owner;
    it.created_at_us = at;
  }
  it.kind = Str(p->kind());
  it.title = Str(p->title());
  it.version = e.stream_version;
  it.lsn = e.lsn;
  it.saves += 1;
  // The size is measured, not taken from the payload: one of the two is empty.
  it.size_bytes = Str(p->content()).size() + Str(p->content_json()).size();
  it.content_hash = Str(p->content_hash());
  it.updated_at_us = at;
  it.deleted = false;
  it.deleted_version = 0;
  it.deleted_at_us = 0;

  VersionInfo v;
  v.version = e.stream_version;
  v.lsn = e.lsn;
  v.at_us = at;
  v.title = it.title;
  v.size_bytes = it.size_bytes;
  v.content_hash = it.content_hash;
  v.by = Str(p->by());
  txn.Put(ItemKey(e.tenant, item_id), ToJson(it).dump());
  txn.Put(OwnerKey(e.tenant, owner, item_id), "");
  txn.Put(VersionKey(e.tenant, item_id, e.stream_version), ToJson(v).dump());
  return Status::OK();
}

Status ApplyDeleted(const Event& e, ViewTxn& txn) {
  const auto* p = DecodePayload<fb::WorkspaceItemDeleted>(e);
  if (p == nullptr) return Status::OK();  // see DecodePayload
  const std::string item_id = Str(p->item_id());
  if (!IsValidWorkspaceName(item_id, kMaxItemId) || e.stream != ItemStream(e.tenant, item_id) ||
      !TenantAgrees(p->tenant(), e)) {
    return Status::OK();
  }
  Result<std::optional<ItemInfo>> cur = WorkspaceProjection::GetItem(txn, e.tenant, item_id);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value() || (*cur)->deleted) return Status::OK();
  ItemInfo it = std::move(**cur);
  it.deleted = true;
  it.deleted_version = e.stream_version;
  it.deleted_at_us = At(p->deleted_at_us(), e);
  VersionInfo v;
  v.version = e.stream_version;
  v.deleted = true;
  v.lsn = e.lsn;
  v.at_us = it.deleted_at_us;
  v.by = Str(p->by());
  txn.Put(ItemKey(e.tenant, item_id), ToJson(it).dump());
  txn.Put(VersionKey(e.tenant, item_id, e.stream_version), ToJson(v).dump());
  return Status::OK();
}

Status ApplyShareCreated(const Event& e, ViewTxn& txn) {
  const auto* p = DecodePayload<fb::ShareLinkCreated>(e);
  if (p == nullptr) return Status::OK();  // see DecodePayload
  ShareInfo s;
  s.share_id = Str(p->share_id());
  s.item_id = Str(p->item_id());
  if (!IsValidWorkspaceName(s.share_id, 64) || !IsValidWorkspaceName(s.item_id, kMaxItemId) ||
      e.stream != ShareStream(e.tenant, s.item_id) || !TenantAgrees(p->tenant(), e)) {
    return Status::OK();
  }
  // Share ids are global (the public link names only the share): the first
  // event for an id wins, so no stream can take over another's link.
  Result<std::optional<std::string>> existing = txn.Get(ShareKey(s.share_id));
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return Status::OK();
  s.tenant = e.tenant;
  s.item_version = p->item_version();
  s.secret_id = Str(p->secret_id());
  s.token_hash = Str(p->token_hash());
  s.created_at_us = At(p->created_at_us(), e);
  s.expires_at_us = p->expires_at_us();
  s.by = Str(p->by());
  txn.Put(ShareKey(s.share_id), ToJson(s).dump());
  txn.Put(ItemShareKey(e.tenant, s.item_id, s.share_id), "");
  return Status::OK();
}

Status ApplyShareRevoked(const Event& e, ViewTxn& txn) {
  const auto* p = DecodePayload<fb::ShareLinkRevoked>(e);
  if (p == nullptr) return Status::OK();  // see DecodePayload
  const std::string share_id = Str(p->share_id());
  Result<std::optional<ShareInfo>> cur = WorkspaceProjection::GetShare(txn, share_id);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value()) return Status::OK();
  ShareInfo s = std::move(**cur);
  if (s.tenant != e.tenant || e.stream != ShareStream(s.tenant, s.item_id) ||
      !TenantAgrees(p->tenant(), e) || s.revoked_at_us != 0) {
    return Status::OK();
  }
  s.revoked_at_us = At(p->revoked_at_us(), e);
  s.revoke_reason = Str(p->reason());
  txn.Put(ShareKey(share_id), ToJson(s).dump());
  return Status::OK();
}

// The user of a bookmarks/<tenant>/<user> stream, or "" when `stream` is not
// the tenant's bookmark stream.
std::string BookmarkUser(const Event& e) {
  const std::string prefix = "bookmarks/" + e.tenant + "/";
  if (!std::string_view(e.stream).starts_with(prefix)) return "";
  std::string user = e.stream.substr(prefix.size());
  return IsValidWorkspaceName(user, kMaxUserName) ? user : "";
}

Status ApplyBookmarkAdded(const Event& e, ViewTxn& txn) {
  const auto* p = DecodePayload<fb::BookmarkAdded>(e);
  if (p == nullptr) return Status::OK();  // see DecodePayload
  const std::string user = BookmarkUser(e);
  BookmarkInfo b;
  b.item_id = Str(p->item_id());
  b.share_id = Str(p->share_id());
  if (user.empty() || !TenantAgrees(p->tenant(), e) ||
      (p->user() != nullptr && p->user()->size() > 0 && p->user()->str() != user) ||
      !IsValidWorkspaceName(b.item_id, kMaxItemId) ||
      (!b.share_id.empty() && !IsValidWorkspaceName(b.share_id, 64))) {
    return Status::OK();
  }
  b.bookmark_id = b.share_id.empty() ? ItemBookmarkId(b.item_id) : ShareBookmarkId(b.share_id);
  b.label = Str(p->label());
  b.added_at_us = At(p->added_at_us(), e);
  txn.Put(BookmarkKey(e.tenant, user, b.bookmark_id), ToJson(b).dump());
  return Status::OK();
}

Status ApplyBookmarkRemoved(const Event& e, ViewTxn& txn) {
  const auto* p = DecodePayload<fb::BookmarkRemoved>(e);
  if (p == nullptr) return Status::OK();  // see DecodePayload
  const std::string user = BookmarkUser(e);
  if (user.empty() || !TenantAgrees(p->tenant(), e)) return Status::OK();
  std::string id = Str(p->bookmark_id());
  if (id.empty()) {
    id = p->share_id() != nullptr && p->share_id()->size() > 0 ? ShareBookmarkId(Str(p->share_id()))
                                                               : ItemBookmarkId(Str(p->item_id()));
  }
  txn.Delete(BookmarkKey(e.tenant, user, id));
  return Status::OK();
}

// Splits "tenant 0 rest..." keys (after the tag) into their components.
std::vector<std::string> Split(std::string_view k) {
  std::vector<std::string> parts;
  size_t start = 1;
  for (;;) {
    const size_t nul = k.find(kSep, start);
    parts.emplace_back(k.substr(start, nul == std::string_view::npos ? nul : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  return parts;
}

}  // namespace

bool IsValidWorkspaceName(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '@' || c == '=' || c == '+' ||
                    c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string ItemStream(std::string_view tenant, std::string_view item_id) {
  return "workspace/" + std::string(tenant) + "/" + std::string(item_id);
}
std::string ShareStream(std::string_view tenant, std::string_view item_id) {
  return ItemStream(tenant, item_id) + "/shares";
}
std::string BookmarkStream(std::string_view tenant, std::string_view user) {
  return "bookmarks/" + std::string(tenant) + "/" + std::string(user);
}
std::string ItemBookmarkId(std::string_view item_id) { return "i-" + std::string(item_id); }
std::string ShareBookmarkId(std::string_view share_id) { return "s-" + std::string(share_id); }

Status WorkspaceProjection::Apply(const Event& e, ViewTxn& txn) {
  // Encrypted payloads are reserved in log format 1 and never written; when
  // they are, the projector hands folds the plaintext.
  if (e.payload_encoding != 0) return Status::OK();
  switch (static_cast<EventType>(e.type)) {
    case EventType::WorkspaceItemSaved:
      return ApplySaved(e, txn);
    case EventType::WorkspaceItemDeleted:
      return ApplyDeleted(e, txn);
    case EventType::ShareLinkCreated:
      return ApplyShareCreated(e, txn);
    case EventType::ShareLinkRevoked:
      return ApplyShareRevoked(e, txn);
    case EventType::BookmarkAdded:
      return ApplyBookmarkAdded(e, txn);
    case EventType::BookmarkRemoved:
      return ApplyBookmarkRemoved(e, txn);
    default:
      return Status::OK();
  }
}

Result<std::optional<ItemInfo>> WorkspaceProjection::GetItem(ViewReader& r, std::string_view tenant,
                                                             std::string_view item_id) {
  return Load<ItemInfo>(r, ItemKey(tenant, item_id), "item");
}

Result<std::vector<ItemInfo>> WorkspaceProjection::ListItems(ViewReader& r, std::string_view tenant,
                                                             std::string_view owner,
                                                             bool include_deleted,
                                                             std::string_view after, size_t limit) {
  std::vector<ItemInfo> out;
  Status inner;
  auto take = [&](std::string_view item_id) {
    Result<std::optional<ItemInfo>> it = GetItem(r, tenant, item_id);
    if (!it.ok()) {
      inner = it.status();
      return false;
    }
    if (!it->has_value()) {
      inner = Bad("owner index");
      return false;
    }
    if (include_deleted || !(*it)->deleted) out.push_back(std::move(**it));
    return out.size() < limit;
  };
  Status s;
  if (!owner.empty()) {
    const std::string prefix = Key('u', {tenant, owner}) + kSep;
    std::string start = prefix + std::string(after);
    if (!after.empty()) start.push_back(kSep);  // strictly after
    s = r.Scan(prefix, start,
               [&](std::string_view k, std::string_view) { return take(k.substr(prefix.size())); });
  } else {
    const std::string prefix = Key('i', {tenant}) + kSep;
    std::string start = prefix + std::string(after);
    if (!after.empty()) start.push_back(kSep);
    s = r.Scan(prefix, start, [&](std::string_view, std::string_view v) {
      ItemInfo it;
      if (!FromJson(v, &it)) {
        inner = Bad("item");
        return false;
      }
      if (include_deleted || !it.deleted) out.push_back(std::move(it));
      return out.size() < limit;
    });
  }
  if (!inner.ok()) return inner;
  if (!s.ok()) return s;
  return out;
}

Result<std::optional<VersionInfo>> WorkspaceProjection::GetVersion(ViewReader& r,
                                                                   std::string_view tenant,
                                                                   std::string_view item_id,
                                                                   uint64_t version) {
  return Load<VersionInfo>(r, VersionKey(tenant, item_id, version), "version");
}

Result<std::vector<VersionInfo>> WorkspaceProjection::ListVersions(ViewReader& r,
                                                                   std::string_view tenant,
                                                                   std::string_view item_id) {
  std::vector<VersionInfo> out;
  Status inner;
  Status s = r.Scan(Key('v', {tenant, item_id}) + kSep, [&](std::string_view, std::string_view v) {
    VersionInfo x;
    if (!FromJson(v, &x)) {
      inner = Bad("version");
      return false;
    }
    out.push_back(std::move(x));
    return true;
  });
  if (!inner.ok()) return inner;
  if (!s.ok()) return s;
  return out;
}

Result<std::optional<ShareInfo>> WorkspaceProjection::GetShare(ViewReader& r,
                                                               std::string_view share_id) {
  if (share_id.empty()) return std::optional<ShareInfo>();
  return Load<ShareInfo>(r, ShareKey(share_id), "share");
}

Result<std::vector<ShareInfo>> WorkspaceProjection::ListShares(ViewReader& r,
                                                               std::string_view tenant,
                                                               std::string_view item_id) {
  std::vector<std::string> ids;
  const std::string prefix = Key('x', {tenant, item_id}) + kSep;
  Status s = r.Scan(prefix, [&](std::string_view k, std::string_view) {
    ids.emplace_back(k.substr(prefix.size()));
    return true;
  });
  if (!s.ok()) return s;
  std::vector<ShareInfo> out;
  for (const std::string& id : ids) {
    Result<std::optional<ShareInfo>> sh = GetShare(r, id);
    if (!sh.ok()) return sh.status();
    if (!sh->has_value()) return Bad("share index");
    out.push_back(std::move(**sh));
  }
  return out;
}

Result<std::optional<BookmarkInfo>> WorkspaceProjection::GetBookmark(ViewReader& r,
                                                                     std::string_view tenant,
                                                                     std::string_view user,
                                                                     std::string_view id) {
  return Load<BookmarkInfo>(r, BookmarkKey(tenant, user, id), "bookmark");
}

Result<std::vector<BookmarkInfo>> WorkspaceProjection::ListBookmarks(ViewReader& r,
                                                                     std::string_view tenant,
                                                                     std::string_view user) {
  std::vector<BookmarkInfo> out;
  Status inner;
  Status s = r.Scan(Key('b', {tenant, user}) + kSep, [&](std::string_view, std::string_view v) {
    BookmarkInfo b;
    if (!FromJson(v, &b)) {
      inner = Bad("bookmark");
      return false;
    }
    out.push_back(std::move(b));
    return true;
  });
  if (!inner.ok()) return inner;
  if (!s.ok()) return s;
  return out;
}

Result<nlohmann::json> WorkspaceProjection::Dump(ViewReader& reader) {
  nlohmann::json items = nlohmann::json::array(), versions = nlohmann::json::array(),
                 shares = nlohmann::json::array(), bookmarks = nlohmann::json::array(),
                 owners = nlohmann::json::array(), item_shares = nlohmann::json::array();
  Status bad;
  Status s = reader.Scan("", [&](std::string_view k, std::string_view v) {
    const std::vector<std::string> parts = Split(k);
    nlohmann::json j;
    if (k[0] == 'u' || k[0] == 'x') {
      (k[0] == 'u' ? owners : item_shares).push_back(parts);
      return true;
    }
    if (!Parse(v, &j)) {
      bad = Bad("stored");
      return false;
    }
    switch (k[0]) {
      case 'i':
        j["tenant"] = parts[0];
        items.push_back(std::move(j));
        break;
      case 'v':
        j["tenant"] = parts[0];
        j["item_id"] = parts[1];
        versions.push_back(std::move(j));
        break;
      case 's':
        shares.push_back(std::move(j));
        break;
      case 'b':
        j["tenant"] = parts[0];
        j["user"] = parts[1];
        bookmarks.push_back(std::move(j));
        break;
      default:
        bad = Bad("unknown");
        return false;
    }
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return nlohmann::json{{"items", std::move(items)},
                        {"owners", std::move(owners)},
                        {"versions", std::move(versions)},
                        {"shares", std::move(shares)},
                        {"item_shares", std::move(item_shares)},
                        {"bookmarks", std::move(bookmarks)}};
}

}  // namespace logbook
