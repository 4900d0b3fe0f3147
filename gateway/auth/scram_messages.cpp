#include "gateway/auth/scram_messages.hpp"

#include <charconv>

namespace sluice::auth {

namespace {

// How PostgreSQL's sanitize_char() shows a character in an error detail.
std::string shown(std::string_view in, size_t pos) {
  if (pos >= in.size())
    return "0x00";
  auto c = static_cast<unsigned char>(in[pos]);
  if (c >= 0x21 && c <= 0x7e)
    return std::string("'") + static_cast<char>(c) + "'";
  static const char* hex = "0123456789abcdef";
  return std::string("0x") + hex[c >> 4] + hex[c & 0xf];
}

// A cursor over one message, reading attr=value pairs separated by commas.
class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}
  bool at_end() const { return pos_ >= in_.size(); }
  char peek() const { return at_end() ? '\0' : in_[pos_]; }
  size_t pos() const { return pos_; }
  std::string_view input() const { return in_; }

  // read_attr_value(): the attribute must be `attr`; the value runs to the next comma,
  // which is consumed.
  outcome<std::string> value_of(char attr) {
    if (peek() != attr) {
      return malformed(std::string("Expected attribute \"") + attr + "\" but found \"" +
                       shown(in_, pos_) + "\".");
    }
    ++pos_;
    if (peek() != '=')
      return malformed(std::string("Expected character \"=\" for attribute \"") + attr + "\".");
    ++pos_;
    return rest_of_value();
  }

  // read_any_attr(): any letter as attribute.
  outcome<std::string> any(char& attr) {
    attr = peek();
    if (!((attr >= 'A' && attr <= 'Z') || (attr >= 'a' && attr <= 'z'))) {
      if (at_end())
        return malformed("Attribute expected, but found end of string.");
      return malformed("Attribute expected, but found invalid character \"" + shown(in_, pos_) +
                       "\".");
    }
    ++pos_;
    if (peek() != '=')
      return malformed(std::string("Expected character \"=\" for attribute \"") + attr + "\".");
    ++pos_;
    return rest_of_value();
  }

  void skip(size_t n) { pos_ += n; }

 private:
  std::string rest_of_value() {
    auto comma = in_.find(',', pos_);
    auto end = comma == std::string_view::npos ? in_.size() : comma;
    std::string v(in_.substr(pos_, end - pos_));
    pos_ = comma == std::string_view::npos ? in_.size() : comma + 1;
    return v;
  }

  std::string_view in_;
  size_t pos_ = 0;
};

// PostgreSQL checks the SASL payload is non-empty and NUL-free before parsing.
std::optional<auth_error> check_framing(std::string_view in) {
  if (in.empty())
    return malformed("The message is empty.");
  if (in.find('\0') != std::string_view::npos)
    return malformed("Message length does not match input length.");
  return std::nullopt;
}

// The r= attribute both first messages carry: present, non-empty, printable.
outcome<std::string> read_nonce(reader& r) {
  auto nonce = r.value_of('r');
  if (!nonce)
    return nonce.error();
  if (nonce.value().empty() || !scram_printable(nonce.value())) {
    return auth_error{sqlstate::kProtocolViolation, "non-printable characters in SCRAM nonce", ""};
  }
  return nonce;
}

}  // namespace

bool scram_printable(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7e || c == ',')
      return false;
  }
  return true;
}

outcome<client_first_message> parse_client_first(std::string_view in) {
  if (auto e = check_framing(in))
    return *e;
  client_first_message m;
  reader r(in);
  m.cbind_flag = r.peek();
  switch (m.cbind_flag) {
    case 'n':
    case 'y':
      r.skip(1);
      if (r.peek() != ',') {
        return malformed("Comma expected, but found character \"" + shown(in, r.pos()) + "\".");
      }
      r.skip(1);
      break;
    case 'p': {
      auto type = r.value_of('p');
      if (!type)
        return type.error();
      if (type.value() != kTlsServerEndPoint) {
        bool printable = scram_printable(type.value());
        return auth_error{sqlstate::kProtocolViolation,
                          "unsupported SCRAM channel-binding type \"" +
                              (printable ? type.value() : std::string("?")) + "\"",
                          ""};
      }
      break;
    }
    default:
      return malformed("Unexpected channel-binding flag \"" + shown(in, 0) + "\".");
  }
  if (r.peek() == 'a') {
    return auth_error{sqlstate::kFeatureNotSupported,
                      "client uses authorization identity, but it is not supported", ""};
  }
  if (r.peek() != ',') {
    return malformed("Unexpected attribute \"" + shown(in, r.pos()) +
                     "\" in client-first-message.");
  }
  r.skip(1);
  m.gs2_header = std::string(in.substr(0, r.pos()));
  m.bare = std::string(in.substr(r.pos()));
  if (r.peek() == 'm') {
    return auth_error{sqlstate::kFeatureNotSupported,
                      "client requires an unsupported SCRAM extension", ""};
  }
  auto user = r.value_of('n');
  if (!user)
    return user.error();
  m.user = std::move(user).value();
  auto nonce = read_nonce(r);
  if (!nonce)
    return nonce.error();
  m.nonce = std::move(nonce).value();
  while (!r.at_end()) {  // optional extensions, ignored
    char attr;
    auto v = r.any(attr);
    if (!v)
      return v.error();
  }
  return m;
}

