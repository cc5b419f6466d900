#include "engine/bundle.h"

#include <sodium.h>

#include <map>
#include <set>

#include "engine/engine.h"
#include "engine/payload_codec.h"
#include "log/event_types.h"
#include "projections/sessions.h"
#include "projections/view_store.h"
#include "schemas/events_generated.h"

namespace logbook {

using nlohmann::json;

namespace {

using fb::EventType;
constexpr uint16_t T(EventType t) { return static_cast<uint16_t>(t); }

constexpr std::string_view kTooLarge = "bundle too large: ";

bool IsSessionType(uint16_t t) {
  return (t >= T(EventType::SessionStarted) && t <= T(EventType::SessionClosed)) ||
         (t >= T(EventType::SnapshotCreated) && t <= T(EventType::SnapshotDeleted));
}

// The payload field holding the event's own time, by type.
const char* TimeField(uint16_t t) {
  switch (static_cast<EventType>(t)) {
    case EventType::SessionStarted:
      return "started_at_us";
    case EventType::TurnProposed:
      return "proposed_at_us";
    case EventType::TurnApplied:
      return "applied_at_us";
    case EventType::TurnRolledBack:
      return "rolled_back_at_us";
    case EventType::MemoryPinned:
      return "pinned_at_us";
    case EventType::EpisodicAdded:
      return "added_at_us";
    case EventType::ObjectiveSet:
      return "set_at_us";
    case EventType::SessionExpired:
      return "expired_at_us";
    case EventType::SessionClosed:
      return "closed_at_us";
    case EventType::SnapshotCreated:
      return "created_at_us";
    case EventType::SnapshotRestored:
      return "restored_at_us";
    case EventType::SnapshotDeleted:
      return "deleted_at_us";
    default:
      return nullptr;
  }
}

std::string Hex(const unsigned char* h, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[h[i] >> 4];
    out[2 * i + 1] = kHex[h[i] & 0xf];
  }
  return out;
}

// BLAKE2b-256 of everything fed to it, incrementally.
class StreamHash {
 public:
  StreamHash() { crypto_generichash_init(&st_, nullptr, 0, 32); }
  void Update(std::string_view b) {
    crypto_generichash_update(&st_, reinterpret_cast<const unsigned char*>(b.data()), b.size());
  }
  std::string Final() {
    unsigned char h[32];
    crypto_generichash_final(&st_, h, sizeof(h));
    return Hex(h, sizeof(h));
  }

 private:
  crypto_generichash_state st_;
};

// Folds a session's events in memory with the real projection, to compute
// (fix) or check (verify) the hashes that depend on the session's state:
// TurnProposed.pre_state_hash, TurnApplied.post_state_hash and the
// content_hash (and size) of snapshot bodies.
class Simulator {
 public:
  // `payload` is the event's payload JSON; with fix it is updated in place.
  Status Step(uint16_t type, json& payload, int64_t recorded_at_us, bool fix) {
    ++lsn_;
    if (type == T(EventType::TurnProposed)) {
      if (Status s = Check(payload, "pre_state_hash", StateHash(), fix); !s.ok()) return s;
    } else if (type == T(EventType::SnapshotCreated)) {
      const std::string body = payload.value("body_json", std::string());
      if (Status s = Check(payload, "content_hash", Blake2b256Hex(body), fix); !s.ok()) return s;
      if (fix) payload["size_bytes"] = body.size();
      if (payload.value("size_bytes", uint64_t{0}) != body.size()) {
        return Status::Corruption("size_bytes does not match the snapshot body");
      }
      hashes_[payload.value("snapshot_id", std::string())] = payload["content_hash"];
    } else if (type == T(EventType::SnapshotRestored) || type == T(EventType::SnapshotDeleted)) {
      auto it = hashes_.find(payload.value("snapshot_id", std::string()));
      if (it != hashes_.end()) {
        if (Status s = Check(payload, "content_hash", it->second, fix); !s.ok()) return s;
      }
    }
    if (Status s = Fold(type, payload, recorded_at_us); !s.ok()) return s;
    if (type == T(EventType::TurnApplied)) {
      return Check(payload, "post_state_hash", StateHash(), fix);
    }
    return Status::OK();
  }

  ViewReader& view() { return txn_; }
  static constexpr std::string_view kSid = "bundle";

