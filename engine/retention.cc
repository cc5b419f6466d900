#include "engine/retention.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "engine/holds.h"
#include "engine/payload_codec.h"
#include "engine/sessions.h"
#include "log/coding.h"
#include "projections/hitl_checkpoints.h"
#include "projections/sessions.h"
#include "projections/view_store.h"
#include "schemas/events_generated.h"

namespace logbook {

namespace {

constexpr std::string_view kRunKey = "retention/run";
constexpr std::string_view kRetentionStream = "$retention";
constexpr auto kViewWait = std::chrono::seconds(60);

// Families whose views read events back from the log by LSN: pruning them
// would break those reads, so a policy may not name them.
bool Unprunable(std::string_view family) { return family == "workspace" || family == "system"; }

std::string JsonString(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Event types something may still need after they expire (see the header).
bool MayBeNeeded(uint16_t t) {
  const auto type = static_cast<fb::EventType>(t);
  return type == fb::EventType::SnapshotCreated || type == fb::EventType::TurnProposed ||
         type == fb::EventType::CheckpointCreated;
}

// Whether the expired event `e` (payload opened) is still needed; see the
// header. Undecodable payloads (a destroyed key) are needed by nothing.
Result<bool> Needed(Engine& engine, const Event& e) {
  const auto type = static_cast<fb::EventType>(e.type);
  if (!MayBeNeeded(e.type)) return false;
  if (e.payload_encoding != 0) return false;
  Result<std::string> text = PayloadCodec::ToJson(e.type, e.payload);
  if (!text.ok()) return false;
  const nlohmann::json p = nlohmann::json::parse(*text, nullptr, false);
  if (!p.is_object()) return false;
  if (type == fb::EventType::CheckpointCreated) {
    auto r = NewRocksViewReader(engine.log().db(), engine.log().views_cf(),
                                HitlCheckpointsProjection::kName);
    Result<std::optional<CheckpointState>> cp =
        HitlCheckpointsProjection::Get(*r, JsonString(p, "checkpoint_id"));
    if (!cp.ok()) return cp.status();
    return cp->has_value() && (*cp)->status == CheckpointStatus::kPending;
  }
  std::string sid = JsonString(p, "session_id");
  if (sid.empty() && e.stream.starts_with(SessionsProjection::kStreamPrefix)) {
    sid = e.stream.substr(SessionsProjection::kStreamPrefix.size());
  }
  auto r = NewRocksViewReader(engine.log().db(), engine.log().views_cf(),
                              SessionsProjection::kName);
  if (type == fb::EventType::SnapshotCreated) {
    Result<std::optional<nlohmann::json>> snap =
        SessionsProjection::Snapshot(*r, sid, JsonString(p, "snapshot_id"));
    if (!snap.ok()) return snap.status();
    return snap->has_value();
  }
  Result<std::optional<nlohmann::json>> wal =
      SessionsProjection::WalEntry(*r, sid, JsonString(p, "turn_id"));
  if (!wal.ok()) return wal.status();
  return wal->has_value() && JsonString(**wal, "status") == "proposed";
}

struct Marker {
  std::string run_id;
  nlohmann::json json;  // as stored
};

Result<std::optional<Marker>> ReadMarker(Log& log) {
  std::string v;
  rocksdb::Status rs = log.db()->Get(rocksdb::ReadOptions(), log.meta_cf(), kRunKey, &v);
  if (rs.IsNotFound()) return std::optional<Marker>();
  if (!rs.ok()) return Status::FromRocks(rs, "reading the retention marker");
  nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
  if (!j.is_object() || !j.contains("run_id") || !j["run_id"].is_string() ||
      !j.contains("counts") || !j["counts"].is_object()) {
    return Status::Corruption("meta key retention/run does not hold a retention run");
  }
  return std::optional<Marker>(Marker{j["run_id"].get<std::string>(), std::move(j)});
}

}  // namespace

const std::vector<std::string>& RetentionFamilies() {
  static const std::vector<std::string> kFamilies = {
      "sessions",   "approvals", "graph",  "usage", "lifecycle",
      "governance", "workspace", "system", "other"};
  return kFamilies;
}

std::string_view EventFamily(uint16_t type) {
  if (type >= 1 && type < 100) return "system";
  if (type >= 100 && type < 300) return "sessions";
  if (type >= 300 && type < 400) return "approvals";
  if (type >= 400 && type < 500) return "graph";
  if (type >= 500 && type < 600) return "usage";
  if (type >= 600 && type < 700) return "lifecycle";
  if (type >= 700 && type < 800) return "governance";
  if (type >= 800 && type < 900) return "workspace";
  return "other";
}

RetentionPolicy RetentionPolicy::Defaults() {
  RetentionPolicy p;
  p.max_age_days = {{"sessions", 90}, {"approvals", 90}, {"usage", 180}, {"governance", 365}};
  return p;
}

Status RetentionPolicy::Set(std::string_view assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos) {
    return Status::InvalidArgument("retention '" + std::string(assignment) +
                                   "': expected FAMILY=DAYS or FAMILY=keep");
  }
  const std::string family(assignment.substr(0, eq));
  const std::string value(assignment.substr(eq + 1));
  const auto& all = RetentionFamilies();
  if (std::find(all.begin(), all.end(), family) == all.end()) {
    std::string names;
    for (const auto& f : all) names += (names.empty() ? "" : ", ") + f;
    return Status::InvalidArgument("unknown event family '" + family + "' (" + names + ")");
  }
  if (value == "keep") {
    max_age_days.erase(family);
    return Status::OK();
  }
  if (Unprunable(family)) {
    return Status::InvalidArgument("the " + family +
                                   " family cannot be pruned: its views read events from the log");
  }
  char* end = nullptr;
  const double days = std::strtod(value.c_str(), &end);
  if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(days) || days <= 0 ||
      days > 365000) {
    return Status::InvalidArgument("retention for " + family + ": '" + value +
                                   "' is not a number of days > 0 (or 'keep')");
  }
  max_age_days[family] = days;
  return Status::OK();
}

