#include "gateway/client_hello.hpp"

#include <vector>

namespace sluice::gateway {

namespace {

client_hello_info invalid(std::string why) {
  return {hello_status::invalid, {}, std::move(why)};
}

// Bounds-checked reader over the reassembled handshake message.
struct reader {
  std::span<const uint8_t> b;
  size_t pos = 0;
  bool ok = true;
  uint32_t take(size_t n) {
    if (!ok || pos + n > b.size()) {
      ok = false;
      return 0;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i)
      v = (v << 8) | b[pos + i];
    pos += n;
    return v;
  }
  void skip(size_t n) {
    if (!ok || pos + n > b.size()) {
      ok = false;
      return;
    }
    pos += n;
  }
};

}  // namespace

client_hello_info parse_client_hello(std::span<const uint8_t> records) {
  // 1. Reassemble handshake bytes from consecutive records of type 22.
  std::vector<uint8_t> hs;
  size_t pos = 0;
  size_t need = 0;  // full handshake message size once known
  while (pos + 5 <= records.size()) {
    if (records[pos] != 0x16)
      return invalid("not a TLS handshake record");
    if (records[pos + 1] != 0x03)
      return invalid("unsupported TLS record version");
    size_t len = (size_t{records[pos + 3]} << 8) | records[pos + 4];
    if (len == 0 || len > 16384 + 2048)
      return invalid("invalid TLS record length");
    if (pos + 5 + len > records.size())
      break;
    hs.insert(hs.end(), records.begin() + static_cast<std::ptrdiff_t>(pos + 5),
              records.begin() + static_cast<std::ptrdiff_t>(pos + 5 + len));
    pos += 5 + len;
    if (hs.size() >= 4 && need == 0) {
      if (hs[0] != 1)
        return invalid("first handshake message is not a ClientHello");
      need = 4 + ((size_t{hs[1]} << 16) | (size_t{hs[2]} << 8) | hs[3]);
      if (need > kMaxClientHello)
        return invalid("ClientHello too large");
    }
    if (need && hs.size() >= need)
      break;
  }
  if (need == 0 || hs.size() < need) {
    if (records.size() > kMaxClientHello + 5 * 8)
      return invalid("ClientHello too large");
    return {};
  }
  // 2. Walk the ClientHello to the server_name extension.
  reader r{std::span<const uint8_t>(hs.data() + 4, need - 4)};
  r.skip(2 + 32);     // legacy_version, random
  r.skip(r.take(1));  // session id
  r.skip(r.take(2));  // cipher suites
  r.skip(r.take(1));  // compression methods
  if (!r.ok)
    return invalid("truncated ClientHello");
  if (r.pos == r.b.size())
    return {hello_status::ok, {}, {}};  // no extensions
  size_t ext_end = r.take(2);
  ext_end += r.pos;
  if (!r.ok || ext_end > r.b.size())
    return invalid("truncated ClientHello extensions");
  while (r.ok && r.pos + 4 <= ext_end) {
    uint32_t type = r.take(2);
    size_t len = r.take(2);
    if (!r.ok || r.pos + len > ext_end)
      return invalid("truncated ClientHello extension");
    if (type != 0) {
      r.skip(len);
      continue;
    }
    // Every length inside server_name is checked against the extension itself, never
    // against the whole ClientHello: a list that claims more than its extension holds
    // would otherwise read the bytes of whatever follows (or past the buffer).
    reader ext{r.b.subspan(r.pos, len)};
    const size_t list_len = ext.take(2);
    if (!ext.ok || list_len != ext.b.size() - ext.pos)
      return invalid("server_name list length does not match its extension");
    while (ext.ok && ext.pos < ext.b.size()) {
      uint32_t name_type = ext.take(1);
      size_t name_len = ext.take(2);
      if (!ext.ok || ext.pos + name_len > ext.b.size())
        return invalid("truncated server_name");
      if (name_type == 0) {
        std::string name(ext.b.begin() + static_cast<std::ptrdiff_t>(ext.pos),
                         ext.b.begin() + static_cast<std::ptrdiff_t>(ext.pos + name_len));
        if (name.find('\0') != std::string::npos)
          return invalid("NUL in server_name");
        return {hello_status::ok, std::move(name), {}};
      }
      ext.skip(name_len);
    }
    return ext.ok ? client_hello_info{hello_status::ok, {}, {}} : invalid("truncated server_name");
  }
  return r.ok ? client_hello_info{hello_status::ok, {}, {}} : invalid("truncated ClientHello");
}

}  // namespace sluice::gateway