 private:
  Status Check(json& payload, const char* field, const std::string& want, bool fix) {
    if (fix) {
      payload[field] = want;
      return Status::OK();
    }
    const std::string have = payload.value(field, std::string());
    if (have != want) {
      return Status::Corruption(std::string(field) + " " + (have.empty() ? "(none)" : have) +
                                " does not match the folded state (" + want + ")");
    }
    return Status::OK();
  }
  std::string StateHash() {
    Result<std::string> st = SessionsProjection::StateText(txn_, kSid);
    return Blake2b256Hex(st.ok() ? *st : std::string("{}"));
  }
  Status Fold(uint16_t type, const json& payload, int64_t recorded_at_us) {
    Result<std::string> bytes = PayloadCodec::Encode(type, CanonicalJson(payload));
    if (!bytes.ok()) return bytes.status();
    Event e;
    e.lsn = lsn_;
    e.stream = std::string(SessionsProjection::kStreamPrefix) + std::string(kSid);
    e.stream_version = lsn_;
    e.type = type;
    e.recorded_at_us = recorded_at_us;
    e.payload = std::move(bytes).value();
    return proj_.Apply(e, txn_);
  }

  SessionsProjection proj_;
  MemViewTxn txn_;
  uint64_t lsn_ = 0;
  std::map<std::string, std::string> hashes_;  // snapshot_id -> content_hash
};

// Writes lines, keeping the per-line hashes, the body hash and the size.
class BundleWriter {
 public:
  BundleWriter(std::ostream& out, uint64_t limit) : out_(out), limit_(limit) {}
  Status Line(const json& j, bool manifest = false) {
    const std::string text = CanonicalJson(j);
    bytes_ += text.size() + 1;
    if (bytes_ > limit_) {
      return Status::InvalidArgument(std::string(kTooLarge) + "more than " +
                                     std::to_string(limit_) + " bytes");
    }
    if (!manifest) {
      hashes_.push_back(Blake2b256Hex(text));
      body_.Update(text);
      body_.Update("\n");
    }
    out_ << text << '\n';
    if (!out_) return Status::IOError("writing the bundle failed");
    return Status::OK();
  }
  uint64_t lines() const { return hashes_.size(); }
  uint64_t bytes() const { return bytes_; }
  std::vector<std::string>& hashes() { return hashes_; }
  std::string BodyHash() { return body_.Final(); }

 private:
  std::ostream& out_;
  uint64_t limit_;
  uint64_t bytes_ = 0;
  std::vector<std::string> hashes_;
  StreamHash body_;
};

}  // namespace

bool IsBundleTooLarge(const Status& s) { return s.message().starts_with(kTooLarge); }

json ExportSummary::ToJson() const {
  return {{"session_id", session_id}, {"events", events},       {"snapshots", snapshots},
          {"bytes", bytes},           {"body_hash", body_hash}, {"redactions", redactions}};
}

json ImportSummary::ToJson() const {
  return {{"session_id", session_id}, {"source_session_id", source_session_id},
          {"tenant", tenant},         {"events", events},
          {"snapshots", snapshots},   {"skipped", skipped},
          {"sandbox", true}};
}

// ---------------------------------------------------------------------------
// Export

