#include "projections/sessions.h"

#include <flatbuffers/flatbuffers.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "log/coding.h"
#include "schemas/events_generated.h"

namespace logbook {

using nlohmann::json;

std::string CanonicalJson(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Blake2b256Hex(std::string_view bytes) {
  unsigned char h[32];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size(), nullptr, 0);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < 32; ++i) {
    out[2 * i] = kHex[h[i] >> 4];
    out[2 * i + 1] = kHex[h[i] & 0xf];
  }
  return out;
}

namespace {

using fb::EventType;
constexpr uint16_t T(EventType t) { return static_cast<uint16_t>(t); }

// The verified payload table of an event, or null when the payload is
// encrypted or does not verify (a fold must not trust stored bytes blindly).
template <typename Table>
class Payload {
 public:
  explicit Payload(const Event& e) {
    if (e.payload_encoding != 0 || e.payload.size() < 8) return;
    copy_.resize((e.payload.size() + 7) / 8);  // 8-aligned for in-place scalar reads
    std::memcpy(copy_.data(), e.payload.data(), e.payload.size());
    const auto* bytes = reinterpret_cast<const uint8_t*>(copy_.data());
    flatbuffers::Verifier v(bytes, e.payload.size());
    if (v.VerifyBuffer<Table>(nullptr)) table_ = flatbuffers::GetRoot<Table>(bytes);
  }
  const Table* operator->() const { return table_; }
  explicit operator bool() const { return table_ != nullptr; }

