#include "log/log.h"

#include <pthread.h>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include "log/coding.h"
#include "log/event_id_index.h"
#include "log/keyring.h"
#include "log/verify.h"

namespace logbook {

namespace {

constexpr char kCfEvents[] = "events";
constexpr char kCfStreamIndex[] = "stream_index";
constexpr char kCfIdempotency[] = "idempotency";
constexpr char kCfMeta[] = "meta";
constexpr char kCfViews[] = "views";
// Content-addressed chunks of graph checkpoint blobs (engine/chunk_store.h).
constexpr char kCfChunks[] = "chunks";

constexpr char kFormatKey[] = "format";
// Written when a log is first opened with a key ring (docs/log_format.md).
constexpr char kEncryptionKey[] = "encryption";
constexpr uint32_t kLogFormatVersion = 1;

// Memtable insert hints (see OpenDb): every key of the `events` family is one
// prefix, since LSNs only grow; in `stream_index` the prefix is "stream 0x00",
// within which versions only grow. Inserts then start at the last position
// instead of searching the skiplist from the top.
class WholeKeyspacePrefix : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "logbook.WholeKeyspacePrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), 0);
  }
  bool InDomain(const rocksdb::Slice&) const override { return true; }
};

class StreamPrefix : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "logbook.StreamPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const void* nul = std::memchr(key.data(), 0, key.size());
    return rocksdb::Slice(key.data(), static_cast<const char*>(nul) - key.data() + 1);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return std::memchr(key.data(), 0, key.size()) != nullptr;
  }
};


}  // namespace

std::string ExpectedVersion::ToString() const {
  switch (kind) {
    case Kind::kAny: return "any";
    case Kind::kNoStream: return "no_stream";
    case Kind::kExact: return std::to_string(version);
  }
  return "?";
}

// One queued append and its outcome. A synchronous caller sleeps on a futex
// until the committer wakes it: no spinning or yielding, which matters with
// many more producer threads than cores.
struct Log::Pending {
  AppendRequest req;
  // Set for a maintenance step (RemoveEvents): run by the stager between
  // groups, when nothing is staged or being written, instead of staging req.
  std::function<Status()> maintenance;
  uint64_t maintenance_count = 0;  // its answer
  std::optional<Result<AppendResult>> result;
  std::function<void(Result<AppendResult>)> done;  // async callers
  std::atomic<uint32_t> finished{0};               // sync callers wait on this

  void Wait() {
    while (finished.load(std::memory_order_acquire) == 0) {
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&finished), FUTEX_WAIT_PRIVATE, 0, nullptr,
              nullptr, 0);
    }
  }

  void Complete(Result<AppendResult> r) {
    if (done) {
      auto cb = std::move(done);
      cb(std::move(r));
      delete this;
      return;
    }
    result.emplace(std::move(r));
    finished.store(1, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&finished), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
  }
};

// Writer-thread cache of stream heads. Entries are loaded from RocksDB on
// first use; the cache is dropped when a write fails.
struct Log::HeadCache {
  std::unordered_map<std::string, StreamHead> map;
};

// One group commit: requests staged by the stager thread into one WriteBatch,
// then written and acknowledged by the committer thread. Two groups take turns:
// while one is being written and fsync'd, the stager fills the other.
struct Log::GroupState {
  rocksdb::WriteBatch batch;
  std::vector<Pending*> requests;
  std::vector<std::optional<Result<AppendResult>>> results;
  // Appends staged here, for dedup answers about events not yet visible.
  struct Run {
    std::string stream;  // a copy: the request may be completed and gone
    uint64_t first_lsn;
    uint64_t first_version;
    uint64_t count;
  };
  std::vector<Run> runs;
  RecordEncoder encoder;
  std::string record;  // scratch
  size_t bytes = 0;
  uint64_t first_lsn = 0;  // first LSN this group assigns
  uint64_t end_lsn = 0;    // one past the last LSN assigned
  int64_t now_us = 0;

  bool empty() const { return requests.empty(); }
  void Reset() {
    batch.Clear();
    requests.clear();
    results.clear();
    runs.clear();
    bytes = 0;
    first_lsn = end_lsn = 0;
  }
};

// Stream index: one entry per append, key "stream 0x00 first_version(BE)",
// value "first_lsn(BE) | count(u32 BE)": the append's events hold versions
// first_version.. and LSNs first_lsn.. consecutively.
std::string Log::StreamIndexKey(std::string_view stream, uint64_t version) {
  std::string k;
  k.reserve(stream.size() + 9);
  k.append(stream);
  k.push_back('\0');
  coding::PutFixed64BE(&k, version);
  return k;
}

Log::Log(const LogOptions& options) : options_(options), heads_(std::make_unique<HeadCache>()) {}

Result<std::unique_ptr<Log>> Log::Open(const LogOptions& options) {
  if (options.dir.empty()) return Status::InvalidArgument("data directory is not set");
  std::error_code ec;
  const bool exists = std::filesystem::exists(std::filesystem::path(options.dir) / "CURRENT", ec);
  if (!exists && (!options.create_if_missing || options.read_only)) {
    return Status::NotFound("no logbook data directory at '" + options.dir +
                            "' (run `logbook init` first)");
  }
  std::unique_ptr<Log> log(new Log(options));
  Status s = log->OpenDb();
  if (!s.ok()) return s;
  s = log->InitOrCheckFormat();
  if (s.ok()) s = log->CheckEncryption();
  if (!s.ok()) return s;

  s = log->LoadLastLsn();
  if (!s.ok()) return s;
  log->ids_ = std::make_unique<EventIdIndex>(*log, options.id_ingest_batch);
  s = log->ids_->Load(/*writer=*/!options.read_only);
  if (!s.ok()) return s;
  if (options.verify_tail_records > 0 && log->next_lsn_ > 1) {
    const uint64_t last = log->next_lsn_ - 1;
    const uint64_t from =
        last > options.verify_tail_records ? last - options.verify_tail_records + 1 : 1;
    VerifyOptions vo;
    vo.from_lsn = from;
    vo.check_stream_heads = true;
    vo.stop_at_first = true;
    VerifyReport report = VerifyLog(*log, vo);
    if (!report.problems.empty()) {
      return Status::Corruption("log verification failed on open: " +
                                report.problems.front().ToString() +
                                " (run `logbook audit verify` for the full report)");
    }
    if (!report.status.ok()) return report.status;
  }
  if (!options.read_only) {
    log->ids_->StartIngestion();
    // Named threads: top -H, perf and gdb tell the pipeline stages apart.
    log->stager_ = std::thread([l = log.get()] {
      pthread_setname_np(pthread_self(), "lb-stager");
      l->StagerLoop();
    });
    log->committer_ = std::thread([l = log.get()] {
      pthread_setname_np(pthread_self(), "lb-committer");
      l->CommitterLoop();
    });
    log->syncer_ = std::thread([l = log.get()] {
      pthread_setname_np(pthread_self(), "lb-syncer");
      l->SyncerLoop();
    });
    log->completer_ = std::thread([l = log.get()] {
      pthread_setname_np(pthread_self(), "lb-completer");
      l->CompleterLoop();
    });
  }
  return log;
}

