#include "engine/workspace.h"

#include <sodium.h>

#include <cstring>

#include "projections/payload.h"
#include "projections/view_store.h"
#include "schemas/events_generated.h"

namespace logbook {

namespace {

constexpr size_t kShareIdBytes = 16;  // 32 hex chars
constexpr size_t kMacTextChars = 43;  // URL-safe base64 of 32 bytes, no padding
constexpr char kShareNotFound[] = "share link not found";
constexpr std::string_view kSecretStream = "$system";
constexpr std::string_view kSharedPath = "/api/v1/workspace/shared/";

std::string RandomHex(size_t bytes) {
  std::vector<uint8_t> b(bytes);
  randombytes_buf(b.data(), b.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), b.data(), b.size());
  hex.pop_back();
  return hex;
}

std::string Blake2bHex(std::string_view data) {
  Hash h;
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size(), nullptr, 0);
  return HashToHex(h);
}

std::string Base64Url(const uint8_t* data, size_t n) {
  std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), data, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Splits "<share_id>.<mac>"; false for anything else.
bool ParseToken(std::string_view token, std::string* share_id, ShareMac* mac) {
  if (token.size() != kShareIdBytes * 2 + 1 + kMacTextChars || token[kShareIdBytes * 2] != '.') {
    return false;
  }
  *share_id = std::string(token.substr(0, kShareIdBytes * 2));
  if (!IsLowerHex(*share_id)) return false;
  const std::string_view text = token.substr(kShareIdBytes * 2 + 1);
  size_t len = 0;
  return sodium_base642bin(mac->data(), mac->size(), text.data(), text.size(), nullptr, &len,
                           nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
         len == mac->size();
}

// What a token's MAC covers: everything the link grants.
std::string ShareMessage(std::string_view tenant, std::string_view item_id, uint64_t version,
                         int64_t expires_at_us, std::string_view share_id) {
  std::string m = "logbook/share/v1";
  for (std::string_view part : {tenant, item_id}) {
    m.push_back('\0');
    m.append(part);
  }
  m.push_back('\0');
  m += std::to_string(version);
  m.push_back('\0');
  m += std::to_string(expires_at_us);
  m.push_back('\0');
  m.append(share_id);
  return m;
}

// A UUID (version 8: custom) derived from `name`: the same name, the same id.
std::string DerivedEventId(std::string_view name) {
  uint8_t h[16];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(name.data()), name.size(),
                     nullptr, 0);
  h[6] = static_cast<uint8_t>((h[6] & 0x0f) | 0x80);
  h[8] = static_cast<uint8_t>((h[8] & 0x3f) | 0x80);
  EventId id;
  std::memcpy(id.data(), h, id.size());
  return EventIdToString(id);
}

nlohmann::json Time(int64_t us) {
  return us == 0 ? nlohmann::json(nullptr) : nlohmann::json(FormatTimestamp(us));
}

Status BadName(const char* what, size_t max) {
  return Status::InvalidArgument(std::string(what) + " must be 1.." + std::to_string(max) +
                                 " characters of [A-Za-z0-9._:@=+-]");
}

Status CheckUser(const std::string& user) {
  return IsValidWorkspaceName(user, kMaxUserName) ? Status::OK() : BadName("user", kMaxUserName);
}

Status ItemNotFound(const std::string& item_id) {
  return Status::NotFound("item '" + item_id + "' not found");
}

nlohmann::json ItemSummary(const ItemInfo& i) {
  nlohmann::json j = {{"item_id", i.item_id},
                      {"user", i.owner},
                      {"kind", i.kind},
                      {"title", i.title},
                      {"version", i.version},
                      {"saves", i.saves},
                      {"size_bytes", i.size_bytes},
                      {"content_hash", i.content_hash},
                      {"created_at", Time(i.created_at_us)},
                      {"updated_at", Time(i.updated_at_us)},
                      {"deleted", i.deleted}};
  if (i.deleted) j["deleted_at"] = Time(i.deleted_at_us);
  return j;
}

}  // namespace

