// Parsers and builders for the four SCRAM-SHA-256 messages (RFC 5802 section 7) as
// PostgreSQL exchanges them inside SASLInitialResponse / SASLResponse and
// AuthenticationSASLContinue / AuthenticationSASLFinal. Pure functions over string_view:
// every message is whole (PostgreSQL frames it), so a truncated one is simply malformed.
// Errors carry PostgreSQL's SQLSTATE and wording (mostly 08P01 "malformed SCRAM message").
// Also fit for fuzzing: any input gives a value or an error, never a crash.
#pragma once

#include <string>
#include <string_view>

#include "gateway/auth/auth_error.hpp"
#include "gateway/auth/crypto.hpp"

namespace sluice::auth {

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";
inline constexpr std::string_view kScramSha256Plus = "SCRAM-SHA-256-PLUS";
inline constexpr std::string_view kTlsServerEndPoint = "tls-server-end-point";

struct client_first_message {
  char cbind_flag = 'n';   // 'n' no binding, 'y' could bind but thinks the server cannot, 'p'
  std::string gs2_header;  // "n,,", "y,," or "p=tls-server-end-point,,"
  std::string bare;        // client-first-message-bare, part of AuthMessage
  std::string user;        // n=...; PostgreSQL ignores it (the startup packet's user counts)
  std::string nonce;       // r=...
};

struct client_final_message {
  std::string channel_binding;  // c=... as sent (base64 of gs2 header + binding data)
  std::string nonce;            // r=... (client nonce + server nonce)
  bytes proof;                  // p=..., decoded (32 bytes)
  std::string without_proof;    // client-final-message-without-proof, part of AuthMessage
};

struct server_first_message {
  std::string nonce;  // r=...
  bytes salt;         // s=..., decoded
  int iterations = 0;
};

struct server_final_message {
  std::string error;  // e=... when the server refused; empty otherwise
  bytes signature;    // v=..., decoded (32 bytes)
};

outcome<client_first_message> parse_client_first(std::string_view in);
outcome<client_final_message> parse_client_final(std::string_view in);
outcome<server_first_message> parse_server_first(std::string_view in);
outcome<server_final_message> parse_server_final(std::string_view in);

// RFC 5802 "printable": %x21-2B / %x2D-7E (nonces must be made of these).
bool scram_printable(std::string_view s);

// c= of client-final: base64(gs2 header + channel binding data).
std::string channel_binding_attribute(std::string_view gs2_header, byte_view cbind_data);

// AuthMessage = client-first-bare "," server-first "," client-final-without-proof
std::string auth_message(std::string_view client_first_bare, std::string_view server_first,
                         std::string_view client_final_without_proof);

}  // namespace sluice::auth
