// Expiry of every certificate file the configuration names (listener and per-SNI
// certificates, upstream CAs and client certificates, sync destination CAs, admin and
// ingest certificates), for sluice_certificate_expiry_timestamp_seconds: an alert can
// fire weeks before a renewal is missed instead of at the first failed handshake.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace sluice::admin {

struct cert_file {
  std::string
      kind;  // listener | listener_sni | upstream_ca | upstream_client | sync_ca | admin | ingest
  std::string owner;  // the listener, route or sync name ("admin", "ingest" for those)
  std::string path;
};

// Every certificate file the settings name, each (kind, owner, path) once. Pure.
std::vector<cert_file> certificate_files(const config::settings& s);

// The earliest notAfter (seconds since the epoch) among the PEM certificates in `path`
// (a CA bundle holds several); nullopt when none can be read.
std::optional<double> earliest_not_after(const std::string& path);

}  // namespace sluice::admin