WorkspaceService::WorkspaceService(Engine& engine, ShareSecrets* secrets, WorkspaceOptions options)
    : engine_(engine), secrets_(secrets), options_(std::move(options)) {}

int64_t WorkspaceService::Now() const { return options_.clock ? options_.clock() : NowMicros(); }

size_t WorkspaceService::ContentBytes(const nlohmann::json& content) {
  if (content.is_string()) return content.get_ref<const std::string&>().size();
  return content.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
}

Status WorkspaceService::Settle() {
  // Every event acknowledged before this call is at or below LastLsn(): once
  // the views reach it, a client reads its own writes. A read-only engine
  // (the CLI beside a server) reads the views as the server left them.
  if (engine_.read_only()) return Status::OK();
  return engine_.WaitForViews(engine_.log().LastLsn(), options_.view_wait);
}

std::unique_ptr<ViewReader> WorkspaceService::Reader() const {
  return NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(),
                            WorkspaceProjection::kName);
}

// ---------------------------------------------------------------------------
// Items

Result<PlannedAppend> WorkspaceService::PlanSave(const SaveItemInput& in) {
  if (Status s = CheckTenant(in.tenant); !s.ok()) return s;
  if (Status s = CheckUser(in.user); !s.ok()) return s;
  const std::string item_id = in.item_id.empty() ? RandomHex(16) : in.item_id;
  if (!IsValidWorkspaceName(item_id, kMaxItemId)) return BadName("item id", kMaxItemId);
  const std::string kind = in.kind.empty() ? "note" : in.kind;
  if (!IsValidWorkspaceName(kind, kMaxItemKind)) return BadName("kind", kMaxItemKind);
  if (in.title.size() > kMaxItemTitle) {
    return Status::InvalidArgument("title is longer than " + std::to_string(kMaxItemTitle) +
                                   " bytes");
  }
  if (in.content.is_null() || in.content.is_discarded()) {
    return Status::InvalidArgument("content is required (a string or a JSON value)");
  }
  const size_t bytes = ContentBytes(in.content);
  if (bytes > options_.max_content_bytes) {
    return Status::InvalidArgument("content is " + std::to_string(bytes) + " bytes; the limit is " +
                                   std::to_string(options_.max_content_bytes) + " bytes");
  }
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<ItemInfo>> cur = WorkspaceProjection::GetItem(*reader, in.tenant, item_id);
  if (!cur.ok()) return cur.status();
  if (cur->has_value() && (*cur)->owner != in.user) {
    return Status::InvalidArgument("item id '" + item_id +
                                   "' belongs to another user of this tenant; choose another id");
  }
  const std::string stream = ItemStream(in.tenant, item_id);
  Result<StreamHead> head = engine_.log().GetStreamHead(stream);
  if (!head.ok() && !head.status().IsNotFound()) return head.status();
  const uint64_t version = head.ok() ? head->version : 0;
  if (in.expected_version && *in.expected_version != version) {
    return Status::Conflict("item '" + item_id + "' is at version " + std::to_string(version) +
                                ", not " + std::to_string(*in.expected_version),
                            version);
  }

  nlohmann::json payload = {{"item_id", item_id},  {"tenant", in.tenant}, {"owner", in.user},
                            {"title", in.title},   {"kind", kind},        {"by", in.user},
                            {"size_bytes", bytes}, {"saved_at_us", Now()}};
  std::string stored;
  if (in.content.is_string()) {
    stored = in.content.get<std::string>();
    payload["content"] = stored;
  } else {
    // The same text ContentBytes measured.
    stored = in.content.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    payload["content_json"] = stored;
  }
  const std::string hash = Blake2bHex(stored);
  payload["content_hash"] = hash;

  PlannedAppend p;
  p.stream = stream;
  p.tenant = in.tenant;
  // The version seen here, so that a concurrent change is a conflict rather
  // than a silent overwrite (and an owner check that raced is refused).
  p.expected = version == 0 ? ExpectedVersion::NoStream() : ExpectedVersion::Exact(version);
  p.events.push_back({"WorkspaceItemSaved", "",
                      payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
  const bool created = !cur->has_value() || (*cur)->deleted;
  const int64_t at = payload["saved_at_us"].get<int64_t>();
  p.reply = [item_id, user = in.user, bytes, hash, created, at](const AppendResult& r) {
    return nlohmann::json{{"item_id", item_id}, {"user", user},        {"version", r.last_version},
                          {"lsn", r.last_lsn},  {"size_bytes", bytes}, {"content_hash", hash},
                          {"created", created}, {"saved_at", Time(at)}};
  };
  return p;
}

Result<PlannedAppend> WorkspaceService::PlanDelete(const std::string& tenant,
                                                   const std::string& user,
                                                   const std::string& item_id,
                                                   std::optional<uint64_t> expected_version) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckUser(user); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<ItemInfo>> cur = WorkspaceProjection::GetItem(*reader, tenant, item_id);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value() || (*cur)->owner != user || (*cur)->deleted) return ItemNotFound(item_id);
  const std::string stream = ItemStream(tenant, item_id);
  Result<StreamHead> head = engine_.log().GetStreamHead(stream);
  if (!head.ok()) return head.status();
  if (expected_version && *expected_version != head->version) {
    return Status::Conflict("item '" + item_id + "' is at version " +
                                std::to_string(head->version) + ", not " +
                                std::to_string(*expected_version),
                            head->version);
  }
  const int64_t now = Now();
  PlannedAppend p;
  p.stream = stream;
  p.tenant = tenant;
  p.expected = ExpectedVersion::Exact(head->version);
  p.events.push_back(
      {"WorkspaceItemDeleted", "",
       nlohmann::json{
           {"item_id", item_id}, {"tenant", tenant}, {"by", user}, {"deleted_at_us", now}}
           .dump()});
  p.reply = [item_id, now](const AppendResult& r) {
    return nlohmann::json{{"item_id", item_id},
                          {"deleted", true},
                          {"version", r.last_version},
                          {"lsn", r.last_lsn},
                          {"deleted_at", Time(now)}};
  };
  return p;
}

