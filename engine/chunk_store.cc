#include "engine/chunk_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <array>

#include "log/coding.h"

namespace logbook {

namespace {

// The gear table: 256 pseudo-random 64-bit values from splitmix64 with a
// fixed seed, so boundaries are the same on every machine and every build.
std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> g{};
  uint64_t x = 0x6c6f67626f6f6b31ULL;  // "logbook1"
  for (auto& v : g) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    v = z ^ (z >> 31);
  }
  return g;
}
const std::array<uint64_t, 256> kGear = MakeGear();

// A boundary where the top bits of the gear hash selected by the mask are
// zero: 9 bits, one in 512 positions. The gear
// hash shifts left, so its top bits depend on the last 64 bytes: the window
// that decides a boundary.
constexpr uint64_t kValueMask = 0xff80000000000000ULL;

std::vector<size_t> Boundaries(std::string_view data, size_t min, size_t max, uint64_t mask) {
  std::vector<size_t> ends;
  size_t start = 0;
  const size_t n = data.size();
  while (start < n) {
    size_t end = std::min(n, start + max);
    if (n - start > min) {
      uint64_t h = 0;
      // The hash warms up over the minimum size; boundaries only after it.
      for (size_t i = start; i < end; ++i) {
        h = (h << 1) + kGear[static_cast<uint8_t>(data[i])];
        if (i + 1 - start >= min && (h & mask) == 0) {
          end = i + 1;
          break;
        }
      }
    } else {
      end = n;
    }
    ends.push_back(end);
    start = end;
  }
  return ends;
}

// Associated data of a sealed chunk: binds it to its tenant and hash.
std::string ChunkAd(std::string_view tenant, std::string_view hash) {
  static constexpr std::string_view kLabel = "logbook/chunk/v1";
  std::string ad;
  ad.reserve(kLabel.size() + 1 + tenant.size() + 1 + hash.size());
  ad.append(kLabel);
  ad.push_back('\0');
  ad.append(tenant);
  ad.push_back('\0');
  ad.append(hash);
  return ad;
}

std::string Hex(std::string_view bytes) {
  std::string h(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(h.data(), h.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  h.pop_back();
  return h;
}

}  // namespace

std::vector<size_t> ChunkBoundaries(std::string_view data) {
  return Boundaries(data, kChunkMin, kChunkMax, kValueMask);
}

std::vector<size_t> ManifestChunkBoundaries(std::string_view data) {
  std::vector<size_t> ends;
  const size_t n = data.size() / kChunkHashSize;
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    ++count;
    const auto first = static_cast<uint8_t>(data[i * kChunkHashSize]);
    if ((count >= kManifestChunkMinRefs && (first & 0x07) == 0) || count >= kManifestChunkMaxRefs) {
      ends.push_back((i + 1) * kChunkHashSize);
      count = 0;
    }
  }
  if (ends.empty() ? !data.empty() : ends.back() != data.size()) ends.push_back(data.size());
  return ends;
}

std::string ChunkHash(std::string_view data) {
  std::string h(kChunkHashSize, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(h.data()), h.size(),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr, 0);
  return h;
}

ChunkStore::ChunkStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, KeyRing* keyring)
    : db_(db), cf_(cf), keyring_(keyring) {}

std::string ChunkStore::Key(std::string_view tenant, std::string_view hash) {
  std::string k;
  k.reserve(tenant.size() + 1 + hash.size());
  k.append(tenant);
  k.push_back('\0');
  k.append(hash);
  return k;
}