 private:
  std::vector<uint64_t> copy_;
  const Table* table_ = nullptr;
};

std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

// JSON text from a payload field: the parsed document, or the text itself
// when it is not JSON (kept, not lost).
json ParseOrString(const std::string& text) {
  if (text.empty()) return nullptr;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return text;
  return j;
}

std::string SessionPrefix(std::string_view sid) {
  std::string k = "s";
  k.append(sid);
  k.push_back('\0');
  return k;
}

std::string Key(std::string_view sid, char kind) { return SessionPrefix(sid) + kind; }

std::string Key(std::string_view sid, char kind, std::string_view rest) {
  return Key(sid, kind) + std::string(rest);
}

std::string SeqKey(std::string_view sid, char kind, uint64_t seq) {
  std::string k = Key(sid, kind);
  coding::PutFixed64BE(&k, seq);
  return k;
}

std::string PendingKey(std::string_view sid, std::string_view turn_id) {
  std::string k = "P";
  k.append(sid);
  k.push_back('\0');
  k.append(turn_id);
  return k;
}

std::string ExpiryKey(int64_t deadline, std::string_view sid) {
  std::string k = "X";
  coding::PutFixed64BE(&k, static_cast<uint64_t>(std::max<int64_t>(deadline, 0)));
  k.append(sid);
  return k;
}

std::string SettledKey(int64_t at, std::string_view sid, std::string_view turn_id) {
  std::string k = "S";
  coding::PutFixed64BE(&k, static_cast<uint64_t>(std::max<int64_t>(at, 0)));
  k.append(sid);
  k.push_back('\0');
  k.append(turn_id);
  return k;
}

Result<std::optional<json>> GetJson(ViewReader& r, const std::string& key) {
  Result<std::optional<std::string>> v = r.Get(key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<json>();
  json j = json::parse(**v, nullptr, false);
  if (j.is_discarded()) return Status::Corruption("sessions view: malformed value");
  return std::optional<json>(std::move(j));
}

void PutJson(ViewTxn& txn, const std::string& key, const json& j) {
  txn.Put(key, CanonicalJson(j));
}

// Deletes every key of one kind of a session.
Status DeleteKind(ViewTxn& txn, std::string_view sid, char kind) {
  std::vector<std::string> keys;
  Status s = txn.Scan(Key(sid, kind), [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  });
  if (!s.ok()) return s;
  for (const auto& k : keys) txn.Delete(k);
  return Status::OK();
}

uint64_t NextSeq(json& header, const char* counter) {
  const uint64_t next = header.value(counter, uint64_t{0}) + 1;
  header[counter] = next;
  return next;
}

// Moves a WAL entry from proposed to its outcome, settled at `at_us` (the
// outcome's own time, by the clock of the writer that settled it).
void Settle(ViewTxn& txn, std::string_view sid, json& entry, const Event& e, int64_t at_us) {
  const std::string turn_id = entry["turn_id"].get<std::string>();
  if (at_us == 0) at_us = e.recorded_at_us;
  entry["outcome_lsn"] = e.lsn;
  entry["settled_at_us"] = at_us;
  entry.erase("acts");  // the log keeps them; settled entries stay small
  txn.Delete(PendingKey(sid, turn_id));
  txn.Put(SettledKey(at_us, sid, turn_id), "");
  PutJson(txn, Key(sid, 'w', turn_id), entry);
}

Status ApplyStarted(const Event& e, std::string_view sid, ViewTxn& txn) {
  Payload<fb::SessionStarted> p(e);
  if (!p) return Status::OK();
  Result<std::optional<json>> cur = GetJson(txn, Key(sid, 'h'));
  if (!cur.ok()) return cur.status();
  if (cur->has_value()) return Status::OK();  // a second start changes nothing
  json h = {{"session_id", std::string(sid)},
            {"tenant", e.tenant},
            {"user", Str(p->user())},
            {"channel", Str(p->channel())},
            {"kind", Str(p->kind())},
            {"started_at_us", p->started_at_us() != 0 ? p->started_at_us() : e.recorded_at_us},
            {"expires_at_us", p->expires_at_us()},
            {"sandbox", p->sandbox()},
            {"imported_from_session_id", Str(p->imported_from_session_id())},
            {"metadata", ParseOrString(Str(p->metadata_json()))},
            {"status", "active"},
            {"started_lsn", e.lsn},
            {"turn_seq", 0},
            {"turn_count", 0},
            {"pin_seq", 0},
            {"episode_seq", 0},
            {"objective_seq", 0},
            {"last_turn_id", ""},
            {"snapshot_count", 0}};
  PutJson(txn, Key(sid, 'h'), h);
  txn.Put(Key(sid, 'd'), "{}");
  if (p->expires_at_us() > 0) txn.Put(ExpiryKey(p->expires_at_us(), sid), "");
  return Status::OK();
}

Result<json> LoadState(ViewReader& r, std::string_view sid) {
  Result<std::optional<json>> st = GetJson(r, Key(sid, 'd'));
  if (!st.ok()) return st.status();
  return st->has_value() ? std::move(**st) : json::object();
}

Status ApplyTurnEvent(const Event& e, std::string_view sid, json& header, ViewTxn& txn,
                      SessionsProjection::StateCache& cache) {
  if (e.type == T(EventType::TurnProposed)) {
    Payload<fb::TurnProposed> p(e);
    if (!p) return Status::OK();
    const std::string turn_id = Str(p->turn_id());
    if (turn_id.empty()) return Status::OK();
    const std::string wkey = Key(sid, 'w', turn_id);
    Result<std::optional<std::string>> have = txn.Get(wkey);
    if (!have.ok()) return have.status();
    if (have->has_value()) return Status::OK();  // turn ids are unique in a session
    json acts = json::parse(Str(p->acts_json()), nullptr, false);
    json entry = {{"turn_id", turn_id},
                  {"status", "proposed"},
                  {"proposed_lsn", e.lsn},
                  {"proposed_at_us", e.recorded_at_us},
                  {"pre_state_hash", Str(p->pre_state_hash())},
                  {"awf_raw", ParseOrString(Str(p->awf_raw_json()))}};
    if (acts.is_array()) {
      entry["acts"] = std::move(acts);
      entry["acts_count"] = entry["acts"].size();
    } else {
      entry["acts_invalid"] = true;
      entry["acts_count"] = 0;
    }
    PutJson(txn, wkey, entry);
    txn.Put(PendingKey(sid, turn_id), "");
    return Status::OK();
  }

  const bool applied = e.type == T(EventType::TurnApplied);
  std::string turn_id;
  bool reconciled = false;
  std::string post_hash, reason;
  int64_t at_us = 0;
  if (applied) {
    Payload<fb::TurnApplied> p(e);
    if (!p) return Status::OK();
    turn_id = Str(p->turn_id());
    reconciled = p->reconciled();
    post_hash = Str(p->post_state_hash());
    at_us = p->applied_at_us();
  } else {
    Payload<fb::TurnRolledBack> p(e);
    if (!p) return Status::OK();
    turn_id = Str(p->turn_id());
    reconciled = p->reconciled();
    reason = Str(p->reason());
    at_us = p->rolled_back_at_us();
  }
  Result<std::optional<json>> got = GetJson(txn, Key(sid, 'w', turn_id));
  if (!got.ok()) return got.status();
  if (!got->has_value() || (**got)["status"] != "proposed") return Status::OK();
  json& entry = **got;
  entry["reconciled"] = reconciled;
  if (!applied) {
    entry["status"] = "rolled_back";
    entry["reason"] = reason;
    Settle(txn, sid, entry, e, at_us);
    return Status::OK();
  }
  entry["status"] = "applied";
  entry["post_state_hash"] = post_hash;
  Result<std::optional<std::string>> stored = txn.Get(Key(sid, 'd'));
  if (!stored.ok()) return stored.status();
  const std::string before = stored->value_or("{}");
  Result<json> state = json::object();
  if (cache.sid == sid && cache.text == before) {
    *state = std::move(cache.doc);
  } else {
    state = LoadState(txn, sid);
    if (!state.ok()) return state.status();
  }
  cache.sid.clear();
  if (entry.contains("acts")) {
    try {
      json next = state->patch(entry["acts"]);
      *state = std::move(next);
    } catch (const json::exception& ex) {
      // Only a TurnApplied appended without the live path's checks gets
      // here; the state stays as it was and the entry says why.
      entry["apply_error"] = ex.what();
    }
  } else {
    entry["apply_error"] = "acts are not a JSON array";
  }
  std::string state_text = CanonicalJson(*state);
  if (!post_hash.empty() && Blake2b256Hex(state_text) != post_hash) entry["hash_mismatch"] = true;
  txn.Put(Key(sid, 'd'), state_text);
  cache.sid = std::string(sid);
  cache.text = std::move(state_text);
  cache.doc = std::move(*state);
  const uint64_t seq = NextSeq(header, "turn_seq");
  PutJson(txn, SeqKey(sid, 't', seq),
          {{"seq", seq}, {"turn_id", turn_id}, {"awf_raw", entry["awf_raw"]}});
  header["last_turn_id"] = turn_id;
  header["turn_count"] = header.value("turn_count", uint64_t{0}) + 1;
  Settle(txn, sid, entry, e, at_us);
  return Status::OK();
}

Status ApplySnapshotEvent(const Event& e, std::string_view sid, json& header, ViewTxn& txn) {
  if (e.type == T(EventType::SnapshotCreated)) {
    Payload<fb::SnapshotCreated> p(e);
    if (!p) return Status::OK();
    const std::string id = Str(p->snapshot_id());
    const std::string hash = Str(p->content_hash());
    const std::string body = Str(p->body_json());
    if (id.empty() || body.empty() || Blake2b256Hex(body) != hash) return Status::OK();
    Result<std::optional<std::string>> by_id = txn.Get(Key(sid, 'n', id));
    if (!by_id.ok()) return by_id.status();
    Result<std::optional<std::string>> by_hash = txn.Get(Key(sid, 'x', hash));
    if (!by_hash.ok()) return by_hash.status();
    if (by_id->has_value() || by_hash->has_value()) return Status::OK();
    json entry = {
        {"snapshot_id", id},
        {"label", Str(p->label())},
        {"content_hash", hash},
        {"size_bytes", body.size()},
        {"format_version", p->format_version()},
        {"last_turn_id", Str(p->last_turn_id())},
        {"created_at_us", p->created_at_us() != 0 ? p->created_at_us() : e.recorded_at_us},
        {"by", Str(p->by())},
        {"lsn", e.lsn}};
    PutJson(txn, Key(sid, 'n', id), entry);
    txn.Put(Key(sid, 'x', hash), id);
    txn.Put(Key(sid, 'b', id), body);
    header["snapshot_count"] = header.value("snapshot_count", 0) + 1;
    return Status::OK();
  }
  if (e.type == T(EventType::SnapshotDeleted)) {
    Payload<fb::SnapshotDeleted> p(e);
    if (!p) return Status::OK();
    const std::string id = Str(p->snapshot_id());
    Result<std::optional<json>> entry = GetJson(txn, Key(sid, 'n', id));
    if (!entry.ok()) return entry.status();
    if (!entry->has_value()) return Status::OK();
    txn.Delete(Key(sid, 'n', id));
    txn.Delete(Key(sid, 'x', (**entry)["content_hash"].get<std::string>()));
    txn.Delete(Key(sid, 'b', id));
    header["snapshot_count"] = std::max(0, header.value("snapshot_count", 0) - 1);
    return Status::OK();
  }
  // SnapshotRestored: the session's state, memory and turns become the body's.
  Payload<fb::SnapshotRestored> p(e);
  if (!p) return Status::OK();
  const std::string id = Str(p->snapshot_id());
  Result<std::optional<std::string>> body_text = txn.Get(Key(sid, 'b', id));
  if (!body_text.ok()) return body_text.status();
  if (!body_text->has_value()) return Status::OK();
  Result<std::optional<json>> entry = GetJson(txn, Key(sid, 'n', id));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value() || Blake2b256Hex(**body_text) != (**entry)["content_hash"]) {
    return Status::Corruption("sessions view: body of snapshot " + id + " does not match its hash");
  }
  json body = json::parse(**body_text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Status::OK();
  for (char kind : {'p', 'e', 'o', 't'}) {
    if (Status s = DeleteKind(txn, sid, kind); !s.ok()) return s;
  }
  txn.Put(Key(sid, 'd'), CanonicalJson(body.value("state", json::object())));
  auto restore = [&](const char* field, char kind, const char* counter) {
    for (const json& item : body.value(field, json::array())) {
      if (!item.is_object()) continue;
      const uint64_t seq = item.value("seq", uint64_t{0});
      PutJson(txn, SeqKey(sid, kind, seq), item);
      // Sequences never go back: later items sort after restored ones.
      if (seq > header.value(counter, uint64_t{0})) header[counter] = seq;
    }
  };
  restore("pins", 'p', "pin_seq");
  restore("episodic", 'e', "episode_seq");
  restore("turns", 't', "turn_seq");
  for (const json& o : body.value("objectives", json::array())) {
    if (o.is_object() && o.contains("objective_id") && o["objective_id"].is_string()) {
      PutJson(txn, Key(sid, 'o', o["objective_id"].get<std::string>()), o);
    }
  }
  header["last_turn_id"] = body.value("last_turn_id", std::string());
  header["turn_count"] = body.value("turns", json::array()).size();
  header["restored_from_snapshot_id"] = id;
  header["restored_lsn"] = e.lsn;
  return Status::OK();
}

Status ApplyPruned(const Event& e, ViewTxn& txn) {
  Payload<fb::TurnWalPruned> p(e);
  if (!p) return Status::OK();
  std::string end = "S";
  coding::PutFixed64BE(&end, static_cast<uint64_t>(std::max<int64_t>(p->older_than_us(), 0)));
  std::vector<std::string> keys;
  Status s = txn.Scan("S", [&](std::string_view k, std::string_view) {
    if (k >= std::string_view(end)) return false;
    keys.emplace_back(k);
    return true;
  });
  if (!s.ok()) return s;
  for (const std::string& k : keys) {
    const std::string_view rest = std::string_view(k).substr(9);
    const size_t nul = rest.find('\0');
    if (nul == std::string_view::npos) continue;
    txn.Delete(Key(rest.substr(0, nul), 'w', rest.substr(nul + 1)));
    txn.Delete(k);
  }
  return Status::OK();
}

}  // namespace

Status SessionsProjection::Apply(const Event& e, ViewTxn& txn) {
  const bool session_type =
      e.type >= T(EventType::SessionStarted) && e.type <= T(EventType::SessionClosed);
  const bool snapshot_type =
      e.type >= T(EventType::SnapshotCreated) && e.type <= T(EventType::SnapshotDeleted);
  if (e.type == T(EventType::TurnWalPruned)) {
    return e.stream == kWalStream ? ApplyPruned(e, txn) : Status::OK();
  }
  if (!session_type && !snapshot_type) return Status::OK();
  if (!std::string_view(e.stream).starts_with(kStreamPrefix)) return Status::OK();
  const std::string_view sid = std::string_view(e.stream).substr(kStreamPrefix.size());
  if (sid.empty()) return Status::OK();
  if (e.type == T(EventType::SessionStarted)) return ApplyStarted(e, sid, txn);

  Result<std::optional<json>> got = GetJson(txn, Key(sid, 'h'));
  if (!got.ok()) return got.status();
  if (!got->has_value()) return Status::OK();  // events before SessionStarted are ignored
  json& h = **got;
  Status s;
  switch (static_cast<EventType>(e.type)) {
    case EventType::TurnProposed:
    case EventType::TurnApplied:
    case EventType::TurnRolledBack:
      s = ApplyTurnEvent(e, sid, h, txn, cache_);
      break;
    case EventType::MemoryPinned: {
      Payload<fb::MemoryPinned> p(e);
      if (!p) break;
      const uint64_t seq = NextSeq(h, "pin_seq");
      PutJson(txn, SeqKey(sid, 'p', seq),
              {{"seq", seq},
               {"pin_id", Str(p->pin_id())},
               {"text", Str(p->text())},
               {"pinned_at_us", p->pinned_at_us() != 0 ? p->pinned_at_us() : e.recorded_at_us}});
      break;
    }
    case EventType::EpisodicAdded: {
      Payload<fb::EpisodicAdded> p(e);
      if (!p) break;
      const uint64_t seq = NextSeq(h, "episode_seq");
      PutJson(txn, SeqKey(sid, 'e', seq),
              {{"seq", seq},
               {"episode_id", Str(p->episode_id())},
               {"text", Str(p->text())},
               {"salience", p->salience()},
               {"turn_id", Str(p->turn_id())},
               {"added_at_us", p->added_at_us() != 0 ? p->added_at_us() : e.recorded_at_us}});
      break;
    }
    case EventType::ObjectiveSet: {
      Payload<fb::ObjectiveSet> p(e);
      if (!p) break;
      const uint64_t seq = NextSeq(h, "objective_seq");
      std::string id = Str(p->objective_id());
      if (id.empty()) id = "objective-" + std::to_string(seq);
      const std::string status = Str(p->status());
      PutJson(txn, Key(sid, 'o', id),
              {{"seq", seq},
               {"objective_id", id},
               {"text", Str(p->text())},
               {"priority", p->priority()},
               {"status", status.empty() ? "active" : status},
               {"set_at_us", p->set_at_us() != 0 ? p->set_at_us() : e.recorded_at_us}});
      break;
    }
    case EventType::SessionExpired:
    case EventType::SessionClosed: {
      if (h["status"] != "active") break;
      const bool expired = e.type == T(EventType::SessionExpired);
      h["status"] = expired ? "expired" : "closed";
      h[expired ? "expired_at_us" : "closed_at_us"] = e.recorded_at_us;
      if (!expired) {
        Payload<fb::SessionClosed> p(e);
        if (p) h["close_reason"] = Str(p->reason());
      }
      const int64_t deadline = h.value("expires_at_us", int64_t{0});
      if (deadline > 0) txn.Delete(ExpiryKey(deadline, sid));
      break;
    }
    case EventType::SnapshotCreated:
    case EventType::SnapshotRestored:
    case EventType::SnapshotDeleted:
      s = ApplySnapshotEvent(e, sid, h, txn);
      break;
    default:
      break;
  }
  if (!s.ok()) return s;
  h["last_lsn"] = e.lsn;
  h["version"] = e.stream_version;
  PutJson(txn, Key(sid, 'h'), h);
  return Status::OK();
}

Result<std::optional<json>> SessionsProjection::Header(ViewReader& r, std::string_view sid) {
  return GetJson(r, Key(sid, 'h'));
}

Result<json> SessionsProjection::State(ViewReader& r, std::string_view sid) {
  return LoadState(r, sid);
}

Result<std::string> SessionsProjection::StateText(ViewReader& r, std::string_view sid) {
  Result<std::optional<std::string>> v = r.Get(Key(sid, 'd'));
  if (!v.ok()) return v.status();
  return v->has_value() ? std::move(**v) : std::string("{}");
}

Result<std::vector<json>> SessionsProjection::Items(ViewReader& r, std::string_view sid,
                                                    char kind) {
  std::vector<json> out;
  bool bad = false;
  Status s = r.Scan(Key(sid, kind), [&](std::string_view, std::string_view v) {
    json j = json::parse(v, nullptr, false);
    if (j.is_discarded()) {
      bad = true;
      return false;
    }
    out.push_back(std::move(j));
    return true;
  });
  if (!s.ok()) return s;
  if (bad) return Status::Corruption("sessions view: malformed value");
  return out;
}

Result<std::vector<json>> SessionsProjection::LastTurns(ViewReader& r, std::string_view sid,
                                                        size_t n) {
  Result<std::optional<json>> h = Header(r, sid);
  if (!h.ok()) return h.status();
  std::vector<json> out;
  if (!h->has_value() || n == 0) return out;
  // Sequences are dense except across a restore, so start a little early and
  // keep the last n.
  const uint64_t last = (**h).value("turn_seq", uint64_t{0});
  const uint64_t from = last > n ? last - n + 1 : 1;
  std::string start = SeqKey(sid, 't', from);
  bool bad = false;
  Status s = r.Scan(Key(sid, 't'), start, [&](std::string_view, std::string_view v) {
    json j = json::parse(v, nullptr, false);
    if (j.is_discarded()) {
      bad = true;
      return false;
    }
    out.push_back(std::move(j));
    return true;
  });
  if (!s.ok()) return s;
  if (bad) return Status::Corruption("sessions view: malformed turn");
  if (out.size() < n) {
    // A restore left a gap: fall back to a full scan.
    Result<std::vector<json>> all = Items(r, sid, 't');
    if (!all.ok()) return all.status();
    out = std::move(*all);
  }
  if (out.size() > n) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n));
  return out;
}

