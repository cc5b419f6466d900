// graph_disk_usage: bytes a logbook data directory keeps in table files once
// its memtables are flushed and compacted (the WAL and RocksDB's own logs
// not counted), per column family, as JSON. The LangGraph benchmark
// (bench/langgraph/run.sh) uses it on a stopped server's data directory, to
// compare with the Postgres saver's table sizes, which leave out its WAL too.
//
//   graph_disk_usage <data-dir>

#include <rocksdb/db.h>
#include <rocksdb/metadata.h>

#include <cstdio>
#include <map>
#include <string>

#include "log/log.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <data-dir>\n", argv[0]);
    return 2;
  }
  logbook::LogOptions o;
  o.dir = argv[1];
  o.create_if_missing = false;
  auto log = logbook::Log::Open(o);
  if (!log.ok()) {
    std::fprintf(stderr, "graph_disk_usage: %s\n", log.status().ToString().c_str());
    return 1;
  }
  rocksdb::DB* db = (*log)->db();
  for (rocksdb::ColumnFamilyHandle* cf :
       {(*log)->events_cf(), (*log)->stream_index_cf(), (*log)->idempotency_cf(), (*log)->meta_cf(),
        (*log)->views_cf(), (*log)->chunks_cf()}) {
    if (cf == nullptr) continue;
    rocksdb::FlushOptions fo;
    if (!db->Flush(fo, cf).ok()) return 1;
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    if (!db->CompactRange(co, cf, nullptr, nullptr).ok()) return 1;
  }
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  std::map<std::string, uint64_t> by_cf;
  uint64_t total = 0;
  for (const auto& f : files) {
    by_cf[f.column_family_name] += f.size;
    total += f.size;
  }
  std::printf("{\"sst_bytes\":%llu,\"by_column_family\":{", static_cast<unsigned long long>(total));
  bool first = true;
  for (const auto& [name, bytes] : by_cf) {
    std::printf("%s\"%s\":%llu", first ? "" : ",", name.c_str(), static_cast<unsigned long long>(bytes));
    first = false;
  }
  std::printf("}}\n");
  return 0;
}
