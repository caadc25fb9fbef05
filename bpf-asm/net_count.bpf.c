// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Packet counters per protocol in an arena, from the network hooks, and two
 * cgroup socket hooks. Every counter is an __arena global: user space reads
 * them straight from the arena mapping, no map syscalls. The adds are
 * atomic (arena atomics: Linux 6.10 on x86-64), so packets handled on
 * several CPUs at once are all counted.
 *
 * Buckets, for every packet counter array: NET_ICMP, NET_TCP, NET_UDP (by
 * IPv4 protocol number), NET_OTHER_IP (another IPv4 protocol), NET_NOT_IP
 * (ARP, IPv6, ...). `bytes` adds the IPv4 total length, or for a packet
 * that is not IPv4 its length from the network header on.
 *
 * xdp_count (xdp):               counts into xdp_counts, returns XDP_PASS.
 * tcx_count_ingress (tcx/ingress), tcx_count_egress (tcx/egress): count
 *                                into tcx_in_counts / tcx_out_counts,
 *                                return TCX_NEXT (the packet goes on).
 * cg_count_ingress (cgroup_skb/ingress), cg_count_egress
 * (cgroup_skb/egress):           count the packets of the cgroup's sockets
 *                                into cg_in_counts / cg_out_counts, allow.
 * cg_sock_create (cgroup/sock_create): counts AF_INET/AF_INET6 sockets
 *                                created in the cgroup (sockets_created).
 * cg_connect4 (cgroup/connect4): counts IPv4 connect() calls (connects);
 *                                refuses (the caller gets EPERM) those to
 *                                port `deny_port` when it is not 0, counted
 *                                in connects_denied.
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
} arena SEC(".maps");

enum { NET_ICMP, NET_TCP, NET_UDP, NET_OTHER_IP, NET_NOT_IP, NET_BUCKETS };

/* One hook's counts. */
struct net_counts {
	__u64 packets[NET_BUCKETS];
	__u64 bytes[NET_BUCKETS];
};

struct net_counts __arena xdp_counts;
struct net_counts __arena tcx_in_counts;
struct net_counts __arena tcx_out_counts;
struct net_counts __arena cg_in_counts;
struct net_counts __arena cg_out_counts;
__u64 __arena sockets_created;
__u64 __arena connects;
__u64 __arena connects_denied;
__u32 __arena deny_port; /* host byte order; 0 refuses nothing */

/* The context fields used (the kernel rewrites these loads). */
struct xdp_md {
	__u32 data;
	__u32 data_end;
};

struct __sk_buff {
	__u32 len;
	__u32 _fields_4_to_76[18]; /* pkt_type ... tc_classid */
	__u32 data;
	__u32 data_end;
};

struct bpf_sock_addr {
	__u32 user_family;
	__u32 user_ip4;
	__u32 user_ip6[4];
	__u32 user_port; /* network byte order */
};

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define XDP_PASS 2
#define TCX_NEXT (-1)
#define SK_PASS 1
#define SK_DROP 0

/* Counts one packet whose network header starts at `net`. */
static __attribute__((always_inline)) void count(struct net_counts __arena *c, __u8 *net,
						 __u8 *end, __u64 len)
{
	__u32 bucket = NET_NOT_IP;
	__u64 bytes = len;

	if (net + 20 <= end && (net[0] >> 4) == 4) {
		bytes = ((__u64)net[2] << 8) | net[3];
		switch (net[9]) {
		case 1:
			bucket = NET_ICMP;
			break;
		case 6:
			bucket = NET_TCP;
			break;
		case 17:
			bucket = NET_UDP;
			break;
		default:
			bucket = NET_OTHER_IP;
		}
	}
	__sync_fetch_and_add(&c->packets[bucket], 1);
	__sync_fetch_and_add(&c->bytes[bucket], bytes);
}

/* Counts an Ethernet frame [data, end). */
static __attribute__((always_inline)) void count_frame(struct net_counts __arena *c, __u8 *data,
						       __u8 *end)
{
	__u64 len = end - data;

	if (data + ETH_HLEN > end || ((data[12] << 8) | data[13]) != ETH_P_IP) {
		count(c, end, end, len > ETH_HLEN ? len - ETH_HLEN : 0);
		return;
	}
	count(c, data + ETH_HLEN, end, len - ETH_HLEN);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	count_frame(&xdp_counts, (void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return XDP_PASS;
}

/* At tcx, data starts at the Ethernet header in both directions. */
SEC("tcx/ingress")
int tcx_count_ingress(struct __sk_buff *skb)
{
	count_frame(&tcx_in_counts, (void *)(long)skb->data, (void *)(long)skb->data_end);
	return TCX_NEXT;
}

SEC("tcx/egress")
int tcx_count_egress(struct __sk_buff *skb)
{
	count_frame(&tcx_out_counts, (void *)(long)skb->data, (void *)(long)skb->data_end);
	return TCX_NEXT;
}

/* At the cgroup hooks, data starts at the network header. */
SEC("cgroup_skb/ingress")
int cg_count_ingress(struct __sk_buff *skb)
{
	count(&cg_in_counts, (void *)(long)skb->data, (void *)(long)skb->data_end, skb->len);
	return SK_PASS;
}

SEC("cgroup_skb/egress")
int cg_count_egress(struct __sk_buff *skb)
{
	count(&cg_out_counts, (void *)(long)skb->data, (void *)(long)skb->data_end, skb->len);
	return SK_PASS;
}

SEC("cgroup/sock_create")
int cg_sock_create(void *sk)
{
	__sync_fetch_and_add(&sockets_created, 1);
	return SK_PASS;
}

SEC("cgroup/connect4")
int cg_connect4(struct bpf_sock_addr *ctx)
{
	__u32 port = __builtin_bswap16((__u16)ctx->user_port);

	__sync_fetch_and_add(&connects, 1);
	if (deny_port && port == deny_port) {
		__sync_fetch_and_add(&connects_denied, 1);
		return SK_DROP;
	}
	return SK_PASS;
}

char _license[] SEC("license") = "GPL";
