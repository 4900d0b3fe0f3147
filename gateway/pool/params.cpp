#include "gateway/pool/params.hpp"

#include <cctype>

namespace sluice::gateway::pool {

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

void set_param(param_list& l, std::string_view name, std::string value) {
  for (auto& [n, v] : l) {
    if (same_name(n, name)) {
      v = std::move(value);
      return;
    }
  }
  l.emplace_back(std::string(name), std::move(value));
}

const std::string* find_param(const param_list& l, std::string_view name) {
  for (const auto& [n, v] : l) {
    if (same_name(n, name))
      return &v;
  }
  return nullptr;
}

namespace {

void put_message(pg::bytes& out, char type, std::string_view body) {
  out.push_back(static_cast<uint8_t>(type));
  pg::put_u32(out, static_cast<uint32_t>(4 + body.size()));
  out.insert(out.end(), body.begin(), body.end());
}

}  // namespace

pg::bytes encode_parameter_status(const param_list& l) {
  pg::bytes out;
  for (const auto& [n, v] : l) {
    std::string body = n;
    body += '\0';
    body += v;
    body += '\0';
    put_message(out, 'S', body);
  }
  return out;
}

bool parse_parameter_status(pg::byte_span body, std::string& name, std::string& value) {
  const auto* p = reinterpret_cast<const char*>(body.data());
  const std::string_view all(p, body.size());
  const auto first = all.find('\0');
  if (first == std::string_view::npos || first == 0)
    return false;
  const auto second = all.find('\0', first + 1);
  if (second != all.size() - 1)
    return false;
  name.assign(all.substr(0, first));
  value.assign(all.substr(first + 1, second - first - 1));
  return true;
}

pg::bytes encode_query(std::string_view sql) {
  pg::bytes out;
  std::string body(sql);
  body += '\0';
  put_message(out, 'Q', body);
  return out;
}

pg::bytes encode_ready_for_query(char status) {
  pg::bytes out;
  put_message(out, 'Z', std::string_view(&status, 1));
  return out;
}

}  // namespace sluice::gateway::pool
