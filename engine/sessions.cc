#include "engine/sessions.h"

#include <pthread.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/engine.h"
#include "engine/payload_codec.h"
#include "log/event_types.h"
#include "projections/sessions.h"
#include "projections/view_store.h"
#include "schemas/events_generated.h"

namespace logbook {

using nlohmann::json;

namespace {

// Appends that lose a race with another writer of the same session re-read
// the view and try again, this many times.
constexpr int kMaxAttempts = 8;

const Actor kRecoveryActor{"system/recovery", Role::kNone};

bool SessionIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '@' || c == '=' || c == '+' || c == '-';
}

std::string NewId() { return EventIdToString(RandomEventId()); }

Status NoSession(const std::string& sid) {
  return Status::NotFound("session '" + sid + "' not found");
}

TurnOutcome OutcomeFromEntry(const std::string& sid, const json& e) {
  TurnOutcome o;
  o.session_id = sid;
  o.turn_id = e.value("turn_id", std::string());
  o.status = e.value("status", std::string());
  o.reason = e.value("reason", std::string());
  o.reconciled = e.value("reconciled", false);
  o.pre_state_hash = e.value("pre_state_hash", std::string());
  o.post_state_hash = e.value("post_state_hash", std::string());
  o.proposed_lsn = e.value("proposed_lsn", uint64_t{0});
  o.outcome_lsn = e.value("outcome_lsn", uint64_t{0});
  return o;
}

}  // namespace

json TurnOutcome::ToJson() const {
  json j = {{"session_id", session_id},
            {"turn_id", turn_id},
            {"status", status},
            {"reconciled", reconciled},
            {"pre_state_hash", pre_state_hash},
            {"proposed_lsn", proposed_lsn},
            {"outcome_lsn", outcome_lsn}};
  if (status == "applied") j["post_state_hash"] = post_state_hash;
  if (status == "rolled_back") j["reason"] = reason;
  return j;
}

json Recap::ToJson() const {
  return {
      {"session_id", session_id}, {"recap", text}, {"sentences", sentences}, {"sources", sources}};
}

Sessions::Sessions(Engine& engine, SessionOptions options)
    : engine_(engine), options_(std::move(options)) {}

Sessions::~Sessions() { StopSweeper(); }

int64_t Sessions::Now() const { return options_.clock ? options_.clock() : NowMicros(); }

std::string Sessions::StreamOf(const std::string& session_id) {
  return std::string(SessionsProjection::kStreamPrefix) + session_id;
}

Status Sessions::ValidateSessionId(std::string_view id) {
  if (id.empty() || id.size() > 128 || !std::all_of(id.begin(), id.end(), SessionIdChar)) {
    return Status::InvalidArgument("session id must be 1..128 characters of [A-Za-z0-9._:@=+-]");
  }
  return Status::OK();
}

Status Sessions::ValidateTurnId(std::string_view id) {
  if (id.empty() || id.size() > 128 || id.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("turn id must be 1..128 characters, no NUL");
  }
  return Status::OK();
}

