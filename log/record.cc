#include "log/record.h"

#include <flatbuffers/flatbuffers.h>
#include <sodium.h>
#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <pthread.h>

#include <atomic>

#include "log/coding.h"
#include "schemas/envelope_generated.h"

namespace logbook {

namespace {

void EnsureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();  // no usable CSPRNG: nothing safe to do
  });
}

bool StreamChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && std::strchr("._:/@$=+-", c) != nullptr);
}

}  // namespace

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kNone: return "none";
    case Role::kViewer: return "viewer";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
    case Role::kAuditor: return "auditor";
    case Role::kCompliance: return "compliance";
  }
  return "unknown";
}

bool ParseRole(std::string_view name, Role* out) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (Role r : {Role::kNone, Role::kViewer, Role::kOperator, Role::kAdmin, Role::kAuditor,
                 Role::kCompliance}) {
    if (RoleName(r) == lower) {
      *out = r;
      return true;
    }
  }
  return false;
}

Status ValidateStreamName(std::string_view stream) {
  if (stream.empty()) return Status::InvalidArgument("stream name is empty");
  if (stream.size() > kMaxStreamName) {
    return Status::InvalidArgument("stream name is longer than " + std::to_string(kMaxStreamName) +
                                   " bytes");
  }
  if (stream.front() == '/') return Status::InvalidArgument("stream name starts with '/'");
  for (char c : stream) {
    if (!StreamChar(c)) {
      return Status::InvalidArgument("stream name '" + std::string(stream) +
                                     "' has a character outside [A-Za-z0-9._:/@$=+-]");
    }
  }
  return Status::OK();
}

Status ValidateTenantName(std::string_view tenant) {
  if (tenant.size() > kMaxTenantName) {
    return Status::InvalidArgument("tenant is longer than " + std::to_string(kMaxTenantName) +
                                   " bytes");
  }
  for (char c : tenant) {
    if (!StreamChar(c) || c == '/') {
      return Status::InvalidArgument("tenant '" + std::string(tenant) +
                                     "' has a character outside [A-Za-z0-9._:@$=+-]");
    }
  }
  return Status::OK();
}

struct RecordEncoder::Impl {
  flatbuffers::FlatBufferBuilder fbb{512};
};

RecordEncoder::RecordEncoder() : impl_(new Impl) {}
RecordEncoder::~RecordEncoder() { delete impl_; }

Hash RecordEncoder::EncodeHead(const Event& e, std::string* head) {
  EncodeEnvelope(e, head);
  return SealHead(head, e.payload);
}

void RecordEncoder::EncodeEnvelope(const Event& e, std::string* head) {
  auto& fbb = impl_->fbb;
  fbb.Clear();
  auto stream = fbb.CreateString(e.stream);
  auto tenant = fbb.CreateString(e.tenant);
  auto actor = fbb.CreateString(e.actor.id);
  fb::EventId id(flatbuffers::span<const uint8_t, 16>(e.event_id.data(), 16));
  fb::Hash256 prev(flatbuffers::span<const uint8_t, 32>(e.prev_hash.data(), 32));
  fb::EnvelopeBuilder b(fbb);
  b.add_lsn(e.lsn);
  b.add_stream_version(e.stream_version);
  b.add_recorded_at_us(e.recorded_at_us);
  b.add_stream(stream);
  b.add_tenant(tenant);
  b.add_actor_id(actor);
  b.add_event_id(&id);
  b.add_prev_hash(&prev);
  b.add_key_id(e.key_id);
  b.add_type(e.type);
  b.add_actor_role(static_cast<uint8_t>(e.actor.role));
  b.add_payload_encoding(e.payload_encoding);
  fbb.Finish(b.Finish());

  const size_t raw = fbb.GetSize();
  const size_t header_len = (raw + 7) & ~size_t{7};
  head->resize(kRecordFrameSize + header_len);
  char* p = head->data();
  p[8] = static_cast<char>(kRecordFormat);
  p[9] = static_cast<char>(RecordType::kEvent);
  coding::EncodeFixed16LE(p + 10, 0);
  coding::EncodeFixed32LE(p + 12, static_cast<uint32_t>(header_len));
  std::memcpy(p + kRecordFrameSize, fbb.GetBufferPointer(), raw);
  std::memset(p + kRecordFrameSize + raw, 0, header_len - raw);
  coding::EncodeFixed64LE(p, 0);  // SealHead writes the checksum
}

Hash RecordEncoder::SealHead(std::string* head, std::string_view payload) {
  char* p = head->data();
  // Checksum and chain hash over [8, end) of head || payload, streamed.
  XXH3_state_t xs;
  XXH3_64bits_reset_withSeed(&xs, kChecksumSeed);
  XXH3_64bits_update(&xs, p + 8, head->size() - 8);
  XXH3_64bits_update(&xs, payload.data(), payload.size());
  coding::EncodeFixed64LE(p, XXH3_64bits_digest(&xs));
  crypto_generichash_state bs;
  crypto_generichash_init(&bs, nullptr, 0, 32);
  crypto_generichash_update(&bs, reinterpret_cast<const unsigned char*>(p) + 8, head->size() - 8);
  crypto_generichash_update(&bs, reinterpret_cast<const unsigned char*>(payload.data()),
                            payload.size());
  Hash chain;
  crypto_generichash_final(&bs, chain.data(), chain.size());
  return chain;
}

