// Sealed chunks: with a key directory the chunk store seals each tenant's
// chunks under its data key (docs/log_format.md "Chunk store"). Plaintext on
// disk, moved chunks, crypto-shredding, re-sealing and old plaintext chunks.

#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/chunk_store.h"
#include "engine/graph_store.h"
#include "log/keyring.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

const Actor kActor{"tester", Role::kOperator};

std::unique_ptr<Engine> Open(const std::string& data, const std::string& keys) {
  EngineOptions o;
  o.data_dir = data;
  o.key_dir = keys;
  o.create_keys = true;
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  return std::move(e).value();
}

// A value of many distinct chunks, each carrying `marker`: large enough for
// manifest levels.
std::string Value(const std::string& marker, int records) {
  std::string s;
  for (int i = 0; i < records; ++i) {
    s += "{\"n\":" + std::to_string(i * 7919 % 100003) + ",\"note\":\"" + marker + "\",\"i\":" +
         std::to_string(i) + "}\n";
  }
  return s;
}

// Every byte under `dir`: what a thief with a copy would read.
std::string AllBytes(const std::string& dir) {
  std::string all;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  return all;
}

// The stored values of the chunks CF, by key.
std::vector<std::pair<std::string, std::string>> RawChunks(Engine& e) {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(
      e.log().db()->NewIterator(rocksdb::ReadOptions(), e.log().chunks_cf()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  REQUIRE(it->status().ok());
  return out;
}

void PutRaw(Engine& e, const std::string& key, const std::string& value) {
  REQUIRE(e.log().db()->Put(rocksdb::WriteOptions(), e.log().chunks_cf(), key, value).ok());
}

GraphPut MakePut(const std::string& thread, const std::string& id, const std::string& value) {
  GraphPut p;
  p.thread_id = thread;
  p.checkpoint_id = id;
  p.checkpoint = {"json", "{\"v\":4,\"id\":\"" + id + "\"}"};
  p.metadata_json = "{}";
  p.channel_versions = {{"m", "1"}};
  p.values = {{"m", "1", {"json", value}}};
  return p;
}

std::string ValueOf(const GraphTuple& t, const std::string& channel) {
  for (const auto& [ch, v] : t.channel_values) {
    if (ch == channel) return v.data;
  }
  return "<absent>";
}

}  // namespace

TEST_SUITE("engine/chunk_store") {
  TEST_CASE("SealedChunksKeepNoPlaintextOnDiskAndLargeValuesRoundTrip") {
    TempDir d;
    const std::string value = Value("graph-secret-marker", 4000);  // ~200 KB
    {
      auto e = Open(d.Sub("data"), d.Sub("keys"));
      REQUIRE(e->keyring() != nullptr);
      ChunkStore store(e->log().db(), e->log().chunks_cf(), e->keyring());
      ChunkStore::PinList pins;
      Result<BlobRef> ref = store.Write("acme", "json", value, &pins);
      REQUIRE_MESSAGE(ref.ok(), ref.status().ToString());
      store.Unpin(pins);
      CHECK(ref->levels >= 2);  // manifest chunks are sealed and read too
      Result<std::string> back = store.Read("acme", *ref);
      REQUIRE_MESSAGE(back.ok(), back.status().ToString());
      CHECK(*back == value);
      const uint32_t key_id = e->keyring()->KeyFor("acme")->id;
      auto raw = RawChunks(*e);
      REQUIRE(raw.size() > 100);
      for (const auto& [k, v] : raw) {
        REQUIRE(v.size() >= kSealedChunkHeader + kSealNonceBytes + kSealTagBytes);
        CHECK(static_cast<uint8_t>(v[0]) == static_cast<uint8_t>(ChunkFormat::kSealed));
        CHECK(v.substr(1, 4) == std::string{static_cast<char>(key_id), 0, 0, 0});
        CHECK(v.find("graph-secret-marker") == std::string::npos);
      }
      // Through the graph store, flushed to SST files as well.
      GraphStore g(*e, {});
      REQUIRE(g.Put("acme", kActor, MakePut("t", "c1", Value("graph-secret-marker", 50))).ok());
      auto t = g.GetTuple("acme", "t", "", "c1").value();
      REQUIRE(t.has_value());
      CHECK(ValueOf(*t, "m") == Value("graph-secret-marker", 50));
      REQUIRE(e->log().db()->Flush(rocksdb::FlushOptions(), e->log().chunks_cf()).ok());
    }
    CHECK(AllBytes(d.Sub("data")).find("graph-secret-marker") == std::string::npos);
  }

  TEST_CASE("ShreddingATenantMakesItsChunksUnreadableEvenInAnOlderCopy") {
    TempDir d;
    const std::string acme_value = Value("acme-graph", 3000);
    const std::string globex_value = Value("globex-graph", 3000);
    {
      auto e = Open(d.Sub("data"), d.Sub("keys"));
      GraphStore g(*e, {});
      REQUIRE(g.Put("acme", kActor, MakePut("t", "c1", acme_value)).ok());
      REQUIRE(g.Put("globex", kActor, MakePut("t", "c1", globex_value)).ok());
    }
    std::filesystem::copy(d.Sub("data"), d.Sub("copy"), std::filesystem::copy_options::recursive);
    {
      auto e = Open(d.Sub("data"), d.Sub("keys"));
      REQUIRE(*e->keyring()->DestroyTenant("acme") == 1);
    }
    auto e = Open(d.Sub("copy"), d.Sub("keys"));
    GraphStore g(*e, {});
    Result<std::optional<GraphTuple>> acme = g.GetTuple("acme", "t", "", "c1");
    REQUIRE(!acme.ok());
    CHECK(acme.status().IsNotFound());
    CHECK(acme.status().message().find("destroyed") != std::string::npos);
    auto globex = g.GetTuple("globex", "t", "", "c1").value();
    REQUIRE(globex.has_value());
    CHECK(ValueOf(*globex, "m") == globex_value);

    // A sweep passes over the shredded tenant's manifests (it cannot open
    // them) instead of failing, and keeps everything of the other tenant.
    Result<GraphSweepReport> r = g.SweepNow();
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->chunks.chunks_deleted > 0);  // acme's unreadable data chunks
    globex = g.GetTuple("globex", "t", "", "c1").value();
    REQUIRE(globex.has_value());
    CHECK(ValueOf(*globex, "m") == globex_value);

    // The tenant comes back with a new key: the same content is sealed
    // again under it, not deduplicated against the shredded chunks.
    REQUIRE(g.Put("acme", kActor, MakePut("t2", "c1", acme_value)).ok());
    auto again = g.GetTuple("acme", "t2", "", "c1").value();
    REQUIRE(again.has_value());
    CHECK(ValueOf(*again, "m") == acme_value);
  }

  TEST_CASE("ASealedChunkMovedToAnotherTenantOrHashFailsAuthentication") {
    TempDir d;
    auto e = Open(d.Sub("data"), d.Sub("keys"));
    ChunkStore store(e->log().db(), e->log().chunks_cf(), e->keyring());
    ChunkStore::PinList pins;
    const BlobRef a = store.Write("acme", "json", "acme's small value", &pins).value();
    const BlobRef b = store.Write("acme", "json", "another small value", &pins).value();
    REQUIRE(store.Write("globex", "json", "globex's value", &pins).ok());
    REQUIRE(a.refs.size() == kChunkHashSize);
    std::string sealed;
    for (const auto& [k, v] : RawChunks(*e)) {
      if (k == ChunkStore::Key("acme", a.refs)) sealed = v;
    }
    REQUIRE(!sealed.empty());

    // Under the same hash for another tenant (which has a key of its own).
    PutRaw(*e, ChunkStore::Key("globex", a.refs), sealed);
    Result<std::string> r = store.Read("globex", a);
    REQUIRE(!r.ok());
    CHECK(r.status().IsCorruption());
    CHECK(r.status().message().find("authenticate") != std::string::npos);

    // Under another hash of the same tenant.
    PutRaw(*e, ChunkStore::Key("acme", b.refs), sealed);
    r = store.Read("acme", b);
    REQUIRE(!r.ok());
    CHECK(r.status().IsCorruption());

    // A flipped ciphertext byte.
    std::string flipped = sealed;
    flipped[flipped.size() / 2] ^= 0x20;
    PutRaw(*e, ChunkStore::Key("acme", a.refs), flipped);
    r = store.Read("acme", a);
    REQUIRE(!r.ok());
    CHECK(r.status().IsCorruption());

    // Without a key ring a sealed chunk is refused, never returned raw.
    PutRaw(*e, ChunkStore::Key("acme", a.refs), sealed);
    ChunkStore keyless(e->log().db(), e->log().chunks_cf());
    r = keyless.Read("acme", a);
    REQUIRE(!r.ok());
    CHECK(r.status().IsNotFound());
    CHECK(r.status().message().find("no key directory") != std::string::npos);
    CHECK(*store.Read("acme", a) == "acme's small value");
  }

  TEST_CASE("PlaintextChunksStillReadAndAreSealedWhenWrittenAgain") {
    TempDir d;
    auto e = Open(d.Sub("data"), d.Sub("keys"));
    const std::string value = Value("old-plain", 400);
    // Chunks written before sealing existed: format 0x01.
    ChunkStore old(e->log().db(), e->log().chunks_cf());
    ChunkStore::PinList pins;
    const BlobRef ref = old.Write("acme", "json", value, &pins).value();
    REQUIRE(ref.levels >= 1);
    auto raw = RawChunks(*e);
    REQUIRE(!raw.empty());
    for (const auto& [k, v] : raw) {
      CHECK(static_cast<uint8_t>(v[0]) == static_cast<uint8_t>(ChunkFormat::kPlain));
    }
    ChunkStore store(e->log().db(), e->log().chunks_cf(), e->keyring());
    CHECK(*store.Read("acme", ref) == value);
    // Writing the same value under the key ring seals what was plaintext.
    const BlobRef again = store.Write("acme", "json", value, &pins).value();
    CHECK(again.refs == ref.refs);
    CHECK(RawChunks(*e).size() == raw.size());
    for (const auto& [k, v] : RawChunks(*e)) {
      CHECK(static_cast<uint8_t>(v[0]) == static_cast<uint8_t>(ChunkFormat::kSealed));
      CHECK(v.find("old-plain") == std::string::npos);
    }
    CHECK(*store.Read("acme", ref) == value);
    store.Unpin(pins);
  }

  TEST_CASE("ASealedChunkTheTenantHasIsNotWrittenAgain") {
    TempDir d;
    auto e = Open(d.Sub("data"), d.Sub("keys"));
    ChunkStore store(e->log().db(), e->log().chunks_cf(), e->keyring());
    ChunkStore::PinList pins;
    const std::string value = Value("dedup", 300);
    REQUIRE(store.Write("acme", "json", value, &pins).ok());
    const auto first = RawChunks(*e);
    REQUIRE(store.Write("acme", "json", value, &pins).ok());
    // Same bytes: a new seal would have a new random nonce.
    CHECK(RawChunks(*e) == first);
    // Another tenant stores its own copy.
    REQUIRE(store.Write("globex", "json", value, &pins).ok());
    CHECK(RawChunks(*e).size() == 2 * first.size());
    store.Unpin(pins);
  }
}