Result<std::string> ChunkStore::PutChunks(std::string_view tenant, std::string_view data,
                                          const std::vector<size_t>& ends,
                                          const KeyRing::SealKey& key, PinList* pins) {
  if (cf_ == nullptr) return Status::ReadOnly("this log has no chunk store");
  std::string hashes;
  hashes.reserve(ends.size() * kChunkHashSize);
  std::vector<std::string> keys;
  keys.reserve(ends.size());
  size_t start = 0;
  for (size_t end : ends) {
    const std::string h = ChunkHash(data.substr(start, end - start));
    hashes += h;
    keys.push_back(Key(tenant, h));
    start = end;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& k : keys) {
      ++pinned_[k];
      if (sweeping_) touched_.insert(k);
    }
  }
  pins->insert(pins->end(), keys.begin(), keys.end());

  // A stored chunk counts as present when it is stored as this put would
  // store it; the format byte and key id tell, no decryption needed. A
  // plaintext chunk under a key ring, or one sealed under a destroyed key,
  // is written again under the current key.
  const bool seal = key.key != nullptr;
  auto present = [&](const rocksdb::Slice& v) {
    if (!seal) return true;
    return v.size() >= kSealedChunkHeader &&
           static_cast<uint8_t>(v[0]) == static_cast<uint8_t>(ChunkFormat::kSealed) &&
           coding::DecodeFixed32LE(v.data() + 1) == key.id;
  };

  // Pinned: from here no sweep deletes them. Store the ones not present.
  rocksdb::WriteBatch batch;
  std::unordered_set<std::string_view> in_batch;
  start = 0;
  std::string value;
  for (size_t i = 0; i < ends.size(); ++i) {
    const std::string_view chunk = data.substr(start, ends[i] - start);
    start = ends[i];
    if (in_batch.count(keys[i]) > 0) continue;
    std::string existing;
    if (db_->KeyMayExist(rocksdb::ReadOptions(), cf_, keys[i], &existing)) {
      rocksdb::PinnableSlice got;
      rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf_, keys[i], &got);
      if (rs.ok() && present(got)) continue;
      if (!rs.ok() && !rs.IsNotFound()) return Status::FromRocks(rs, "reading a chunk");
    }
    value.clear();
    if (seal) {
      std::string sealed(chunk);
      KeyRing::Seal(key, ChunkAd(tenant, std::string_view(keys[i]).substr(tenant.size() + 1)),
                    &sealed);
      value.reserve(kSealedChunkHeader + sealed.size());
      value.push_back(static_cast<char>(ChunkFormat::kSealed));
      char id[4];
      coding::EncodeFixed32LE(id, key.id);
      value.append(id, sizeof(id));
      value.append(sealed);
    } else {
      value.push_back(static_cast<char>(ChunkFormat::kPlain));
      value.append(chunk);
    }
    (void)batch.Put(cf_, keys[i], value);  // in-memory batch: cannot fail
    in_batch.insert(keys[i]);
  }
  if (batch.Count() > 0) {
    // Not synced: the append that references these chunks syncs the WAL,
    // which holds this batch before the event.
    Status s = Status::FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "writing chunks");
    if (!s.ok()) return s;
  }
  return hashes;
}

Result<BlobRef> ChunkStore::Write(std::string_view tenant, std::string_view type,
                                  std::string_view data, PinList* pins) {
  if (cf_ == nullptr) return Status::ReadOnly("this log has no chunk store");
  // Tenants' chunks are sealed like their payloads; an empty tenant (as for
  // the log's system streams) stays plaintext. Fetched once per value.
  KeyRing::SealKey key;
  if (keyring_ != nullptr && !tenant.empty()) {
    Result<KeyRing::SealKey> k = keyring_->KeyFor(tenant);
    if (!k.ok()) return k.status();
    key = std::move(k).value();
  }
  BlobRef ref;
  ref.type = std::string(type);
  ref.size = data.size();
  Result<std::string> refs = PutChunks(tenant, data, ChunkBoundaries(data), key, pins);
  if (!refs.ok()) return refs.status();
  ref.refs = std::move(refs).value();
  while (ref.refs.size() > kMaxRootRefs * kChunkHashSize) {
    if (ref.levels >= kMaxBlobLevels) return Status::InvalidArgument("value too large");
    Result<std::string> up =
        PutChunks(tenant, ref.refs, ManifestChunkBoundaries(ref.refs), key, pins);
    if (!up.ok()) return up.status();
    ref.refs = std::move(up).value();
    ++ref.levels;
  }
  return ref;
}

Result<std::string> ChunkStore::GetChunk(std::string_view tenant, std::string_view hash,
                                         uint32_t* key_id) const {
  auto hex = [&] { return Hex(hash); };
  if (cf_ == nullptr) return Status::NotFound("this log has no chunk store");
  rocksdb::PinnableSlice v;
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf_, Key(tenant, hash), &v);
  if (rs.IsNotFound()) return Status::Corruption("chunk " + hex() + " is missing");
  if (!rs.ok()) return Status::FromRocks(rs, "reading a chunk");
  std::string body;
  const auto format = v.size() < 1 ? uint8_t{0} : static_cast<uint8_t>(v.data()[0]);
  if (format == static_cast<uint8_t>(ChunkFormat::kPlain)) {
    body.assign(v.data() + 1, v.size() - 1);
  } else if (format == static_cast<uint8_t>(ChunkFormat::kSealed) &&
             v.size() >= kSealedChunkHeader) {
    const uint32_t id = coding::DecodeFixed32LE(v.data() + 1);
    if (key_id != nullptr) *key_id = id;
    if (keyring_ == nullptr) {
      return Status::NotFound("chunk " + hex() + " is sealed with data key " + std::to_string(id) +
                              "; no key directory given");
    }
    body.assign(v.data() + kSealedChunkHeader, v.size() - kSealedChunkHeader);
    Status s = keyring_->Unseal(id, ChunkAd(tenant, hash), &body);
    if (s.IsNotFound()) return Status::NotFound("chunk " + hex() + ": " + s.message());
    if (!s.ok()) {
      return Status::Corruption("chunk " + hex() + " of tenant '" + std::string(tenant) +
                                "' does not authenticate under data key " + std::to_string(id) +
                                " (damaged, or moved from another tenant or hash)");
    }
  } else {
    return Status::Corruption("chunk " + hex() + " has an unknown format");
  }
  if (ChunkHash(body) != hash) {
    return Status::Corruption("chunk " + hex() + " fails its BLAKE2b-256 check");
  }
  return body;
}