EventId Sessions::DerivedEventId(std::initializer_list<std::string_view> parts) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 16);
  static constexpr std::string_view kDomain = "logbook/sessions/event-id/v1";
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kDomain.data()),
                            kDomain.size());
  for (std::string_view p : parts) {
    const unsigned char sep = 0;
    crypto_generichash_update(&st, &sep, 1);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(p.data()), p.size());
  }
  EventId id{};
  crypto_generichash_final(&st, id.data(), id.size());
  id[6] = static_cast<uint8_t>((id[6] & 0x0f) | 0x80);  // UUID version 8 (name-derived)
  id[8] = static_cast<uint8_t>((id[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return id;
}

std::unique_ptr<ViewReader> Sessions::Reader() {
  return NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(),
                            SessionsProjection::kName);
}

Status Sessions::SyncViews(uint64_t lsn) {
  if (engine_.projector().AppliedLsn() >= lsn) return Status::OK();
  // A read-only engine cannot advance its views: it serves them as stored.
  if (engine_.read_only()) return Status::OK();
  // Steps on this thread when no projector thread runs (CLI), or helps it.
  return engine_.projector().CatchUp();
}

Result<AppendResult> Sessions::AppendOne(const std::string& stream, const std::string& tenant,
                                         const Actor& actor, ExpectedVersion expected,
                                         const std::string& type, const json& payload,
                                         const std::optional<EventId>& id) {
  EventInput in;
  in.type = type;
  if (id) in.event_id = EventIdToString(*id);
  in.payload_json = CanonicalJson(payload);
  return engine_.AppendJson(stream, tenant, actor, expected, {in});
}

// ---------------------------------------------------------------------------
// Sessions

Result<json> Sessions::Start(const std::string& tenant, const Actor& actor,
                             const StartSessionInput& in) {
  const std::string sid = in.session_id.empty() ? NewId() : in.session_id;
  if (Status s = ValidateSessionId(sid); !s.ok()) return s;
  const int64_t ttl = in.ttl_us.value_or(options_.default_ttl_us);
  if (ttl < 0) return Status::InvalidArgument("ttl must not be negative");
  if (!in.metadata_json.empty()) {
    json m = json::parse(in.metadata_json, nullptr, false);
    if (m.is_discarded() || !m.is_object()) {
      return Status::InvalidArgument("metadata must be a JSON object");
    }
  }
  const int64_t now = Now();
  json p = {{"session_id", sid},
            {"tenant", tenant},
            {"user", in.user},
            {"channel", in.channel},
            {"kind", in.kind},
            {"started_at_us", now},
            {"expires_at_us", ttl > 0 ? now + ttl : 0},
            {"sandbox", in.sandbox},
            {"imported_from_session_id", in.imported_from_session_id},
            {"metadata_json", in.metadata_json}};
  Result<AppendResult> r =
      AppendOne(StreamOf(sid), tenant, actor, ExpectedVersion::NoStream(), "SessionStarted", p);
  if (!r.ok()) {
    if (r.status().IsConflict()) {
      return Status::Conflict("session '" + sid + "' already exists", r.status().actual_version());
    }
    return r.status();
  }
  if (Status s = SyncViews(r->last_lsn); !s.ok()) return s;
  return Header(sid);
}

Result<json> Sessions::Header(const std::string& session_id) {
  if (Status s = ValidateSessionId(session_id); !s.ok()) return s;
  // Read-your-writes: the view includes every event of the session's stream
  // appended before this call (also those appended through /v1/streams).
  Result<StreamHead> head = engine_.log().GetStreamHead(StreamOf(session_id));
  if (!head.ok()) return head.status().IsNotFound() ? NoSession(session_id) : head.status();
  if (Status s = SyncViews(head->last_lsn); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<json>> h = SessionsProjection::Header(*reader, session_id);
  if (!h.ok()) return h.status();
  if (!h->has_value()) return NoSession(session_id);
  return std::move(**h);
}

Result<json> Sessions::View(const std::string& session_id) {
  Result<json> h = Header(session_id);
  if (!h.ok()) return h.status();
  auto reader = Reader();
  Result<json> body = SessionsProjection::SnapshotBody(*reader, session_id);
  if (!body.ok()) return body.status();
  json out = std::move(*body);
  out["header"] = std::move(*h);
  return out;
}

Result<std::string> Sessions::CanonicalView(const std::string& session_id) {
  auto reader = Reader();
  Result<json> body = SessionsProjection::SnapshotBody(*reader, session_id);
  if (!body.ok()) return body.status();
  return CanonicalJson(*body);
}

// ---------------------------------------------------------------------------
// Turns

Result<uint64_t> Sessions::ProposeOnly(const Actor& actor, const TurnInput& in) {
  if (Status s = ValidateSessionId(in.session_id); !s.ok()) return s;
  if (Status s = ValidateTurnId(in.turn_id); !s.ok()) return s;
  json acts = json::parse(in.acts_json.empty() ? "[]" : in.acts_json, nullptr, false);
  if (acts.is_discarded() || !acts.is_array()) {
    return Status::InvalidArgument("acts must be a JSON array of RFC 6902 patch operations");
  }
  for (const json& op : acts) {
    if (!op.is_object() || !op.contains("op") || !op["op"].is_string() || !op.contains("path") ||
        !op["path"].is_string()) {
      return Status::InvalidArgument("each act must be an object with string \"op\" and \"path\"");
    }
  }
  if (!in.awf_raw_json.empty() && json::parse(in.awf_raw_json, nullptr, false).is_discarded()) {
    return Status::InvalidArgument("awf_raw is not valid JSON");
  }
  const std::string stream = StreamOf(in.session_id);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    Result<StreamHead> head = engine_.log().GetStreamHead(stream);
    if (!head.ok()) return head.status().IsNotFound() ? NoSession(in.session_id) : head.status();
    if (Status s = SyncViews(head->last_lsn); !s.ok()) return s;
    auto reader = Reader();
    Result<std::optional<json>> h = SessionsProjection::Header(*reader, in.session_id);
    if (!h.ok()) return h.status();
    if (!h->has_value()) return NoSession(in.session_id);
    const json& header = **h;
    if (header["status"] != "active") {
      return Status::Conflict(
          "session '" + in.session_id + "' is " + header["status"].get<std::string>(),
          head->version);
    }
    const int64_t deadline = header.value("expires_at_us", int64_t{0});
    if (deadline > 0 && Now() >= deadline) {
      (void)SweepExpired();  // records the expiry; the turn is refused either way
      return Status::Conflict("session '" + in.session_id + "' expired", head->version);
    }
    Result<std::optional<json>> used =
        SessionsProjection::WalEntry(*reader, in.session_id, in.turn_id);
    if (!used.ok()) return used.status();
    if (used->has_value()) {
      return Status::Conflict("turn '" + in.turn_id + "' was already proposed (" +
                                  (**used)["status"].get<std::string>() + ")",
                              head->version);
    }
    Result<std::vector<PendingTurn>> pending = SessionsProjection::Pending(*reader, in.session_id);
    if (!pending.ok()) return pending.status();
    if (!pending->empty()) {
      return Status::Conflict("turn '" + pending->front().turn_id +
                                  "' is pending; wait for it or run `logbook wal reconcile`",
                              head->version);
    }
    Result<std::string> state = SessionsProjection::StateText(*reader, in.session_id);
    if (!state.ok()) return state.status();
    json p = {{"session_id", in.session_id},     {"turn_id", in.turn_id},
              {"awf_raw_json", in.awf_raw_json}, {"acts_json", CanonicalJson(acts)},
              {"proposed_at_us", Now()},         {"pre_state_hash", Blake2b256Hex(*state)}};
    Result<AppendResult> r = AppendOne(stream, head->tenant, actor,
                                       ExpectedVersion::Exact(head->version), "TurnProposed", p);
    if (!r.ok() && r.status().IsConflict()) continue;  // another writer won: re-read
    if (!r.ok()) return r.status();
    if (Status s = SyncViews(r->last_lsn); !s.ok()) return s;
    return r->last_lsn;
  }
  return Status::Conflict("session '" + in.session_id + "' is being written concurrently; retry",
                          0);
}

Result<TurnOutcome> Sessions::SubmitTurn(const Actor& actor, const TurnInput& input) {
  TurnInput in = input;
  if (in.turn_id.empty()) in.turn_id = NewId();
  Result<uint64_t> proposed = ProposeOnly(actor, in);
  if (!proposed.ok()) return proposed.status();
  if (options_.after_propose) options_.after_propose();
  return Settle(actor, in.session_id, in.turn_id, /*reconciled=*/false);
}

Result<TurnOutcome> Sessions::Settle(const Actor& actor, const std::string& sid,
                                     const std::string& turn_id, bool reconciled) {
  const std::string stream = StreamOf(sid);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    Result<StreamHead> head = engine_.log().GetStreamHead(stream);
    if (!head.ok()) return head.status();
    if (Status s = SyncViews(head->last_lsn); !s.ok()) return s;
    auto reader = Reader();
    Result<std::optional<json>> got = SessionsProjection::WalEntry(*reader, sid, turn_id);
    if (!got.ok()) return got.status();
    if (!got->has_value()) {
      return Status::NotFound("turn '" + turn_id + "' of session '" + sid + "' not found");
    }
    const json& entry = **got;
    if (entry["status"] != "proposed") return OutcomeFromEntry(sid, entry);  // settled already

    Result<json> state = SessionsProjection::State(*reader, sid);
    if (!state.ok()) return state.status();
    const std::string pre = entry.value("pre_state_hash", std::string());
    const std::string now_hash = Blake2b256Hex(CanonicalJson(*state));
    std::string reason, post;
    if (!entry.contains("acts")) {
      reason = "acts are not a JSON Patch array";
    } else if (now_hash != pre) {
      reason = "state changed since the turn was proposed (pre-state hash " + pre + ", now " +
               now_hash + ")";
    } else {
      try {
        post = Blake2b256Hex(CanonicalJson(state->patch(entry["acts"])));
      } catch (const json::exception& ex) {
        reason = std::string("acts do not apply: ") + ex.what();
      }
    }
    const bool apply = reason.empty();
    const uint64_t proposed_lsn = entry.value("proposed_lsn", uint64_t{0});
    json p = {{"session_id", sid}, {"turn_id", turn_id}, {"reconciled", reconciled}};
    if (apply) {
      p["applied_at_us"] = Now();
      p["post_state_hash"] = post;
    } else {
      p["rolled_back_at_us"] = Now();
      p["reason"] = reason;
    }
    // One outcome per proposal: the live writer and any reconciler derive
    // the same event id, so the loser of a race is deduplicated.
    const EventId id = DerivedEventId({"turn-outcome", stream, std::to_string(proposed_lsn)});
    Result<AppendResult> r =
        AppendOne(stream, head->tenant, actor, ExpectedVersion::Exact(head->version),
                  apply ? "TurnApplied" : "TurnRolledBack", p, id);
    if (!r.ok() &&
        (r.status().IsConflict() || r.status().code() == Status::Code::kIdempotencyConflict)) {
      continue;
    }
    if (!r.ok()) return r.status();
    if (Status s = SyncViews(r->last_lsn); !s.ok()) return s;
    auto after = Reader();
    Result<std::optional<json>> settled = SessionsProjection::WalEntry(*after, sid, turn_id);
    if (!settled.ok()) return settled.status();
    if (!settled->has_value()) return Status::Corruption("turn entry vanished while settling");
    return OutcomeFromEntry(sid, **settled);
  }
  return Status::Conflict("turn '" + turn_id + "' could not be settled: session '" + sid +
                              "' is being written concurrently; retry",
                          0);
}

