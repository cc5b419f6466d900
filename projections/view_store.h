#pragma once
// Storage for views: in RocksDB (the `views` column family, one key prefix per
// view: "<view name>" 0x00 <view key>) or in memory (replay as of an LSN).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "projections/projection.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace logbook {

// A batch of view changes over RocksDB. Reads see the batch's own writes on
// top of the database (an ordered in-memory overlay; cheaper than RocksDB's
// WriteBatchWithIndex for the many small read-modify-writes of a fold).
// Not thread-safe.
class RocksViewBatch {
 public:
  RocksViewBatch(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* views_cf);
  ~RocksViewBatch();
  // A transaction scoped to one view's keys; valid while this batch lives.
  std::unique_ptr<ViewTxn> ForView(std::string_view view);
  // Put into another column family in the same batch (projection checkpoints).
  void PutRaw(rocksdb::ColumnFamilyHandle* cf, std::string_view key, std::string_view value);
  // Every change of the batch, ready for DB::Write.
  rocksdb::WriteBatch* GetWriteBatch();
  rocksdb::DB* db() const { return db_; }
  rocksdb::ColumnFamilyHandle* cf() const { return cf_; }

  // The overlay: full key -> value, or nullopt for a deletion.
  using Overlay = std::map<std::string, std::optional<std::string>, std::less<>>;
  Overlay& overlay() { return overlay_; }

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  Overlay overlay_;
  std::vector<std::tuple<rocksdb::ColumnFamilyHandle*, std::string, std::string>> raw_;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
};

// Read-only access to a view as stored in RocksDB.
std::unique_ptr<ViewReader> NewRocksViewReader(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                               std::string_view view);

// A view held in memory. Not thread-safe.
class MemViewTxn : public ViewTxn {
 public:
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Scan(std::string_view prefix, std::string_view start,
              const std::function<bool(std::string_view, std::string_view)>& fn) override;
  void Put(std::string_view key, std::string_view value) override;
  void Delete(std::string_view key) override;

 private:
  std::map<std::string, std::string, std::less<>> map_;
};

std::string ViewPrefix(std::string_view view);

}  // namespace logbook
