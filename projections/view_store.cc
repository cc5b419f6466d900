#include "projections/view_store.h"

#include <rocksdb/db.h>
#include <rocksdb/utilities/write_batch_with_index.h>

namespace logbook {

std::string ViewPrefix(std::string_view view) {
  std::string p(view);
  p.push_back('\0');
  return p;
}

namespace {

Status ScanIterator(rocksdb::Iterator* it, const std::string& view_prefix, std::string_view prefix,
                    std::string_view start,
                    const std::function<bool(std::string_view, std::string_view)>& fn) {
  const std::string full_prefix = view_prefix + std::string(prefix);
  std::string seek = view_prefix + std::string(start < prefix ? prefix : start);
  for (it->Seek(seek); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (!k.starts_with(full_prefix)) break;
    k.remove_prefix(view_prefix.size());
    if (!fn(std::string_view(k.data(), k.size()),
            std::string_view(it->value().data(), it->value().size()))) {
      break;
    }
  }
  return Status::FromRocks(it->status(), "scanning a view");
}

class RocksTxn : public ViewTxn {
 public:
  RocksTxn(RocksViewBatch* batch, std::string_view view)
      : batch_(batch), prefix_(ViewPrefix(view)) {}

  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::string v;
    rocksdb::Status rs = batch_->wbwi()->GetFromBatchAndDB(batch_->db(), rocksdb::ReadOptions(),
                                                           batch_->cf(), Key(key), &v);
    if (rs.IsNotFound()) return std::optional<std::string>();
    if (!rs.ok()) return Status::FromRocks(rs, "reading a view");
    return std::optional<std::string>(std::move(v));
  }
  Status Scan(std::string_view prefix, std::string_view start,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    std::unique_ptr<rocksdb::Iterator> base(
        batch_->db()->NewIterator(rocksdb::ReadOptions(), batch_->cf()));
    std::unique_ptr<rocksdb::Iterator> it(
        batch_->wbwi()->NewIteratorWithBase(batch_->cf(), base.release()));
    return ScanIterator(it.get(), prefix_, prefix, start, fn);
  }
  void Put(std::string_view key, std::string_view value) override {
    (void)batch_->wbwi()->Put(batch_->cf(), Key(key), rocksdb::Slice(value.data(), value.size()));
  }
  void Delete(std::string_view key) override { (void)batch_->wbwi()->Delete(batch_->cf(), Key(key)); }

 private:
  std::string Key(std::string_view key) const { return prefix_ + std::string(key); }
  RocksViewBatch* batch_;
  std::string prefix_;
};

class RocksReader : public ViewReader {
 public:
  RocksReader(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string_view view)
      : db_(db), cf_(cf), prefix_(ViewPrefix(view)) {}
  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::string v;
    rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf_, prefix_ + std::string(key), &v);
    if (rs.IsNotFound()) return std::optional<std::string>();
    if (!rs.ok()) return Status::FromRocks(rs, "reading a view");
    return std::optional<std::string>(std::move(v));
  }
  Status Scan(std::string_view prefix, std::string_view start,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_));
    return ScanIterator(it.get(), prefix_, prefix, start, fn);
  }

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  std::string prefix_;
};

}  // namespace

RocksViewBatch::RocksViewBatch(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* views_cf)
    : db_(db), cf_(views_cf), wbwi_(std::make_unique<rocksdb::WriteBatchWithIndex>()) {}
RocksViewBatch::~RocksViewBatch() = default;

std::unique_ptr<ViewTxn> RocksViewBatch::ForView(std::string_view view) {
  return std::make_unique<RocksTxn>(this, view);
}

void RocksViewBatch::PutRaw(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                            std::string_view value) {
  (void)wbwi_->Put(cf, rocksdb::Slice(key.data(), key.size()),
                   rocksdb::Slice(value.data(), value.size()));
}

rocksdb::WriteBatch* RocksViewBatch::GetWriteBatch() { return wbwi_->GetWriteBatch(); }

std::unique_ptr<ViewReader> NewRocksViewReader(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                               std::string_view view) {
  return std::make_unique<RocksReader>(db, cf, view);
}

Result<std::optional<std::string>> MemViewTxn::Get(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status MemViewTxn::Scan(std::string_view prefix, std::string_view start,
                        const std::function<bool(std::string_view, std::string_view)>& fn) {
  for (auto it = map_.lower_bound(start < prefix ? prefix : start); it != map_.end(); ++it) {
    if (!std::string_view(it->first).starts_with(prefix)) break;
    if (!fn(it->first, it->second)) break;
  }
  return Status::OK();
}

void MemViewTxn::Put(std::string_view key, std::string_view value) {
  map_.insert_or_assign(std::string(key), std::string(value));
}

void MemViewTxn::Delete(std::string_view key) {
  auto it = map_.find(key);
  if (it != map_.end()) map_.erase(it);
}

}  // namespace logbook
