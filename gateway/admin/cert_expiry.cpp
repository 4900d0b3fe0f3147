#include "gateway/admin/cert_expiry.hpp"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <set>
#include <tuple>

namespace sluice::admin {

std::vector<cert_file> certificate_files(const config::settings& s) {
  std::vector<cert_file> out;
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  auto add = [&](const char* kind, const std::string& owner, const std::string& path) {
    if (!path.empty() && seen.emplace(kind, owner, path).second)
      out.push_back({kind, owner, path});
  };
  for (const auto& l : s.listeners) {
    if (!l.tls)
      continue;
    add("listener", l.name, l.tls->cert);
    for (const auto& sni : l.tls->sni)
      add("listener_sni", l.name, sni.cert);
  }
  for (const auto& r : s.routes) {
    add("upstream_ca", r.name, r.upstream.tls.ca);
    add("upstream_client", r.name, r.upstream.tls.cert);
  }
  for (const auto& y : s.syncs)
    add("sync_ca", y.name, y.destination.ca);
  if (s.admin && s.admin->tls)
    add("admin", "admin", s.admin->tls->cert);
  if (s.ingest && s.ingest->tls)
    add("ingest", "ingest", s.ingest->tls->cert);
  return out;
}

std::optional<double> earliest_not_after(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f)
    return std::nullopt;
  std::optional<double> earliest;
  while (X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
      const double t = static_cast<double>(timegm(&tm));
      if (!earliest || t < *earliest)
        earliest = t;
    }
    X509_free(x);
  }
  std::fclose(f);
  ERR_clear_error();  // the read that ends the loop leaves "no start line" queued
  return earliest;
}

}  // namespace sluice::admin