void RecordEncoder::Encode(const Event& e, std::string* out) {
  (void)EncodeHead(e, out);  // callers that need the chain hash use ChainHash(*out)
  out->append(e.payload);
}

uint64_t RecordChecksum(std::string_view record) {
  return XXH3_64bits_withSeed(record.data() + 8, record.size() - 8, kChecksumSeed);
}

Hash ChainHash(std::string_view record) {
  Hash h;
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(record.data()) + 8,
                     record.size() - 8, nullptr, 0);
  return h;
}

Hash GenesisHash(std::string_view stream) {
  static constexpr char kDomain[] = "logbook/genesis/v1";
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kDomain),
                            sizeof(kDomain));  // includes the terminating 0x00
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(stream.data()),
                            stream.size());
  Hash h;
  crypto_generichash_final(&st, h.data(), h.size());
  return h;
}

namespace {

Status DecodeImpl(std::string_view record, Event* e, bool with_payload) {
  if (record.size() < kRecordFrameSize) {
    return Status::Corruption("record of " + std::to_string(record.size()) +
                              " bytes is shorter than its 16-byte frame");
  }
  const uint64_t stored = coding::DecodeFixed64LE(record.data());
  const uint64_t actual = RecordChecksum(record);
  if (stored != actual) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "checksum mismatch (stored %016llx, computed %016llx)",
                  static_cast<unsigned long long>(stored), static_cast<unsigned long long>(actual));
    return Status::Corruption(buf);
  }
  const auto format = static_cast<uint8_t>(record[8]);
  if (format != kRecordFormat) {
    return Status::Corruption("unsupported record format " + std::to_string(format));
  }
  const auto type = static_cast<uint8_t>(record[9]);
  if (type != static_cast<uint8_t>(RecordType::kEvent)) {
    return Status::Corruption("record type " + std::to_string(type) + " is not an event");
  }
  const uint32_t header_len = coding::DecodeFixed32LE(record.data() + 12);
  if (header_len % 8 != 0 || header_len > record.size() - kRecordFrameSize) {
    return Status::Corruption("bad envelope length " + std::to_string(header_len));
  }
  // FlatBuffers reads scalars in place: give it an 8-aligned copy when the
  // caller's buffer (e.g. a RocksDB block) is not aligned.
  std::string aligned;
  const char* header = record.data() + kRecordFrameSize;
  if (reinterpret_cast<uintptr_t>(header) % 8 != 0) {
    aligned.assign(header, header_len);
    header = aligned.data();
  }
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(header), header_len);
  if (!verifier.VerifyBuffer<fb::Envelope>(nullptr)) {
    return Status::Corruption("envelope does not verify as a FlatBuffer");
  }
  const fb::Envelope* env = flatbuffers::GetRoot<fb::Envelope>(header);
  e->lsn = env->lsn();
  e->stream = env->stream()->str();
  e->stream_version = env->stream_version();
  e->tenant = env->tenant() ? env->tenant()->str() : std::string();
  e->type = env->type();
  std::memcpy(e->event_id.data(), env->event_id()->bytes()->data(), 16);
  e->recorded_at_us = env->recorded_at_us();
  e->actor.id = env->actor_id() ? env->actor_id()->str() : std::string();
  e->actor.role = static_cast<Role>(env->actor_role());
  std::memcpy(e->prev_hash.data(), env->prev_hash()->bytes()->data(), 32);
  e->payload_encoding = env->payload_encoding();
  e->key_id = env->key_id();
  if (with_payload) {
    e->payload.assign(record.data() + kRecordFrameSize + header_len,
                      record.size() - kRecordFrameSize - header_len);
  } else {
    e->payload.clear();
  }
  return Status::OK();
}

}  // namespace

std::string EncodeRemovedRecord(const RemovedRecord& r) {
  std::string body;
  body.reserve(64 + r.stream.size() + r.tenant.size());
  coding::PutFixed64LE(&body, r.lsn);
  coding::PutFixed64LE(&body, r.stream_version);
  body.append(reinterpret_cast<const char*>(r.chain_hash.data()), r.chain_hash.size());
  body.push_back(static_cast<char>(r.reason));
  body.push_back(static_cast<char>(std::min<size_t>(r.stream.size(), 255)));
  body.append(r.stream.data(), std::min<size_t>(r.stream.size(), 255));
  body.push_back(static_cast<char>(std::min<size_t>(r.tenant.size(), 255)));
  body.append(r.tenant.data(), std::min<size_t>(r.tenant.size(), 255));
  body.resize((body.size() + 7) / 8 * 8, '\0');
  std::string out(kRecordFrameSize, '\0');
  out[8] = static_cast<char>(kRecordFormat);
  out[9] = static_cast<char>(RecordType::kRemoved);
  coding::EncodeFixed32LE(out.data() + 12, static_cast<uint32_t>(body.size()));
  out += body;
  coding::EncodeFixed64LE(out.data(), RecordChecksum(out));
  return out;
}

