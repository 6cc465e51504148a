// lwip32: open an existing Linux TAP device. Apart from lwiptap.c because <net/if.h> and lwIP's
// headers both claim names (htons, struct ifreq neighbours) in one translation unit.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>

// The fd (non-blocking, closed on exec), or -errno.
int lwiptap_tapdev_open(const char *name) {
    // TUNSETIFF creates a device that does not exist (we run as root in the tests): attach only to
    // one the harness made, in this process's network namespace.
    if (strlen(name) >= IFNAMSIZ) {
        return -ENAMETOOLONG;
    }
    if (if_nametoindex(name) == 0) {
        return -ENODEV;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI; // whole Ethernet frames, no packet-info header
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}
