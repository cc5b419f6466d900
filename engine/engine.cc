#include "engine/engine.h"

#include <sodium.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "engine/payload_codec.h"
#include "log/event_types.h"
#include "log/keyring.h"
#include "projections/stream_stats.h"
#include "projections/view_store.h"

namespace logbook {

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  std::unique_ptr<Engine> engine(new Engine(options));
  if (!options.key_dir.empty()) {
    std::error_code ec;
    const bool keys_exist = std::filesystem::exists(options.key_dir + "/master.key", ec);
    const bool log_exists = std::filesystem::exists(options.data_dir + "/CURRENT", ec);
    if (!keys_exist && !log_exists && options.create_keys && !options.read_only) {
      Status s = KeyRing::Create(options.key_dir);
      if (!s.ok()) return s;
    }
    if (keys_exist || std::filesystem::exists(options.key_dir + "/master.key", ec)) {
      Result<std::unique_ptr<KeyRing>> ring = KeyRing::Open(options.key_dir);
      if (!ring.ok()) return ring.status();
      engine->keyring_ = std::move(ring).value();
    }
  }
  LogOptions lo;
  lo.keyring = engine->keyring_.get();
  lo.dir = options.data_dir;
  lo.clock = options.log_clock;
  lo.create_if_missing = options.create_if_missing;
  lo.read_only = options.read_only;
  lo.verify_tail_records = options.verify_tail_records;
  lo.env = options.env;
  Result<std::unique_ptr<Log>> log = Log::Open(lo);
  if (!log.ok() && engine->keyring_ == nullptr && !options.key_dir.empty() &&
      log.status().code() == Status::Code::kNotFound) {
    return Status::NotFound(log.status().message() + "; no master key in '" + options.key_dir +
                            "'");
  }
  if (!log.ok()) return log.status();
  engine->log_ = std::move(log).value();
  engine->projector_ = std::make_unique<Projector>(*engine->log_, MakeAllProjections());
  engine->sessions_ = std::make_unique<Sessions>(*engine, options.sessions);
  Result<PricingTable> pricing = options.costs.pricing_file.empty()
                                     ? PricingTable::Default()
                                     : PricingTable::Load(options.costs.pricing_file);
  if (!pricing.ok()) return pricing.status();
  engine->costs_ = std::make_unique<Costs>(*engine, options.costs, std::move(pricing).value());
  engine->hitl_ = std::make_unique<Hitl>(*engine, options.hitl);
  Status s = engine->projector_->Load(!options.read_only);
  if (!s.ok()) return s;
  if (!options.read_only && options.catch_up_views) {
    s = engine->projector_->CatchUp(options.recovery_progress);
    if (!s.ok()) return s;
    if (options.run_projector_thread) engine->projector_->Start();
    // Recovery: turns proposed without an outcome are settled, sessions past
    // their TTL expire (engine/sessions.h).
    s = engine->sessions_->Recover();
    if (!s.ok()) return s;
    if (options.run_projector_thread) engine->sessions_->StartSweeper();
    // Recovery: checkpoints whose deadline passed while no engine ran expire now.
    Result<size_t> expired = engine->hitl_->ExpireDue();
    if (!expired.ok()) return expired.status();
    if (*expired > 0) {
      s = engine->WaitForViews(engine->log_->LastLsn(), std::chrono::seconds(60));
      if (!s.ok()) return s;
    }
    if (options.run_projector_thread) engine->hitl_->Start();
  }
  return engine;
}

Engine::~Engine() {
  if (sessions_) sessions_->StopSweeper();
  if (hitl_) hitl_->Stop();
  if (projector_) projector_->Stop();
}

