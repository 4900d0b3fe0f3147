// How many bytes were ever written to a TCP socket: acknowledged plus still queued
// (tcpi_bytes_acked + SIOCOUTQ). The kernel relay compares it with what its program
// redirected to tell whether those bytes have left. Its own file: the kernel's
// <linux/tcp.h> (which has tcpi_bytes_acked) clashes with glibc's, which Asio includes.
#pragma once

#include <cstdint>

namespace sluice::gateway {

// Read in that order, an ACK in between makes the sum smaller, never larger. 0 on error.
uint64_t tcp_written_total(int fd);

}  // namespace sluice::gateway