Result<nlohmann::json> WorkspaceService::ItemJson(const std::string& tenant, const ItemInfo& item,
                                                  uint64_t version, bool for_share) {
  uint64_t lsn = item.lsn;
  if (version != item.version) {
    auto reader = Reader();
    Result<std::optional<VersionInfo>> v =
        WorkspaceProjection::GetVersion(*reader, tenant, item.item_id, version);
    if (!v.ok()) return v.status();
    if (!v->has_value() || (*v)->deleted) {
      return Status::NotFound("item '" + item.item_id + "' has no version " +
                              std::to_string(version));
    }
    lsn = (*v)->lsn;
  }
  Result<Event> e = engine_.log().ReadEvent(lsn);
  if (!e.ok()) return e.status();
  const auto* p = e->type == static_cast<uint16_t>(fb::EventType::WorkspaceItemSaved) &&
                          e->stream == ItemStream(tenant, item.item_id)
                      ? DecodePayload<fb::WorkspaceItemSaved>(*e)
                      : nullptr;
  if (p == nullptr) {
    return Status::Corruption("LSN " + std::to_string(lsn) + " is not a save of item '" +
                              item.item_id + "'");
  }
  nlohmann::json content;
  if (p->content_json() != nullptr && p->content_json()->size() > 0) {
    content = nlohmann::json::parse(p->content_json()->str(), nullptr, false);
    if (content.is_discarded()) content = p->content_json()->str();  // keep what was stored
  } else {
    content = logbook::Str(p->content());
  }
  const int64_t saved_at = p->saved_at_us() != 0 ? p->saved_at_us() : e->recorded_at_us;
  nlohmann::json j = {{"item_id", item.item_id},
                      {"kind", logbook::Str(p->kind())},
                      {"title", logbook::Str(p->title())},
                      {"content", std::move(content)},
                      {"version", version},
                      {"saved_at", Time(saved_at)}};
  if (for_share) return j;
  j["user"] = item.owner;
  j["latest_version"] = item.version;
  j["size_bytes"] = logbook::Str(p->content()).size() + logbook::Str(p->content_json()).size();
  j["content_hash"] = logbook::Str(p->content_hash());
  j["created_at"] = Time(item.created_at_us);
  j["lsn"] = lsn;
  return j;
}

