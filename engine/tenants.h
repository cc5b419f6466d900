#pragma once
// Tenant export and deletion (docs/operations.md "Tenant export and
// deletion", which also gives the bundle's layout).
//
// Export writes every event of a tenant, in LSN order, with its artifact
// index and a manifest of counts and BLAKE2b-256 hashes, into a new
// directory, and appends TenantExported.
//
// Delete removes every event of the tenant from the log (removed records of
// reason "tenant erased": nothing of the tenant is left in them; each
// stream goes whole in one synced batch with its index entries), deletes
// its graph chunks, destroys its data keys (crypto-shredding: copies of the
// data directory taken before cannot be read for the tenant either), refolds
// the views from the log so no derived copy remains, and appends
// TenantDeleted to the system stream $compliance (the tenant's own streams
// are gone). A legal hold refuses it (kHeld). Progress is kept under the
// meta key tenant-delete/<tenant>, written with each batch, so a delete cut
// short is finished by running it again, and the TenantDeleted it appends
// counts everything.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"

namespace logbook {

struct TenantExportReport {
  std::string tenant;
  std::string dir;  // the bundle directory created
  uint64_t up_to_lsn = 0;
  std::map<std::string, uint64_t> counts;  // family -> events
  uint64_t events = 0;
  uint64_t artifacts = 0;
  uint64_t bytes = 0;           // of all files
  std::string manifest_hash;    // BLAKE2b-256 hex of manifest.json
  uint64_t exported_lsn = 0;    // LSN of TenantExported
  nlohmann::json ToJson() const;
};

struct TenantDeleteReport {
  std::string tenant;
  bool dry_run = true;
  bool resumed = false;
  std::map<std::string, uint64_t> counts;  // family -> events removed (or to remove)
  uint64_t events = 0;
  uint64_t streams = 0;
  uint64_t chunks = 0;
  std::vector<uint32_t> destroyed_key_ids;  // live runs
  uint64_t total_items = 0;                 // events + chunks
  uint64_t deleted_lsn = 0;                 // LSN of TenantDeleted (live runs that removed something)
  nlohmann::json ToJson() const;
};

class TenantService {
 public:
  explicit TenantService(Engine& engine) : engine_(engine) {}

  // Writes <out_dir>/<tenant>-export-<UTC time>/ and returns what it holds.
  Result<TenantExportReport> Export(const std::string& tenant, const std::string& out_dir,
                                    const Actor& by);
  Result<TenantDeleteReport> Delete(const std::string& tenant, bool dry_run, const Actor& by,
                                    const std::string& reason = "");

  size_t batch_events = 20000;  // events removed per synced batch (whole streams)

 private:
  Engine& engine_;
};

}  // namespace logbook