Result<AppendRequest> Engine::BuildRequest(const std::string& stream, const std::string& tenant,
                                           const Actor& actor, ExpectedVersion expected,
                                           const std::vector<EventInput>& events) const {
  AppendRequest req;
  req.stream = stream;
  req.tenant = tenant;
  req.actor = actor;
  req.expected = expected;
  req.events.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const EventInput& in = events[i];
    const std::string where = events.size() > 1 ? "event " + std::to_string(i + 1) + ": " : "";
    NewEvent ne;
    if (!ParseEventType(in.type, &ne.type)) {
      return Status::InvalidArgument(where + "unknown event type '" + in.type + "'");
    }
    if (!in.event_id.empty() && !ParseEventId(in.event_id, &ne.event_id)) {
      return Status::InvalidArgument(where + "event_id '" + in.event_id + "' is not a UUID");
    }
    if (!in.event_id.empty() && IsZero(ne.event_id)) {
      return Status::InvalidArgument(where + "event_id must not be the nil UUID");
    }
    Result<std::string> payload =
        PayloadCodec::Encode(ne.type, in.payload_json.empty() ? "{}" : in.payload_json);
    if (!payload.ok()) return Status::InvalidArgument(where + payload.status().message());
    ne.payload = std::move(payload).value();
    req.events.push_back(std::move(ne));
  }
  return req;
}

Result<AppendResult> Engine::AppendJson(const std::string& stream, const std::string& tenant,
                                        const Actor& actor, ExpectedVersion expected,
                                        const std::vector<EventInput>& events) {
  Result<AppendRequest> req = BuildRequest(stream, tenant, actor, expected, events);
  if (!req.ok()) return req.status();
  return log_->Append(std::move(req).value());
}

void Engine::AppendJsonAsync(const std::string& stream, const std::string& tenant,
                             const Actor& actor, ExpectedVersion expected,
                             const std::vector<EventInput>& events,
                             std::function<void(Result<AppendResult>)> done) {
  Result<AppendRequest> req = BuildRequest(stream, tenant, actor, expected, events);
  if (!req.ok()) {
    done(req.status());
    return;
  }
  log_->AppendAsync(std::move(req).value(), std::move(done));
}

std::string FormatTimestamp(int64_t us) {
  const time_t secs = static_cast<time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(us % 1000000));
  return buf;
}

bool ParseTimestamp(std::string_view text, int64_t* us) {
  if (text.empty()) return false;
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    if (text.size() > 18) return false;
    *us = std::stoll(std::string(text));
    return true;
  }
  int y, mo, d, h = 0, mi = 0, s = 0;
  char rest[40] = {0};
  const std::string t(text);
  int n = std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%39s", &y, &mo, &d, &h, &mi, &s, rest);
  if (n < 3) return false;
  if (n == 3 && t.size() != 10) return false;
  std::string r = rest;
  int64_t frac = 0;
  if (!r.empty() && r[0] == '.') {
    size_t i = 1;
    int digits = 0;
    while (i < r.size() && std::isdigit(static_cast<unsigned char>(r[i]))) {
      if (digits < 6) {
        frac = frac * 10 + (r[i] - '0');
        ++digits;
      }
      ++i;
    }
    while (digits++ < 6) frac *= 10;
    r = r.substr(i);
  }
  if (n > 3 && r != "Z" && r != "+00:00") return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  *us = static_cast<int64_t>(timegm(&tm)) * 1000000 + frac;
  return true;
}

namespace {

// Appends `v` as a JSON string literal. Bytes that are not valid UTF-8 come
// out as U+FFFD, so the output is always valid JSON.
void AppendJsonString(std::string* out, std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < v.size(); ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xf]);
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else {
      // Validate one UTF-8 sequence.
      size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
      bool ok = len > 0 && i + len <= v.size() && c < 0xf5;
      for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(v[i + k]) & 0xc0) == 0x80;
      if (ok) {
        out->append(v.substr(i, len));
        i += len - 1;
      } else {
        out->append("\xef\xbf\xbd");
      }
    }
  }
  out->push_back('"');
}

}  // namespace