Result<nlohmann::json> WorkspaceService::GetItem(const std::string& tenant, const std::string& user,
                                                 const std::string& item_id, uint64_t version) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<ItemInfo>> cur = WorkspaceProjection::GetItem(*reader, tenant, item_id);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value() || (!user.empty() && (*cur)->owner != user)) return ItemNotFound(item_id);
  if (version == 0) {
    if ((*cur)->deleted) return ItemNotFound(item_id);
    version = (*cur)->version;
  }
  return ItemJson(tenant, **cur, version, /*for_share=*/false);
}

Result<nlohmann::json> WorkspaceService::ListItems(const std::string& tenant,
                                                   const std::string& user, bool include_deleted,
                                                   const std::string& after, size_t limit) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (!user.empty()) {
    if (Status s = CheckUser(user); !s.ok()) return s;
  }
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::vector<ItemInfo>> items =
      WorkspaceProjection::ListItems(*reader, tenant, user, include_deleted, after, limit);
  if (!items.ok()) return items.status();
  nlohmann::json list = nlohmann::json::array();
  for (const ItemInfo& i : *items) list.push_back(ItemSummary(i));
  nlohmann::json next = items->size() == limit && !items->empty()
                            ? nlohmann::json(items->back().item_id)
                            : nlohmann::json(nullptr);
  return nlohmann::json{{"items", std::move(list)}, {"next_after", std::move(next)}};
}

Result<nlohmann::json> WorkspaceService::ListVersions(const std::string& tenant,
                                                      const std::string& user,
                                                      const std::string& item_id) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<ItemInfo>> cur = WorkspaceProjection::GetItem(*reader, tenant, item_id);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value() || (!user.empty() && (*cur)->owner != user)) return ItemNotFound(item_id);
  Result<std::vector<VersionInfo>> versions =
      WorkspaceProjection::ListVersions(*reader, tenant, item_id);
  if (!versions.ok()) return versions.status();
  nlohmann::json list = nlohmann::json::array();
  for (const VersionInfo& v : *versions) {
    nlohmann::json j = {{"version", v.version},
                        {"action", v.deleted ? "deleted" : "saved"},
                        {"at", Time(v.at_us)},
                        {"by", v.by},
                        {"lsn", v.lsn}};
    if (!v.deleted) {
      j["title"] = v.title;
      j["size_bytes"] = v.size_bytes;
      j["content_hash"] = v.content_hash;
    }
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"item_id", item_id},
                        {"latest_version", (*cur)->version},
                        {"deleted", (*cur)->deleted},
                        {"versions", std::move(list)}};
}

// ---------------------------------------------------------------------------
// Share links

std::string WorkspaceService::ShareStatus(const ShareInfo& s, int64_t now) {
  if (s.revoked_at_us != 0) return "revoked";
  if (now >= s.expires_at_us) return "expired";
  if (secrets_ == nullptr || !secrets_->Usable(s.secret_id, now)) return "secret_rotated";
  auto reader = Reader();
  Result<std::optional<ItemInfo>> item = WorkspaceProjection::GetItem(*reader, s.tenant, s.item_id);
  if (!item.ok() || !item->has_value() || (*item)->deleted) return "item_deleted";
  return "active";
}

