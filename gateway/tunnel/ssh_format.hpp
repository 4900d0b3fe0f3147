// Byte-level helpers for OpenSSH text formats: base64, SSH wire strings, and the
// "SHA256:..." fingerprint OpenSSH prints (unpadded base64 of the key blob's SHA-256).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::tunnel {

std::string base64_encode(std::string_view bytes, bool pad = true);
// Accepts padded or unpadded input; nullopt on any invalid character.
std::optional<std::string> base64_decode(std::string_view text);

// Appends an SSH "string" (uint32 big-endian length + bytes) to `out`.
void put_ssh_string(std::string& out, std::string_view s);
// Reads an SSH string at `pos`, advancing it; nullopt when truncated.
std::optional<std::string_view> get_ssh_string(std::string_view in, size_t& pos);
std::optional<uint32_t> get_u32(std::string_view in, size_t& pos);

// "SHA256:" + unpadded base64 of SHA-256(blob), exactly as `ssh-keygen -l` prints it.
std::string fingerprint_of_blob(std::string_view key_blob);
// Same, from the 32 raw digest bytes libssh2_hostkey_hash(SHA256) returns.
std::string fingerprint_of_digest(std::string_view sha256_digest);
// Compares fingerprints ignoring optional trailing '=' padding.
bool same_fingerprint(std::string_view a, std::string_view b);

// The key type name carried at the start of a public key blob ("ssh-ed25519", ...).
std::string blob_key_type(std::string_view key_blob);

}  // namespace sluice::tunnel