// Resumes the LSN counter from the last record.
Status Log::LoadLastLsn() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_events_));
  it->SeekToLast();
  if (!it->status().ok()) return Status::FromRocks(it->status(), "reading the last record");
  if (!it->Valid()) return Status::OK();
  if (it->key().size() != 8) return Status::Corruption("events key of bad length");
  const uint64_t last = coding::DecodeFixed64BE(it->key().data());
  // Times never decrease with the LSN: resume from the last event's (removed
  // records carry none).
  for (; it->Valid(); it->Prev()) {
    const std::string_view rec(it->value().data(), it->value().size());
    if (IsRemovedRecord(rec)) continue;
    Event e;
    if (DecodeRecordHeader(rec, &e).ok()) last_recorded_at_us_ = e.recorded_at_us;
    break;
  }
  next_lsn_ = last + 1;
  {
    std::lock_guard<std::mutex> l(commit_mu_);
    committed_lsn_.store(last, std::memory_order_release);
  }
  commit_cv_.notify_all();
  return Status::OK();
}

Status Log::Refresh() {
  if (!options_.read_only) return Status::OK();
  Status s = Status::FromRocks(db_->TryCatchUpWithPrimary(), "catching up with the primary");
  if (!s.ok()) return s;
  s = LoadLastLsn();
  if (!s.ok()) return s;
  return ids_->CatchUp();
}

Status Log::OpenDb() {
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = options_.create_if_missing && !options_.read_only;
  dbo.create_missing_column_families = !options_.read_only;
  dbo.paranoid_checks = true;
  dbo.max_background_jobs = 2;
  dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  dbo.keep_log_file_num = 4;
  if (options_.env != nullptr) dbo.env = options_.env;

  auto cache = rocksdb::NewLRUCache(options_.block_cache_bytes);
  block_cache_ = cache;
  auto table = [&](bool bloom) {
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    if (bloom) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    return std::shared_ptr<rocksdb::TableFactory>(rocksdb::NewBlockBasedTableFactory(t));
  };
  rocksdb::ColumnFamilyOptions base;
  base.table_factory = table(false);
  // LZ4 at every level: cheap to write, and the same codec everywhere lets
  // RocksDB move the events' non-overlapping files down without rewriting.
  base.compression = rocksdb::kLZ4Compression;
  rocksdb::ColumnFamilyOptions lookup = base;  // point lookups: bloom filters
  lookup.table_factory = table(true);
  lookup.memtable_prefix_bloom_size_ratio = 0.05;
  lookup.memtable_whole_key_filtering = true;
  rocksdb::ColumnFamilyOptions events = base;
  events.memtable_insert_with_hint_prefix_extractor = std::make_shared<WholeKeyspacePrefix>();
  rocksdb::ColumnFamilyOptions stream_index = base;
  stream_index.memtable_insert_with_hint_prefix_extractor = std::make_shared<StreamPrefix>();
  // Hint inserts need single-threaded memtable writes, which is what logbook
  // does (one committer thread).
  dbo.allow_concurrent_memtable_write = false;

  rocksdb::ColumnFamilyOptions ids = lookup;
  ids.compression = rocksdb::kNoCompression;  // random ids do not compress
  // Every ingested file of random ids overlaps all others: size-tiered
  // (universal) compaction merges them with far less rewriting than levels.
  ids.compaction_style = rocksdb::kCompactionStyleUniversal;
  ids.level0_file_num_compaction_trigger = 8;  // merge less often; the writer's filter
                                               // spares most lookups anyway

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, base}, {kCfEvents, events},
      {kCfStreamIndex, stream_index},            {kCfIdempotency, ids},
      {kCfMeta, base},                           {kCfViews, lookup}};
  // Chunks: point lookups by hash (bloom filters). A log created before the
  // chunk store has no such family: a writable open adds it, a read-only
  // open goes without (chunks_cf() is then null).
  bool open_chunks = !options_.read_only;
  if (options_.read_only) {
    std::vector<std::string> existing;
    if (rocksdb::DB::ListColumnFamilies(dbo, options_.dir, &existing).ok()) {
      for (const auto& name : existing) open_chunks |= name == kCfChunks;
    }
  }
  // Chunks are mostly serialized text (JSON): zstd stores them in about half
  // what LZ4 does, and they are read far less often than they are kept.
  // Larger blocks give zstd more context across the small chunks.
  rocksdb::ColumnFamilyOptions chunks = lookup;
  {
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.block_size = 16 << 10;
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    chunks.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  }
  chunks.compression = rocksdb::kZSTD;
  chunks.bottommost_compression = rocksdb::kZSTD;
  if (open_chunks) cfs.push_back({kCfChunks, chunks});
  rocksdb::Status rs;
  if (options_.read_only) {
    dbo.max_open_files = -1;  // required for secondary instances
    std::string tmpl = (std::filesystem::temp_directory_path() / "logbook-ro-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) return Status::IOError("cannot create a temp directory");
    secondary_dir_ = tmpl;
    rs = rocksdb::DB::OpenAsSecondary(dbo, options_.dir, secondary_dir_, cfs, &handles_, &db_);
  } else {
    rs = rocksdb::DB::Open(dbo, options_.dir, cfs, &handles_, &db_);
  }
  if (!rs.ok()) {
    Status s = Status::FromRocks(rs, "opening '" + options_.dir + "'");
    if (rs.IsIOError() && rs.ToString().find("lock") != std::string::npos) {
      return Status::Busy("data directory '" + options_.dir +
                          "' is in use by another logbook process");
    }
    return s;
  }
  cf_events_ = handles_[1];
  cf_stream_index_ = handles_[2];
  cf_idempotency_ = handles_[3];
  cf_meta_ = handles_[4];
  cf_views_ = handles_[5];
  if (open_chunks) cf_chunks_ = handles_[6];
  return Status::OK();
}

