#include "projections/view_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

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
    const std::string k = Key(key);
    auto it = batch_->overlay().find(k);
    if (it != batch_->overlay().end()) return it->second;
    std::string v;
    rocksdb::Status rs = batch_->db()->Get(rocksdb::ReadOptions(), batch_->cf(), k, &v);
    if (rs.IsNotFound()) return std::optional<std::string>();
    if (!rs.ok()) return Status::FromRocks(rs, "reading a view");
    return std::optional<std::string>(std::move(v));
  }

  // Merges the overlay with the stored keys, the overlay winning.
  Status Scan(std::string_view prefix, std::string_view start,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    const std::string full_prefix = prefix_ + std::string(prefix);
    const std::string seek = prefix_ + std::string(start < prefix ? prefix : start);
    std::unique_ptr<rocksdb::Iterator> it(
        batch_->db()->NewIterator(rocksdb::ReadOptions(), batch_->cf()));
    it->Seek(seek);
    auto& ov = batch_->overlay();
    auto o = ov.lower_bound(seek);
    auto db_valid = [&] { return it->Valid() && it->key().starts_with(full_prefix); };
    auto ov_valid = [&] { return o != ov.end() && std::string_view(o->first).starts_with(full_prefix); };
    while (db_valid() || ov_valid()) {
      int order;  // <0: the database's key comes first, >0: the overlay's, 0: same key
      if (!ov_valid()) {
        order = -1;
      } else if (!db_valid()) {
        order = 1;
      } else {
        order = it->key().compare(rocksdb::Slice(o->first));
      }
      bool go_on = true;
      if (order < 0) {
        rocksdb::Slice k = it->key();
        k.remove_prefix(prefix_.size());
        go_on = fn(std::string_view(k.data(), k.size()),
                   std::string_view(it->value().data(), it->value().size()));
        it->Next();
      } else {
        if (o->second.has_value()) {
          go_on = fn(std::string_view(o->first).substr(prefix_.size()), *o->second);
        }
        if (order == 0) it->Next();
        ++o;
      }
      if (!go_on) break;
    }
    return Status::FromRocks(it->status(), "scanning a view");
  }

  void Put(std::string_view key, std::string_view value) override {
    batch_->overlay().insert_or_assign(Key(key), std::optional<std::string>(std::string(value)));
  }
  void Delete(std::string_view key) override {
    batch_->overlay().insert_or_assign(Key(key), std::optional<std::string>());
  }

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
    : db_(db), cf_(views_cf) {}
RocksViewBatch::~RocksViewBatch() = default;

std::unique_ptr<ViewTxn> RocksViewBatch::ForView(std::string_view view) {
  return std::make_unique<RocksTxn>(this, view);
}

void RocksViewBatch::PutRaw(rocksdb::ColumnFamilyHandle* cf, std::string_view key,
                            std::string_view value) {
  raw_.emplace_back(cf, std::string(key), std::string(value));
}

rocksdb::WriteBatch* RocksViewBatch::GetWriteBatch() {
  batch_ = std::make_unique<rocksdb::WriteBatch>();
  for (const auto& [k, v] : overlay_) {
    if (v.has_value()) {
      (void)batch_->Put(cf_, k, *v);  // WriteBatch::Put fails only past its size limit: none set
    } else {
      (void)batch_->Delete(cf_, k);
    }
  }
  for (const auto& [cf, k, v] : raw_) (void)batch_->Put(cf, k, v);
  return batch_.get();
}

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