std::string Engine::EventToJsonText(const Event& e) {
  std::string out;
  out.reserve(256 + e.payload.size() * 2);
  // Keys in sorted order, as nlohmann's DOM prints them.
  out += "{\"actor\":{\"id\":";
  AppendJsonString(&out, e.actor.id);
  out += ",\"role\":\"";
  out += RoleName(e.actor.role);
  out += "\"},\"event_id\":\"";
  out += EventIdToString(e.event_id);
  out += "\"";
  if (e.key_id != 0) {  // encrypted at rest under this data key
    out += ",\"key_id\":" + std::to_string(e.key_id);
  }
  out += ",\"lsn\":" + std::to_string(e.lsn);
  if (e.payload_encoding != 0) {
    // Still sealed: its key was destroyed or is not available here.
    out += ",\"payload_encrypted\":true,\"payload_error\":";
    AppendJsonString(&out, e.payload_error);
  } else {
    Result<std::string> text = IsKnownEventType(e.type) ? PayloadCodec::ToJson(e.type, e.payload)
                                                        : Result<std::string>(Status::NotFound(""));
    if (text.ok()) {
      out += ",\"payload\":";
      out += *text;
    } else {
      // Unknown type (a newer writer) or unprintable bytes: show them raw.
      std::string b64(sodium_base64_ENCODED_LEN(e.payload.size(), sodium_base64_VARIANT_ORIGINAL),
                      '\0');
      sodium_bin2base64(b64.data(), b64.size(),
                        reinterpret_cast<const unsigned char*>(e.payload.data()), e.payload.size(),
                        sodium_base64_VARIANT_ORIGINAL);
      b64.resize(std::strlen(b64.c_str()));
      out += ",\"payload_base64\":\"" + b64 + "\"";
    }
  }
  out += ",\"recorded_at\":\"" + FormatTimestamp(e.recorded_at_us) + "\"";
  out += ",\"recorded_at_us\":" + std::to_string(e.recorded_at_us);
  out += ",\"stream\":";
  AppendJsonString(&out, e.stream);
  out += ",\"tenant\":";
  AppendJsonString(&out, e.tenant);
  out += ",\"type\":";
  AppendJsonString(&out, EventTypeName(e.type));
  out += ",\"version\":" + std::to_string(e.stream_version);
  out += "}";
  return out;
}

nlohmann::json Engine::EventToJson(const Event& e) { return nlohmann::json::parse(EventToJsonText(e)); }

Status Engine::WaitForViews(uint64_t lsn, std::chrono::milliseconds timeout) {
  if (options_.read_only) {
    if (projector_->AppliedLsn() >= lsn) return Status::OK();
    return Status::TimedOut("views are at LSN " + std::to_string(projector_->AppliedLsn()) +
                            " and a read-only engine does not advance them");
  }
  if (!options_.run_projector_thread && projector_->AppliedLsn() < lsn) {
    return projector_->CatchUp();  // no thread would advance them
  }
  return projector_->WaitFor(lsn, timeout);
}

Result<std::vector<AuditHit>> Engine::QueryAudit(const AuditQuery& q) {
  if (q.tenant || q.actor || q.type) {
    auto reader = NewRocksViewReader(log_->db(), log_->views_cf(), AuditIndexProjection::kName);
    return AuditIndexProjection::Query(*reader, q);
  }
  // By time alone: recorded_at never decreases with the LSN, so the range is
  // a run of LSNs starting after the last event before `from`.
  Result<uint64_t> before = LsnAtTime(q.from_us - 1);
  if (!before.ok()) return before.status();
  std::vector<AuditHit> hits;
  Status inner;
  Status s = log_->ScanRecords(*before + 1, [&](uint64_t lsn, std::string_view rec) {
    if (IsRemovedRecord(rec)) return true;
    Event e;
    inner = DecodeRecordHeader(rec, &e);
    if (!inner.ok()) {
      inner = Status::Corruption("LSN " + std::to_string(lsn) + ": " + inner.message());
      return false;
    }
    if (e.recorded_at_us >= q.to_us) return false;
    if (e.recorded_at_us >= q.from_us) {
      hits.push_back({lsn, e.recorded_at_us, e.type, e.tenant, e.actor.id});
    }
    return hits.size() < q.limit;
  });
  if (!inner.ok()) return inner;
  if (!s.ok()) return s;
  return hits;
}