Result<ExportSummary> ExportSession(Engine& engine, const std::string& sid, std::ostream& out,
                                    const ExportOptions& o) {
  const SessionOptions& so = engine.sessions().options();
  Result<json> header = engine.sessions().Header(sid);
  if (!header.ok()) return header.status();
  Redactor redactor = Redactor::Builtin(o.strategy.value_or(RedactStrategy::kLabel));
  const std::string rules_file = o.rules_file.empty() ? so.redaction_rules_file : o.rules_file;
  if (o.redact && !rules_file.empty()) {
    if (Status s = redactor.ConfigureFile(rules_file); !s.ok()) return s;
    if (o.strategy) redactor.SetStrategy(*o.strategy);
  }
  BundleWriter w(out, o.max_bytes != 0 ? o.max_bytes : so.bundle_max_bytes);
  ExportSummary sum;
  sum.session_id = sid;
  const std::string stream = Sessions::StreamOf(sid);
  Result<StreamHead> head = engine.log().GetStreamHead(stream);
  if (!head.ok()) return head.status();

  json hj = {{"kind", "header"},
             {"bundle", kBundleKind},
             {"format_version", kBundleFormatVersion},
             {"session_id", sid},
             {"tenant", (*header)["tenant"]},
             {"created_at_us", engine.sessions().Now()},
             {"source_version", head->version},
             {"redacted", o.redact}};
  if (o.redact) {
    hj["redaction_rules"] = redactor.RuleNames();
    hj["redaction_strategy"] = RedactStrategyName(o.strategy.value_or(RedactStrategy::kLabel));
  }
  if (Status s = w.Line(hj); !s.ok()) return s;

  Simulator sim;
  std::map<std::string, uint64_t> snapshot_line;  // snapshot_id -> line of its SnapshotCreated
  for (uint64_t from = 1; from <= head->version;) {
    Result<std::vector<Event>> page = engine.log().ReadStream(stream, from, 256);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (const Event& e : *page) {
      from = e.stream_version + 1;
      if (e.stream_version > head->version) break;
      if (!IsSessionType(e.type)) continue;
      if (e.payload_encoding != 0) {
        return Status::InvalidArgument("event " + std::to_string(e.lsn) +
                                       " has an encrypted payload; bundles hold plaintext only");
      }
      Result<std::string> text = PayloadCodec::ToJson(e.type, e.payload);
      if (!text.ok()) return text.status();
      json payload = json::parse(*text, nullptr, false);
      if (!payload.is_object())
        return Status::Corruption("payload of LSN " + std::to_string(e.lsn));
      // Times the view would take from the envelope travel in the payload,
      // so the imported session folds to the same view.
      if (const char* f = TimeField(e.type); f != nullptr && payload.value(f, int64_t{0}) == 0) {
        payload[f] = e.recorded_at_us;
      }
      std::string actor = e.actor.id;
      if (o.redact) {
        redactor.RedactJson(payload, &sum.redactions);
        actor = redactor.RedactString(actor, &sum.redactions);
      }
      if (Status s = sim.Step(e.type, payload, e.recorded_at_us, /*fix=*/true); !s.ok()) {
        return Status::Corruption("LSN " + std::to_string(e.lsn) + ": " + s.message());
      }
      if (e.type == T(EventType::SnapshotCreated)) {
        snapshot_line[payload.value("snapshot_id", std::string())] = w.lines() + 1;
      }
      json line = {{"kind", "event"},
                   {"type", EventTypeName(e.type)},
                   {"version", e.stream_version},
                   {"event_id", EventIdToString(e.event_id)},
                   {"recorded_at_us", e.recorded_at_us},
                   {"actor", {{"id", actor}, {"role", RoleName(e.actor.role)}}},
                   {"payload", std::move(payload)}};
      if (Status s = w.Line(line); !s.ok()) return s;
      ++sum.events;
    }
  }
  Result<std::vector<json>> snaps = SessionsProjection::Items(sim.view(), Simulator::kSid, 'n');
  if (!snaps.ok()) return snaps.status();
  for (const json& sn : *snaps) {
    const std::string id = sn.value("snapshot_id", std::string());
    json line = {{"kind", "snapshot"},
                 {"snapshot_id", id},
                 {"label", o.redact ? redactor.RedactString(sn.value("label", std::string()))
                                    : sn.value("label", std::string())},
                 {"content_hash", sn["content_hash"]},
                 {"size_bytes", sn["size_bytes"]},
                 {"created_at_us", sn["created_at_us"]},
                 {"event_line", snapshot_line[id]}};
    if (Status s = w.Line(line); !s.ok()) return s;
    ++sum.snapshots;
  }
  sum.body_hash = w.BodyHash();
  json manifest = {
      {"kind", "manifest"},
      {"format_version", kBundleFormatVersion},
      {"session_id", sid},
      {"counts", {{"lines", w.lines()}, {"events", sum.events}, {"snapshots", sum.snapshots}}},
      {"line_hashes", w.hashes()},
      {"body_hash", sum.body_hash},
      {"hash", "blake2b-256"}};
  if (Status s = w.Line(manifest, /*manifest=*/true); !s.ok()) return s;
  out.flush();
  if (!out) return Status::IOError("writing the bundle failed");
  sum.bytes = w.bytes();
  return sum;
}

// ---------------------------------------------------------------------------
// Import

namespace {

Status Reject(uint64_t line, const std::string& why) {
  return Status::Corruption("bundle rejected: line " + std::to_string(line) + ": " + why);
}

// Reads lines, enforcing the size limit.
class LineReader {
 public:
  LineReader(std::istream& in, uint64_t limit) : in_(in), limit_(limit) {}
  // False at the end; *st set when the limit is passed.
  bool Next(std::string* line, Status* st) {
    if (!std::getline(in_, *line)) return false;
    ++n_;
    bytes_ += line->size() + (in_.eof() ? 0 : 1);
    if (bytes_ > limit_) {
      *st = Status::InvalidArgument(std::string(kTooLarge) + "more than " + std::to_string(limit_) +
                                    " bytes");
      return false;
    }
    ends_with_newline_ = !in_.eof();
    return true;
  }
  uint64_t n() const { return n_; }
  bool ends_with_newline() const { return ends_with_newline_; }