// The format record: meta key "format" holds
// "logbook-log format=<n> created_at_us=<t>", written when the log is created.
Status Log::InitOrCheckFormat() {
  std::string v;
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf_meta_, kFormatKey, &v);
  if (rs.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_events_));
    it->SeekToFirst();
    if (it->Valid()) return Status::Corruption("log has events but no format record");
    if (options_.read_only) return Status::NotFound("log at '" + options_.dir + "' is not initialised");
    created_at_us_ = NowMicros();
    v = "logbook-log format=" + std::to_string(kLogFormatVersion) +
        " created_at_us=" + std::to_string(created_at_us_);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rs = db_->Put(wo, cf_meta_, kFormatKey, v);
    return Status::FromRocks(rs, "writing the format record");
  }
  if (!rs.ok()) return Status::FromRocks(rs, "reading the format record");
  unsigned format = 0;
  long long created = 0;
  if (std::sscanf(v.c_str(), "logbook-log format=%u created_at_us=%lld", &format, &created) != 2) {
    return Status::Corruption("unreadable format record '" + v + "'");
  }
  if (format != kLogFormatVersion) {
    return Status::InvalidArgument("log format " + std::to_string(format) +
                                   " is not supported by this build (supports " +
                                   std::to_string(kLogFormatVersion) + ")");
  }
  created_at_us_ = created;
  return Status::OK();
}

Status Log::CheckEncryption() {
  std::string v;
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf_meta_, kEncryptionKey, &v);
  if (!rs.ok() && !rs.IsNotFound()) return Status::FromRocks(rs, "reading the encryption record");
  if (options_.keyring == nullptr) {
    if (rs.ok() && !options_.read_only) {
      return Status::NotFound("log at '" + options_.dir +
                              "' holds encrypted payloads and no key directory was given "
                              "(--key-dir); refusing to write plaintext into it");
    }
    return Status::OK();
  }
  if (rs.ok() || options_.read_only) return Status::OK();
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return Status::FromRocks(db_->Put(wo, cf_meta_, kEncryptionKey, "xchacha20poly1305-ietf"),
                           "writing the encryption record");
}

Status Log::OpenPayload(std::string_view record, Event* e) const {
  if (e->payload_encoding != 1) return Status::OK();
  if (options_.keyring == nullptr) {
    e->payload_error = "payload sealed with data key " + std::to_string(e->key_id) +
                       "; no key directory given";
    return Status::OK();
  }
  const uint32_t header_len = coding::DecodeFixed32LE(record.data() + 12);
  const std::string_view ad = record.substr(8, kRecordFrameSize + header_len - 8);
  Status s = options_.keyring->Unseal(e->key_id, ad, &e->payload);
  if (s.code() == Status::Code::kNotFound) {
    e->payload_error = s.message();
    return Status::OK();
  }
  if (!s.ok()) return s;
  e->payload_encoding = 0;
  return Status::OK();
}

Log::~Log() {
  {
    std::lock_guard<std::mutex> l(queue_mu_);
    stopping_ = true;
  }
  stager_cv_.notify_all();
  if (stager_.joinable()) stager_.join();  // drains the queue and hands over the last group
  {
    std::lock_guard<std::mutex> l(queue_mu_);
    stager_done_ = true;
  }
  committer_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  {
    std::lock_guard<std::mutex> l(sync_mu_);
    committer_done_ = true;
  }
  sync_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  if (completer_.joinable()) completer_.join();
  if (ids_) ids_->Stop();
  {
    std::lock_guard<std::mutex> l(commit_mu_);
    closing_.store(true);
  }
  commit_cv_.notify_all();
  if (db_ != nullptr) {
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);  // close: nothing to do on error
    (void)db_->Close();  // errors here leave nothing to recover: the WAL is synced
    delete db_;
  }
  if (!secondary_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(secondary_dir_, ec);  // best effort: a temp directory
  }
}

Result<AppendResult> Log::Append(AppendRequest request) {
  Pending p;
  p.req = std::move(request);
  Enqueue(&p);
  p.Wait();
  return std::move(*p.result);
}

void Log::AppendAsync(AppendRequest request, std::function<void(Result<AppendResult>)> done) {
  auto* p = new Pending;
  p->req = std::move(request);
  p->done = std::move(done);
  Enqueue(p);
}

void Log::Enqueue(Pending* p) {
  if (options_.read_only) {
    p->Complete(Status::ReadOnly("log was opened read-only"));
    return;
  }
  if (failed_.load(std::memory_order_acquire)) {
    p->Complete(Status::ReadOnly("log is read-only after a write error: " + health().ToString()));
    return;
  }
  {
    std::lock_guard<std::mutex> l(queue_mu_);
    if (stopping_) {
      // Completed outside the lock below.
    } else {
      queue_.push_back(p);
      if (queue_.size() == 1) stager_cv_.notify_one();
      return;
    }
  }
  p->Complete(Status::Shutdown("log is closing"));
}

size_t Log::RequestBytes(const Pending& p) {
  size_t b = 0;
  for (const auto& e : p.req.events) b += e.payload.size() + 160;
  return b;
}