bool IsRemovedRecord(std::string_view record) {
  return record.size() >= kRecordFrameSize &&
         static_cast<uint8_t>(record[9]) == static_cast<uint8_t>(RecordType::kRemoved);
}

Status DecodeRemovedRecord(std::string_view record, RemovedRecord* r) {
  if (record.size() < kRecordFrameSize + 56) {  // fixed part, two lengths, padding
    return Status::Corruption("removed record of " + std::to_string(record.size()) + " bytes");
  }
  if (coding::DecodeFixed64LE(record.data()) != RecordChecksum(record)) {
    return Status::Corruption("checksum mismatch in a removed record");
  }
  if (static_cast<uint8_t>(record[8]) != kRecordFormat || !IsRemovedRecord(record)) {
    return Status::Corruption("not a removed record of format 1");
  }
  const uint32_t body_len = coding::DecodeFixed32LE(record.data() + 12);
  if (body_len != record.size() - kRecordFrameSize || body_len % 8 != 0) {
    return Status::Corruption("bad removed-record length " + std::to_string(body_len));
  }
  const char* p = record.data() + kRecordFrameSize;
  const char* end = record.data() + record.size();
  r->lsn = coding::DecodeFixed64LE(p);
  r->stream_version = coding::DecodeFixed64LE(p + 8);
  std::memcpy(r->chain_hash.data(), p + 16, 32);
  const auto reason = static_cast<uint8_t>(p[48]);
  if (reason != static_cast<uint8_t>(RemovalReason::kRetention) &&
      reason != static_cast<uint8_t>(RemovalReason::kTenantErased)) {
    return Status::Corruption("removed record with unknown reason " + std::to_string(reason));
  }
  r->reason = static_cast<RemovalReason>(reason);
  p += 49;
  for (std::string* field : {&r->stream, &r->tenant}) {
    if (p >= end) return Status::Corruption("removed record is truncated");
    const auto n = static_cast<uint8_t>(*p++);
    if (static_cast<size_t>(end - p) < n) return Status::Corruption("removed record is truncated");
    field->assign(p, n);
    p += n;
  }
  return Status::OK();
}

Status DecodeRecord(std::string_view record, Event* e) { return DecodeImpl(record, e, true); }
Status DecodeRecordHeader(std::string_view record, Event* e) {
  return DecodeImpl(record, e, false);
}

std::string EventIdToString(const EventId& id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[id[i] >> 4]);
    s.push_back(kHex[id[i] & 0xf]);
  }
  return s;
}

bool ParseEventId(std::string_view text, EventId* out) {
  // Accepts 8-4-4-4-12 or 32 plain hex digits.
  EventId id{};
  size_t n = 0;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const bool dashed = text.size() == 36;
  if (!dashed && text.size() != 32) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (text[i] != '-') return false;
      continue;
    }
    int v = nibble(text[i]);
    if (v < 0) return false;
    if (n % 2 == 0) {
      id[n / 2] = static_cast<uint8_t>(v << 4);
    } else {
      id[n / 2] |= static_cast<uint8_t>(v);
    }
    ++n;
  }
  if (n != 32) return false;
  *out = id;
  return true;
}

void RandomBytes(void* out, size_t n) {
  // CSPRNG bytes fetched 4 KiB at a time: one system call per 256 ids or
  // 170 nonces instead of one each. A forked child refills, so it never
  // repeats its parent's bytes.
  if (n > 4096) {
    EnsureSodium();
    randombytes_buf(out, n);
    return;
  }
  static std::atomic<uint64_t> fork_generation{0};
  static std::once_flag atfork_once;
  std::call_once(atfork_once, [] {
    pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });
  });
  struct Pool {
    std::array<uint8_t, 4096> bytes;
    size_t used = 4096;
    uint64_t generation = 0;
  };
  thread_local Pool pool;
  const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (pool.used + n > pool.bytes.size() || pool.generation != generation) {
    EnsureSodium();
    randombytes_buf(pool.bytes.data(), pool.bytes.size());
    pool.used = 0;
    pool.generation = generation;
  }
  std::memcpy(out, pool.bytes.data() + pool.used, n);
  sodium_memzero(pool.bytes.data() + pool.used, n);  // each byte is handed out once
  pool.used += n;
}

EventId RandomEventId() {
  EventId id;
  RandomBytes(id.data(), id.size());
  id[6] = static_cast<uint8_t>((id[6] & 0x0f) | 0x40);  // version 4
  id[8] = static_cast<uint8_t>((id[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return id;
}

bool IsZero(const EventId& id) {
  for (uint8_t b : id) {
    if (b != 0) return false;
  }
  return true;
}

std::string HashToHex(const Hash& h) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (uint8_t b : h) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 0xf]);
  }
  return s;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace logbook
