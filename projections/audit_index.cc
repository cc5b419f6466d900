#include "projections/audit_index.h"

#include <algorithm>
#include <tuple>

#include "log/coding.h"
#include "log/event_types.h"

namespace logbook {

namespace {

void PutType(std::string* s, uint16_t type) {
  s->push_back(static_cast<char>(type >> 8));
  s->push_back(static_cast<char>(type & 0xff));
}

uint16_t GetType(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}

std::string TimeSuffix(int64_t ts, uint64_t lsn) {
  std::string s;
  coding::PutFixed64BE(&s, static_cast<uint64_t>(ts));
  coding::PutFixed64BE(&s, lsn);
  return s;
}

bool DecodeValue(std::string_view v, AuditHit* h) {
  if (v.size() < 3) return false;
  h->type = GetType(v.data());
  const size_t nul = v.find('\0', 2);
  if (nul == std::string_view::npos) return false;
  h->tenant.assign(v.substr(2, nul - 2));
  h->actor.assign(v.substr(nul + 1));
  return true;
}

}  // namespace

Status AuditIndexProjection::Apply(const Event& e, ViewTxn& txn) {
  const std::string suffix = TimeSuffix(e.recorded_at_us, e.lsn);
  std::string value;
  PutType(&value, e.type);
  value.append(e.tenant);
  value.push_back('\0');
  value.append(e.actor.id);

  txn.Put("t" + e.tenant + '\0' + suffix, value);
  txn.Put("a" + e.actor.id + '\0' + suffix, value);
  std::string yk = "y";
  PutType(&yk, e.type);
  txn.Put(yk + suffix, value);
  return Status::OK();
}

Result<std::vector<AuditHit>> AuditIndexProjection::Query(ViewReader& r, const AuditQuery& q) {
  std::string prefix;
  if (q.actor) {
    prefix = "a" + *q.actor + '\0';
  } else if (q.type) {
    prefix = "y";
    PutType(&prefix, *q.type);
  } else if (q.tenant) {
    prefix = "t" + *q.tenant + '\0';
  } else {
    return Status::InvalidArgument("audit query needs a tenant, an actor or a type");
  }
  std::string start = prefix;
  coding::PutFixed64BE(&start, static_cast<uint64_t>(std::max<int64_t>(q.from_us, 0)));

  std::vector<AuditHit> hits;
  Status bad;
  Status s = r.Scan(prefix, start, [&](std::string_view k, std::string_view v) {
    if (k.size() != prefix.size() + 16) {
      bad = Status::Corruption("audit_index: key of bad length");
      return false;
    }
    AuditHit h;
    h.recorded_at_us = static_cast<int64_t>(coding::DecodeFixed64BE(k.data() + prefix.size()));
    if (h.recorded_at_us >= q.to_us) return false;
    h.lsn = coding::DecodeFixed64BE(k.data() + prefix.size() + 8);
    if (!DecodeValue(v, &h)) {
      bad = Status::Corruption("audit_index: value of bad length");
      return false;
    }
    if ((q.tenant && h.tenant != *q.tenant) || (q.actor && h.actor != *q.actor) ||
        (q.type && h.type != *q.type)) {
      return true;
    }
    hits.push_back(std::move(h));
    return hits.size() < q.limit;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return hits;
}

Result<nlohmann::json> AuditIndexProjection::Dump(ViewReader& reader) {
  // Every event is under exactly one "y" (type) key: list them in time order.
  std::vector<AuditHit> hits;
  Status bad;
  Status s = reader.Scan("y", [&](std::string_view k, std::string_view v) {
    if (k.size() != 19) {
      bad = Status::Corruption("audit_index: key of bad length");
      return false;
    }
    AuditHit h;
    h.recorded_at_us = static_cast<int64_t>(coding::DecodeFixed64BE(k.data() + 3));
    h.lsn = coding::DecodeFixed64BE(k.data() + 11);
    if (!DecodeValue(v, &h)) {
      bad = Status::Corruption("audit_index: value of bad length");
      return false;
    }
    hits.push_back(std::move(h));
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  std::sort(hits.begin(), hits.end(), [](const AuditHit& a, const AuditHit& b) {
    return std::tie(a.recorded_at_us, a.lsn) < std::tie(b.recorded_at_us, b.lsn);
  });
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& h : hits) {
    entries.push_back({{"lsn", h.lsn},
                       {"recorded_at_us", h.recorded_at_us},
                       {"type", EventTypeName(h.type)},
                       {"tenant", h.tenant},
                       {"actor", h.actor}});
  }
  return nlohmann::json{{"entries", std::move(entries)}};
}

}  // namespace logbook
