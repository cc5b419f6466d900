#include "engine/tenants.h"

#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <unordered_map>

#include "engine/holds.h"
#include "engine/retention.h"
#include "engine/sessions.h"
#include "log/file_util.h"
#include "log/keyring.h"
#include "projections/artifacts.h"
#include "projections/view_store.h"

namespace logbook {

namespace {

constexpr std::string_view kComplianceStream = "$compliance";
constexpr auto kViewWait = std::chrono::seconds(600);

std::string MarkerKey(const std::string& tenant) { return "tenant-delete/" + tenant; }

std::string HexOf(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kHex[p[i] >> 4]);
    s.push_back(kHex[p[i] & 15]);
  }
  return s;
}

// A file written once, hashed as it is written, fsync'd on Close.
class HashedFile {
 public:
  Status Open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) return Status::IOError(ErrnoText("creating", path, errno));
    crypto_generichash_init(&st_, nullptr, 0, 32);
    return Status::OK();
  }
  Status Write(std::string_view data) {
    crypto_generichash_update(&st_, reinterpret_cast<const unsigned char*>(data.data()), data.size());
    buf_.append(data);
    bytes_ += data.size();
    return buf_.size() >= (1 << 20) ? Flush() : Status::OK();
  }
  Status Close() {
    if (Status s = Flush(); !s.ok()) return s;
    if (::fsync(fd_) != 0) return Status::IOError(ErrnoText("fsync of", path_, errno));
    ::close(fd_);
    fd_ = -1;
    unsigned char h[32];
    crypto_generichash_final(&st_, h, sizeof(h));
    hash_ = HexOf(h, sizeof(h));
    return Status::OK();
  }
  ~HashedFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  uint64_t bytes() const { return bytes_; }
  const std::string& hash() const { return hash_; }

 private:
  Status Flush() {
    size_t off = 0;
    while (off < buf_.size()) {
      const ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::IOError(ErrnoText("writing", path_, errno));
      off += static_cast<size_t>(n);
    }
    buf_.clear();
    return Status::OK();
  }
  std::string path_;
  int fd_ = -1;
  crypto_generichash_state st_{};
  std::string buf_;
  uint64_t bytes_ = 0;
  std::string hash_;
};

Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError(ErrnoText("opening", dir, errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError(ErrnoText("fsync of", dir, err));
  return Status::OK();
}

std::string CompactUtc(int64_t us) {
  const std::time_t t = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

nlohmann::json CountsJson(const std::map<std::string, uint64_t>& counts) {
  nlohmann::json c = nlohmann::json::object();
  for (const auto& [family, n] : counts) c[family] = n;
  return c;
}

nlohmann::json CountsArray(const std::map<std::string, uint64_t>& counts) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& [family, n] : counts) a.push_back({{"family", family}, {"events", n}});
  return a;
}

// The tenant's events still in the log, whole streams, in LSN order.
struct TenantScan {
  std::vector<std::string> streams;                          // first-seen order
  std::unordered_map<std::string, std::vector<uint64_t>> lsns;  // per stream
  std::unordered_map<std::string, std::map<std::string, uint64_t>> families;  // per stream
  uint64_t events = 0;
};

Result<TenantScan> ScanTenant(Log& log, const std::string& tenant) {
  TenantScan scan;
  Status inner;
  Status s = log.ScanRecords(1, [&](uint64_t lsn, std::string_view rec) {
    if (IsRemovedRecord(rec)) return true;
    Event e;
    if (Status d = DecodeRecordHeader(rec, &e); !d.ok()) {
      inner = Status::Corruption("LSN " + std::to_string(lsn) + ": " + d.message());
      return false;
    }
    if (e.tenant != tenant) return true;
    auto [it, fresh] = scan.lsns.try_emplace(e.stream);
    if (fresh) scan.streams.push_back(e.stream);
    it->second.push_back(lsn);
    ++scan.families[e.stream][std::string(EventFamily(e.type))];
    ++scan.events;
    return true;
  });
  if (!inner.ok()) return inner;
  if (!s.ok()) return s;
  return scan;
}

std::string ChunkPrefix(const std::string& tenant) { return tenant + std::string(1, '\0'); }