Status RetentionPolicy::SetAll(const nlohmann::json& families) {
  if (!families.is_object()) {
    return Status::InvalidArgument("a retention policy is a JSON object {\"family\": days or \"keep\"}");
  }
  for (const auto& [family, v] : families.items()) {
    std::string value;
    if (v.is_number()) {
      value = v.dump();
    } else if (v.is_string()) {
      value = v.get<std::string>();
    } else {
      return Status::InvalidArgument("retention for " + family + " must be days or \"keep\"");
    }
    if (Status s = Set(family + "=" + value); !s.ok()) return s;
  }
  return Status::OK();
}

nlohmann::json RetentionPolicy::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [family, days] : max_age_days) j[family] = days;
  return j;
}

nlohmann::json RetentionReport::ToJson() const {
  nlohmann::json c = nlohmann::json::object();
  for (const auto& [family, n] : counts) c[family] = n;
  nlohmann::json j = {{"dry_run", dry_run},
                      {"run_id", run_id},
                      {"tenant", tenant},
                      {"up_to_lsn", up_to_lsn},
                      {"counts", std::move(c)},
                      {"total_purged", total},
                      {"record_bytes", record_bytes},
                      {"kept_needed", kept_needed},
                      {"held_tenants", held_tenants},
                      {"policy", policy}};
  if (resumed) j["resumed"] = true;
  if (!dry_run) j["enforced_lsn"] = enforced_lsn;
  return j;
}