Result<PlannedAppend> WorkspaceService::PlanCreateShare(const std::string& tenant,
                                                        const std::string& user,
                                                        const std::string& item_id,
                                                        uint64_t version, int64_t ttl_us) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckUser(user); !s.ok()) return s;
  if (secrets_ == nullptr) return Status::InvalidArgument("share links need a share secret");
  if (ttl_us == 0) ttl_us = options_.default_share_ttl_us;
  if (ttl_us < 1000000 || ttl_us > options_.max_share_ttl_us) {
    return Status::InvalidArgument(
        "ttl must be 1.." + std::to_string(options_.max_share_ttl_us / 1000000) + " seconds");
  }
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<ItemInfo>> cur = WorkspaceProjection::GetItem(*reader, tenant, item_id);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value() || (*cur)->owner != user || (*cur)->deleted) return ItemNotFound(item_id);
  if (version == 0) {
    version = (*cur)->version;
  } else {
    Result<std::optional<VersionInfo>> v =
        WorkspaceProjection::GetVersion(*reader, tenant, item_id, version);
    if (!v.ok()) return v.status();
    if (!v->has_value() || (*v)->deleted) {
      return Status::NotFound("item '" + item_id + "' has no version " + std::to_string(version));
    }
  }
  const int64_t now = Now();
  const int64_t expires = now + ttl_us;
  const std::string share_id = RandomHex(kShareIdBytes);
  std::string secret_id;
  ShareMac mac;
  secrets_->Sign(ShareMessage(tenant, item_id, version, expires, share_id), &secret_id, &mac);
  std::string token = share_id + "." + Base64Url(mac.data(), mac.size());
  sodium_memzero(mac.data(), mac.size());

  PlannedAppend p;
  p.stream = ShareStream(tenant, item_id);
  p.tenant = tenant;
  p.events.push_back({"ShareLinkCreated", "",
                      nlohmann::json{{"share_id", share_id},
                                     {"item_id", item_id},
                                     {"tenant", tenant},
                                     {"token_hash", Blake2bHex(token)},
                                     {"secret_id", secret_id},
                                     {"created_at_us", now},
                                     {"expires_at_us", expires},
                                     {"by", user},
                                     {"item_version", version}}
                          .dump()});
  p.reply = [=](const AppendResult& r) {
    return nlohmann::json{{"share_id", share_id},
                          {"token", token},
                          {"path", std::string(kSharedPath) + token},
                          {"item_id", item_id},
                          {"version", version},
                          {"created_at", Time(now)},
                          {"expires_at", Time(expires)},
                          {"secret_id", secret_id},
                          {"lsn", r.last_lsn}};
  };
  return p;
}

Result<PlannedAppend> WorkspaceService::PlanRevokeShare(const std::string& tenant,
                                                        const std::string& user,
                                                        const std::string& share_id,
                                                        const std::string& reason) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckUser(user); !s.ok()) return s;
  if (reason.size() > kMaxLabel) {
    return Status::InvalidArgument("reason is longer than " + std::to_string(kMaxLabel) + " bytes");
  }
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<ShareInfo>> share = WorkspaceProjection::GetShare(*reader, share_id);
  if (!share.ok()) return share.status();
  const Status not_found = Status::NotFound("share link '" + share_id + "' not found");
  if (!share->has_value() || (*share)->tenant != tenant || (*share)->revoked_at_us != 0) {
    return not_found;
  }
  Result<std::optional<ItemInfo>> item =
      WorkspaceProjection::GetItem(*reader, tenant, (*share)->item_id);
  if (!item.ok()) return item.status();
  if (!item->has_value() || (*item)->owner != user) return not_found;
  const int64_t now = Now();
  PlannedAppend p;
  p.stream = ShareStream(tenant, (*share)->item_id);
  p.tenant = tenant;
  p.events.push_back({"ShareLinkRevoked", "",
                      nlohmann::json{{"share_id", share_id},
                                     {"item_id", (*share)->item_id},
                                     {"tenant", tenant},
                                     {"reason", reason},
                                     {"by", user},
                                     {"revoked_at_us", now}}
                          .dump()});
  p.reply = [share_id, now](const AppendResult& r) {
    return nlohmann::json{
        {"share_id", share_id}, {"revoked", true}, {"revoked_at", Time(now)}, {"lsn", r.last_lsn}};
  };
  return p;
}

