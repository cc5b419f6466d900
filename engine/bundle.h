#pragma once
// Session bundles: export one session to a self-describing, redacted JSON
// Lines file, and import such a file as a new sandbox session
// (docs/log_format.md "Session bundles").
//
//   line 1        {"kind":"header","bundle":"logbook-session","format_version":1,...}
//   lines 2..     {"kind":"event",...}     one per event of the session, in order
//                 {"kind":"snapshot",...}  one per snapshot the session holds
//   last line     {"kind":"manifest","counts":...,"line_hashes":[...],"body_hash":...}
//
// Export streams: events are read in pages and written line by line; only
// the folded session view (to recompute the hashes that redaction changes)
// and one hash per line are held in memory. Import reads the bundle three
// times — integrity (size, version, every line hash, body hash, counts),
// meaning (every event decodes against the schema and the state hashes of
// the turns and snapshots fold to what the bundle says), then the appends —
// so a bundle that fails any check changes nothing.
//
// Thread-safety: free functions; safe from any thread.

#include <functional>
#include <istream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "engine/redact.h"
#include "log/record.h"
#include "log/status.h"

namespace logbook {

class Engine;

constexpr uint32_t kBundleFormatVersion = 1;
constexpr std::string_view kBundleKind = "logbook-session";

struct ExportOptions {
  bool redact = true;
  std::optional<RedactStrategy> strategy;  // every rule's strategy; default label
  std::string rules_file;                  // "" = SessionOptions::redaction_rules_file
  uint64_t max_bytes = 0;                  // 0 = SessionOptions::bundle_max_bytes
};

struct ExportSummary {
  std::string session_id;
  uint64_t events = 0, snapshots = 0, bytes = 0;
  std::string body_hash;
  RedactionCounts redactions;
  nlohmann::json ToJson() const;
};

// Writes the bundle of `session_id` to `out`. On error the output holds a
// partial bundle (no manifest), which import rejects as truncated.
Result<ExportSummary> ExportSession(Engine& engine, const std::string& session_id,
                                    std::ostream& out, const ExportOptions& options);

struct ImportOptions {
  bool preserve_turn_ids = false;  // keep the bundle's turn ids (default: new ones)
  std::string tenant;              // "" = the bundle's tenant
  std::string session_id;          // "" = a new UUID
  uint64_t max_bytes = 0;          // 0 = SessionOptions::bundle_max_bytes
};

struct ImportSummary {
  std::string session_id, source_session_id, tenant;
  uint64_t events = 0, snapshots = 0, skipped = 0;
  nlohmann::json ToJson() const;
};

// Opens the bundle from its start; called once per pass.
using BundleSource = std::function<std::unique_ptr<std::istream>()>;

// Validates the whole bundle, then creates the sandbox session. A rejected
// bundle gives kCorruption (damaged or tampered: sizes, hashes, truncation)
// or kInvalidArgument (well-formed but unusable: version, schema), with the
// line and the reason.
Result<ImportSummary> ImportSession(Engine& engine, const Actor& actor, const BundleSource& source,
                                    const ImportOptions& options);

// True for the error of a bundle over the size limit (HTTP 413).
bool IsBundleTooLarge(const Status& s);

}  // namespace logbook
