// Turns OpenSSL's thread-local error queue into one readable sentence.
#pragma once

#include <string>

namespace sluice::tls {

// Drains the queue; returns e.g. "certificate verify failed (self-signed certificate)".
std::string last_openssl_error();

}  // namespace sluice::tls