 private:
  std::istream& in_;
  uint64_t limit_;
  uint64_t n_ = 0, bytes_ = 0;
  bool ends_with_newline_ = true;
};

Status CheckHeader(const std::string& text) {
  json h = json::parse(text, nullptr, false);
  if (h.is_discarded() || !h.is_object() || h.value("kind", "") != "header" ||
      h.value("bundle", "") != kBundleKind) {
    return Status::InvalidArgument(
        "bundle rejected: line 1 is not a logbook session bundle header");
  }
  if (!h.contains("format_version") || !h["format_version"].is_number_unsigned() ||
      h["format_version"].get<uint64_t>() != kBundleFormatVersion) {
    return Status::InvalidArgument(
        "bundle rejected: format_version " +
        (h.contains("format_version") ? h["format_version"].dump() : std::string("(none)")) +
        " is not supported (this build reads " + std::to_string(kBundleFormatVersion) + ")");
  }
  if (!h.contains("session_id") || !h["session_id"].is_string() || !h.contains("tenant") ||
      !h["tenant"].is_string()) {
    return Status::InvalidArgument("bundle rejected: the header lacks session_id or tenant");
  }
  return Status::OK();
}

// Pass 1: size, version, every line hash, the body hash and the counts.
Status CheckIntegrity(std::istream& in, uint64_t limit, json* header) {
  LineReader r(in, limit);
  std::string line;
  Status st;
  std::vector<std::string> hashes;
  StreamHash body;
  std::optional<json> manifest;
  uint64_t events = 0, snapshots = 0;
  Status after;  // data after the manifest; reported once the size is known
  while (r.Next(&line, &st)) {
    if (manifest) {
      if (after.ok() && !(line.empty() && !r.ends_with_newline())) {
        after = Reject(r.n(), "data after the manifest");
      }
      continue;
    }
    if (r.n() == 1) {
      if (Status s = CheckHeader(line); !s.ok()) return s;
      *header = json::parse(line);
    }
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("kind", "") == "manifest") {
      if (!r.ends_with_newline()) return Reject(r.n(), "the manifest line is cut short");
      manifest = std::move(j);
      continue;
    }
    if (!r.ends_with_newline()) return Reject(r.n(), "bundle is truncated (no manifest line)");
    hashes.push_back(Blake2b256Hex(line));
    body.Update(line);
    body.Update("\n");
    if (!j.is_discarded() && j.is_object()) {
      events += j.value("kind", "") == "event" ? 1 : 0;
      snapshots += j.value("kind", "") == "snapshot" ? 1 : 0;
    }
  }
  if (!st.ok()) return st;
  if (!after.ok()) return after;
  if (r.n() == 0) return Status::InvalidArgument("bundle rejected: the bundle is empty");
  if (!manifest) return Reject(r.n(), "bundle is truncated (no manifest line)");
  const json& m = *manifest;
  if (m.value("format_version", uint64_t{0}) != kBundleFormatVersion) {
    return Status::InvalidArgument("bundle rejected: manifest format_version " +
                                   m.value("format_version", json()).dump() + " is not supported");
  }
  if (!m.contains("line_hashes") || !m["line_hashes"].is_array() || !m.contains("counts") ||
      !m["counts"].is_object() || !m.contains("body_hash") || !m["body_hash"].is_string()) {
    return Reject(r.n(), "the manifest lacks line_hashes, counts or body_hash");
  }
  const json& lh = m["line_hashes"];
  if (lh.size() != hashes.size()) {
    return Reject(r.n(), "the manifest lists " + std::to_string(lh.size()) +
                             " lines, the bundle has " + std::to_string(hashes.size()));
  }
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (!lh[i].is_string() || lh[i].get<std::string>() != hashes[i]) {
      return Reject(i + 1, "hash mismatch (the line was changed or damaged)");
    }
  }
  if (m["body_hash"].get<std::string>() != body.Final()) {
    return Reject(r.n(), "body hash mismatch");
  }
  const json& c = m["counts"];
  if (c.value("lines", uint64_t{0}) != hashes.size() || c.value("events", uint64_t{0}) != events ||
      c.value("snapshots", uint64_t{0}) != snapshots) {
    return Reject(r.n(), "the manifest counts do not match the bundle");
  }
  return Status::OK();
}

