#pragma once
// The record format: how one event is laid out as bytes on disk.
//
// docs/log_format.md is the prose contract for these bytes; this header and
// record.cc are the code. Layout of a record (the value of key LSN in the
// `events` column family), all integers little-endian:
//
//   +0   u64  checksum      XXH3-64, seed 0, of bytes [8, end)
//   +8   u8   format        kRecordFormat (1)
//   +9   u8   record_type   RecordType; bit 0x80 = safe for old readers to skip
//   +10  u16  reserved      0
//   +12  u32  header_len    length of the envelope FlatBuffer incl. padding, multiple of 8
//   +16  header_len bytes   Envelope table (schemas/envelope.fbs), zero-padded to 8
//   +16+header_len ...      payload: the event type's table, or its ciphertext
//
// The chain hash of a record is BLAKE2b-256 of bytes [8, end): everything the
// checksum covers. Envelope.prev_hash holds the chain hash of the previous
// event of the same stream, or GenesisHash(stream) for version 1.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "log/status.h"

namespace logbook {

using EventId = std::array<uint8_t, 16>;
using Hash = std::array<uint8_t, 32>;

// Role of the principal behind an event. Numbers are stored on disk.
enum class Role : uint8_t {
  kNone = 0,
  kViewer = 1,
  kOperator = 2,
  kAdmin = 3,
  kAuditor = 4,
  kCompliance = 5,
};
std::string_view RoleName(Role r);
// Parses "viewer", "operator", ... (case-insensitive). Returns false if unknown.
bool ParseRole(std::string_view name, Role* out);

struct Actor {
  std::string id;
  Role role = Role::kNone;
};

// One event as stored and returned by the log. Plain value type.
struct Event {
  uint64_t lsn = 0;
  std::string stream;
  uint64_t stream_version = 0;
  std::string tenant;
  uint16_t type = 0;
  EventId event_id{};
  int64_t recorded_at_us = 0;
  Actor actor;
  Hash prev_hash{};
  uint8_t payload_encoding = 0;  // 0 plaintext FlatBuffer, 1 XChaCha20-Poly1305
  uint32_t key_id = 0;
  // The payload bytes. Readers of the log open sealed payloads: then
  // payload_encoding is 0 here and key_id still names the key it was sealed
  // with. A payload that stays sealed (its key was destroyed, or no key
  // ring) keeps payload_encoding 1 and says why in payload_error.
  std::string payload;
  std::string payload_error;
  // A removed record (retention or tenant erasure; see RemovedRecord): only
  // lsn, stream, stream_version and tenant are set (stream and tenant empty
  // when erased). Returned only by readers that ask for removed records.
  bool removed = false;
};

constexpr uint8_t kRecordFormat = 1;
constexpr size_t kRecordFrameSize = 16;
constexpr uint64_t kChecksumSeed = 0;
constexpr uint8_t kRecordTypeSafeToIgnore = 0x80;

enum class RecordType : uint8_t {
  kReserved = 0,  // never written
  kEvent = 1,
  kRemoved = 0x81,  // an event removed by retention or tenant erasure
};

// What stays at an LSN whose event was removed (docs/log_format.md "Removed
// records"): the LSN keeps the log dense and the chain hash anchors the
// stream's retained suffix. Layout after the 16-byte frame (header_len is the
// length of this body, all little-endian):
//   +16  u64  lsn
//   +24  u64  stream_version   (0 when erased)
//   +32  32   chain_hash       of the removed record (zeros when erased)
//   +64  u8   reason           RemovalReason
//   +65  u8   stream length, stream bytes, u8 tenant length, tenant bytes
//             (both empty when erased)
//   zero padding to a multiple of 8
enum class RemovalReason : uint8_t {
  kRetention = 1,     // pruned by age; the stream goes on from here
  kTenantErased = 2,  // the tenant was deleted; nothing of it is kept
};
struct RemovedRecord {
  uint64_t lsn = 0;
  uint64_t stream_version = 0;
  Hash chain_hash{};
  RemovalReason reason = RemovalReason::kRetention;
  std::string stream;
  std::string tenant;
};
std::string EncodeRemovedRecord(const RemovedRecord& r);
// True when the frame says record_type kRemoved (checksum not yet checked).
bool IsRemovedRecord(std::string_view record);
// Checks checksum, format, type and layout; fills *r.
Status DecodeRemovedRecord(std::string_view record, RemovedRecord* r);

// Stream names: 1..kMaxStreamName bytes of [A-Za-z0-9._:/@$=+-], not starting with '/'.
constexpr size_t kMaxStreamName = 200;
constexpr size_t kMaxTenantName = 128;
Status ValidateStreamName(std::string_view stream);
Status ValidateTenantName(std::string_view tenant);

// Builds record bytes. Not thread-safe: one encoder per thread (it reuses a
// FlatBufferBuilder between calls).
class RecordEncoder {
 public:
  RecordEncoder();
  ~RecordEncoder();
  RecordEncoder(const RecordEncoder&) = delete;
  RecordEncoder& operator=(const RecordEncoder&) = delete;

  // Replaces *out with the record bytes of `e`.
  void Encode(const Event& e, std::string* out);
  // The same record in two parts, for writers that do not want to copy the
  // payload: *head gets bytes [0, 16 + header_len) (frame and envelope, with
  // the checksum over head and e.payload), and the chain hash is returned.
  Hash EncodeHead(const Event& e, std::string* head);
  // EncodeHead in two steps, for payloads sealed with the header as
  // associated data (log/keyring.h): EncodeEnvelope writes *head with a zero
  // checksum, so bytes [8, size) are final; SealHead then writes the
  // checksum over head and payload and returns the chain hash.
  void EncodeEnvelope(const Event& e, std::string* head);
  Hash SealHead(std::string* head, std::string_view payload);

 private:
  struct Impl;
  Impl* impl_;
};

// Checks the checksum, format and envelope of `record` and fills *e.
// Corruption names what is wrong; it never reads outside `record`. A removed
// record is not an event: check IsRemovedRecord first where one may occur.
Status DecodeRecord(std::string_view record, Event* e);
// Decodes only the frame and envelope, not copying the payload.
Status DecodeRecordHeader(std::string_view record, Event* e);

uint64_t RecordChecksum(std::string_view record);  // over [8, end)
Hash ChainHash(std::string_view record);           // BLAKE2b-256 over [8, end)
// prev_hash of a stream's first event: BLAKE2b-256("logbook/genesis/v1" || 0x00 || stream).
Hash GenesisHash(std::string_view stream);

// Text forms.
std::string EventIdToString(const EventId& id);  // 8-4-4-4-12 lowercase hex
bool ParseEventId(std::string_view text, EventId* out);
EventId RandomEventId();  // UUID version 4 from libsodium's CSPRNG
// n bytes from libsodium's CSPRNG, drawn from a per-thread pool (fork-safe).
void RandomBytes(void* out, size_t n);
bool IsZero(const EventId& id);
std::string HashToHex(const Hash& h);
int64_t NowMicros();

}  // namespace logbook