// The stager: takes requests off the queue and stages them into the open
// group; whenever the committer is idle, hands the open group over. While a
// group is being written and fsync'd, the next one fills up.
void Log::StagerLoop() {
  GroupState groups[2];
  GroupState* open = &groups[0];
  std::vector<Pending*> incoming;
  for (;;) {
    incoming.clear();
    size_t bytes = 0;  // the open group's bytes once `incoming` is staged
    {
      std::unique_lock<std::mutex> l(queue_mu_);
      auto full = [&] {
        return open->requests.size() >= options_.max_group_requests ||
               open->bytes >= options_.max_group_bytes;
      };
      auto maintenance_next = [&] { return !queue_.empty() && queue_.front()->maintenance; };
      stager_cv_.wait(l, [&] {
        return (!queue_.empty() && !maintenance_next() && !full()) ||
               (!open->empty() && !committer_busy_) ||
               (maintenance_next() && open->empty() && !committer_busy_) ||
               (stopping_ && queue_.empty() && open->empty());
      });
      if (stopping_ && queue_.empty() && open->empty()) return;
      if (maintenance_next() && open->empty() && !committer_busy_) {
        // Every earlier group is written; no append is staged until this
        // step is done, so it sees and may change the heads alone.
        Pending* m = queue_.front();
        queue_.erase(queue_.begin());
        l.unlock();
        Status ms = failed_.load(std::memory_order_acquire)
                        ? Status::ReadOnly("log is read-only after a write error: " +
                                           health().ToString())
                        : m->maintenance();
        // The idle group's record of its appends answers retries without a
        // read; drop it, so a retry of a removed event is found removed.
        groups[0].Reset();
        groups[1].Reset();
        if (ms.ok()) {
          m->Complete(AppendResult{});
        } else {
          m->Complete(ms);
        }
        continue;
      }
      bytes = open->bytes;
      size_t n = 0;
      while (n < queue_.size() && !queue_[n]->maintenance &&
             open->requests.size() + n < options_.max_group_requests &&
             (n == 0 || bytes < options_.max_group_bytes)) {
        bytes += RequestBytes(*queue_[n]);
        ++n;
      }
      incoming.assign(queue_.begin(), queue_.begin() + static_cast<long>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
    }
    if (!incoming.empty()) {
      ids_->Prune();
      if (open->empty()) {
        open->now_us = std::max(options_.clock ? options_.clock() : NowMicros(),
                                last_recorded_at_us_);
        open->first_lsn = next_lsn_;
      }
      GroupState* inflight = open == &groups[0] ? &groups[1] : &groups[0];
      open->bytes = bytes;
      for (Pending* p : incoming) {
        open->requests.push_back(p);
        if (failed_.load(std::memory_order_acquire)) {
          open->results.emplace_back(Status::ReadOnly("log is read-only after a write error: " +
                                                      health().ToString()));
        } else {
          open->results.emplace_back(Stage(p->req, *open, *inflight));
        }
      }
      open->end_lsn = next_lsn_;
    }
    std::lock_guard<std::mutex> l(queue_mu_);
    if (!open->empty() && !committer_busy_) {
      // The other group is done (the committer is idle): its writes are
      // visible, so its dedup maps are no longer needed.
      if (open->end_lsn > open->first_lsn) last_recorded_at_us_ = open->now_us;
      handoff_ = open;
      committer_busy_ = true;
      committer_cv_.notify_one();
      open = open == &groups[0] ? &groups[1] : &groups[0];
      open->Reset();
    }
  }
}

// The committer: writes each handed-over group with sync=true, publishes its
// LSNs and acknowledges its callers.
void Log::CommitterLoop() {
  for (;;) {
    GroupState* g = nullptr;
    {
      std::unique_lock<std::mutex> l(queue_mu_);
      committer_cv_.wait(l, [&] { return handoff_ != nullptr || stager_done_; });
      if (handoff_ == nullptr) return;
      g = handoff_;
      handoff_ = nullptr;
    }
    // Written without sync: the syncer thread fsyncs the WAL for this and
    // every other group written meanwhile, so the next group's memtable work
    // overlaps this one's fsync. Readers never see the group before the
    // syncer publishes its LSNs (every read is bounded by LastLsn()).
    Completion done;
    done.events = g->end_lsn - g->first_lsn;
    done.last_lsn = g->end_lsn - 1;
    if (g->batch.Count() > 0 && !failed_.load(std::memory_order_acquire)) {
      rocksdb::WriteOptions wo;
      wo.sync = false;
      done.status = Status::FromRocks(db_->Write(wo, &g->batch), "group commit");
    } else if (g->batch.Count() > 0) {
      done.status = Status::ReadOnly("log is read-only after a write error");
    }
    if (!done.status.ok()) SetFailed(done.status);
    done.requests.swap(g->requests);
    done.results.swap(g->results);
    {
      std::lock_guard<std::mutex> l(sync_mu_);
      sync_q_.push_back(std::move(done));
    }
    sync_cv_.notify_one();
    {
      std::lock_guard<std::mutex> l(queue_mu_);
      committer_busy_ = false;
    }
    stager_cv_.notify_one();
  }
}

void Log::SetFailed(const Status& s) {
  std::lock_guard<std::mutex> l(health_mu_);
  if (!failed_.load(std::memory_order_acquire)) {
    health_ = s;
    failed_.store(true, std::memory_order_release);
  }
}

// The syncer: fsyncs the WAL once for every group written since the last
// sync (a second level of group commit), publishes the synced LSN, and hands
// the groups to the completer. Nothing is acknowledged before this fsync.
void Log::SyncerLoop() {
  std::vector<Completion> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(sync_mu_);
      sync_cv_.wait(l, [&] { return !sync_q_.empty() || committer_done_; });
      if (sync_q_.empty()) break;
      batch.clear();
      for (auto& c : sync_q_) batch.push_back(std::move(c));
      sync_q_.clear();
    }
    uint64_t last = 0;
    bool wrote = false;
    for (const Completion& c : batch) {
      if (c.status.ok() && c.events > 0) {
        last = c.last_lsn;
        wrote = true;
      }
    }
    Status ss;
    if (wrote && !failed_.load(std::memory_order_acquire)) {
      ss = Status::FromRocks(db_->SyncWAL(), "fsync of the WAL");
      if (!ss.ok()) SetFailed(ss);
    } else if (wrote) {
      ss = Status::ReadOnly("log is read-only after a write error");
    }
    if (wrote && ss.ok()) {
      {
        std::lock_guard<std::mutex> l(commit_mu_);
        committed_lsn_.store(last, std::memory_order_release);
      }
      commit_cv_.notify_all();
      n_syncs_.fetch_add(1, std::memory_order_relaxed);
    }
    for (Completion& c : batch) {
      const Status& err = !c.status.ok() ? c.status : ss;
      if (!err.ok()) {
        for (auto& r : c.results) {
          r.emplace(Status::IOError("append not durable, log is now read-only: " + err.message()));
        }
      } else {
        if (c.events > 0) {
          n_groups_.fetch_add(1, std::memory_order_relaxed);
          n_events_.fetch_add(c.events, std::memory_order_relaxed);
        }
        if (c.requests.size() > n_max_group_.load(std::memory_order_relaxed)) {
          n_max_group_.store(c.requests.size(), std::memory_order_relaxed);
        }
        for (const auto& r : c.results) {
          if (r->ok()) {
            n_appends_.fetch_add(1, std::memory_order_relaxed);
            if ((*r)->deduplicated) n_dedup_.fetch_add(1, std::memory_order_relaxed);
          } else if (r->status().IsConflict()) {
            n_conflicts_.fetch_add(1, std::memory_order_relaxed);
          }
        }
      }
    }
    // Waking callers is the completer's job, so the next fsync starts now.
    {
      std::lock_guard<std::mutex> l(done_mu_);
      for (auto& c : batch) done_q_.push_back(std::move(c));
    }
    done_cv_.notify_one();
  }
  {
    std::lock_guard<std::mutex> l(done_mu_);
    syncer_done_ = true;
  }
  done_cv_.notify_all();
}

