// lwip32: what a board port does for lwIP, over a Linux TAP device instead of a WiFi chip.
//
// lwIP is started before main() (so socket.socket() works without Python calling anything), the TAP
// device named by $LWIP_TAP becomes its one netif, and lwIP runs wherever MicroPython waits or
// computes (mpconfigvariant.h's hooks call lwiptap_poll). The netif's link is the WiFi association:
// down until `lwiptap.connect()` (network.WLAN.connect) joins a little later (with an address once the
// gateway answers ARP, as DHCP's round trip on a board), and a test hook takes the
// "access point" away and back (lwiptap.link(), SIGUSR1 / SIGUSR2). While the link is down frames are
// dropped both ways, as on a radio that is not associated.
//
// Environment, read once at start (defaults in brackets):
//   LWIP_TAP [tap0] ("" = no device, silently), LWIP_IP [10.99.0.2], LWIP_NETMASK [255.255.255.0],
//   LWIP_GW [10.99.0.1], LWIP_DNS [LWIP_GW], LWIP_MAC [02:00 + the IP's four bytes],
//   LWIP_JOIN_MS [200] (how long a join takes).

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include "py/runtime.h"
#include "py/mphal.h"
#include "extmod/modnetwork.h"

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/dns.h"
#include "lwip/timeouts.h"
#include "lwip/stats.h"
#include "lwip/udp.h"
#include "lwip/priv/tcp_priv.h"
#include "netif/ethernet.h"

#define FRAME_MAX (1514 + 4)        // an Ethernet frame at MTU 1500, with room for a VLAN tag
#define FRAMES_PER_POLL (64)        // bounds one poll's work when the kernel has queued a burst
#define IFNAMSIZ_LWIPTAP (16)       // IFNAMSIZ of <net/if.h>, which cannot be included beside lwIP (tapdev.c)
#define VM_BRANCHES_PER_CLOCK (256) // VM branches between two reads of the clock
#define ARP_RETRY_MS (50)           // a join asks the gateway again this often until it answers
#define JOINED_WAIT_MS (3000)       // $LWIP_JOINED: how long the start waits for that answer at most

// Cyw43 link states, as the Pico W's WLAN.status() reports them (network.STAT_*).
enum { STAT_IDLE = 0, STAT_CONNECTING = 1, STAT_NOIP = 2, STAT_GOT_IP = 3, STAT_NO_AP_FOUND = -2 };

int lwiptap_tapdev_open(const char *name);

// modlwip (MICROPY_PY_LWIP=1 without extmod/modnetwork.c) reads this for getaddrinfo's family.
int mp_mod_network_prefer_dns_use_ip_version = 4;

int lwiptap_lock;
unsigned int lwiptap_vm_countdown = VM_BRANCHES_PER_CLOCK;

static struct netif tap_netif;
static bool have_netif;
static int tap_fd = -1;
static bool polling;
static mp_uint_t last_poll_ms;

// The WiFi model. ap_in_range is the test hook; wifi_state is what WLAN.status() reports.
static bool ap_in_range = true;
static int wifi_state = STAT_IDLE;
static mp_uint_t join_due_ms;
static mp_uint_t join_ms = 200;
static mp_uint_t arp_sent_ms;

// Signals only record the latest request; the next poll applies it (lwIP is not async-signal-safe).
static volatile sig_atomic_t sig_seq, sig_ap_up;
static sig_atomic_t sig_seen;

static uint32_t rx_frames, tx_frames, rx_dropped, tx_dropped;
static uint8_t frame_in[FRAME_MAX], frame_out[FRAME_MAX];

u32_t sys_now(void) {
    return mp_hal_ticks_ms();
}

uint32_t lwiptap_rand(void) {
    // TCP initial sequence numbers, local ports and DNS ids: a restarted process must not reuse them.
    uint32_t r;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r)) {
        r = (uint32_t)random();
    }
    return r;
}

static void set_link(bool up) {
    if (!have_netif) {
        return;
    }
    if (up) {
        netif_set_link_up(&tap_netif);
    } else {
        netif_set_link_down(&tap_netif);
    }
}