struct EventLine {
  uint16_t type = 0;
  int64_t recorded_at_us = 0;
  json payload;
};

Status ParseEventLine(const json& j, uint64_t n, EventLine* out) {
  if (!j.contains("type") || !j["type"].is_string() ||
      !ParseEventType(j["type"].get<std::string>(), &out->type) || !IsSessionType(out->type)) {
    return Status::InvalidArgument("bundle rejected: line " + std::to_string(n) +
                                   ": not a session event type");
  }
  if (!j.contains("payload") || !j["payload"].is_object()) {
    return Status::InvalidArgument("bundle rejected: line " + std::to_string(n) +
                                   ": payload must be an object");
  }
  out->recorded_at_us = j.value("recorded_at_us", int64_t{0});
  out->payload = j["payload"];
  return Status::OK();
}

// Passes 2 and 3 walk the lines of a bundle that passed pass 1.
template <typename Fn>
Status ForEachLine(std::istream& in, Fn&& fn) {
  std::string line;
  uint64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Status::InvalidArgument("bundle rejected: line " + std::to_string(n) +
                                     " is not a JSON object");
    }
    const std::string kind = j.value("kind", "");
    if (kind == "manifest") break;
    if (Status s = fn(n, kind, j); !s.ok()) return s;
  }
  return Status::OK();
}

// New turn ids for the sandbox, unless preserved.
class TurnIds {
 public:
  explicit TurnIds(bool preserve) : preserve_(preserve) {}
  std::string Map(const std::string& id) {
    if (preserve_ || id.empty()) return id;
    auto [it, fresh] = map_.try_emplace(id);
    if (fresh) it->second = EventIdToString(RandomEventId());
    return it->second;
  }
  void MapField(json& j, const char* field) {
    if (j.is_object() && j.contains(field) && j[field].is_string()) {
      j[field] = Map(j[field].get<std::string>());
    }
  }

 private:
  bool preserve_;
  std::map<std::string, std::string> map_;
};

}  // namespace