void Log::CompleterLoop() {
  for (;;) {
    Completion c;
    {
      std::unique_lock<std::mutex> l(done_mu_);
      done_cv_.wait(l, [&] { return !done_q_.empty() || syncer_done_; });
      if (done_q_.empty()) return;
      c = std::move(done_q_.front());
      done_q_.pop_front();
    }
    for (size_t i = 0; i < c.requests.size(); ++i) c.requests[i]->Complete(std::move(*c.results[i]));
  }
}

Result<StreamHead*> Log::LoadHead(const std::string& stream) {
  auto it = heads_->map.find(stream);
  if (it != heads_->map.end()) return &it->second;
  // Every written group counts here, synced or not: the stager chains on it.
  Result<std::optional<StreamHead>> derived = DeriveHead(stream, UINT64_MAX);
  if (!derived.ok()) return derived.status();
  StreamHead head;
  if (derived->has_value()) {
    head = std::move(**derived);
  } else {
    head.last_hash = GenesisHash(stream);
  }
  return &heads_->map.emplace(stream, std::move(head)).first->second;
}

// A stream's head is not stored: it is the last stream-index entry with an
// LSN <= bound, and the chain hash of that record.
Result<std::optional<StreamHead>> Log::DeriveHead(std::string_view stream, uint64_t bound) const {
  const std::string prefix = std::string(stream) + '\0';
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_stream_index_));
  for (it->SeekForPrev(StreamIndexKey(stream, UINT64_MAX)); it->Valid() && it->key().starts_with(prefix);
       it->Prev()) {
    if (it->key().size() != prefix.size() + 8 || it->value().size() != 12) {
      return Status::Corruption("stream index entry of bad length in '" + std::string(stream) + "'");
    }
    const uint64_t first_version = coding::DecodeFixed64BE(it->key().data() + prefix.size());
    const uint64_t first_lsn = coding::DecodeFixed64BE(it->value().data());
    const uint64_t count = coding::DecodeFixed32BE(it->value().data() + 8);
    if (first_lsn > bound || count == 0) continue;
    const uint64_t n = std::min<uint64_t>(count, bound - first_lsn + 1);
    StreamHead h;
    h.version = first_version + n - 1;
    h.last_lsn = first_lsn + n - 1;
    rocksdb::PinnableSlice rec;
    rocksdb::Status rs =
        db_->Get(rocksdb::ReadOptions(), cf_events_, coding::Fixed64BE(h.last_lsn), &rec);
    if (!rs.ok()) {
      return Status::Corruption("stream '" + std::string(stream) + "': index points at LSN " +
                                std::to_string(h.last_lsn) + ": " + rs.ToString());
    }
    const std::string_view bytes(rec.data(), rec.size());
    if (IsRemovedRecord(bytes)) {
      // Retention removed the stream's last event: its record keeps the
      // chain hash and tenant the head needs.
      RemovedRecord r;
      Status s = DecodeRemovedRecord(bytes, &r);
      if (s.ok() && (r.reason != RemovalReason::kRetention || r.stream != stream ||
                     r.stream_version != h.version)) {
        s = Status::Corruption("the stream index points at a removed record of another stream");
      }
      if (!s.ok()) return Status::Corruption("LSN " + std::to_string(h.last_lsn) + ": " + s.message());
      h.last_hash = r.chain_hash;
      h.tenant = std::move(r.tenant);
      return std::optional<StreamHead>(std::move(h));
    }
    Event e;
    Status s = DecodeRecordHeader(bytes, &e);
    if (!s.ok()) return Status::Corruption("LSN " + std::to_string(h.last_lsn) + ": " + s.message());
    h.last_hash = ChainHash(bytes);
    h.tenant = std::move(e.tenant);
    return std::optional<StreamHead>(std::move(h));
  }
  if (!it->status().ok()) return Status::FromRocks(it->status(), "reading the stream index");
  return std::optional<StreamHead>();
}