static void set_ap_in_range(bool up) {
    ap_in_range = up;
    if (!up && (wifi_state == STAT_GOT_IP || wifi_state == STAT_NOIP)) {
        // The AP is gone: the station is disassociated (cyw43 reports LINK_DOWN) and stays so until
        // the application joins again; a join under way fails when it is due.
        wifi_state = STAT_IDLE;
        set_link(false);
    }
}

// The station is associated: the link is up, and the address comes with the gateway's answer (wifi_dhcp),
// asked for at the next poll.
static void associated(void) {
    wifi_state = STAT_NOIP;
    set_link(true);
    arp_sent_ms = mp_hal_ticks_ms() - ARP_RETRY_MS;
}

static void wifi_update(void) {
    if (sig_seq != sig_seen) {
        sig_seen = sig_seq;
        set_ap_in_range(sig_ap_up);
    }
    if (wifi_state == STAT_CONNECTING && (mp_int_t)(mp_hal_ticks_ms() - join_due_ms) >= 0) {
        if (ap_in_range && have_netif) {
            associated();
        } else {
            wifi_state = STAT_NO_AP_FOUND;
        }
    }
}

// Associated, a Pico W has its address only after a round trip through the access point (DHCP); here
// the round trip is the gateway's answer to ARP. Without it a process's first frames could be lost:
// the kernel drops what a TAP just attached sends until its bridge port forwards (the link watch runs up
// to 1 s late), and a first SYN then waited for lwIP's own ARP retry, 1 s on, past a short connect
// timeout. Called from the poll only (not inside an lwIP call).
static void wifi_dhcp(void) {
    if (wifi_state != STAT_NOIP) { // only NOIP waits for the answer (its link is up: associated())
        return;
    }
    struct eth_addr *mac;
    const ip4_addr_t *found;
    if (etharp_find_addr(&tap_netif, netif_ip4_gw(&tap_netif), &mac, &found) >= 0) {
        wifi_state = STAT_GOT_IP;
    } else if ((mp_uint_t)(mp_hal_ticks_ms() - arp_sent_ms) >= ARP_RETRY_MS) {
        arp_sent_ms = mp_hal_ticks_ms();
        etharp_request(&tap_netif, netif_ip4_gw(&tap_netif));
    }
}

static void on_signal(int sig) {
    sig_ap_up = sig == SIGUSR2;
    sig_seq = sig_seq + 1;
}

static err_t tap_linkoutput(struct netif *netif, struct pbuf *p) {
    if (!netif_is_link_up(netif)) {
        tx_dropped++;
        return ERR_OK;
    }
    u16_t len = pbuf_copy_partial(p, frame_out, sizeof(frame_out), 0);
    if (write(tap_fd, frame_out, len) != len) {
        tx_dropped++; // the kernel's queue is full or the device went away: a lost frame, as on air
    } else {
        tx_frames++;
    }
    return ERR_OK;
}

static void tap_input(void) {
    for (int i = 0; i < FRAMES_PER_POLL; i++) {
        ssize_t n = read(tap_fd, frame_in, sizeof(frame_in));
        if (n <= 0) {
            return; // EAGAIN: nothing more queued
        }
        if (!netif_is_link_up(&tap_netif)) {
            rx_dropped++;
            continue;
        }
        // As the cyw43 driver does: one frame into pool pbufs (TCP_MSS-sized, chained if larger).
        struct pbuf *p = pbuf_alloc(PBUF_RAW, n, PBUF_POOL);
        if (p == NULL) {
            rx_dropped++;
            continue;
        }
        pbuf_take(p, frame_in, n);
        if (tap_netif.input(p, &tap_netif) != ERR_OK) {
            pbuf_free(p);
        }
        rx_frames++;
    }
}

void lwiptap_poll(void) {
    // Not from inside modlwip's lwIP calls, nor from inside this poll (an lwIP callback).
    if (lwiptap_lock || polling) {
        return;
    }
    polling = true;
    last_poll_ms = mp_hal_ticks_ms();
    wifi_update();
    if (tap_fd >= 0) {
        tap_input();
        wifi_dhcp();
    }
    sys_check_timeouts();
    polling = false;
}

