#include "gateway/pg_wire.hpp"

#include <algorithm>
#include <cstring>

namespace sluice::pg {

void put_u32(bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

uint32_t get_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

namespace {

void patch_len(bytes& out, size_t at) {
  uint32_t len = static_cast<uint32_t>(out.size() - at);
  out[at] = static_cast<uint8_t>(len >> 24);
  out[at + 1] = static_cast<uint8_t>(len >> 16);
  out[at + 2] = static_cast<uint8_t>(len >> 8);
  out[at + 3] = static_cast<uint8_t>(len);
}

void put_cstr(bytes& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
  out.push_back(0);
}

first_packet invalid(std::string why) {
  first_packet p;
  p.kind = first_kind::invalid;
  p.error = std::move(why);
  return p;
}

// Reads a NUL-terminated string at [pos, end); false if no terminator.
bool read_cstr(byte_span body, size_t& pos, std::string& out) {
  auto begin = body.begin() + static_cast<std::ptrdiff_t>(pos);
  auto nul = std::find(begin, body.end(), uint8_t{0});
  if (nul == body.end())
    return false;
  out.assign(begin, nul);
  pos = static_cast<size_t>(nul - body.begin()) + 1;
  return true;
}

}  // namespace

std::string startup_message::get(std::string_view key) const {
  for (const auto& [k, v] : params) {
    if (k == key)
      return v;
  }
  return {};
}

void startup_message::set(std::string_view key, std::string value) {
  for (auto& [k, v] : params) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  params.emplace_back(std::string(key), std::move(value));
}

void startup_message::erase(std::string_view key) {
  params.erase(
      std::remove_if(params.begin(), params.end(), [&](const auto& kv) { return kv.first == key; }),
      params.end());
}

first_packet parse_first_packet(byte_span buf) {
  first_packet p;
  if (buf.size() < 4)
    return p;  // need_more
  if (buf[0] == kTlsHandshakeByte) {
    return invalid("direct TLS handshake where a startup packet was expected");
  }
  const uint32_t len = get_u32(buf.data());
  if (len < 8)
    return invalid("invalid startup packet length " + std::to_string(len));
  if (len > kMaxStartupPacket) {
    return invalid("startup packet of " + std::to_string(len) + " bytes exceeds the " +
                   std::to_string(kMaxStartupPacket) + "-byte limit");
  }
  if (buf.size() < len)
    return p;  // need_more
  const uint32_t code = get_u32(buf.data() + 4);
  p.consumed = len;
  auto body = buf.subspan(8, len - 8);
  switch (code) {
    case kSslRequestCode:
    case kGssEncRequestCode:
      if (len != 8)
        return invalid("SSLRequest/GSSENCRequest must be 8 bytes");
      p.kind = code == kSslRequestCode ? first_kind::ssl_request : first_kind::gssenc_request;
      return p;
    case kCancelRequestCode:
      // 3.0: 4-byte key (len 16); 3.2: variable key up to 256 bytes.
      if (len < 16 || len > 12 + 256)
        return invalid("CancelRequest has an invalid length");
      p.kind = first_kind::cancel_request;
      p.cancel.pid = get_u32(body.data());
      p.cancel.key.assign(body.begin() + 4, body.end());
      return p;
    default:
      break;
  }
  const uint16_t major = static_cast<uint16_t>(code >> 16);
  const uint16_t minor = static_cast<uint16_t>(code & 0xffff);
  if (major != 3) {
    return invalid("unsupported frontend protocol " + std::to_string(major) + "." +
                   std::to_string(minor) + ": sluice and PostgreSQL speak protocol 3");
  }
  p.startup.major = major;
  p.startup.minor = minor;
  size_t pos = 0;
  for (;;) {
    std::string key;
    if (!read_cstr(body, pos, key))
      return invalid("startup packet is not NUL-terminated");
    if (key.empty())
      break;
    std::string value;
    if (!read_cstr(body, pos, value)) {
      return invalid("startup parameter '" + key + "' has no value");
    }
    p.startup.params.emplace_back(std::move(key), std::move(value));
  }
  if (pos != body.size())
    return invalid("trailing bytes after the startup parameters");
  if (p.startup.get("user").empty()) {
    return invalid("no PostgreSQL user name specified in startup packet");
  }
  p.kind = first_kind::startup;
  return p;
}

bytes encode_startup(const startup_message& m) {
  bytes out;
  put_u32(out, 0);
  put_u32(out, (uint32_t{m.major} << 16) | m.minor);
  for (const auto& [k, v] : m.params) {
    put_cstr(out, k);
    put_cstr(out, v);
  }
  out.push_back(0);
  patch_len(out, 0);
  return out;
}

bytes encode_ssl_request() {
  bytes out;
  put_u32(out, 8);
  put_u32(out, kSslRequestCode);
  return out;
}

bytes encode_cancel_request(const cancel_request& c) {
  bytes out;
  put_u32(out, 0);
  put_u32(out, kCancelRequestCode);
  put_u32(out, c.pid);
  out.insert(out.end(), c.key.begin(), c.key.end());
  patch_len(out, 0);
  return out;
}

frame_status next_message(byte_span buf, message_view& out, size_t& consumed, size_t max_len) {
  if (buf.size() < 5)
    return frame_status::need_more;
  const uint32_t len = get_u32(buf.data() + 1);
  if (len < 4 || len > max_len)
    return frame_status::invalid;
  if (buf.size() < size_t{len} + 1)
    return frame_status::need_more;
  out.type = static_cast<char>(buf[0]);
  out.body = buf.subspan(5, len - 4);
  consumed = size_t{len} + 1;
  return frame_status::ok;
}

bytes encode_error(const error_fields& e) {
  bytes out;
  out.push_back('E');
  put_u32(out, 0);
  auto field = [&](char tag, std::string_view v) {
    if (v.empty())
      return;
    out.push_back(static_cast<uint8_t>(tag));
    put_cstr(out, v);
  };
  const std::string severity = e.severity.empty() ? "FATAL" : e.severity;
  field('S', severity);
  field('V', severity);
  field('C', e.code.empty() ? "08006" : e.code);
  field('M', e.message);
  field('D', e.detail);
  field('H', e.hint);
  out.push_back(0);
  patch_len(out, 1);
  return out;
}

std::optional<error_fields> parse_error(byte_span body) {
  error_fields e;
  size_t pos = 0;
  while (pos < body.size()) {
    char tag = static_cast<char>(body[pos++]);
    if (tag == 0)
      return e;
    std::string v;
    if (!read_cstr(body, pos, v))
      return std::nullopt;
    switch (tag) {
      case 'S':
        if (e.severity.empty())
          e.severity = v;
        break;
      case 'V':
        e.severity = v;
        break;
      case 'C':
        e.code = v;
        break;
      case 'M':
        e.message = v;
        break;
      case 'D':
        e.detail = v;
        break;
      case 'H':
        e.hint = v;
        break;
      default:
        break;
    }
  }
  return std::nullopt;  // missing terminator
}

std::optional<uint32_t> auth_code(byte_span body) {
  if (body.size() < 4)
    return std::nullopt;
  return get_u32(body.data());
}

std::optional<std::vector<std::string>> parse_sasl_mechanisms(byte_span body) {
  if (auth_code(body) != kAuthSasl)
    return std::nullopt;
  std::vector<std::string> out;
  size_t pos = 4;
  for (;;) {
    std::string m;
    if (!read_cstr(body, pos, m))
      return std::nullopt;
    if (m.empty())
      break;
    out.push_back(std::move(m));
  }
  if (pos != body.size())
    return std::nullopt;
  return out;
}

bytes encode_sasl_mechanisms(const std::vector<std::string>& mechanisms) {
  bytes out;
  out.push_back('R');
  put_u32(out, 0);
  put_u32(out, kAuthSasl);
  for (const auto& m : mechanisms)
    put_cstr(out, m);
  out.push_back(0);
  patch_len(out, 1);
  return out;
}

std::optional<backend_key_data> parse_backend_key_data(byte_span body) {
  if (body.size() < 8 || body.size() > 4 + 256)
    return std::nullopt;
  backend_key_data k;
  k.pid = get_u32(body.data());
  k.key.assign(body.begin() + 4, body.end());
  return k;
}

bytes encode_backend_key_data(const backend_key_data& k) {
  bytes out;
  out.push_back('K');
  put_u32(out, 0);
  put_u32(out, k.pid);
  out.insert(out.end(), k.key.begin(), k.key.end());
  patch_len(out, 1);
  return out;
}

}  // namespace sluice::pg