outcome<client_final_message> parse_client_final(std::string_view in) {
  if (auto e = check_framing(in))
    return *e;
  client_final_message m;
  reader r(in);
  auto cb = r.value_of('c');
  if (!cb)
    return cb.error();
  m.channel_binding = std::move(cb).value();
  auto nonce = r.value_of('r');
  if (!nonce)
    return nonce.error();
  m.nonce = std::move(nonce).value();
  std::string proof;
  for (;;) {  // extensions are skipped up to the proof
    size_t attr_start = r.pos();
    char attr;
    auto v = r.any(attr);
    if (!v)
      return v.error();
    if (attr == 'p') {
      m.without_proof = std::string(in.substr(0, attr_start - 1));
      proof = std::move(v).value();
      break;
    }
  }
  auto decoded = base64_decode(proof);
  if (!decoded || decoded->size() != kKeyLen)
    return malformed("Malformed proof in client-final-message.");
  m.proof = std::move(*decoded);
  // A value ends at a comma; a comma right after the proof (even with nothing behind it)
  // is garbage too.
  if (!r.at_end() || in.back() == ',')
    return malformed("Garbage found at the end of client-final-message.");
  return m;
}

outcome<server_first_message> parse_server_first(std::string_view in) {
  if (auto e = check_framing(in))
    return *e;
  server_first_message m;
  reader r(in);
  if (r.peek() == 'm') {
    return auth_error{sqlstate::kFeatureNotSupported,
                      "server requires an unsupported SCRAM extension", ""};
  }
  auto nonce = read_nonce(r);
  if (!nonce)
    return nonce.error();
  m.nonce = std::move(nonce).value();
  auto salt = r.value_of('s');
  if (!salt)
    return salt.error();
  auto decoded = base64_decode(salt.value());
  if (!decoded || decoded->empty())
    return malformed("Invalid salt in server-first-message.");
  m.salt = std::move(*decoded);
  auto iter = r.value_of('i');
  if (!iter)
    return iter.error();
  const auto& t = iter.value();
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), m.iterations);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size() || m.iterations < 1)
    return malformed("Invalid iteration count in server-first-message.");
  while (!r.at_end()) {
    char attr;
    auto v = r.any(attr);
    if (!v)
      return v.error();
  }
  if (in.back() == ',')
    return malformed("Garbage found at the end of server-first-message.");
  return m;
}

outcome<server_final_message> parse_server_final(std::string_view in) {
  if (auto e = check_framing(in))
    return *e;
  server_final_message m;
  reader r(in);
  if (r.peek() == 'e') {
    auto e = r.value_of('e');
    if (!e)
      return e.error();
    m.error = e.value().empty() ? "unspecified" : e.value();
    return m;
  }
  auto v = r.value_of('v');
  if (!v)
    return v.error();
  auto decoded = base64_decode(v.value());
  if (!decoded || decoded->size() != kKeyLen)
    return malformed("Malformed server signature in server-final-message.");
  m.signature = std::move(*decoded);
  while (!r.at_end()) {
    char attr;
    auto x = r.any(attr);
    if (!x)
      return x.error();
  }
  if (in.back() == ',')
    return malformed("Garbage found at the end of server-final-message.");
  return m;
}

std::string channel_binding_attribute(std::string_view gs2_header, byte_view cbind_data) {
  std::string input(gs2_header);
  input.append(as_chars(cbind_data));
  return base64_encode(as_bytes(input));
}

std::string auth_message(std::string_view client_first_bare, std::string_view server_first,
                         std::string_view client_final_without_proof) {
  std::string m;
  m.reserve(client_first_bare.size() + server_first.size() + client_final_without_proof.size() + 2);
  m.append(client_first_bare).append(",").append(server_first).append(",");
  m.append(client_final_without_proof);
  return m;
}

}  // namespace sluice::auth
