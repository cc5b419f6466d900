#pragma once
// Verification of stored records: what `logbook audit verify` and the tail
// check on open run. Checks, per record in LSN order:
//   - the XXH3-64 checksum and the envelope (record.h);
//   - the key equals the envelope's LSN, and LSNs are dense (no gap);
//   - the chain: prev_hash equals the chain hash of the stream's previous
//     event, or the stream's genesis value; a removed record (retention)
//     stands in for its event with the chain hash it kept;
//   - versions within a stream go up by one;
//   - the stream index and idempotency index point back at the record;
// and, at the end, that each stream's head (derived from its last stream-index
// entry) agrees with the stream's last event.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "log/status.h"

namespace logbook {

class Log;

struct VerifyOptions {
  uint64_t from_lsn = 1;
  bool check_stream_heads = true;
  bool check_indexes = true;
  bool stop_at_first = false;
  size_t max_problems = 100;
  // Called every 64 Ki records with (records checked, last LSN of the log).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct VerifyProblem {
  uint64_t lsn = 0;
  std::string stream;     // empty when unknown (e.g. the record does not decode)
  uint64_t version = 0;
  std::string what;
  std::string ToString() const;
};

struct VerifyReport {
  Status status;           // I/O errors reading the log (not findings)
  uint64_t records = 0;    // records checked (removed ones included)
  uint64_t removed = 0;    // of which removed records (retention, tenant erasure)
  uint64_t streams = 0;    // streams seen
  uint64_t first_lsn = 0;
  uint64_t last_lsn = 0;
  std::vector<VerifyProblem> problems;
  bool clean() const { return status.ok() && problems.empty(); }
};

VerifyReport VerifyLog(const Log& log, const VerifyOptions& options);

}  // namespace logbook