Result<std::vector<TurnOutcome>> Sessions::Reconcile(
    const Actor& actor, const std::string& session_id,
    const std::function<bool(const std::string&)>& visible) {
  if (!session_id.empty()) {
    if (Status s = ValidateSessionId(session_id); !s.ok()) return s;
  }
  if (Status s = SyncViews(engine_.log().LastLsn()); !s.ok()) return s;
  auto reader = Reader();
  if (!session_id.empty()) {
    Result<std::optional<json>> h = SessionsProjection::Header(*reader, session_id);
    if (!h.ok()) return h.status();
    if (!h->has_value() || (visible && !visible((**h)["tenant"].get<std::string>()))) {
      return NoSession(session_id);
    }
  }
  Result<std::vector<PendingTurn>> pending = SessionsProjection::Pending(*reader, session_id);
  if (!pending.ok()) return pending.status();
  std::vector<TurnOutcome> out;
  for (const PendingTurn& p : *pending) {
    if (visible) {
      Result<std::optional<json>> h = SessionsProjection::Header(*reader, p.session_id);
      if (!h.ok()) return h.status();
      if (!h->has_value() || !visible((**h)["tenant"].get<std::string>())) continue;
    }
    Result<TurnOutcome> o = Settle(actor, p.session_id, p.turn_id, /*reconciled=*/true);
    if (!o.ok()) return o.status();
    out.push_back(std::move(*o));
  }
  return out;
}

