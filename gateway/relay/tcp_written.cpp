#include "gateway/relay/tcp_written.hpp"

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

namespace sluice::gateway {

uint64_t tcp_written_total(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
    return 0;
  int outq = 0;
  if (ioctl(fd, SIOCOUTQ, &outq) != 0)
    outq = 0;
  return ti.tcpi_bytes_acked + static_cast<uint64_t>(outq);
}

}  // namespace sluice::gateway