Result<uint64_t> CountChunks(Log& log, const std::string& tenant) {
  if (log.chunks_cf() == nullptr) return uint64_t{0};
  const std::string prefix = ChunkPrefix(tenant);
  std::unique_ptr<rocksdb::Iterator> it(log.db()->NewIterator(rocksdb::ReadOptions(), log.chunks_cf()));
  uint64_t n = 0;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
  if (!it->status().ok()) return Status::FromRocks(it->status(), "reading the chunk store");
  return n;
}

}  // namespace

nlohmann::json TenantExportReport::ToJson() const {
  return {{"tenant", tenant},         {"dir", dir},
          {"up_to_lsn", up_to_lsn},   {"counts", CountsJson(counts)},
          {"events", events},         {"artifacts", artifacts},
          {"bytes", bytes},           {"manifest_hash", manifest_hash},
          {"exported_lsn", exported_lsn}};
}

nlohmann::json TenantDeleteReport::ToJson() const {
  nlohmann::json j = {{"tenant", tenant},
                      {"dry_run", dry_run},
                      {"counts", CountsJson(counts)},
                      {"events", events},
                      {"streams", streams},
                      {"chunks", chunks},
                      {"total_items", total_items}};
  if (!dry_run) {
    j["destroyed_key_ids"] = destroyed_key_ids;
    j["deleted_lsn"] = deleted_lsn;
  }
  if (resumed) j["resumed"] = true;
  return j;
}