Result<ImportSummary> ImportSession(Engine& engine, const Actor& actor, const BundleSource& source,
                                    const ImportOptions& o) {
  const uint64_t limit =
      o.max_bytes != 0 ? o.max_bytes : engine.sessions().options().bundle_max_bytes;
  json header;
  {
    std::unique_ptr<std::istream> in = source();
    if (!in || !*in) return Status::NotFound("the bundle cannot be read");
    if (Status s = CheckIntegrity(*in, limit, &header); !s.ok()) return s;
  }

  // Pass 2: every event decodes, the session starts with SessionStarted and
  // the state hashes fold to what the bundle says.
  {
    std::unique_ptr<std::istream> in = source();
    if (!in || !*in) return Status::NotFound("the bundle cannot be read");
    Simulator sim;
    uint64_t last_version = 0;  // versions rise; other event types of the stream are not exported
    std::map<std::string, std::string> created;  // snapshot_id -> content_hash
    Status s = ForEachLine(*in, [&](uint64_t n, const std::string& kind, json& j) -> Status {
      if (kind == "header") return Status::OK();
      if (kind == "snapshot") {
        auto it = created.find(j.value("snapshot_id", std::string()));
        if (it == created.end() || it->second != j.value("content_hash", std::string())) {
          return Reject(n, "snapshot does not match any SnapshotCreated of the bundle");
        }
        return Status::OK();
      }
      if (kind != "event") return Reject(n, "unknown line kind '" + kind + "'");
      EventLine ev;
      if (Status s2 = ParseEventLine(j, n, &ev); !s2.ok()) return s2;
      if (last_version == 0 && ev.type != T(EventType::SessionStarted)) {
        return Status::InvalidArgument("bundle rejected: line " + std::to_string(n) +
                                       ": the first event must be SessionStarted");
      }
      const json& v = j.contains("version") ? j["version"] : json();
      if (!v.is_number_unsigned() || v.get<uint64_t>() <= last_version) {
        return Reject(n, "event version " + v.dump() + " does not follow version " +
                             std::to_string(last_version));
      }
      last_version = v.get<uint64_t>();
      Status st = sim.Step(ev.type, ev.payload, ev.recorded_at_us, /*fix=*/false);
      if (st.IsInvalidArgument()) {
        return Status::InvalidArgument("bundle rejected: line " + std::to_string(n) + ": " +
                                       st.message());
      }
      if (!st.ok()) return Reject(n, st.message());
      if (ev.type == T(EventType::SnapshotCreated)) {
        created[ev.payload.value("snapshot_id", std::string())] =
            ev.payload.value("content_hash", std::string());
      }
      return Status::OK();
    });
    if (!s.ok()) return s;
    if (last_version == 0) return Status::InvalidArgument("bundle rejected: it holds no events");
  }

  // Pass 3: the sandbox session.
  ImportSummary sum;
  sum.source_session_id = header["session_id"].get<std::string>();
  sum.tenant = o.tenant.empty() ? header["tenant"].get<std::string>() : o.tenant;
  sum.session_id = o.session_id.empty() ? EventIdToString(RandomEventId()) : o.session_id;
  if (Status s = Sessions::ValidateSessionId(sum.session_id); !s.ok()) return s;
  if (Status s = ValidateTenantName(sum.tenant); !s.ok()) return s;
  const std::string stream = Sessions::StreamOf(sum.session_id);

  std::unique_ptr<std::istream> in = source();
  if (!in || !*in) return Status::NotFound("the bundle cannot be read");
  Simulator sim;
  TurnIds turns(o.preserve_turn_ids);
  std::vector<EventInput> batch;
  size_t batch_bytes = 0;
  uint64_t version = 0, last_lsn = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::OK();
    const ExpectedVersion ev =
        version == 0 ? ExpectedVersion::NoStream() : ExpectedVersion::Exact(version);
    Result<AppendResult> r = engine.AppendJson(stream, sum.tenant, actor, ev, batch);
    if (!r.ok()) {
      if (r.status().IsConflict() && version == 0) {
        return Status::Conflict("session '" + sum.session_id + "' already exists",
                                r.status().actual_version());
      }
      return r.status();
    }
    version = r->last_version;
    last_lsn = r->last_lsn;
    batch.clear();
    batch_bytes = 0;
    return Status::OK();
  };
  Status s = ForEachLine(*in, [&](uint64_t n, const std::string& kind, json& j) -> Status {
    if (kind == "snapshot") {
      ++sum.snapshots;
      return Status::OK();
    }
    if (kind != "event") return Status::OK();
    EventLine ev;
    if (Status s2 = ParseEventLine(j, n, &ev); !s2.ok()) return s2;
    json& p = ev.payload;
    // A sandbox is a live copy to reproduce with: no TTL, never expired or closed.
    if (ev.type == T(EventType::SessionExpired) || ev.type == T(EventType::SessionClosed)) {
      ++sum.skipped;
      return Status::OK();
    }
    if (p.contains("session_id")) p["session_id"] = sum.session_id;
    if (ev.type == T(EventType::SessionStarted)) {
      p["tenant"] = sum.tenant;
      p["sandbox"] = true;
      p["imported_from_session_id"] = sum.source_session_id;
      p["expires_at_us"] = 0;
    }
    turns.MapField(p, "turn_id");
    turns.MapField(p, "last_turn_id");
    if (ev.type == T(EventType::SnapshotCreated) && p.contains("body_json") &&
        p["body_json"].is_string()) {
      json body = json::parse(p["body_json"].get<std::string>(), nullptr, false);
      if (body.is_object()) {
        turns.MapField(body, "last_turn_id");
        for (const char* list : {"turns", "episodic"}) {
          if (body.contains(list) && body[list].is_array()) {
            for (json& item : body[list]) turns.MapField(item, "turn_id");
          }
        }
        p["body_json"] = CanonicalJson(body);
      }
    }
    if (Status st = sim.Step(ev.type, p, ev.recorded_at_us, /*fix=*/true); !st.ok()) {
      return Reject(n, st.message());
    }
    EventInput in_ev;
    in_ev.type = EventTypeName(ev.type);
    in_ev.payload_json = CanonicalJson(p);
    batch_bytes += in_ev.payload_json.size();
    batch.push_back(std::move(in_ev));
    ++sum.events;
    if (batch.size() >= 512 || batch_bytes >= (size_t{8} << 20)) return flush();
    return Status::OK();
  });
  if (!s.ok()) return s;
  if (Status f = flush(); !f.ok()) return f;
  if (Status w = engine.sessions().SyncViews(last_lsn); !w.ok()) return w;
  return sum;
}

}  // namespace logbook
