// lwIP options of the lwip32 build: the Raspberry Pi Pico W's (ports/rp2/lwip_inc/lwipopts.h of
// MicroPython 1c3c201), so its buffers, windows and pool sizes are the board's. Differences, each
// of which changes no size or protocol behaviour: LWIP_RAND (the Pico SDK's get_rand_32 is not here),
// MEM/MEMP statistics on (counters only: lwiptap.stats() reads them for leak tests) and SOMAXCONN
// (which the unix port's mpconfigport.h needs and lwIP does not define).
#ifndef LWIP32_LWIPOPTS_H
#define LWIP32_LWIPOPTS_H

#include <stdint.h>

// As ports/rp2/lwip_inc/lwipopts.h.
#define LWIP_NETIF_EXT_STATUS_CALLBACK  1
#define LWIP_NETIF_STATUS_CALLBACK      1

#define LWIP_IPV4                       1
#define LWIP_IPV6                       1
#define LWIP_ND6_NUM_DESTINATIONS       4
#define LWIP_ND6_QUEUEING               0

uint32_t lwiptap_rand(void);
#define LWIP_RAND() lwiptap_rand()

// MEM_SIZE 8000, TCP_MSS 800, TCP_WND = TCP_SND_BUF = 8 * TCP_MSS, MEMP_NUM_TCP_SEG 32, NO_SYS 1;
// MEMP_NUM_TCP_PCB stays lwIP's default (5), as on the board.
#include "extmod/lwip-include/lwipopts_common.h"

// Statistics for lwiptap.stats(): the heap (MEM_SIZE) and the pools, nothing else.
#undef LWIP_STATS
#define LWIP_STATS                      1
#define MEM_STATS                       1
#define MEMP_STATS                      1
#define LINK_STATS                      0
#define ETHARP_STATS                    0
#define IP_STATS                        0
#define IPFRAG_STATS                    0
#define ICMP_STATS                      0
#define IGMP_STATS                      0
#define UDP_STATS                       0
#define TCP_STATS                       0
#define SYS_STATS                       0
#define IP6_STATS                       0
#define ICMP6_STATS                     0
#define IP6_FRAG_STATS                  0
#define MLD6_STATS                      0
#define ND6_STATS                       0
#define MIB2_STATS                      0

// The unix port's listen backlog default is min(SOMAXCONN, 128); 2 is what rp2 gets
// (MicroPython's default MICROPY_PY_SOCKET_LISTEN_BACKLOG_DEFAULT).
#ifndef SOMAXCONN
#define SOMAXCONN                       (2)
#endif

#endif // LWIP32_LWIPOPTS_H