// Idempotency: if every event id of the request was appended before, as one
// consecutive run in the same stream and order, returns that append's result.
// No id seen before: nullopt (a new append). Anything in between is an error.
Result<std::optional<AppendResult>> Log::CheckIdempotency(const AppendRequest& req,
                                                          const GroupState& g,
                                                          const GroupState& inflight) {
  std::vector<uint64_t> lsns;
  lsns.reserve(req.events.size());
  size_t found = 0;
  for (const auto& e : req.events) {
    if (IsZero(e.event_id)) {
      lsns.push_back(0);
      continue;
    }
    Result<std::optional<uint64_t>> at = ids_->FindForWriter(e.event_id);
    if (!at.ok()) return at.status();
    lsns.push_back(at->value_or(0));
    if (at->has_value()) ++found;
  }
  if (found == 0) return std::optional<AppendResult>();
  if (found != req.events.size()) {
    for (size_t i = 0; i < lsns.size(); ++i) {
      if (lsns[i] != 0) {
        return Status::IdempotencyConflict(
            "event id " + EventIdToString(req.events[i].event_id) + " was appended at LSN " +
            std::to_string(lsns[i]) + " but other events of this request were not");
      }
    }
  }
  AppendResult r;
  r.deduplicated = true;
  for (size_t i = 0; i < lsns.size(); ++i) {
    std::string stream;
    uint64_t version = 0;
    bool found_staged = false;
    for (const GroupState* gs : {&g, &inflight}) {
      for (const GroupState::Run& run : gs->runs) {
        if (lsns[i] >= run.first_lsn && lsns[i] < run.first_lsn + run.count) {
          stream = run.stream;
          version = run.first_version + (lsns[i] - run.first_lsn);
          found_staged = true;
        }
      }
    }
    if (!found_staged) {
      Result<Event> ev = ReadEventUpTo(lsns[i], UINT64_MAX);  // written, maybe not yet synced
      if (!ev.ok() && ev.status().IsNotFound()) {
        return Status::IdempotencyConflict(
            "event id " + EventIdToString(req.events[i].event_id) + " was appended at LSN " +
            std::to_string(lsns[i]) + ", an event since removed by retention or tenant deletion");
      }
      if (!ev.ok()) return ev.status();
      stream = ev->stream;
      version = ev->stream_version;
    }
    if (stream != req.stream) {
      return Status::IdempotencyConflict("event id " + EventIdToString(req.events[i].event_id) +
                                         " was appended to stream '" + stream + "', not '" +
                                         req.stream + "'");
    }
    if (i == 0) {
      r.first_lsn = lsns[0];
      r.first_version = version;
    } else if (lsns[i] != r.last_lsn + 1 || version != r.last_version + 1) {
      return Status::IdempotencyConflict(
          "event ids of this request were appended before, but not as one batch in this order");
    }
    r.last_lsn = lsns[i];
    r.last_version = version;
    r.event_ids.push_back(req.events[i].event_id);
  }
  return std::optional<AppendResult>(std::move(r));
}

Result<AppendResult> Log::Stage(AppendRequest& req, GroupState& g, const GroupState& inflight) {
  if (Status s = ValidateStreamName(req.stream); !s.ok()) return s;
  if (Status s = ValidateTenantName(req.tenant); !s.ok()) return s;
  if (req.events.empty()) return Status::InvalidArgument("append has no events");
  if (req.events.size() > options_.max_batch_events) {
    return Status::InvalidArgument("append has " + std::to_string(req.events.size()) +
                                   " events; the limit is " +
                                   std::to_string(options_.max_batch_events));
  }
  for (size_t i = 0; i < req.events.size(); ++i) {
    const NewEvent& e = req.events[i];
    {
      if (e.type == 0) return Status::InvalidArgument("event type 0 is reserved");
      if (e.payload.size() > options_.max_payload_bytes) {
        return Status::InvalidArgument("payload of " + std::to_string(e.payload.size()) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(options_.max_payload_bytes));
      }
      for (size_t k = 0; k < i && !IsZero(e.event_id); ++k) {
        if (req.events[k].event_id == e.event_id) {
          return Status::InvalidArgument("event id " + EventIdToString(e.event_id) +
                                         " appears twice in one append");
        }
      }
    }
  }
  Result<std::optional<AppendResult>> dedup = CheckIdempotency(req, g, inflight);
  if (!dedup.ok()) return dedup.status();
  if (dedup->has_value()) return std::move(**dedup);

  Result<StreamHead*> hr = LoadHead(req.stream);
  if (!hr.ok()) return hr.status();
  StreamHead& head = **hr;
  if (head.version > 0 && head.tenant != req.tenant) {
    // Not "belongs to another tenant": the HTTP layer passes this through,
    // and another tenant's stream must look exactly like a missing one.
    return Status::NotFound("stream '" + req.stream + "' not found for tenant '" + req.tenant + "'");
  }
  const auto& ev = req.expected;
  bool match = true;
  switch (ev.kind) {
    case ExpectedVersion::Kind::kAny: break;
    case ExpectedVersion::Kind::kNoStream: match = head.version == 0; break;
    case ExpectedVersion::Kind::kExact: match = head.version == ev.version; break;
  }
  if (!match) {
    return Status::Conflict("stream '" + req.stream + "': expected version " + ev.ToString() +
                                ", actual version " + std::to_string(head.version),
                            head.version);
  }

  // Tenants' payloads are sealed under the tenant's data key; system
  // streams (no tenant) stay plaintext. The key is fetched before anything
  // of the request is staged: creating one is the only step that can fail.
  KeyRing::SealKey key;
  if (options_.keyring != nullptr && !req.tenant.empty()) {
    Result<KeyRing::SealKey> k = options_.keyring->KeyFor(req.tenant);
    if (!k.ok()) return k.status();
    key = std::move(k).value();
  }

  AppendResult r;
  r.first_lsn = next_lsn_;
  r.first_version = head.version + 1;
  Event e;
  e.stream = req.stream;
  e.tenant = req.tenant;
  e.actor = req.actor;
  e.recorded_at_us = g.now_us;
  for (auto& ne : req.events) {
    e.lsn = next_lsn_++;
    e.stream_version = ++head.version;
    e.type = ne.type;
    e.event_id = IsZero(ne.event_id) ? RandomEventId() : ne.event_id;
    e.prev_hash = head.last_hash;
    e.payload = std::move(ne.payload);
    // The record goes into the batch as two parts, so the payload is copied
    // once (into the batch), not twice.
    if (key.key != nullptr) {
      // Frame and envelope are the associated data: the ciphertext is bound
      // to this LSN, stream, version and tenant.
      e.payload_encoding = 1;
      e.key_id = key.id;
      g.encoder.EncodeEnvelope(e, &g.record);
      KeyRing::Seal(key, std::string_view(g.record).substr(8), &e.payload);
      head.last_hash = g.encoder.SealHead(&g.record, e.payload);
    } else {
      e.payload_encoding = ne.payload_encoding;
      e.key_id = ne.key_id;
      head.last_hash = g.encoder.EncodeHead(e, &g.record);
    }
    head.last_lsn = e.lsn;

    char lsn_key[8];
    coding::EncodeFixed64BE(lsn_key, e.lsn);
    const rocksdb::Slice key_part(lsn_key, 8);
    const rocksdb::Slice value_parts[2] = {rocksdb::Slice(g.record),
                                           rocksdb::Slice(e.payload)};
    g.batch.Put(cf_events_, rocksdb::SliceParts(&key_part, 1), rocksdb::SliceParts(value_parts, 2));
    r.event_ids.push_back(e.event_id);
  }
  ids_->AddRun(r.event_ids, r.first_lsn);
  g.runs.push_back({req.stream, r.first_lsn, r.first_version, req.events.size()});
  std::string index_value = coding::Fixed64BE(r.first_lsn);
  const auto count = static_cast<uint32_t>(req.events.size());
  for (int i = 3; i >= 0; --i) index_value.push_back(static_cast<char>((count >> (8 * i)) & 0xff));
  g.batch.Put(cf_stream_index_, StreamIndexKey(req.stream, r.first_version), index_value);
  head.tenant = req.tenant;
  r.last_lsn = next_lsn_ - 1;
  r.last_version = head.version;
  return r;
}