Result<json> Sessions::ListWal(const std::string& session_id, bool pending_only) {
  Result<json> h = Header(session_id);
  if (!h.ok()) return h.status();
  auto reader = Reader();
  Result<std::vector<json>> entries = SessionsProjection::Items(*reader, session_id, 'w');
  if (!entries.ok()) return entries.status();
  std::vector<json> list;
  for (json& e : *entries) {
    if (pending_only && e["status"] != "proposed") continue;
    list.push_back(std::move(e));
  }
  std::sort(list.begin(), list.end(), [](const json& a, const json& b) {
    return a.value("proposed_lsn", uint64_t{0}) < b.value("proposed_lsn", uint64_t{0});
  });
  size_t pending = 0;
  for (const json& e : list) pending += e["status"] == "proposed" ? 1 : 0;
  return json{{"session_id", session_id}, {"pending", pending}, {"entries", json(std::move(list))}};
}

Result<json> Sessions::ListPending(const std::function<bool(const std::string&)>& visible) {
  auto reader = Reader();
  Result<std::vector<PendingTurn>> pending = SessionsProjection::Pending(*reader, "");
  if (!pending.ok()) return pending.status();
  json out = json::array();
  for (const PendingTurn& p : *pending) {
    Result<std::optional<json>> h = SessionsProjection::Header(*reader, p.session_id);
    if (!h.ok()) return h.status();
    if (!h->has_value()) continue;
    const std::string tenant = (**h)["tenant"].get<std::string>();
    if (visible && !visible(tenant)) continue;
    Result<std::optional<json>> e = SessionsProjection::WalEntry(*reader, p.session_id, p.turn_id);
    if (!e.ok()) return e.status();
    if (!e->has_value()) continue;
    json entry = std::move(**e);
    entry["session_id"] = p.session_id;
    entry["tenant"] = tenant;
    out.push_back(std::move(entry));
  }
  return out;
}

Result<size_t> Sessions::CleanupWal(const Actor& actor, int64_t older_than_us) {
  if (older_than_us < 0) return Status::InvalidArgument("the age must not be negative");
  if (Status s = SyncViews(engine_.log().LastLsn()); !s.ok()) return s;
  const int64_t cutoff = Now() - older_than_us;
  auto reader = Reader();
  Result<size_t> n = SessionsProjection::CountSettledBefore(*reader, cutoff);
  if (!n.ok()) return n.status();
  if (*n == 0) return size_t{0};  // nothing to drop: append nothing
  json p = {{"older_than_us", cutoff}, {"by", actor.id}, {"pruned_at_us", Now()}};
  Result<AppendResult> r = AppendOne(std::string(SessionsProjection::kWalStream), "", actor,
                                     ExpectedVersion::Any(), "TurnWalPruned", p);
  if (!r.ok()) return r.status();
  if (Status s = SyncViews(r->last_lsn); !s.ok()) return s;
  return *n;
}

// ---------------------------------------------------------------------------
// Expiry