void lwiptap_vm_tick(void) {
    lwiptap_vm_countdown = VM_BRANCHES_PER_CLOCK;
    if (mp_hal_ticks_ms() != last_poll_ms) {
        lwiptap_poll();
    }
}

// select.poll() over file descriptors only (or none: asyncio with nothing to wait on) would block in
// poll(2) for its whole timeout with lwIP stopped; wait in 1 ms slices and run lwIP between them.
int __real_poll(struct pollfd *fds, nfds_t nfds, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t nfds, int timeout) {
    mp_uint_t start = mp_hal_ticks_ms();
    for (;;) {
        int slice = 1;
        if (timeout >= 0) {
            mp_uint_t elapsed = mp_hal_ticks_ms() - start;
            slice = elapsed >= (mp_uint_t)timeout ? 0 : 1;
        }
        int n = __real_poll(fds, nfds, slice);
        if (n != 0 || slice == 0) {
            return n;
        }
        lwiptap_poll();
    }
}

// An IPv4 address from the environment into *out, which holds the default; false (said on stderr)
// when the variable holds something else.
static bool env_ip4(const char *var, ip4_addr_t *out) {
    const char *s = getenv(var);
    if (s == NULL || *s == '\0') {
        return true;
    }
    if (!ip4addr_aton(s, out)) {
        fprintf(stderr, "lwip32: %s='%s' is not an IPv4 address\n", var, s);
        return false;
    }
    return true;
}

static bool env_mac(const ip4_addr_t *ip, uint8_t mac[6]) {
    const char *s = getenv("LWIP_MAC");
    if (s == NULL || *s == '\0') {
        // Locally administered, unicast, and one per IP so two instances on one link differ.
        uint32_t a = lwip_ntohl(ip4_addr_get_u32(ip));
        uint8_t d[6] = {0x02, 0x00, a >> 24, a >> 16, a >> 8, a};
        memcpy(mac, d, 6);
        return true;
    }
    unsigned int b[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) {
        fprintf(stderr, "lwip32: LWIP_MAC='%s' is not a MAC address (aa:bb:cc:dd:ee:ff)\n", s);
        return false;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = b[i];
    }
    return true;
}

static err_t tap_netif_init(struct netif *netif) {
    netif->name[0] = 'w'; // as cyw43's STA netif
    netif->name[1] = '0';
    netif->mtu = 1500;
    netif->hwaddr_len = 6;
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP;
    netif->output = etharp_output;
    #if LWIP_IPV6
    netif->output_ip6 = ethip6_output;
    #endif
    netif->linkoutput = tap_linkoutput;
    return ERR_OK;
}

