#include "projections/stream_stats.h"

#include "log/coding.h"
#include "log/event_types.h"

namespace logbook {

namespace {

std::string HeadKey(std::string_view stream) { return "h" + std::string(stream); }

std::string CountKey(std::string_view tenant, uint16_t type) {
  std::string k = "c" + std::string(tenant);
  k.push_back('\0');
  k.push_back(static_cast<char>(type >> 8));
  k.push_back(static_cast<char>(type & 0xff));
  return k;
}

bool DecodeHeadValue(std::string_view v, StreamStatsHead* h) {
  if (v.size() < 26) return false;
  h->version = coding::DecodeFixed64BE(v.data());
  h->last_lsn = coding::DecodeFixed64BE(v.data() + 8);
  h->last_type = static_cast<uint16_t>((static_cast<uint8_t>(v[16]) << 8) | static_cast<uint8_t>(v[17]));
  h->last_recorded_at_us = static_cast<int64_t>(coding::DecodeFixed64BE(v.data() + 18));
  h->tenant.assign(v.data() + 26, v.size() - 26);
  return true;
}

}  // namespace

Status StreamStatsProjection::Apply(const Event& e, ViewTxn& txn) {
  std::string head;
  coding::PutFixed64BE(&head, e.stream_version);
  coding::PutFixed64BE(&head, e.lsn);
  head.push_back(static_cast<char>(e.type >> 8));
  head.push_back(static_cast<char>(e.type & 0xff));
  coding::PutFixed64BE(&head, static_cast<uint64_t>(e.recorded_at_us));
  head.append(e.tenant);
  txn.Put(HeadKey(e.stream), head);

  const std::string ck = CountKey(e.tenant, e.type);
  Result<std::optional<std::string>> cur = txn.Get(ck);
  if (!cur.ok()) return cur.status();
  uint64_t n = 0;
  if (cur->has_value()) {
    if ((*cur)->size() != 8) return Status::Corruption("stream_stats: count of bad length");
    n = coding::DecodeFixed64BE((*cur)->data());
  }
  txn.Put(ck, coding::Fixed64BE(n + 1));
  return Status::OK();
}

Result<std::optional<StreamStatsHead>> StreamStatsProjection::GetHead(ViewReader& r,
                                                                      std::string_view stream) {
  Result<std::optional<std::string>> v = r.Get(HeadKey(stream));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<StreamStatsHead>();
  StreamStatsHead h;
  if (!DecodeHeadValue(**v, &h)) return Status::Corruption("stream_stats: head of bad length");
  return std::optional<StreamStatsHead>(std::move(h));
}

Result<uint64_t> StreamStatsProjection::CountStreams(ViewReader& r) {
  uint64_t n = 0;
  Status s = r.Scan("h", [&](std::string_view, std::string_view) {
    ++n;
    return true;
  });
  if (!s.ok()) return s;
  return n;
}

Result<nlohmann::json> StreamStatsProjection::Counts(ViewReader& r) {
  nlohmann::json out = nlohmann::json::object();
  Status bad;
  Status s = r.Scan("c", [&](std::string_view k, std::string_view v) {
    const size_t nul = k.find('\0', 1);
    if (nul == std::string_view::npos || k.size() != nul + 3 || v.size() != 8) {
      bad = Status::Corruption("stream_stats: malformed count entry");
      return false;
    }
    std::string tenant(k.substr(1, nul - 1));
    if (tenant.empty()) tenant = "(system)";
    const auto type = static_cast<uint16_t>((static_cast<uint8_t>(k[nul + 1]) << 8) |
                                            static_cast<uint8_t>(k[nul + 2]));
    out[tenant][EventTypeName(type)] = coding::DecodeFixed64BE(v.data());
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

Result<nlohmann::json> StreamStatsProjection::Dump(ViewReader& reader) {
  nlohmann::json streams = nlohmann::json::object();
  Status bad;
  Status s = reader.Scan("h", [&](std::string_view k, std::string_view v) {
    StreamStatsHead h;
    if (!DecodeHeadValue(v, &h)) {
      bad = Status::Corruption("stream_stats: head of bad length");
      return false;
    }
    streams[std::string(k.substr(1))] = {{"version", h.version},
                                         {"last_lsn", h.last_lsn},
                                         {"last_type", EventTypeName(h.last_type)},
                                         {"last_recorded_at_us", h.last_recorded_at_us},
                                         {"tenant", h.tenant}};
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  Result<nlohmann::json> counts = Counts(reader);
  if (!counts.ok()) return counts.status();
  return nlohmann::json{{"streams", std::move(streams)}, {"counts", std::move(*counts)}};
}

}  // namespace logbook
