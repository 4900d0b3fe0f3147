// sluice's kernel relay (relay: kernel, docs/architecture.md "Relay"): a stream-verdict
// program on every socket of the `socks` sockhash redirects what the socket receives to
// the egress of its peer leg, so a plaintext session moves no byte through user space.
// sluice keeps the control: it arms a pair only once it has forwarded what it read
// itself, reads the counters for idle timeouts and byte counts, and disarms a pair to
// put an ErrorResponse between two of the server's messages (hence the framing).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "relay_end.h"

#define RELAY_SLOTS 32768  // sessions; two sockets each

// The sessions' sockets, keyed by socket cookie: the redirect targets.
struct {
  __uint(type, BPF_MAP_TYPE_SOCKHASH);
  __uint(max_entries, RELAY_SLOTS * 2);
  __type(key, __u64);
  __type(value, __u64);
} socks SEC(".maps");

// Socket cookie -> index in `ends`, written by sluice when a pair enters the map.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, RELAY_SLOTS * 2);
  __type(key, __u64);
  __type(value, __u32);
} slots SEC(".maps");

// Per-socket state and counters (relay_end.h), mmap-ed by sluice: it reads the counters
// and writes `armed` and `acked` without a system call.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, RELAY_SLOTS * 2);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct relay_end);
} ends SEC(".maps");

struct walk {
  struct __sk_buff *skb;
  struct relay_frames *f;
  __u32 off;
  __u32 len;
};

// One step of the framing walk: skip the rest of a message, or take header bytes.
static long frame_step(__u32 i, struct walk *w) {
  struct relay_frames *f = w->f;
  if (w->off >= w->len)
    return 1;
  if (f->remaining > 0) {
    __u32 left = w->len - w->off;
    __u32 take = f->remaining < left ? f->remaining : left;
    f->remaining -= take;
    w->off += take;
    return 0;
  }
  __u8 h[5];
  if (f->have == 0 && w->len - w->off >= 5) {
    // The common case: a whole header in this skb.
    if (bpf_skb_load_bytes(w->skb, w->off, h, 5) < 0)
      return 1;
    __u32 n = ((__u32)h[1] << 24) | ((__u32)h[2] << 16) | ((__u32)h[3] << 8) | h[4];
    f->remaining = n >= 4 ? n - 4 : 0;
    f->last_type = h[0];
    w->off += 5;
    return 0;
  }
  // A header split across skbs: one byte at a time.
  if (bpf_skb_load_bytes(w->skb, w->off, h, 1) < 0)
    return 1;
  __u8 at = f->have;
  if (at > 4)
    return 1;
  f->header[at] = h[0];
  f->have = at + 1;
  w->off += 1;
  if (f->have == 5) {
    __u32 n = ((__u32)f->header[1] << 24) | ((__u32)f->header[2] << 16) |
              ((__u32)f->header[3] << 8) | f->header[4];
    f->remaining = n >= 4 ? n - 4 : 0;
    f->last_type = f->header[0];
    f->have = 0;
  }
  return 0;
}

SEC("sk_skb/stream_verdict")
int relay_verdict(struct __sk_buff *skb) {
  __u64 cookie = bpf_get_socket_cookie(skb);
  __u32 *slot = bpf_map_lookup_elem(&slots, &cookie);
  if (!slot)
    return SK_PASS;  // not (or no longer) a relayed socket: sluice reads it
  struct relay_end *e = bpf_map_lookup_elem(&ends, slot);
  if (!e)
    return SK_PASS;
  __sync_fetch_and_add(&e->entered, 1);
  int verdict;
  if (e->armed && e->passed == e->acked) {
    struct walk w = {.skb = skb, .f = &e->frames, .off = 0, .len = skb->len};
    bpf_loop(1 << 20, frame_step, &w, 0);
    e->redirected += skb->len;
    e->last_ns = bpf_ktime_get_ns();
    verdict = bpf_sk_redirect_hash(skb, &socks, &e->peer, 0);
  } else {
    e->passed += skb->len;
    verdict = SK_PASS;
  }
  __sync_fetch_and_add(&e->left, 1);
  return verdict;
}

char LICENSE[] SEC("license") = "GPL";