Result<nlohmann::json> Engine::Stats() {
  auto reader = NewRocksViewReader(log_->db(), log_->views_cf(), StreamStatsProjection::kName);
  Result<nlohmann::json> counts = StreamStatsProjection::Counts(*reader);
  if (!counts.ok()) return counts.status();
  Result<uint64_t> streams = StreamStatsProjection::CountStreams(*reader);
  if (!streams.ok()) return streams.status();
  nlohmann::json views = nlohmann::json::array();
  for (const ViewStatus& v : projector_->GetStatus()) {
    views.push_back({{"name", v.name}, {"checkpoint_lsn", v.checkpoint_lsn}, {"lag", v.lag},
                     {"error", v.error}});
  }
  return nlohmann::json{{"data_dir", options_.data_dir},
                        {"created_at", FormatTimestamp(log_->created_at_us())},
                        {"last_lsn", log_->LastLsn()},
                        {"streams", *streams},
                        {"events_by_tenant_and_type", std::move(*counts)},
                        {"views", std::move(views)}};
}

Result<uint64_t> Engine::LsnAtTime(int64_t us) {
  // recorded_at_us never decreases with the LSN (the writer keeps it
  // monotonic), so binary search over the LSNs.
  uint64_t lo = 0;  // invariant: recorded_at(lo) <= us (LSN 0 = before the log)
  uint64_t hi = log_->LastLsn() + 1;  // invariant: recorded_at(hi) > us
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    // A removed record has no time: take the next present event's (the
    // removed one's was no later), or "after everything" when none is left.
    Result<std::vector<Event>> e = log_->ReadAll(mid, 1);
    if (!e.ok()) return e.status();
    if (!e->empty() && e->front().lsn < hi && e->front().recorded_at_us <= us) {
      lo = e->front().lsn;
    } else {
      hi = mid;
    }
  }
  return lo;
}

Result<nlohmann::json> Engine::ReplayView(std::string_view view, uint64_t as_of_lsn,
                                          const std::function<void(uint64_t, uint64_t)>& progress) {
  std::unique_ptr<Projection> fresh;
  for (auto& p : MakeAllProjections()) {
    if (p->name() == view) fresh = std::move(p);
  }
  if (!fresh) return Status::NotFound("no view named '" + std::string(view) + "'");
  MemViewTxn txn;
  const uint64_t target = std::min(as_of_lsn, log_->LastLsn());
  uint64_t next = 1;
  while (next <= target) {
    Result<std::vector<Event>> events =
        log_->ReadAll(next, std::min<uint64_t>(4096, target - next + 1));
    if (!events.ok()) return events.status();
    if (events->empty()) break;
    for (const Event& e : *events) {
      if (e.lsn > target) break;
      Status s = fresh->Apply(e, txn);
      if (!s.ok()) return s;
      next = e.lsn + 1;
    }
    if (progress) progress(next - 1, target);
  }
  Result<nlohmann::json> dump = fresh->Dump(txn);
  if (!dump.ok()) return dump.status();
  return nlohmann::json{{"view", std::string(view)}, {"as_of_lsn", target}, {"state", *dump}};
}

Result<nlohmann::json> Engine::ReplayStream(std::string_view stream, uint64_t as_of_lsn) {
  nlohmann::json events = nlohmann::json::array();
  uint64_t version = 0;
  uint64_t last_lsn = 0;
  uint64_t from = 1;
  for (;;) {
    Result<std::vector<Event>> batch = log_->ReadStream(stream, from, 1024);
    if (!batch.ok()) return batch.status();
    bool done = batch->empty();
    for (const Event& e : *batch) {
      if (e.lsn > as_of_lsn) {
        done = true;
        break;
      }
      version = e.stream_version;
      last_lsn = e.lsn;
      events.push_back(EventToJson(e));
      from = e.stream_version + 1;
    }
    if (done || batch->size() < 1024) break;
  }
  if (version == 0) {
    return Status::NotFound("stream '" + std::string(stream) + "' has no events at or before LSN " +
                            std::to_string(as_of_lsn));
  }
  return nlohmann::json{{"stream", std::string(stream)},
                        {"as_of_lsn", as_of_lsn},
                        {"version", version},
                        {"last_lsn", last_lsn},
                        {"events", std::move(events)}};
}

}  // namespace logbook