Result<std::string> ChunkStore::Read(std::string_view tenant, const BlobRef& ref) const {
  if (ref.refs.size() % kChunkHashSize != 0 || ref.levels > kMaxBlobLevels) {
    return Status::Corruption("malformed blob reference");
  }
  std::string refs = ref.refs;
  for (int level = ref.levels; level >= 0; --level) {
    std::string next;
    for (size_t i = 0; i < refs.size(); i += kChunkHashSize) {
      Result<std::string> c = GetChunk(tenant, std::string_view(refs).substr(i, kChunkHashSize));
      if (!c.ok()) return c.status();
      next += *c;
    }
    if (level > 0 && next.size() % kChunkHashSize != 0) {
      return Status::Corruption("malformed manifest chunk");
    }
    refs = std::move(next);
  }
  if (refs.size() != ref.size) {
    return Status::Corruption("value has " + std::to_string(refs.size()) + " bytes, expected " +
                              std::to_string(ref.size));
  }
  return refs;
}

void ChunkStore::Unpin(const PinList& pins) {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& k : pins) {
    auto it = pinned_.find(k);
    if (it != pinned_.end() && --it->second == 0) pinned_.erase(it);
    if (sweeping_) touched_.insert(k);
  }
}

Status ChunkStore::MarkReachable(std::string_view tenant, const BlobRef& ref,
                                 std::unordered_set<std::string>* live,
                                 std::unordered_set<std::string>* expanded) const {
  if (ref.refs.size() % kChunkHashSize != 0 || ref.levels > kMaxBlobLevels) {
    return Status::Corruption("malformed blob reference");
  }
  // Walk the manifest levels; a manifest chunk seen before was walked whole.
  std::vector<std::pair<std::string, int>> todo;  // (hashes, level)
  todo.emplace_back(ref.refs, ref.levels);
  while (!todo.empty()) {
    auto [hashes, level] = std::move(todo.back());
    todo.pop_back();
    for (size_t i = 0; i < hashes.size(); i += kChunkHashSize) {
      const std::string_view h = std::string_view(hashes).substr(i, kChunkHashSize);
      std::string key = Key(tenant, h);
      live->insert(key);
      if (level == 0 || !expanded->insert(std::move(key)).second) continue;
      uint32_t key_id = 0;
      Result<std::string> c = GetChunk(tenant, h, &key_id);
      if (!c.ok() && c.status().IsNotFound() && keyring_ != nullptr && key_id != 0 &&
          keyring_->IsDestroyed(key_id)) {
        continue;  // crypto-shredded: see the header
      }
      if (!c.ok()) return c.status();
      if (c->size() % kChunkHashSize != 0) return Status::Corruption("malformed manifest chunk");
      todo.emplace_back(std::move(c).value(), level - 1);
    }
  }
  return Status::OK();
}

void ChunkStore::BeginSweep() {
  std::lock_guard<std::mutex> l(mu_);
  sweeping_ = true;
  touched_.clear();
}

void ChunkStore::CancelSweep() {
  std::lock_guard<std::mutex> l(mu_);
  sweeping_ = false;
  touched_.clear();
}

Result<SweepResult> ChunkStore::Sweep(const std::unordered_set<std::string>& live) {
  SweepResult r;
  Status st;
  if (cf_ != nullptr) {
    std::vector<std::pair<std::string, size_t>> candidates;
    auto flush = [&]() -> Status {
      if (candidates.empty()) return Status::OK();
      // Decide and delete under the pin lock (see mu_).
      std::lock_guard<std::mutex> l(mu_);
      rocksdb::WriteBatch batch;
      for (const auto& [k, size] : candidates) {
        if (pinned_.count(k) > 0 || touched_.count(k) > 0) {
          ++r.chunks_kept;
          continue;
        }
        (void)batch.Delete(cf_, k);  // in-memory batch: cannot fail
        ++r.chunks_deleted;
        r.bytes_deleted += size;
      }
      candidates.clear();
      if (batch.Count() == 0) return Status::OK();
      return Status::FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "deleting chunks");
    };
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_));
    for (it->SeekToFirst(); it->Valid() && st.ok(); it->Next()) {
      std::string key = it->key().ToString();
      if (live.count(key) > 0) {
        ++r.chunks_kept;
        continue;
      }
      candidates.emplace_back(std::move(key), it->value().size() > 0 ? it->value().size() - 1 : 0);
      if (candidates.size() >= 1024) st = flush();
    }
    if (st.ok() && !it->status().ok()) st = Status::FromRocks(it->status(), "scanning chunks");
    if (st.ok()) st = flush();
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    sweeping_ = false;
    touched_.clear();
  }
  if (!st.ok()) return st;
  return r;
}

Result<ChunkStoreStats> ChunkStore::Stats() const {
  ChunkStoreStats s;
  if (cf_ == nullptr) return s;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++s.chunks;
    s.bytes += it->value().size() > 0 ? it->value().size() - 1 : 0;
  }
  if (!it->status().ok()) return Status::FromRocks(it->status(), "scanning chunks");
  return s;
}

}  // namespace logbook
