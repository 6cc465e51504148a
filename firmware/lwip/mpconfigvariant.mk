# lwip32 (tools/firmware.py): make -C ports/unix VARIANT_DIR=<this folder> CFLAGS_EXTRA=-m32 LDFLAGS_EXTRA=-m32
# with lwIP 2.2.1 in lib/lwip and mbedtls 3.6.6 in lib/mbedtls. Every *.c here is compiled in.

# socket is modlwip; the unix port's POSIX socket module is left out so nothing falls back to it.
MICROPY_PY_SOCKET = 0
MICROPY_PY_LWIP = 1
MICROPY_PY_SSL = 1
MICROPY_SSL_MBEDTLS = 1
MICROPY_SSL_AXTLS = 0
# These need submodules the source comes without, or are not on a board.
MICROPY_PY_BTREE = 0
MICROPY_PY_FFI = 0
MICROPY_PY_THREAD = 0

# lwipopts.h and arch/cc.h live here (the Makefile adds -I$(VARIANT_DIR)).

# modlwip is written for boards, built without -Wextra: `timeout != -1` on an unsigned timeout.
$(BUILD)/extmod/modlwip.o: CFLAGS += -Wno-sign-compare

# With time.sleep() on mp_hal_delay_ms (mpconfigvariant.h), the unix port's own sleep is unused.
$(BUILD)/extmod/modtime.o: CFLAGS += -Wno-unused-function

# select.poll() on file descriptors only (asyncio with nothing to wait for) blocks in poll(2) for
# its whole timeout: lwiptap.c's __wrap_poll waits in 1 ms slices and runs lwIP between them.
LDFLAGS_MOD += -Wl,--wrap=poll

FROZEN_MANIFEST ?= $(VARIANT_DIR)/../unix_lwip.py