__attribute__((constructor)) static void lwiptap_start(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL); // the access point goes away
    sigaction(SIGUSR2, &sa, NULL); // and comes back

    lwip_init();

    const char *j = getenv("LWIP_JOIN_MS");
    if (j != NULL && *j != '\0') {
        join_ms = strtoul(j, NULL, 10);
    }
    ip4_addr_t ip, mask, gw, dns;
    IP4_ADDR(&ip, 10, 99, 0, 2);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 10, 99, 0, 1);
    if (!env_ip4("LWIP_IP", &ip) || !env_ip4("LWIP_NETMASK", &mask) || !env_ip4("LWIP_GW", &gw)) {
        return;
    }
    dns = gw;
    if (!env_ip4("LWIP_DNS", &dns)) {
        return;
    }
    ip_addr_t dns_server;
    ip_addr_copy_from_ip4(dns_server, dns);
    dns_setserver(0, &dns_server);

    // A comma list: the first device no other process holds (EBUSY) is taken, and its index in the list
    // is added to LWIP_IP, so several devices can share the namespace's bridge at once.
    const char *list = getenv("LWIP_TAP");
    if (list == NULL) {
        list = "tap0";
    }
    if (*list == '\0') {
        return;
    }
    char name[IFNAMSIZ_LWIPTAP];
    int index = 0;
    for (const char *p = list;; index++) {
        size_t n = strcspn(p, ",");
        if (n >= sizeof(name)) {
            n = sizeof(name) - 1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        tap_fd = lwiptap_tapdev_open(name);
        if (tap_fd >= 0 || tap_fd != -EBUSY || p[n] == '\0') {
            break;
        }
        p += n + 1;
    }
    if (tap_fd < 0) {
        fprintf(stderr, "lwip32: cannot attach TAP '%s': %s\n", name, strerror(-tap_fd));
        return;
    }
    ip4_addr_set_u32(&ip, lwip_htonl(lwip_ntohl(ip4_addr_get_u32(&ip)) + index));
    uint8_t mac[6];
    if (!env_mac(&ip, mac)) {
        close(tap_fd);
        tap_fd = -1;
        return;
    }
    memcpy(tap_netif.hwaddr, mac, 6);
    netif_add(&tap_netif, &ip, &mask, &gw, NULL, tap_netif_init, ethernet_input);
    netif_set_default(&tap_netif);
    netif_set_up(&tap_netif); // administratively up; the link (the association) waits for connect()
    have_netif = true;
    const char *joined = getenv("LWIP_JOINED");
    if (joined != NULL && *joined == '1') {
        // As after a board's boot.py has joined (isconnected() true): for test runners that are not a
        // board app. Past the wait lwIP goes on asking, and its sockets work as they would without it.
        associated();
        mp_uint_t start = mp_hal_ticks_ms();
        while (wifi_state == STAT_NOIP && mp_hal_ticks_ms() - start < JOINED_WAIT_MS) {
            lwiptap_poll();
            usleep(1000);
        }
        if (wifi_state != STAT_GOT_IP) {
            fprintf(stderr, "lwip32: no ARP answer from the gateway in %d ms\n", JOINED_WAIT_MS);
        }
    }
}

/******************************************************************************/
// The lwiptap module: the C under network.py, and the test hooks.