Result<nlohmann::json> WorkspaceService::ListShares(const std::string& tenant,
                                                    const std::string& user,
                                                    const std::string& item_id) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<ItemInfo>> cur = WorkspaceProjection::GetItem(*reader, tenant, item_id);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value() || (!user.empty() && (*cur)->owner != user)) return ItemNotFound(item_id);
  Result<std::vector<ShareInfo>> shares = WorkspaceProjection::ListShares(*reader, tenant, item_id);
  if (!shares.ok()) return shares.status();
  const int64_t now = Now();
  nlohmann::json list = nlohmann::json::array();
  for (const ShareInfo& s : *shares) {
    nlohmann::json j = {{"share_id", s.share_id},
                        {"version", s.item_version},
                        {"created_at", Time(s.created_at_us)},
                        {"expires_at", Time(s.expires_at_us)},
                        {"secret_id", s.secret_id},
                        {"status", ShareStatus(s, now)}};
    if (s.revoked_at_us != 0) {
      j["revoked_at"] = Time(s.revoked_at_us);
      j["revoke_reason"] = s.revoke_reason;
    }
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"item_id", item_id}, {"shares", std::move(list)}};
}

Result<ShareInfo> WorkspaceService::ValidShare(const std::string& token, int64_t now) {
  const Status not_found = Status::NotFound(kShareNotFound);
  if (secrets_ == nullptr) return not_found;
  std::string share_id;
  ShareMac mac{};
  const bool well_formed = ParseToken(token, &share_id, &mac);
  if (Status s = Settle(); !s.ok()) return s;
  std::optional<ShareInfo> share;
  if (well_formed) {
    auto reader = Reader();
    Result<std::optional<ShareInfo>> found = WorkspaceProjection::GetShare(*reader, share_id);
    if (!found.ok()) return found.status();
    share = std::move(*found);
  }
  // Verify even when there is nothing to verify against, so that a missing
  // share costs about what a forged one does.
  const ShareInfo& s = share.has_value() ? *share : ShareInfo{};
  const bool mac_ok = secrets_->Verify(
      s.secret_id, ShareMessage(s.tenant, s.item_id, s.item_version, s.expires_at_us, share_id),
      mac, now);
  const std::string hash = Blake2bHex(token);
  const bool hash_ok = s.token_hash.size() == hash.size() &&
                       sodium_memcmp(s.token_hash.data(), hash.data(), hash.size()) == 0;
  if (!share.has_value() || !mac_ok || !hash_ok || s.revoked_at_us != 0 || now >= s.expires_at_us) {
    return not_found;
  }
  return std::move(*share);
}

Result<nlohmann::json> WorkspaceService::OpenShare(const std::string& token) {
  const int64_t now = Now();
  Result<ShareInfo> share = ValidShare(token, now);
  if (!share.ok()) return share.status();
  auto reader = Reader();
  Result<std::optional<ItemInfo>> item =
      WorkspaceProjection::GetItem(*reader, share->tenant, share->item_id);
  if (!item.ok()) return item.status();
  if (!item->has_value() || (*item)->deleted) return Status::NotFound(kShareNotFound);
  Result<nlohmann::json> j =
      ItemJson(share->tenant, **item, share->item_version, /*for_share=*/true);
  if (!j.ok()) return j.status().IsNotFound() ? Status::NotFound(kShareNotFound) : j.status();
  (*j)["read_only"] = true;
  (*j)["expires_at"] = Time(share->expires_at_us);
  return j;
}