Result<json> SessionsProjection::SnapshotBody(ViewReader& r, std::string_view sid) {
  Result<std::optional<json>> h = Header(r, sid);
  if (!h.ok()) return h.status();
  if (!h->has_value()) return Status::NotFound("session '" + std::string(sid) + "' not found");
  Result<json> state = LoadState(r, sid);
  if (!state.ok()) return state.status();
  json body = {{"format_version", kSnapshotFormatVersion},
               {"state", std::move(*state)},
               {"last_turn_id", (**h).value("last_turn_id", std::string())}};
  const std::pair<const char*, char> parts[] = {
      {"pins", 'p'}, {"episodic", 'e'}, {"objectives", 'o'}, {"turns", 't'}};
  for (const auto& [field, kind] : parts) {
    Result<std::vector<json>> items = Items(r, sid, kind);
    if (!items.ok()) return items.status();
    body[field] = json(std::move(*items));
  }
  return body;
}

Result<std::optional<json>> SessionsProjection::WalEntry(ViewReader& r, std::string_view sid,
                                                         std::string_view turn_id) {
  return GetJson(r, Key(sid, 'w', turn_id));
}

Result<std::optional<json>> SessionsProjection::Snapshot(ViewReader& r, std::string_view sid,
                                                         std::string_view snapshot_id) {
  return GetJson(r, Key(sid, 'n', snapshot_id));
}