// poll(): run lwIP once (TAP input, timers, a pending link change).
static mp_obj_t lwiptap_poll_obj_fn(void) {
    lwiptap_poll();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(lwiptap_poll_obj, lwiptap_poll_obj_fn);

// link([up]): the test hook. False: the access point is gone (link down now, frames dropped both
// ways, joins fail); True: it is back (the station stays down until the next connect()).
// No argument: whether it is in range.
static mp_obj_t lwiptap_link(size_t n_args, const mp_obj_t *args) {
    if (n_args == 0) {
        wifi_update();
        return mp_obj_new_bool(ap_in_range);
    }
    sig_seen = sig_seq; // a call supersedes an earlier, not yet applied, signal
    set_ap_in_range(mp_obj_is_true(args[0]));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(lwiptap_link_obj, 0, 1, lwiptap_link);

// connect([delay_ms]): start a join; the link comes up delay_ms (default $LWIP_JOIN_MS) later if the
// access point is in range then, else the join fails (STAT_NO_AP_FOUND). A join while joined
// re-associates (link down, then up), as cyw43 does.
static mp_obj_t lwiptap_connect(size_t n_args, const mp_obj_t *args) {
    mp_uint_t delay = n_args > 0 && args[0] != mp_const_none ? (mp_uint_t)mp_obj_get_int(args[0]) : join_ms;
    set_link(false);
    wifi_state = STAT_CONNECTING;
    join_due_ms = mp_hal_ticks_ms() + delay;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(lwiptap_connect_obj, 0, 1, lwiptap_connect);

// disconnect(): leave the network (link down, a join under way abandoned).
static mp_obj_t lwiptap_disconnect(void) {
    wifi_state = STAT_IDLE;
    set_link(false);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(lwiptap_disconnect_obj, lwiptap_disconnect);

// status(): the cyw43 link status (network.STAT_*): 3 only while the netif's link is up with an address.
static mp_obj_t lwiptap_status(void) {
    wifi_update();
    int s = wifi_state;
    if (s == STAT_GOT_IP && !(have_netif && netif_is_link_up(&tap_netif))) {
        s = STAT_IDLE;
    } else if (s == STAT_GOT_IP && ip4_addr_isany(netif_ip4_addr(&tap_netif))) {
        s = STAT_NOIP; // joined, but ifconfig() left it without an address
    }
    return MP_OBJ_NEW_SMALL_INT(s);
}
static MP_DEFINE_CONST_FUN_OBJ_0(lwiptap_status_obj, lwiptap_status);

static mp_obj_t ip_str(const ip4_addr_t *a) {
    char buf[IP4ADDR_STRLEN_MAX];
    ip4addr_ntoa_r(a, buf, sizeof(buf));
    return mp_obj_new_str(buf, strlen(buf));
}

// ifconfig([(ip, mask, gw, dns)]): the netif's IPv4 configuration as strings, or set it.
static mp_obj_t lwiptap_ifconfig(size_t n_args, const mp_obj_t *args) {
    if (n_args == 0) {
        ip4_addr_t none = {0};
        const ip_addr_t *dns = dns_getserver(0);
        mp_obj_t t[4] = {
            ip_str(have_netif ? netif_ip4_addr(&tap_netif) : &none),
            ip_str(have_netif ? netif_ip4_netmask(&tap_netif) : &none),
            ip_str(have_netif ? netif_ip4_gw(&tap_netif) : &none),
            ip_str(ip_2_ip4(dns)),
        };
        return mp_obj_new_tuple(4, t);
    }
    mp_obj_t *items;
    mp_obj_get_array_fixed_n(args[0], 4, &items);
    ip4_addr_t a[4];
    for (int i = 0; i < 4; i++) {
        if (!ip4addr_aton(mp_obj_str_get_str(items[i]), &a[i])) {
            mp_raise_ValueError(MP_ERROR_TEXT("invalid IPv4 address"));
        }
    }
    if (have_netif) {
        netif_set_addr(&tap_netif, &a[0], &a[1], &a[2]);
    }
    ip_addr_t dns;
    ip_addr_copy_from_ip4(dns, a[3]);
    dns_setserver(0, &dns);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(lwiptap_ifconfig_obj, 0, 1, lwiptap_ifconfig);

// mac(): the netif's MAC address (6 bytes).
static mp_obj_t lwiptap_mac(void) {
    return mp_obj_new_bytes(tap_netif.hwaddr, 6);
}
static MP_DEFINE_CONST_FUN_OBJ_0(lwiptap_mac_obj, lwiptap_mac);

static mp_int_t count_pcbs(struct tcp_pcb *pcb) {
    mp_int_t n = 0;
    for (; pcb != NULL; pcb = pcb->next) {
        n++;
    }
    return n;
}

static void dict_int(mp_obj_t d, const char *key, mp_int_t v) {
    mp_obj_dict_store(d, mp_obj_new_str(key, strlen(key)), mp_obj_new_int(v));
}

// stats(): what lwIP holds, for leak tests: PCBs on each TCP list and UDP PCBs (walked), the
// MEM_SIZE heap (bytes used, most used, failed allocations), the pools as (used, max, failed),
// frames through the TAP device, the link and whether a TAP device is attached.
static mp_obj_t lwiptap_stats(void) {
    mp_obj_t d = mp_obj_new_dict(0);
    dict_int(d, "tcp_active", count_pcbs(tcp_active_pcbs));
    dict_int(d, "tcp_tw", count_pcbs(tcp_tw_pcbs));
    dict_int(d, "tcp_listen", count_pcbs((struct tcp_pcb *)tcp_listen_pcbs.listen_pcbs));
    dict_int(d, "tcp_bound", count_pcbs(tcp_bound_pcbs));
    mp_int_t udp = 0;
    for (struct udp_pcb *u = udp_pcbs; u != NULL; u = u->next) {
        udp++;
    }
    dict_int(d, "udp", udp);
    dict_int(d, "mem_used", lwip_stats.mem.used);
    dict_int(d, "mem_max", lwip_stats.mem.max);
    dict_int(d, "mem_err", lwip_stats.mem.err);
    static const struct { const char *name; int index; } pools[] = {
        {"TCP_PCB", MEMP_TCP_PCB}, {"TCP_PCB_LISTEN", MEMP_TCP_PCB_LISTEN}, {"TCP_SEG", MEMP_TCP_SEG},
        {"UDP_PCB", MEMP_UDP_PCB}, {"PBUF", MEMP_PBUF}, {"PBUF_POOL", MEMP_PBUF_POOL},
        {"SYS_TIMEOUT", MEMP_SYS_TIMEOUT},
    };
    mp_obj_t pd = mp_obj_new_dict(0);
    for (size_t i = 0; i < MP_ARRAY_SIZE(pools); i++) {
        const struct stats_mem *m = lwip_stats.memp[pools[i].index];
        mp_obj_t t[3] = {mp_obj_new_int(m->used), mp_obj_new_int(m->max), mp_obj_new_int(m->err)};
        mp_obj_dict_store(pd, mp_obj_new_str(pools[i].name, strlen(pools[i].name)), mp_obj_new_tuple(3, t));
    }
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_pools), pd);
    dict_int(d, "rx_frames", rx_frames);
    dict_int(d, "tx_frames", tx_frames);
    dict_int(d, "rx_dropped", rx_dropped);
    dict_int(d, "tx_dropped", tx_dropped);
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_link), mp_obj_new_bool(have_netif && netif_is_link_up(&tap_netif)));
    mp_obj_dict_store(d, MP_OBJ_NEW_QSTR(MP_QSTR_tap), mp_obj_new_bool(tap_fd >= 0));
    // Each active connection: (state, local port, remote port, pbufs queued to send, send buffer free,
    // bytes received and not yet taken, out-of-order pbufs held): who holds lwIP's memory.
    mp_obj_t conns = mp_obj_new_list(0, NULL);
    for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb != NULL; pcb = pcb->next) {
        mp_int_t ooseq = 0;
        #if TCP_QUEUE_OOSEQ
        for (struct tcp_seg *seg = pcb->ooseq; seg != NULL; seg = seg->next) {
            ooseq += pbuf_clen(seg->p);
        }
        #endif
        mp_obj_t t[7] = {
            mp_obj_new_int(pcb->state), mp_obj_new_int(pcb->local_port), mp_obj_new_int(pcb->remote_port),
            mp_obj_new_int(pcb->snd_queuelen), mp_obj_new_int(tcp_sndbuf(pcb)),
            mp_obj_new_int(TCP_WND - pcb->rcv_wnd), mp_obj_new_int(ooseq),
        };
        mp_obj_list_append(conns, mp_obj_new_tuple(7, t));
    }
    mp_obj_dict_store(d, mp_obj_new_str("conns", 5), conns);
    return d;
}
static MP_DEFINE_CONST_FUN_OBJ_0(lwiptap_stats_obj, lwiptap_stats);