Result<RetentionReport> RetentionService::Run(const RetentionPolicy& policy,
                                              const RunOptions& options, const Actor& by) {
  Log& log = engine_.log();
  if (!options.tenant.empty()) {
    if (Status s = ValidateTenantName(options.tenant); !s.ok()) return s;
  }
  for (const auto& [family, days] : policy.max_age_days) {
    if (Unprunable(family)) {
      return Status::InvalidArgument("the " + family + " family cannot be pruned");
    }
  }
  if (!options.dry_run && engine_.read_only()) {
    return Status::ReadOnly("retention needs the data directory for writing");
  }
  if (!engine_.read_only()) {
    if (Status s = engine_.WaitForViews(log.LastLsn(), kViewWait); !s.ok()) return s;
  }

  RetentionReport report;
  report.dry_run = options.dry_run;
  report.tenant = options.tenant;
  report.policy = policy.ToJson();

  // A run a crash cut short is finished first, under its own id and counts.
  std::optional<Marker> marker;
  if (!options.dry_run) {
    Result<std::optional<Marker>> m = ReadMarker(log);
    if (!m.ok()) return m.status();
    marker = std::move(*m);
  }
  if (marker) {
    const EventId done = Sessions::DerivedEventId({"retention-enforced", marker->run_id});
    if (log.FindEventId(done).ok()) {
      // Its RetentionEnforced landed; only the marker was left.
      rocksdb::WriteOptions wo;
      wo.sync = true;
      rocksdb::Status rs = log.db()->Delete(wo, log.meta_cf(), kRunKey);
      if (!rs.ok()) return Status::FromRocks(rs, "dropping the retention marker");
      marker.reset();
    }
  }
  if (marker) {
    report.resumed = true;
    report.run_id = marker->run_id;
    for (const auto& [family, n] : marker->json["counts"].items()) {
      if (n.is_number_unsigned()) report.counts[family] = n.get<uint64_t>();
    }
    report.total = marker->json.value("total", uint64_t{0});
    report.record_bytes = marker->json.value("record_bytes", uint64_t{0});
  } else {
    EventId id = RandomEventId();
    report.run_id = EventIdToString(id);
  }

  // Held tenants are skipped; a run for one held tenant is refused.
  HoldService holds(engine_);
  if (!options.tenant.empty()) {
    if (Status s = holds.CheckNoHold(options.tenant); !s.ok()) return s;
  }
  Result<std::vector<HoldEntry>> in_force = holds.List("");
  if (!in_force.ok()) return in_force.status();
  std::unordered_set<std::string> held;
  for (const HoldEntry& h : *in_force) {
    if (options.tenant.empty() || h.tenant == options.tenant) held.insert(h.tenant);
  }
  report.held_tenants.assign(held.begin(), held.end());
  std::sort(report.held_tenants.begin(), report.held_tenants.end());

  // Plan: one pass in LSN order (= version order within each stream).
  const int64_t now = engine_.Now();
  std::unordered_map<std::string, int64_t> cutoff;  // family -> events recorded before are expired
  int64_t latest_cutoff = INT64_MIN;
  for (const auto& [family, days] : policy.max_age_days) {
    const int64_t c = now - static_cast<int64_t>(std::llround(days * kMicrosPerDay));
    cutoff[family] = c;
    latest_cutoff = std::max(latest_cutoff, c);
  }
  report.up_to_lsn = engine_.read_only() ? log.LastLsn()
                                         : std::min(log.LastLsn(), engine_.projector().AppliedLsn());
  std::unordered_set<std::string> stopped;  // streams whose prefix ended
  std::vector<uint64_t> lsns;
  std::vector<uint8_t> family_of;  // index into RetentionFamilies(), per LSN
  std::vector<uint32_t> size_of;   // record bytes, per LSN
  std::vector<uint64_t> planned(RetentionFamilies().size(), 0);
  uint64_t planned_bytes = 0;
  Status inner;
  Status scan;
  if (!cutoff.empty()) {
    scan = log.ScanRecords(1, [&](uint64_t lsn, std::string_view rec) {
      if (lsn > report.up_to_lsn) return false;
      if (IsRemovedRecord(rec)) return true;
      Event e;
      if (Status s = DecodeRecordHeader(rec, &e); !s.ok()) {
        inner = Status::Corruption("LSN " + std::to_string(lsn) + ": " + s.message());
        return false;
      }
      // Times never decrease with the LSN: past the latest cutoff nothing
      // can be expired any more.
      if (e.recorded_at_us >= latest_cutoff) return false;
      if (!options.tenant.empty() && e.tenant != options.tenant) return true;
      if (held.count(e.tenant) != 0) return true;
      if (stopped.count(e.stream) != 0) return true;
      const std::string_view family = EventFamily(e.type);
      auto c = cutoff.find(std::string(family));
      if (c == cutoff.end() || e.recorded_at_us >= c->second) {
        stopped.insert(e.stream);
        return true;
      }
      if (MayBeNeeded(e.type)) {
        Result<Event> full = log.ReadEvent(lsn);  // payload opened
        if (!full.ok()) {
          inner = full.status();
          return false;
        }
        Result<bool> needed = Needed(engine_, *full);
        if (!needed.ok()) {
          inner = needed.status();
          return false;
        }
        if (*needed) {
          ++report.kept_needed;
          stopped.insert(e.stream);
          return true;
        }
      }
      const auto& all = RetentionFamilies();
      const auto idx = static_cast<uint8_t>(std::find(all.begin(), all.end(), family) - all.begin());
      lsns.push_back(lsn);
      family_of.push_back(idx);
      size_of.push_back(static_cast<uint32_t>(rec.size()));
      ++planned[idx];
      planned_bytes += rec.size();
      return true;
    });
  }
  if (!inner.ok()) return inner;
  if (!scan.ok()) return scan;

  if (options.dry_run) {
    for (size_t i = 0; i < planned.size(); ++i) {
      if (planned[i] > 0) report.counts[RetentionFamilies()[i]] = planned[i];
    }
    report.total = lsns.size();
    report.record_bytes = planned_bytes;
    return report;
  }

  // Remove, batch by batch; each batch carries the run's progress.
  const size_t batch = std::max<size_t>(options.batch_events, 1);
  for (size_t start = 0; start < lsns.size(); start += batch) {
    const size_t end = std::min(lsns.size(), start + batch);
    const std::vector<uint64_t> part(lsns.begin() + static_cast<long>(start),
                                     lsns.begin() + static_cast<long>(end));
    RetentionReport next = report;
    for (size_t i = start; i < end; ++i) {
      ++next.counts[RetentionFamilies()[family_of[i]]];
      next.record_bytes += size_of[i];
    }
    next.total += end - start;
    Result<uint64_t> removed = log.RemoveEvents(
        part, RemovalReason::kRetention, {}, [&](rocksdb::WriteBatch* b) {
          nlohmann::json m = {{"run_id", next.run_id},
                              {"policy", next.policy},
                              {"tenant", next.tenant},
                              {"counts", next.ToJson()["counts"]},
                              {"total", next.total},
                              {"record_bytes", next.record_bytes}};
          return Status::FromRocks(b->Put(log.meta_cf(), kRunKey, m.dump()), "retention marker");
        });
    if (!removed.ok()) return removed.status();
    report = std::move(next);
  }

  // The audited record of the run (also of a resumed one, with its totals).
  if (report.total > 0 || report.resumed) {
    nlohmann::json counts = nlohmann::json::array();
    for (const auto& [family, n] : report.counts) counts.push_back({{"family", family}, {"events", n}});
    nlohmann::json payload = {{"counts", std::move(counts)},
                              {"total_purged", report.total},
                              {"policy_json", report.policy.dump()},
                              {"tenant", report.tenant},
                              {"held_tenants", report.held_tenants},
                              {"up_to_lsn", report.up_to_lsn},
                              {"by", by.id},
                              {"enforced_at_us", now}};
    const EventId id = Sessions::DerivedEventId({"retention-enforced", report.run_id});
    Result<AppendResult> r =
        engine_.AppendJson(std::string(kRetentionStream), "", by, ExpectedVersion::Any(),
                           {{"RetentionEnforced", EventIdToString(id), payload.dump()}});
    if (!r.ok()) return r.status();
    report.enforced_lsn = r->last_lsn;
  }
  if (report.total > 0 || report.resumed) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status rs = log.db()->Delete(wo, log.meta_cf(), kRunKey);
    if (!rs.ok()) return Status::FromRocks(rs, "dropping the retention marker");
  }
  if (options.compact && !lsns.empty()) {
    const std::string from = coding::Fixed64BE(lsns.front());
    const std::string to = coding::Fixed64BE(lsns.back() + 1);
    rocksdb::Slice b(from), e(to);
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    rocksdb::Status rs = log.db()->CompactRange(co, log.events_cf(), &b, &e);
    if (!rs.ok()) return Status::FromRocks(rs, "compacting the pruned range");
  }
  return report;
}

}  // namespace logbook