// ---------------------------------------------------------------------------
// Bookmarks

Result<PlannedAppend> WorkspaceService::PlanAddBookmark(const std::string& tenant,
                                                        const std::string& user,
                                                        const std::string& item_id,
                                                        const std::string& share_token,
                                                        const std::string& label) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckUser(user); !s.ok()) return s;
  if (item_id.empty() == share_token.empty()) {
    return Status::InvalidArgument("a bookmark needs either item_id or share_token");
  }
  if (label.size() > kMaxLabel) {
    return Status::InvalidArgument("label is longer than " + std::to_string(kMaxLabel) + " bytes");
  }
  std::string target_item = item_id;
  std::string share_id;
  if (!share_token.empty()) {
    Result<ShareInfo> share = ValidShare(share_token, Now());
    if (!share.ok()) return share.status();
    target_item = share->item_id;
    share_id = share->share_id;
  } else {
    if (Status s = Settle(); !s.ok()) return s;
    auto reader = Reader();
    Result<std::optional<ItemInfo>> cur = WorkspaceProjection::GetItem(*reader, tenant, item_id);
    if (!cur.ok()) return cur.status();
    if (!cur->has_value() || (*cur)->owner != user || (*cur)->deleted) return ItemNotFound(item_id);
  }
  const std::string id = share_id.empty() ? ItemBookmarkId(target_item) : ShareBookmarkId(share_id);
  const int64_t now = Now();
  nlohmann::json payload = {{"bookmark_id", id},      {"tenant", tenant}, {"user", user},
                            {"item_id", target_item}, {"label", label},   {"added_at_us", now}};
  if (!share_id.empty()) payload["share_id"] = share_id;
  PlannedAppend p;
  p.stream = BookmarkStream(tenant, user);
  p.tenant = tenant;
  p.events.push_back({"BookmarkAdded", "", payload.dump()});
  p.reply = [id, target_item, share_id, label, now](const AppendResult& r) {
    nlohmann::json j = {{"bookmark_id", id},      {"kind", share_id.empty() ? "item" : "share"},
                        {"item_id", target_item}, {"label", label},
                        {"added_at", Time(now)},  {"lsn", r.last_lsn}};
    if (!share_id.empty()) j["share_id"] = share_id;
    return j;
  };
  return p;
}

Result<PlannedAppend> WorkspaceService::PlanRemoveBookmark(const std::string& tenant,
                                                           const std::string& user,
                                                           const std::string& bookmark_id) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckUser(user); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<BookmarkInfo>> b =
      WorkspaceProjection::GetBookmark(*reader, tenant, user, bookmark_id);
  if (!b.ok()) return b.status();
  if (!b->has_value()) return Status::NotFound("bookmark '" + bookmark_id + "' not found");
  const int64_t now = Now();
  nlohmann::json payload = {{"bookmark_id", bookmark_id},
                            {"tenant", tenant},
                            {"user", user},
                            {"item_id", (*b)->item_id},
                            {"removed_at_us", now}};
  if (!(*b)->share_id.empty()) payload["share_id"] = (*b)->share_id;
  PlannedAppend p;
  p.stream = BookmarkStream(tenant, user);
  p.tenant = tenant;
  p.events.push_back({"BookmarkRemoved", "", payload.dump()});
  p.reply = [bookmark_id](const AppendResult& r) {
    return nlohmann::json{{"bookmark_id", bookmark_id}, {"removed", true}, {"lsn", r.last_lsn}};
  };
  return p;
}

