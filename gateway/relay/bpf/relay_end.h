/* One socket of a kernel-relayed session, as the BPF verdict program and sluice both see
 * it: an element of the mmap-able `ends` array (sockmap_relay.bpf.c). C, shared by the
 * BPF object and the C++ side (gateway/relay/kernel_relay.hpp). */
#ifndef SLUICE_RELAY_END_H
#define SLUICE_RELAY_END_H

#ifdef __bpf__ /* clang -target bpf */
typedef unsigned long long relay_u64;
typedef unsigned int relay_u32;
typedef unsigned char relay_u8;
#else
#include <stdint.h>
typedef uint64_t relay_u64;
typedef uint32_t relay_u32;
typedef uint8_t relay_u8;
#endif

/* Message framing of the bytes the kernel forwarded, the same rules as
 * gateway/frame_tracker.hpp: whoever forwards a byte (the program, or sluice while
 * the program passes data up) advances it. */
struct relay_frames {
  relay_u32 remaining; /* bytes of the current message still to come */
  relay_u8 have;       /* bytes of the next 5-byte header seen so far (0-4) */
  relay_u8 last_type;  /* type byte of the last complete header */
  relay_u8 header[5];
  relay_u8 pad;
};

struct relay_end {
  /* Written by sluice before the socket enters the sockmap, then read-only. */
  relay_u64 peer; /* socket cookie of the other leg: where this socket's bytes go */
  /* Written by sluice. The program redirects only while armed != 0 and every byte it
   * passed up has been forwarded by sluice (passed == acked); otherwise it passes the
   * data up to the socket, where sluice reads it in order. */
  relay_u32 armed;
  relay_u32 pad0;
  relay_u64 acked;
  /* Written by the program (one verdict at a time per socket). */
  relay_u64 redirected; /* bytes received here and redirected to the peer */
  relay_u64 passed;     /* bytes received here and passed up to sluice */
  relay_u64 last_ns;    /* CLOCK_MONOTONIC of the last redirect: the idle timeout */
  relay_u64 entered;    /* verdict runs begun and finished: equal = none running */
  relay_u64 left;
  struct relay_frames frames;
};

#endif