Result<size_t> Sessions::SweepExpired() {
  if (Status s = SyncViews(engine_.log().LastLsn()); !s.ok()) return s;
  const int64_t now = Now();
  auto reader = Reader();
  Result<std::vector<std::pair<std::string, int64_t>>> due =
      SessionsProjection::DueExpiries(*reader, now);
  if (!due.ok()) return due.status();
  size_t n = 0;
  uint64_t last = 0;
  for (const auto& [sid, deadline] : *due) {
    const std::string stream = StreamOf(sid);
    Result<StreamHead> head = engine_.log().GetStreamHead(stream);
    if (!head.ok()) return head.status();
    json p = {{"session_id", sid}, {"expires_at_us", deadline}, {"expired_at_us", now}};
    Result<AppendResult> r =
        AppendOne(stream, head->tenant, kRecoveryActor, ExpectedVersion::Any(), "SessionExpired", p,
                  DerivedEventId({"session-expired", stream, std::to_string(deadline)}));
    if (!r.ok()) return r.status();
    if (!r->deduplicated) ++n;
    last = std::max(last, r->last_lsn);
  }
  if (Status s = SyncViews(last); !s.ok()) return s;
  return n;
}

// ---------------------------------------------------------------------------
// Snapshots

Result<SnapshotResult> Sessions::CreateSnapshot(const Actor& actor, const std::string& sid,
                                                const std::string& label) {
  if (Status s = ValidateSessionId(sid); !s.ok()) return s;
  const std::string stream = StreamOf(sid);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    Result<StreamHead> head = engine_.log().GetStreamHead(stream);
    if (!head.ok()) return head.status().IsNotFound() ? NoSession(sid) : head.status();
    if (Status s = SyncViews(head->last_lsn); !s.ok()) return s;
    auto reader = Reader();
    Result<json> body = SessionsProjection::SnapshotBody(*reader, sid);
    if (!body.ok()) return body.status();
    const std::string text = CanonicalJson(*body);
    const std::string hash = Blake2b256Hex(text);
    Result<std::optional<std::string>> same =
        SessionsProjection::SnapshotByHash(*reader, sid, hash);
    if (!same.ok()) return same.status();
    if (same->has_value()) {
      Result<std::optional<json>> entry = SessionsProjection::Snapshot(*reader, sid, **same);
      if (!entry.ok()) return entry.status();
      if (!entry->has_value()) return Status::Corruption("snapshot index without its entry");
      return SnapshotResult{false, std::move(**entry), {}};
    }
    const std::string id = NewId();
    json p = {{"session_id", sid},
              {"snapshot_id", id},
              {"label", label},
              {"content_hash", hash},
              {"size_bytes", text.size()},
              {"format_version", kSnapshotFormatVersion},
              {"last_turn_id", (*body)["last_turn_id"]},
              {"created_at_us", Now()},
              {"by", actor.id},
              {"body_json", text}};
    Result<AppendResult> r = AppendOne(stream, head->tenant, actor,
                                       ExpectedVersion::Exact(head->version), "SnapshotCreated", p);
    if (!r.ok() && r.status().IsConflict()) continue;  // the state may have moved: re-read
    if (!r.ok()) return r.status();
    if (Status s = SyncViews(r->last_lsn); !s.ok()) return s;
    SnapshotResult out;
    out.created = true;
    Result<std::vector<std::string>> deleted = EnforceSnapshotLimits(actor, sid, id);
    if (!deleted.ok()) return deleted.status();
    out.deleted = std::move(*deleted);
    auto after = Reader();
    Result<std::optional<json>> entry = SessionsProjection::Snapshot(*after, sid, id);
    if (!entry.ok()) return entry.status();
    if (!entry->has_value()) return Status::Corruption("snapshot " + id + " missing after create");
    out.snapshot = std::move(**entry);
    return out;
  }
  return Status::Conflict("session '" + sid + "' is being written concurrently; retry", 0);
}

Result<json> Sessions::ListSnapshots(const std::string& sid) {
  Result<json> h = Header(sid);
  if (!h.ok()) return h.status();
  auto reader = Reader();
  Result<std::vector<json>> items = SessionsProjection::Items(*reader, sid, 'n');
  if (!items.ok()) return items.status();
  std::sort(items->begin(), items->end(), [](const json& a, const json& b) {
    return a.value("lsn", uint64_t{0}) < b.value("lsn", uint64_t{0});
  });
  return json{{"session_id", sid}, {"snapshots", json(std::move(*items))}};
}

Status Sessions::DeleteSnapshot(const Actor& actor, const std::string& sid,
                                const std::string& snapshot_id, const std::string& reason) {
  if (Status s = ValidateSessionId(sid); !s.ok()) return s;
  const std::string stream = StreamOf(sid);
  Result<StreamHead> head = engine_.log().GetStreamHead(stream);
  if (!head.ok()) return head.status().IsNotFound() ? NoSession(sid) : head.status();
  if (Status s = SyncViews(head->last_lsn); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<json>> entry = SessionsProjection::Snapshot(*reader, sid, snapshot_id);
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) {
    return Status::NotFound("snapshot '" + snapshot_id + "' of session '" + sid + "' not found");
  }
  json p = {{"session_id", sid},
            {"snapshot_id", snapshot_id},
            {"content_hash", (**entry)["content_hash"]},
            {"reason", reason},
            {"deleted_at_us", Now()},
            {"by", actor.id}};
  Result<AppendResult> r =
      AppendOne(stream, head->tenant, actor, ExpectedVersion::Any(), "SnapshotDeleted", p,
                DerivedEventId({"snapshot-deleted", stream, snapshot_id}));
  if (!r.ok()) return r.status();
  return SyncViews(r->last_lsn);
}

