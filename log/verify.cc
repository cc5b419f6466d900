#include "log/verify.h"

#include <rocksdb/db.h>

#include <unordered_map>

#include "log/coding.h"
#include "log/log.h"
#include "log/record.h"

namespace logbook {

std::string VerifyProblem::ToString() const {
  std::string s = "LSN " + std::to_string(lsn);
  if (!stream.empty()) {
    s += " (stream '" + stream + "', version " + std::to_string(version) + ")";
  }
  return s + ": " + what;
}

namespace {

struct StreamState {
  uint64_t version = 0;
  uint64_t lsn = 0;
  Hash hash{};
};

// The hash version `version - 1` of `stream` must have: the genesis value for
// version 1, else the chain hash of that stored record.
Result<Hash> ExpectedPrevHash(const Log& log, const std::string& stream, uint64_t version) {
  if (version <= 1) return GenesisHash(stream);
  Result<uint64_t> lsn = log.FindStreamVersion(stream, version - 1);
  if (!lsn.ok()) return lsn.status();
  rocksdb::PinnableSlice v;
  rocksdb::Status rs = log.db()->Get(rocksdb::ReadOptions(), log.events_cf(),
                                     coding::Fixed64BE(*lsn), &v);
  if (!rs.ok()) return Status::FromRocks(rs, "reading LSN " + std::to_string(*lsn));
  const std::string_view rec(v.data(), v.size());
  if (IsRemovedRecord(rec)) {
    // Retention removed it: its removed record keeps the chain hash.
    RemovedRecord r;
    if (Status s = DecodeRemovedRecord(rec, &r); !s.ok()) return s;
    return r.chain_hash;
  }
  return ChainHash(rec);
}

}  // namespace

VerifyReport VerifyLog(const Log& log, const VerifyOptions& options) {
  VerifyReport report;
  std::unordered_map<std::string, StreamState> streams;
  const uint64_t last_lsn = log.LastLsn();
  uint64_t expected_lsn = options.from_lsn;
  bool stop = false;

  auto problem = [&](uint64_t lsn, const std::string& stream, uint64_t version, std::string what) {
    report.problems.push_back({lsn, stream, version, std::move(what)});
    if (options.stop_at_first || report.problems.size() >= options.max_problems) stop = true;
  };

  Status scan = log.ScanRecords(options.from_lsn, [&](uint64_t lsn, std::string_view rec) {
    ++report.records;
    if (report.first_lsn == 0) report.first_lsn = lsn;
    report.last_lsn = lsn;
    if (options.progress && report.records % 65536 == 0) options.progress(report.records, last_lsn);
    if (lsn != expected_lsn) {
      problem(expected_lsn, "", 0,
              lsn > expected_lsn ? "missing: next record is LSN " + std::to_string(lsn)
                                 : "out of order");
    }
    expected_lsn = lsn + 1;
    if (IsRemovedRecord(rec)) {
      ++report.removed;
      RemovedRecord r;
      if (Status s = DecodeRemovedRecord(rec, &r); !s.ok()) {
        problem(lsn, "", 0, s.message());
        return !stop;
      }
      if (r.lsn != lsn) {
        problem(lsn, r.stream, r.stream_version,
                "removed record says LSN " + std::to_string(r.lsn) + " under key " +
                    std::to_string(lsn));
      }
      if (r.reason != RemovalReason::kRetention) return !stop;  // erased: nothing else is kept
      // A pruned event keeps its place in its stream: versions still follow
      // one another, and its chain hash is what the next version must name.
      auto [it, fresh] = streams.try_emplace(r.stream);
      StreamState& st = it->second;
      if (!fresh && r.stream_version != st.version + 1) {
        problem(lsn, r.stream, r.stream_version,
                "version follows " + std::to_string(st.version) + " (LSN " +
                    std::to_string(st.lsn) + ")");
      }
      st.version = r.stream_version;
      st.lsn = lsn;
      st.hash = r.chain_hash;
      if (options.check_indexes) {
        Result<uint64_t> at = log.FindStreamVersion(r.stream, r.stream_version);
        if (!at.ok() || *at != lsn) {
          problem(lsn, r.stream, r.stream_version, "stream index does not point at this removed record");
        }
      }
      return !stop;
    }
    Event e;
    Status s = DecodeRecordHeader(rec, &e);
    if (!s.ok()) {
      problem(lsn, "", 0, s.message());
      return !stop;
    }
    if (e.lsn != lsn) {
      problem(lsn, e.stream, e.stream_version,
              "envelope says LSN " + std::to_string(e.lsn) + " under key " + std::to_string(lsn));
    }
    const Hash hash = ChainHash(rec);
    auto [it, fresh] = streams.try_emplace(e.stream);
    StreamState& st = it->second;
    if (fresh) {
      Result<Hash> want = ExpectedPrevHash(log, e.stream, e.stream_version);
      if (!want.ok()) {
        problem(lsn, e.stream, e.stream_version,
                "chain: cannot read the previous event: " + want.status().message());
      } else if (*want != e.prev_hash) {
        problem(lsn, e.stream, e.stream_version,
                e.stream_version == 1 ? "chain: prev_hash is not the stream's genesis value"
                                      : "chain: prev_hash does not match the previous event");
      }
    } else {
      if (e.stream_version != st.version + 1) {
        problem(lsn, e.stream, e.stream_version,
                "version follows " + std::to_string(st.version) + " (LSN " +
                    std::to_string(st.lsn) + ")");
      } else if (e.prev_hash != st.hash) {
        problem(lsn, e.stream, e.stream_version,
                "chain: prev_hash does not match the chain hash of LSN " + std::to_string(st.lsn));
      }
    }
    st.version = e.stream_version;
    st.lsn = lsn;
    st.hash = hash;
    if (options.check_indexes) {
      Result<uint64_t> at = log.FindStreamVersion(e.stream, e.stream_version);
      if (!at.ok() || *at != lsn) {
        problem(lsn, e.stream, e.stream_version,
                "stream index does not point at this record" +
                    (at.ok() ? " (points at LSN " + std::to_string(*at) + ")" : std::string()));
      }
      Result<uint64_t> by_id = log.FindEventId(e.event_id);
      if (!by_id.ok() || *by_id != lsn) {
        problem(lsn, e.stream, e.stream_version,
                "idempotency index for event id " + EventIdToString(e.event_id) +
                    " does not point at this record");
      }
    }
    return !stop;
  });
  report.status = scan;
  report.streams = streams.size();
  if (!scan.ok() || stop) return report;
  if (last_lsn >= expected_lsn) {
    problem(expected_lsn, "", 0,
            "missing: the log's last LSN is " + std::to_string(last_lsn));
  }
  if (options.check_stream_heads) {
    for (const auto& [stream, st] : streams) {
      if (stop) break;
      Result<StreamHead> head = log.GetStreamHead(stream);
      if (!head.ok()) {
        problem(st.lsn, stream, st.version, "stream head: " + head.status().message());
      } else if (head->version != st.version || head->last_lsn != st.lsn ||
                 head->last_hash != st.hash) {
        problem(st.lsn, stream, st.version,
                "stream head says version " + std::to_string(head->version) + " at LSN " +
                    std::to_string(head->last_lsn) + (head->last_hash != st.hash
                                                          ? " with a different chain hash"
                                                          : ""));
      }
    }
  }
  return report;
}

}  // namespace logbook