Result<uint64_t> Log::RemoveEvents(const std::vector<uint64_t>& lsns, RemovalReason reason,
                                   const std::vector<std::string>& erase_streams,
                                   const std::function<Status(rocksdb::WriteBatch*)>& extra) {
  Pending p;
  const uint64_t bound = LastLsn();
  p.maintenance = [&]() -> Status {
    rocksdb::WriteBatch batch;
    uint64_t replaced = 0;
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    for (uint64_t lsn : lsns) {
      if (lsn == 0 || lsn > bound) {
        return Status::InvalidArgument("LSN " + std::to_string(lsn) + " is not a durable event");
      }
      rocksdb::PinnableSlice v;
      rocksdb::Status rs = db_->Get(ro, cf_events_, coding::Fixed64BE(lsn), &v);
      if (!rs.ok()) return Status::FromRocks(rs, "reading LSN " + std::to_string(lsn));
      const std::string_view rec(v.data(), v.size());
      if (IsRemovedRecord(rec)) continue;  // removed before (a rerun)
      Event e;
      if (Status s = DecodeRecordHeader(rec, &e); !s.ok()) {
        return Status::Corruption("LSN " + std::to_string(lsn) + ": " + s.message());
      }
      RemovedRecord stub;
      stub.lsn = lsn;
      stub.reason = reason;
      if (reason == RemovalReason::kRetention) {
        stub.stream_version = e.stream_version;
        stub.chain_hash = ChainHash(rec);
        stub.stream = std::move(e.stream);
        stub.tenant = std::move(e.tenant);
      }
      batch.Put(cf_events_, coding::Fixed64BE(lsn), EncodeRemovedRecord(stub));
      ++replaced;
    }
    for (const std::string& stream : erase_streams) {
      const std::string prefix = stream + '\0';
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_stream_index_));
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        batch.Delete(cf_stream_index_, it->key());
      }
      if (!it->status().ok()) return Status::FromRocks(it->status(), "reading the stream index");
    }
    if (extra) {
      if (Status s = extra(&batch); !s.ok()) return s;
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    Status ws = Status::FromRocks(db_->Write(wo, &batch), "removing events");
    if (!ws.ok()) {
      SetFailed(ws);
      return ws;
    }
    for (const std::string& stream : erase_streams) heads_->map.erase(stream);
    p.maintenance_count = replaced;
    return Status::OK();
  };
  Enqueue(&p);
  p.Wait();
  if (!p.result->ok()) return p.result->status();
  return p.maintenance_count;
}

Status Log::WaitForLsn(uint64_t lsn, std::chrono::milliseconds timeout,
                       const std::atomic<bool>* cancel) const {
  if (LastLsn() >= lsn) return Status::OK();
  auto cancelled = [&] { return closing_.load() || (cancel != nullptr && cancel->load()); };
  std::unique_lock<std::mutex> l(commit_mu_);
  commit_cv_.wait_for(l, timeout, [&] { return LastLsn() >= lsn || cancelled(); });
  if (LastLsn() >= lsn) return Status::OK();
  if (cancelled()) return Status::Shutdown("wait cancelled: closing");
  return Status::TimedOut("LSN " + std::to_string(lsn) + " not reached within " +
                          std::to_string(timeout.count()) + " ms (last LSN " +
                          std::to_string(LastLsn()) + ")");
}

void Log::NotifyWaiters() const {
  { std::lock_guard<std::mutex> l(commit_mu_); }
  commit_cv_.notify_all();
}

Status Log::ScanRecords(uint64_t from_lsn,
                        const std::function<bool(uint64_t, std::string_view)>& fn) const {
  const uint64_t last = LastLsn();  // nothing beyond what is durable
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_events_));
  for (it->Seek(coding::Fixed64BE(from_lsn)); it->Valid(); it->Next()) {
    if (it->key().size() != 8) {
      return Status::Corruption("events key of " + std::to_string(it->key().size()) + " bytes");
    }
    const uint64_t lsn = coding::DecodeFixed64BE(it->key().data());
    if (lsn > last) break;
    if (!fn(lsn, std::string_view(it->value().data(), it->value().size()))) break;
  }
  return Status::FromRocks(it->status(), "scanning the log");
}

Result<std::vector<Event>> Log::ReadAll(uint64_t from_lsn, size_t limit,
                                        bool include_removed) const {
  std::vector<Event> out;
  Status inner;
  Status s = ScanRecords(std::max<uint64_t>(from_lsn, 1), [&](uint64_t lsn, std::string_view rec) {
    if (out.size() >= limit) return false;
    Event e;
    if (IsRemovedRecord(rec)) {
      if (!include_removed) return true;
      RemovedRecord r;
      inner = DecodeRemovedRecord(rec, &r);
      if (inner.ok() && r.lsn != lsn) {
        inner = Status::Corruption("removed record says LSN " + std::to_string(r.lsn));
      }
      if (!inner.ok()) {
        inner = Status::Corruption("LSN " + std::to_string(lsn) + ": " + inner.message());
        return false;
      }
      e.lsn = lsn;
      e.stream = std::move(r.stream);
      e.stream_version = r.stream_version;
      e.tenant = std::move(r.tenant);
      e.removed = true;
      out.push_back(std::move(e));
      return true;
    }
    inner = DecodeRecord(rec, &e);
    if (inner.ok() && e.lsn != lsn) {
      inner = Status::Corruption("record under key " + std::to_string(lsn) + " says LSN " +
                                 std::to_string(e.lsn));
    }
    if (inner.ok()) inner = OpenPayload(rec, &e);
    if (!inner.ok()) {
      inner = Status::Corruption("LSN " + std::to_string(lsn) + ": " + inner.message());
      return false;
    }
    out.push_back(std::move(e));
    return true;
  });
  if (!inner.ok()) return inner;
  if (!s.ok()) return s;
  return out;
}