static const mp_rom_map_elem_t lwiptap_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_lwiptap) },
    { MP_ROM_QSTR(MP_QSTR_poll), MP_ROM_PTR(&lwiptap_poll_obj) },
    { MP_ROM_QSTR(MP_QSTR_link), MP_ROM_PTR(&lwiptap_link_obj) },
    { MP_ROM_QSTR(MP_QSTR_connect), MP_ROM_PTR(&lwiptap_connect_obj) },
    { MP_ROM_QSTR(MP_QSTR_disconnect), MP_ROM_PTR(&lwiptap_disconnect_obj) },
    { MP_ROM_QSTR(MP_QSTR_status), MP_ROM_PTR(&lwiptap_status_obj) },
    { MP_ROM_QSTR(MP_QSTR_ifconfig), MP_ROM_PTR(&lwiptap_ifconfig_obj) },
    { MP_ROM_QSTR(MP_QSTR_mac), MP_ROM_PTR(&lwiptap_mac_obj) },
    { MP_ROM_QSTR(MP_QSTR_stats), MP_ROM_PTR(&lwiptap_stats_obj) },
};
static MP_DEFINE_CONST_DICT(lwiptap_globals, lwiptap_globals_table);

const mp_obj_module_t lwiptap_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&lwiptap_globals,
};

MP_REGISTER_MODULE(MP_QSTR_lwiptap, lwiptap_module);
