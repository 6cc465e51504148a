// lwIP's compiler/platform header for the lwip32 build (as ports/rp2/lwip_inc/arch/cc.h, except
// that a failed lwIP assertion is reported on stderr: the board ignores it silently, a test run
// should see it). lwIP goes on either way, as on the board.
#ifndef LWIP32_ARCH_CC_H
#define LWIP32_ARCH_CC_H

#include <stdio.h>

#define LWIP_PLATFORM_DIAG(x)
#define LWIP_PLATFORM_ASSERT(x) do { fprintf(stderr, "lwip32: lwIP assertion: %s\n", x); } while (0)

#define LWIP_NO_CTYPE_H 1

#endif // LWIP32_ARCH_CC_H