Result<Event> Log::ReadEvent(uint64_t lsn) const { return ReadEventUpTo(lsn, LastLsn()); }

Result<Event> Log::ReadEventUpTo(uint64_t lsn, uint64_t bound) const {
  if (lsn > bound || lsn == 0) return Status::NotFound("no event at LSN " + std::to_string(lsn));
  rocksdb::PinnableSlice v;
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  rocksdb::Status rs = db_->Get(ro, cf_events_, coding::Fixed64BE(lsn), &v);
  if (rs.IsNotFound()) return Status::NotFound("no event at LSN " + std::to_string(lsn));
  if (!rs.ok()) return Status::FromRocks(rs, "reading LSN " + std::to_string(lsn));
  if (IsRemovedRecord(std::string_view(v.data(), v.size()))) {
    return Status::NotFound("the event at LSN " + std::to_string(lsn) +
                            " was removed (retention or tenant deletion)");
  }
  Event e;
  Status s = DecodeRecord(std::string_view(v.data(), v.size()), &e);
  if (!s.ok()) return Status::Corruption("LSN " + std::to_string(lsn) + ": " + s.message());
  if (e.lsn != lsn) {
    return Status::Corruption("record under key " + std::to_string(lsn) + " says LSN " +
                              std::to_string(e.lsn));
  }
  s = OpenPayload(std::string_view(v.data(), v.size()), &e);
  if (!s.ok()) return Status::Corruption("LSN " + std::to_string(lsn) + ": " + s.message());
  return e;
}

Status Log::ScanStreamIndex(std::string_view stream, uint64_t from_version,
                            const std::function<bool(uint64_t, uint64_t)>& fn) const {
  const std::string prefix = std::string(stream) + '\0';
  const uint64_t last = LastLsn();  // nothing beyond what is durable
  from_version = std::max<uint64_t>(from_version, 1);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_stream_index_));
  // The append holding from_version starts at or before it.
  it->SeekForPrev(StreamIndexKey(stream, from_version));
  if (!it->Valid() || !it->key().starts_with(prefix)) it->Seek(StreamIndexKey(stream, from_version));
  for (; it->Valid(); it->Next()) {
    if (!it->key().starts_with(prefix)) break;
    if (it->key().size() != prefix.size() + 8 || it->value().size() != 12) {
      return Status::Corruption("stream index entry of bad length in '" + std::string(stream) + "'");
    }
    const uint64_t first_version = coding::DecodeFixed64BE(it->key().data() + prefix.size());
    const uint64_t first_lsn = coding::DecodeFixed64BE(it->value().data());
    const uint64_t count = coding::DecodeFixed32BE(it->value().data() + 8);
    for (uint64_t k = 0; k < count; ++k) {
      const uint64_t v = first_version + k;
      if (v < from_version) continue;
      if (first_lsn + k > last) return Status::OK();
      if (!fn(v, first_lsn + k)) return Status::OK();
    }
  }
  return Status::FromRocks(it->status(), "reading the stream index");
}

Result<std::vector<Event>> Log::ReadStream(std::string_view stream, uint64_t from_version,
                                           size_t limit) const {
  std::vector<Event> out;
  if (limit == 0) return out;
  Status inner;
  Status s = ScanStreamIndex(stream, from_version, [&](uint64_t, uint64_t lsn) {
    Result<Event> e = ReadEvent(lsn);
    if (!e.ok() && e.status().IsNotFound()) {
      // Removed by retention (the index keeps pointing at the removed
      // record); a record missing under an index entry is corruption.
      rocksdb::PinnableSlice v;
      rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf_events_, coding::Fixed64BE(lsn), &v);
      if (rs.ok() && IsRemovedRecord(std::string_view(v.data(), v.size()))) return true;
      inner = Status::Corruption("stream '" + std::string(stream) + "': index points at LSN " +
                                 std::to_string(lsn) + ", which holds no record");
      return false;
    }
    if (!e.ok()) {
      inner = e.status();
      return false;
    }
    out.push_back(std::move(e).value());
    return out.size() < limit;
  });
  if (!inner.ok()) return inner;
  if (!s.ok()) return s;
  return out;
}

Result<StreamHead> Log::GetStreamHead(std::string_view stream) const {
  Result<std::optional<StreamHead>> h = DeriveHead(stream, LastLsn());
  if (!h.ok()) return h.status();
  if (!h->has_value()) return Status::NotFound("stream '" + std::string(stream) + "' not found");
  return std::move(**h);
}

Result<uint64_t> Log::FindEventId(const EventId& id) const {
  Result<std::optional<uint64_t>> r = ids_->Find(id);
  if (!r.ok()) return r.status();
  if (!r->has_value()) return Status::NotFound("no event with id " + EventIdToString(id));
  return **r;
}

Result<uint64_t> Log::FindStreamVersion(std::string_view stream, uint64_t version) const {
  std::optional<uint64_t> found;
  Status s = ScanStreamIndex(stream, version, [&](uint64_t v, uint64_t lsn) {
    if (v == version) found = lsn;
    return false;
  });
  if (!s.ok()) return s;
  if (!found) {
    return Status::NotFound("stream '" + std::string(stream) + "' has no version " +
                            std::to_string(version));
  }
  return *found;
}

Status Log::health() const {
  std::lock_guard<std::mutex> l(health_mu_);
  return health_;
}

LogStats Log::stats() const {
  LogStats s;
  s.appends = n_appends_.load(std::memory_order_relaxed);
  s.events = n_events_.load(std::memory_order_relaxed);
  s.group_commits = n_groups_.load(std::memory_order_relaxed);
  s.conflicts = n_conflicts_.load(std::memory_order_relaxed);
  s.deduplicated = n_dedup_.load(std::memory_order_relaxed);
  s.max_group_requests = n_max_group_.load(std::memory_order_relaxed);
  s.wal_syncs = n_syncs_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace logbook