Result<std::vector<std::string>> Sessions::EnforceSnapshotLimits(const Actor& actor,
                                                                 const std::string& sid,
                                                                 const std::string& keep) {
  auto reader = Reader();
  Result<std::vector<json>> items = SessionsProjection::Items(*reader, sid, 'n');
  if (!items.ok()) return items.status();
  std::sort(items->begin(), items->end(), [](const json& a, const json& b) {
    return a.value("lsn", uint64_t{0}) < b.value("lsn", uint64_t{0});
  });
  const int64_t now = Now();
  std::vector<std::pair<std::string, std::string>> drop;  // (id, reason)
  std::vector<std::string> kept;
  for (const json& s : *items) {
    const std::string id = s["snapshot_id"].get<std::string>();
    if (id != keep && options_.snapshot_max_age_us > 0 &&
        now - s.value("created_at_us", int64_t{0}) > options_.snapshot_max_age_us) {
      drop.emplace_back(id, "max_age");
    } else {
      kept.push_back(id);
    }
  }
  // Beyond the count: the oldest go first, never the one to keep.
  if (options_.snapshot_max_count > 0 && kept.size() > options_.snapshot_max_count) {
    size_t excess = kept.size() - options_.snapshot_max_count;
    for (auto it = kept.begin(); excess > 0 && it != kept.end();) {
      if (*it == keep) {
        ++it;
        continue;
      }
      drop.emplace_back(*it, "max_count");
      it = kept.erase(it);
      --excess;
    }
  }
  std::vector<std::string> out;
  for (const auto& [id, reason] : drop) {
    Status s = DeleteSnapshot(actor, sid, id, reason);
    if (!s.ok() && !s.IsNotFound()) return s;
    out.push_back(id);
  }
  return out;
}

Result<json> Sessions::RestoreSnapshot(const Actor& actor, const std::string& sid,
                                       const std::string& snapshot_id) {
  if (Status s = ValidateSessionId(sid); !s.ok()) return s;
  const std::string stream = StreamOf(sid);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    Result<StreamHead> head = engine_.log().GetStreamHead(stream);
    if (!head.ok()) return head.status().IsNotFound() ? NoSession(sid) : head.status();
    if (Status s = SyncViews(head->last_lsn); !s.ok()) return s;
    auto reader = Reader();
    Result<std::optional<json>> h = SessionsProjection::Header(*reader, sid);
    if (!h.ok()) return h.status();
    if (!h->has_value()) return NoSession(sid);
    Result<std::optional<json>> entry = SessionsProjection::Snapshot(*reader, sid, snapshot_id);
    if (!entry.ok()) return entry.status();
    if (!entry->has_value()) {
      return Status::NotFound("snapshot '" + snapshot_id + "' of session '" + sid + "' not found");
    }
    if ((**h)["status"] != "active") {
      return Status::Conflict("session '" + sid + "' is " + (**h)["status"].get<std::string>(),
                              head->version);
    }
    Result<std::vector<PendingTurn>> pending = SessionsProjection::Pending(*reader, sid);
    if (!pending.ok()) return pending.status();
    if (!pending->empty()) {
      return Status::Conflict(
          "turn '" + pending->front().turn_id + "' is pending; settle it before a restore",
          head->version);
    }
    // The log holds the body: verify it there, not only in the view.
    const std::string hash = (**entry)["content_hash"].get<std::string>();
    const uint64_t lsn = (**entry)["lsn"].get<uint64_t>();
    Result<Event> ev = engine_.log().ReadEvent(lsn);
    if (!ev.ok()) return ev.status();
    if (ev->type != static_cast<uint16_t>(fb::EventType::SnapshotCreated) || ev->stream != stream) {
      return Status::Corruption("LSN " + std::to_string(lsn) + " is not the SnapshotCreated of " +
                                snapshot_id);
    }
    Result<std::string> payload = PayloadCodec::ToJson(ev->type, ev->payload);
    if (!payload.ok()) return payload.status();
    json pj = json::parse(*payload, nullptr, false);
    const std::string body = pj.is_object() ? pj.value("body_json", std::string()) : "";
    if (Blake2b256Hex(body) != hash) {
      return Status::Corruption("snapshot " + snapshot_id + " at LSN " + std::to_string(lsn) +
                                ": body does not match content hash " + hash);
    }
    json p = {{"session_id", sid},
              {"snapshot_id", snapshot_id},
              {"content_hash", hash},
              {"restored_at_us", Now()},
              {"by", actor.id}};
    Result<AppendResult> r = AppendOne(
        stream, head->tenant, actor, ExpectedVersion::Exact(head->version), "SnapshotRestored", p);
    if (!r.ok() && r.status().IsConflict()) continue;
    if (!r.ok()) return r.status();
    if (Status s = SyncViews(r->last_lsn); !s.ok()) return s;
    Result<std::string> view = CanonicalView(sid);
    if (!view.ok()) return view.status();
    if (*view != body) {
      return Status::Corruption("session '" + sid + "' does not equal snapshot " + snapshot_id +
                                " after the restore");
    }
    return json{{"session_id", sid},
                {"snapshot_id", snapshot_id},
                {"content_hash", hash},
                {"restored_lsn", r->last_lsn},
                {"view", json::parse(body)}};
  }
  return Status::Conflict("session '" + sid + "' is being written concurrently; retry", 0);
}