Result<nlohmann::json> WorkspaceService::ListBookmarks(const std::string& tenant,
                                                       const std::string& user) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckUser(user); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::vector<BookmarkInfo>> list =
      WorkspaceProjection::ListBookmarks(*reader, tenant, user);
  if (!list.ok()) return list.status();
  const int64_t now = Now();
  nlohmann::json out = nlohmann::json::array();
  for (const BookmarkInfo& b : *list) {
    nlohmann::json j = {{"bookmark_id", b.bookmark_id},
                        {"kind", b.share_id.empty() ? "item" : "share"},
                        {"item_id", b.item_id},
                        {"label", b.label},
                        {"added_at", Time(b.added_at_us)}};
    if (b.share_id.empty()) {
      Result<std::optional<ItemInfo>> item =
          WorkspaceProjection::GetItem(*reader, tenant, b.item_id);
      if (!item.ok()) return item.status();
      if (!item->has_value() || (*item)->owner != user) {
        j["status"] = "missing";
      } else {
        j["status"] = (*item)->deleted ? "deleted" : "active";
        j["title"] = (*item)->title;
      }
    } else {
      // A link may belong to another tenant: say only whether it opens, as
      // the link itself does.
      j["share_id"] = b.share_id;
      Result<std::optional<ShareInfo>> s = WorkspaceProjection::GetShare(*reader, b.share_id);
      if (!s.ok()) return s.status();
      j["status"] = s->has_value() && ShareStatus(**s, now) == "active" ? "active" : "unavailable";
    }
    out.push_back(std::move(j));
  }
  return nlohmann::json{{"user", user}, {"bookmarks", std::move(out)}};
}

// ---------------------------------------------------------------------------
// The share secret

PlannedAppend WorkspaceService::SecretEvent(const ShareSecretRotation& r, const std::string& by) {
  const bool invalidates = r.grace_until_us <= r.rotated_at_us;
  PlannedAppend p;
  p.stream = std::string(kSecretStream);
  p.events.push_back({"ShareSecretRotated", DerivedEventId("logbook/share-secret/" + r.secret_id),
                      nlohmann::json{{"secret_id", r.secret_id},
                                     {"previous_secret_id", r.previous_secret_id},
                                     {"invalidates_links", invalidates},
                                     {"by", by},
                                     {"rotated_at_us", r.rotated_at_us},
                                     {"grace_until_us", r.grace_until_us}}
                          .dump()});
  p.reply = [self = this, r, invalidates](const AppendResult& a) {
    self->MarkSecretRecorded(r.secret_id);
    return nlohmann::json{{"secret_id", r.secret_id},
                          {"previous_secret_id", r.previous_secret_id},
                          {"rotated_at", Time(r.rotated_at_us)},
                          {"previous_valid_until", invalidates || r.previous_secret_id.empty()
                                                       ? nlohmann::json(nullptr)
                                                       : Time(r.grace_until_us)},
                          {"lsn", a.last_lsn},
                          {"recorded_before", a.deduplicated}};
  };
  return p;
}

Result<PlannedAppend> WorkspaceService::RotateSecret(std::optional<int64_t> grace_us,
                                                     const std::string& by) {
  if (secrets_ == nullptr) return Status::InvalidArgument("no share secret file is configured");
  const int64_t grace = grace_us.value_or(options_.default_secret_grace_us);
  if (grace < 0) return Status::InvalidArgument("grace must not be negative");
  Result<ShareSecretRotation> r = secrets_->Rotate(grace, Now());
  if (!r.ok()) return r.status();
  return SecretEvent(*r, by);
}

Result<std::optional<PlannedAppend>> WorkspaceService::SyncSecret() {
  if (secrets_ == nullptr) return std::optional<PlannedAppend>();
  Result<bool> changed = secrets_->ReloadIfChanged();
  if (!changed.ok()) return changed.status();
  const std::string current = secrets_->current_id();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (recorded_secret_id_ == current) return std::optional<PlannedAppend>();
  }
  return std::optional<PlannedAppend>(SecretEvent(secrets_->LastRotation(), "system"));
}

void WorkspaceService::MarkSecretRecorded(const std::string& secret_id) {
  std::lock_guard<std::mutex> l(mu_);
  recorded_secret_id_ = secret_id;
}

}  // namespace logbook
