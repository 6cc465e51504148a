// lwip32: MicroPython's unix port whose `socket` is the boards' lwIP one (extmod/modlwip.c) over a
// Linux TAP device, with a `network` module shaped like the Pico W's (lwiptap.c, network.py).
// The standard variant's features, plus the hooks a board port gives lwIP.

#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#include "variants/mpconfigvariant_common.h"

// time.sleep() goes through mp_hal_delay_ms() (which waits in mp_event_wait_ms(), so lwIP runs
// while Python sleeps) instead of the unix port's one select() for the whole time.
#undef MICROPY_PY_TIME_CUSTOM_SLEEP

// Wherever MicroPython waits (mp_event_wait_ms: modlwip's blocking calls, time.sleep*, select.poll
// rounds), feed the TAP device's frames to lwIP and run its timers: the board's network IRQ.
void lwiptap_poll(void);
#define MICROPY_INTERNAL_EVENT_HOOK lwiptap_poll()

// While Python computes without waiting, the VM polls lwIP too, at most once per millisecond: the
// countdown keeps the clock read off most branches.
extern unsigned int lwiptap_vm_countdown;
void lwiptap_vm_tick(void);
#define MICROPY_VM_HOOK_LOOP if (--lwiptap_vm_countdown == 0) { lwiptap_vm_tick(); }
#define MICROPY_VM_HOOK_RETURN MICROPY_VM_HOOK_LOOP

// modlwip marks where it is inside lwIP; the hooks above do not re-enter lwIP there (rp2 suspends
// PendSV for the same reason).
extern int lwiptap_lock;
#define MICROPY_PY_LWIP_ENTER   lwiptap_lock++;
#define MICROPY_PY_LWIP_REENTER lwiptap_lock++;
#define MICROPY_PY_LWIP_EXIT    lwiptap_lock--;