Result<TenantExportReport> TenantService::Export(const std::string& tenant,
                                                 const std::string& out_dir, const Actor& by) {
  if (tenant.empty()) return Status::InvalidArgument("export needs a tenant");
  if (Status s = ValidateTenantName(tenant); !s.ok()) return s;
  Log& log = engine_.log();
  if (!engine_.read_only()) {
    if (Status s = engine_.WaitForViews(log.LastLsn(), kViewWait); !s.ok()) return s;
  }
  TenantExportReport report;
  report.tenant = tenant;
  report.up_to_lsn = log.LastLsn();
  const int64_t now = engine_.Now();

  struct stat st {};
  if (::stat(out_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::NotFound("output directory " + out_dir + " does not exist");
  }
  std::string dir = out_dir + "/" + tenant + "-export-" + CompactUtc(now);
  for (int n = 2; ::mkdir(dir.c_str(), 0700) != 0; ++n) {
    if (errno != EEXIST || n > 100) return Status::IOError(ErrnoText("creating", dir, errno));
    dir = out_dir + "/" + tenant + "-export-" + CompactUtc(now) + "-" + std::to_string(n);
  }
  report.dir = dir;

  // events.jsonl: every event of the tenant, LSN order, as GET /v1/events
  // shows it (payloads opened; one whose key is gone says so).
  HashedFile events;
  if (Status s = events.Open(dir + "/events.jsonl"); !s.ok()) return s;
  uint64_t next = 1;
  while (next <= report.up_to_lsn) {
    Result<std::vector<Event>> batch = log.ReadAll(next, 4096);
    if (!batch.ok()) return batch.status();
    if (batch->empty()) break;
    for (const Event& e : *batch) {
      next = e.lsn + 1;
      if (e.lsn > report.up_to_lsn) break;
      if (e.tenant != tenant) continue;
      if (Status s = events.Write(Engine::EventToJsonText(e) + "\n"); !s.ok()) return s;
      ++report.counts[std::string(EventFamily(e.type))];
      ++report.events;
    }
  }
  if (Status s = events.Close(); !s.ok()) return s;

  // artifacts.json: the tenant's artifact index as the artifacts view has it.
  auto reader = NewRocksViewReader(log.db(), log.views_cf(), ArtifactsProjection::kName);
  Result<std::vector<ArtifactEntry>> arts = ArtifactsProjection::List(*reader, tenant, SIZE_MAX);
  if (!arts.ok()) return arts.status();
  nlohmann::json art_json = nlohmann::json::array();
  for (const ArtifactEntry& a : *arts) art_json.push_back(a.ToJson());
  report.artifacts = arts->size();
  HashedFile artifacts;
  if (Status s = artifacts.Open(dir + "/artifacts.json"); !s.ok()) return s;
  if (Status s = artifacts.Write(art_json.dump(2) + "\n"); !s.ok()) return s;
  if (Status s = artifacts.Close(); !s.ok()) return s;

  nlohmann::json manifest = {
      {"format", "logbook-tenant-export"},
      {"format_version", 1},
      {"tenant", tenant},
      {"created_at", FormatTimestamp(now)},
      {"up_to_lsn", report.up_to_lsn},
      {"counts", CountsJson(report.counts)},
      {"events", report.events},
      {"artifacts", report.artifacts},
      {"hash", "blake2b-256"},
      {"files",
       nlohmann::json::array(
           {{{"name", "events.jsonl"}, {"bytes", events.bytes()}, {"blake2b_256", events.hash()}},
            {{"name", "artifacts.json"},
             {"bytes", artifacts.bytes()},
             {"blake2b_256", artifacts.hash()}}})}};
  HashedFile man;
  if (Status s = man.Open(dir + "/manifest.json"); !s.ok()) return s;
  if (Status s = man.Write(manifest.dump(2) + "\n"); !s.ok()) return s;
  if (Status s = man.Close(); !s.ok()) return s;
  if (Status s = SyncDir(dir); !s.ok()) return s;
  report.manifest_hash = man.hash();
  report.bytes = events.bytes() + artifacts.bytes() + man.bytes();

  if (!engine_.read_only()) {
    nlohmann::json payload = {{"tenant", tenant},
                              {"export_id", dir.substr(dir.rfind('/') + 1)},
                              {"manifest_hash", report.manifest_hash},
                              {"counts", CountsArray(report.counts)},
                              {"up_to_lsn", report.up_to_lsn},
                              {"bytes", report.bytes},
                              {"redacted", false},
                              {"by", by.id},
                              {"exported_at_us", now}};
    Result<AppendResult> r =
        engine_.AppendJson(ComplianceStream(tenant), tenant, by,
                           ExpectedVersion::Any(), {{"TenantExported", "", payload.dump()}});
    if (!r.ok()) return r.status();
    report.exported_lsn = r->last_lsn;
  }
  return report;
}

Result<TenantDeleteReport> TenantService::Delete(const std::string& tenant, bool dry_run,
                                                 const Actor& by, const std::string& reason) {
  if (tenant.empty()) return Status::InvalidArgument("delete needs a tenant");
  if (Status s = ValidateTenantName(tenant); !s.ok()) return s;
  Log& log = engine_.log();
  if (!dry_run && engine_.read_only()) {
    return Status::ReadOnly("tenant deletion needs the data directory for writing");
  }
  if (!engine_.read_only()) {
    if (Status s = engine_.WaitForViews(log.LastLsn(), kViewWait); !s.ok()) return s;
  }
  HoldService holds(engine_);
  if (Status s = holds.CheckNoHold(tenant); !s.ok()) return s;

  TenantDeleteReport report;
  report.tenant = tenant;
  report.dry_run = dry_run;

  // A delete cut short is continued under its own id and counts.
  std::string deletion_id;
  {
    std::string v;
    rocksdb::Status rs = log.db()->Get(rocksdb::ReadOptions(), log.meta_cf(), MarkerKey(tenant), &v);
    if (!rs.ok() && !rs.IsNotFound()) return Status::FromRocks(rs, "reading the deletion marker");
    if (rs.ok()) {
      const nlohmann::json m = nlohmann::json::parse(v, nullptr, false);
      if (!m.is_object() || !m.contains("deletion_id") || !m["deletion_id"].is_string() ||
          !m.contains("counts") || !m["counts"].is_object()) {
        return Status::Corruption("meta key " + MarkerKey(tenant) + " does not hold a deletion");
      }
      deletion_id = m["deletion_id"].get<std::string>();
      if (!dry_run) {
        report.resumed = true;
        for (const auto& [family, n] : m["counts"].items()) {
          if (n.is_number_unsigned()) report.counts[family] = n.get<uint64_t>();
        }
        report.events = m.value("events", uint64_t{0});
        report.streams = m.value("streams", uint64_t{0});
        report.chunks = m.value("chunks", uint64_t{0});
      }
    }
  }
  if (deletion_id.empty()) deletion_id = EventIdToString(RandomEventId());

  Result<uint64_t> chunks = CountChunks(log, tenant);
  if (!chunks.ok()) return chunks.status();

  if (dry_run) {
    Result<TenantScan> scan = ScanTenant(log, tenant);
    if (!scan.ok()) return scan.status();
    for (const auto& [stream, fam] : scan->families) {
      for (const auto& [family, n] : fam) report.counts[family] += n;
    }
    report.events = scan->events;
    report.streams = scan->streams.size();
    report.chunks = *chunks;
    report.total_items = report.events + report.chunks;
    return report;
  }

  // Erase whole streams, batch by batch, until a scan finds nothing (events
  // appended meanwhile are found by the next scan).
  bool removed_any = report.resumed;
  for (;;) {
    Result<TenantScan> scan = ScanTenant(log, tenant);
    if (!scan.ok()) return scan.status();
    if (scan->events == 0) break;
    removed_any = true;
    size_t i = 0;
    while (i < scan->streams.size()) {
      std::vector<uint64_t> lsns;
      std::vector<std::string> streams;
      TenantDeleteReport next = report;
      while (i < scan->streams.size() && (lsns.empty() || lsns.size() < batch_events)) {
        const std::string& stream = scan->streams[i++];
        const auto& l = scan->lsns[stream];
        lsns.insert(lsns.end(), l.begin(), l.end());
        streams.push_back(stream);
        for (const auto& [family, n] : scan->families[stream]) next.counts[family] += n;
        next.events += l.size();
        ++next.streams;
      }
      Result<uint64_t> removed = log.RemoveEvents(
          lsns, RemovalReason::kTenantErased, streams, [&](rocksdb::WriteBatch* b) {
            nlohmann::json m = {{"deletion_id", deletion_id},
                                {"counts", CountsJson(next.counts)},
                                {"events", next.events},
                                {"streams", next.streams},
                                {"chunks", next.chunks}};
            return Status::FromRocks(b->Put(log.meta_cf(), MarkerKey(tenant), m.dump()),
                                     "deletion marker");
          });
      if (!removed.ok()) return removed.status();
      report = std::move(next);
    }
  }

  // Graph chunks: content only the tenant's events referenced.
  if (*chunks > 0) {
    const std::string from = ChunkPrefix(tenant);
    const std::string to = tenant + std::string(1, '\1');
    rocksdb::WriteBatch b;
    b.DeleteRange(log.chunks_cf(), from, to);
    nlohmann::json m = {{"deletion_id", deletion_id},
                        {"counts", CountsJson(report.counts)},
                        {"events", report.events},
                        {"streams", report.streams},
                        {"chunks", report.chunks + *chunks}};
    b.Put(log.meta_cf(), MarkerKey(tenant), m.dump());
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status rs = log.db()->Write(wo, &b);
    if (!rs.ok()) return Status::FromRocks(rs, "deleting the tenant's chunks");
    report.chunks += *chunks;
    removed_any = true;
  }

  // Crypto-shredding: whatever copy of a sealed payload exists anywhere can
  // no longer be opened with this key directory.
  if (KeyRing* keys = engine_.keyring(); keys != nullptr) {
    for (const TenantKeyInfo& k : keys->List()) {
      if (k.tenant == tenant && !k.destroyed) report.destroyed_key_ids.push_back(k.key_id);
    }
    Result<size_t> destroyed = keys->DestroyTenant(tenant);
    if (!destroyed.ok()) return destroyed.status();
    if (*destroyed > 0) removed_any = true;
  }
  report.total_items = report.events + report.chunks;
  if (!removed_any) return report;  // nothing of the tenant was left

  // Views hold copies of what the events said: fold them again from the log,
  // which no longer has the tenant.
  if (Status s = engine_.projector().Reset(""); !s.ok()) return s;
  if (Status s = engine_.WaitForViews(log.LastLsn(), kViewWait); !s.ok()) return s;

  nlohmann::json payload = {{"tenant", tenant},
                            {"counts", CountsArray(report.counts)},
                            {"total_items", report.total_items},
                            {"destroyed_key_ids", report.destroyed_key_ids},
                            {"reason", reason},
                            {"by", by.id},
                            {"deleted_at_us", engine_.Now()}};
  const EventId id = Sessions::DerivedEventId({"tenant-deleted", tenant, deletion_id});
  Result<AppendResult> r =
      engine_.AppendJson(std::string(kComplianceStream), "", by, ExpectedVersion::Any(),
                         {{"TenantDeleted", EventIdToString(id), payload.dump()}});
  if (!r.ok()) return r.status();
  report.deleted_lsn = r->last_lsn;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status rs = log.db()->Delete(wo, log.meta_cf(), MarkerKey(tenant));
  if (!rs.ok()) return Status::FromRocks(rs, "dropping the deletion marker");
  return report;
}

}  // namespace logbook
