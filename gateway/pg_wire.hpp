// PostgreSQL frontend/backend protocol pieces the gateway needs, as pure functions
// over byte spans: the untyped first packet (SSLRequest, GSSENCRequest, CancelRequest,
// StartupMessage), typed message framing, ErrorResponse, AuthenticationSASL and
// BackendKeyData. No I/O; every length is checked before it is trusted.
// Reference: https://www.postgresql.org/docs/current/protocol-message-formats.html
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::pg {

using bytes = std::vector<uint8_t>;
using byte_span = std::span<const uint8_t>;

constexpr uint32_t kSslRequestCode = 80877103;     // 1234 << 16 | 5679
constexpr uint32_t kGssEncRequestCode = 80877104;  // 1234 << 16 | 5680
constexpr uint32_t kCancelRequestCode = 80877102;  // 1234 << 16 | 5678
// Postgres's MAX_STARTUP_PACKET_LENGTH (src/include/libpq/pqcomm.h).
constexpr size_t kMaxStartupPacket = 10000;
constexpr uint8_t kTlsHandshakeByte = 0x16;  // first byte of a direct-TLS ClientHello

struct startup_message {
  uint16_t major = 3;
  uint16_t minor = 0;
  std::vector<std::pair<std::string, std::string>> params;

  std::string get(std::string_view key) const;  // "" when absent
  void set(std::string_view key, std::string value);
  void erase(std::string_view key);
};

struct cancel_request {
  uint32_t pid = 0;
  bytes key;  // 4 bytes in protocol 3.0; up to 256 in 3.2
};

enum class first_kind { need_more, ssl_request, gssenc_request, cancel_request, startup, invalid };

struct first_packet {
  first_kind kind = first_kind::need_more;
  size_t consumed = 0;  // bytes of `buf` the packet occupied
  startup_message startup;
  cancel_request cancel;
  std::string error;  // why it is invalid, for the client and the log
};

// Parses the length-prefixed, untyped first packet from the front of `buf`.
first_packet parse_first_packet(byte_span buf);

bytes encode_startup(const startup_message& m);
bytes encode_ssl_request();
bytes encode_cancel_request(const cancel_request& c);

// --- typed messages (after startup) ---------------------------------------

struct message_view {
  char type = 0;
  byte_span body;  // without type byte and length
};

enum class frame_status { need_more, ok, invalid };

// Splits one typed message off the front of `buf`; `consumed` = 5 + body size.
frame_status next_message(byte_span buf, message_view& out, size_t& consumed,
                          size_t max_len = 1u << 30);

struct error_fields {
  std::string severity;  // "FATAL", "ERROR"
  std::string code;      // SQLSTATE
  std::string message;
  std::string detail;
  std::string hint;
};

// ErrorResponse ('E') with severity FATAL unless given.
bytes encode_error(const error_fields& e);
std::optional<error_fields> parse_error(byte_span body);

// Authentication request code from an 'R' body (0 = ok, 10 = SASL, ...).
std::optional<uint32_t> auth_code(byte_span body);
constexpr uint32_t kAuthSasl = 10;
// Mechanism list of AuthenticationSASL (code 10) and its re-encoding as a full 'R' message.
std::optional<std::vector<std::string>> parse_sasl_mechanisms(byte_span body);
bytes encode_sasl_mechanisms(const std::vector<std::string>& mechanisms);

struct backend_key_data {
  uint32_t pid = 0;
  bytes key;
};
std::optional<backend_key_data> parse_backend_key_data(byte_span body);
bytes encode_backend_key_data(const backend_key_data& k);

// Big-endian helpers shared by codecs and tests.
void put_u32(bytes& out, uint32_t v);
uint32_t get_u32(const uint8_t* p);

}  // namespace sluice::pg