// ---------------------------------------------------------------------------
// Recap

namespace {

// Collapses whitespace, cuts to max_words words (the last one marked with
// "…" when cut) and ends the sentence with a full stop.
std::string Sentence(const std::string& text, size_t max_words) {
  std::vector<std::string> words;
  std::string w;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      if (!w.empty()) words.push_back(std::move(w));
      w.clear();
    } else {
      w.push_back(c);
    }
  }
  if (!w.empty()) words.push_back(std::move(w));
  if (words.empty()) return "";
  bool cut = false;
  if (words.size() > max_words) {
    words.resize(max_words);
    cut = true;
  }
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out.push_back(' ');
    out += words[i];
  }
  if (cut) {
    while (!out.empty() && (out.back() == ',' || out.back() == ';' || out.back() == ':')) {
      out.pop_back();
    }
    out += "…";
  }
  const char last = out.back();
  if (!cut && last != '.' && last != '!' && last != '?') out.push_back('.');
  return out;
}

// The line a turn contributes: the AWF document's text field, if any.
std::string TurnText(const json& awf) {
  if (awf.is_string()) return awf.get<std::string>();
  if (awf.is_object()) {
    for (const char* k : {"txt", "text", "summary", "narration", "content", "message"}) {
      auto it = awf.find(k);
      if (it != awf.end() && it->is_string() && !it->get<std::string>().empty()) {
        return it->get<std::string>();
      }
    }
  }
  return "";
}

}  // namespace