Result<std::optional<std::string>> SessionsProjection::SnapshotByHash(ViewReader& r,
                                                                      std::string_view sid,
                                                                      std::string_view hash) {
  return r.Get(Key(sid, 'x', hash));
}

Result<std::optional<std::string>> SessionsProjection::SnapshotBodyText(
    ViewReader& r, std::string_view sid, std::string_view snapshot_id) {
  return r.Get(Key(sid, 'b', snapshot_id));
}

Result<std::vector<PendingTurn>> SessionsProjection::Pending(ViewReader& r, std::string_view sid) {
  std::vector<PendingTurn> out;
  std::string prefix = "P";
  if (!sid.empty()) {
    prefix.append(sid);
    prefix.push_back('\0');
  }
  Status s = r.Scan(prefix, [&](std::string_view k, std::string_view) {
    const size_t nul = k.find('\0', 1);
    if (nul == std::string_view::npos) return true;
    out.push_back({std::string(k.substr(1, nul - 1)), std::string(k.substr(nul + 1))});
    return true;
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<std::pair<std::string, int64_t>>> SessionsProjection::DueExpiries(
    ViewReader& r, int64_t now_us) {
  std::vector<std::pair<std::string, int64_t>> out;
  Status s = r.Scan("X", [&](std::string_view k, std::string_view) {
    if (k.size() < 9) return true;
    const auto deadline = static_cast<int64_t>(coding::DecodeFixed64BE(k.data() + 1));
    if (deadline > now_us) return false;
    out.emplace_back(std::string(k.substr(9)), deadline);
    return true;
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<std::string>> SessionsProjection::SessionIds(ViewReader& r) {
  // One seek per session: after a session's first key, skip past its prefix.
  std::vector<std::string> out;
  std::string start = "s";
  for (;;) {
    std::string sid;
    bool found = false;
    Status s = r.Scan("s", start, [&](std::string_view k, std::string_view) {
      const size_t nul = k.find('\0', 1);
      if (nul == std::string_view::npos) return true;
      sid = std::string(k.substr(1, nul - 1));
      found = true;
      return false;
    });
    if (!s.ok()) return s;
    if (!found) break;
    out.push_back(sid);
    start = "s" + sid;
    start.push_back('\x01');
  }
  return out;
}

Result<size_t> SessionsProjection::CountSettledBefore(ViewReader& r, int64_t before_us) {
  std::string end = "S";
  coding::PutFixed64BE(&end, static_cast<uint64_t>(std::max<int64_t>(before_us, 0)));
  size_t n = 0;
  Status s = r.Scan("S", [&](std::string_view k, std::string_view) {
    if (k >= std::string_view(end)) return false;
    ++n;
    return true;
  });
  if (!s.ok()) return s;
  return n;
}

Result<json> SessionsProjection::Dump(ViewReader& reader) {
  json sessions = json::object();
  Result<std::vector<std::string>> ids = SessionIds(reader);
  if (!ids.ok()) return ids.status();
  for (const std::string& sid : *ids) {
    Result<std::optional<json>> h = Header(reader, sid);
    if (!h.ok()) return h.status();
    Result<json> body = SnapshotBody(reader, sid);
    if (!body.ok()) return body.status();
    Result<std::vector<json>> wal = Items(reader, sid, 'w');
    if (!wal.ok()) return wal.status();
    Result<std::vector<json>> snaps = Items(reader, sid, 'n');
    if (!snaps.ok()) return snaps.status();
    sessions[sid] = {{"header", **h},
                     {"view", std::move(*body)},
                     {"wal", json(std::move(*wal))},
                     {"snapshots", json(std::move(*snaps))}};
  }
  return json{{"sessions", std::move(sessions)}};
}

}  // namespace logbook