Result<Recap> Sessions::BuildRecap(const std::string& sid, std::optional<size_t> last_turns) {
  Result<json> header = Header(sid);
  if (!header.ok()) return header.status();
  const size_t k = last_turns.value_or(options_.recap_last_turns);
  const size_t max_sentences = std::max<size_t>(options_.recap_max_sentences, 2);
  const size_t max_words = std::max<size_t>(options_.recap_max_words, 4);
  auto reader = Reader();

  Result<std::vector<json>> pins = SessionsProjection::Items(*reader, sid, 'p');
  if (!pins.ok()) return pins.status();
  std::reverse(pins->begin(), pins->end());  // newest first
  if (pins->size() > options_.recap_pins) pins->resize(options_.recap_pins);

  Result<std::vector<json>> episodic = SessionsProjection::Items(*reader, sid, 'e');
  if (!episodic.ok()) return episodic.status();
  std::sort(episodic->begin(), episodic->end(), [](const json& a, const json& b) {
    const double sa = a.value("salience", 0.0), sb = b.value("salience", 0.0);
    if (sa != sb) return sa > sb;
    return a.value("seq", uint64_t{0}) > b.value("seq", uint64_t{0});  // then the most recent
  });
  if (episodic->size() > options_.recap_episodic) episodic->resize(options_.recap_episodic);

  Result<std::vector<json>> turns = SessionsProjection::LastTurns(*reader, sid, k);
  if (!turns.ok()) return turns.status();

  Result<std::vector<json>> objectives = SessionsProjection::Items(*reader, sid, 'o');
  if (!objectives.ok()) return objectives.status();
  std::vector<json> active;
  for (json& o : *objectives) {
    if (o.value("status", std::string("active")) == "active") active.push_back(std::move(o));
  }
  std::stable_sort(active.begin(), active.end(), [](const json& a, const json& b) {
    return a.value("priority", 0) < b.value("priority", 0);  // ties: objective id (key order)
  });

  // Candidates per category, in the order they are printed.
  struct Candidate {
    std::string sentence;
    std::string source;
  };
  std::vector<std::vector<Candidate>> cats(4);  // 0 pins, 1 episodic, 2 turns, 3 objectives
  for (const json& p : *pins) {
    std::string s = Sentence("Pinned: " + p.value("text", std::string()), max_words);
    if (!p.value("text", std::string()).empty()) {
      std::string id = p.value("pin_id", std::string());
      cats[0].push_back({s, id.empty() ? "pin-" + std::to_string(p.value("seq", 0)) : id});
    }
  }
  for (const json& e : *episodic) {
    if (e.value("text", std::string()).empty()) continue;
    std::string id = e.value("episode_id", std::string());
    cats[1].push_back({Sentence("Remembered: " + e.value("text", std::string()), max_words),
                       id.empty() ? "episode-" + std::to_string(e.value("seq", 0)) : id});
  }
  for (const json& t : *turns) {
    const std::string id = t.value("turn_id", std::string());
    const std::string text = TurnText(t.value("awf_raw", json()));
    cats[2].push_back(
        {Sentence(text.empty() ? "Turn " + id + " was applied" : "Turn " + id + ": " + text,
                  max_words),
         id});
  }
  for (const json& o : active) {
    if (o.value("text", std::string()).empty()) continue;
    cats[3].push_back({Sentence("Objective (priority " + std::to_string(o.value("priority", 0)) +
                                    "): " + o.value("text", std::string()),
                                max_words),
                       o.value("objective_id", std::string())});
  }

  // Round-robin over the categories by importance — objectives, pins,
  // episodic memory, turns — until the sentence budget is spent, so that
  // every kind present gets a say before any gets two.
  std::vector<size_t> take(4, 0);
  size_t used = 0;
  const int order[] = {3, 0, 1, 2};
  for (bool progress = true; progress && used < max_sentences;) {
    progress = false;
    for (int c : order) {
      if (used >= max_sentences) break;
      if (take[c] < cats[c].size()) {
        ++take[c];
        ++used;
        progress = true;
      }
    }
  }
  // Turns keep the most recent ones when cut.
  Recap out;
  out.session_id = sid;
  out.sources = {{"pins", json::array()},
                 {"episodic", json::array()},
                 {"turns", json::array()},
                 {"objectives", json::array()}};
  const char* names[] = {"pins", "episodic", "turns", "objectives"};
  for (int c = 0; c < 4; ++c) {
    const size_t begin = c == 2 ? cats[c].size() - take[c] : 0;
    for (size_t i = begin; i < begin + take[c]; ++i) {
      out.sentences.push_back(cats[c][i].sentence);
      out.sources[names[c]].push_back(cats[c][i].source);
    }
  }
  // At least two sentences: say what the session is.
  const json& h = *header;
  const uint64_t n_turns = h.value("turn_count", uint64_t{0});
  const std::string kind = h.value("kind", std::string());
  std::vector<std::string> lead;
  if (out.sentences.size() < 2) {
    lead.push_back(Sentence("Session " + sid + (kind.empty() ? "" : " (" + kind + ")") + " is " +
                                h.value("status", std::string("active")) + " after " +
                                std::to_string(n_turns) + (n_turns == 1 ? " turn" : " turns"),
                            max_words));
  }
  if (out.sentences.size() + lead.size() < 2) {
    lead.push_back(Sentence("No pins, memories or objectives are recorded yet", max_words));
  }
  out.sentences.insert(out.sentences.begin(), lead.begin(), lead.end());
  for (size_t i = 0; i < out.sentences.size(); ++i) {
    if (i > 0) out.text.push_back(' ');
    out.text += out.sentences[i];
  }
  return out;
}

// ---------------------------------------------------------------------------
// Recovery and the sweep

Status Sessions::Recover() {
  if (!options_.recover_on_open) return Status::OK();
  Result<std::vector<TurnOutcome>> settled = Reconcile(kRecoveryActor);
  if (!settled.ok()) return settled.status();
  for (const TurnOutcome& o : *settled) {
    spdlog::warn("recovery: turn {} of session {} {}{}", o.turn_id, o.session_id,
                 o.status == "applied" ? "applied" : "rolled back",
                 o.reason.empty() ? "" : ": " + o.reason);
  }
  Result<size_t> expired = SweepExpired();
  if (!expired.ok()) return expired.status();
  return Status::OK();
}

void Sessions::StartSweeper() {
  if (options_.sweep_interval.count() <= 0 || sweeper_.joinable()) return;
  sweep_stop_ = false;
  sweeper_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "lb-sessions");
    SweepLoop();
  });
}

void Sessions::StopSweeper() {
  {
    std::lock_guard<std::mutex> l(sweep_mu_);
    sweep_stop_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void Sessions::SweepLoop() {
  std::unique_lock<std::mutex> l(sweep_mu_);
  while (!sweep_cv_.wait_for(l, options_.sweep_interval, [&] { return sweep_stop_; })) {
    l.unlock();
    Result<size_t> n = SweepExpired();
    if (!n.ok()) spdlog::warn("session expiry sweep: {}", n.status().ToString());
    if (options_.snapshot_max_age_us > 0) {
      auto reader = Reader();
      Result<std::vector<std::string>> ids = SessionsProjection::SessionIds(*reader);
      for (const std::string& sid : ids.ok() ? *ids : std::vector<std::string>{}) {
        Result<std::vector<std::string>> d = EnforceSnapshotLimits(kRecoveryActor, sid);
        if (!d.ok()) spdlog::warn("snapshot limits of {}: {}", sid, d.status().ToString());
      }
    }
    l.lock();
  }
}

}  // namespace logbook
