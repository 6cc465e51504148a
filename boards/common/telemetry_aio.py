"""The telemetry app in asyncio: a sensor task, a command task and the watchdog fed from its own task.

The same boards, readings and commands as telemetry.py (whose reading() and
on_command() it uses); chosen with ASYNC = True in config.py. The link to the
broker is emitter_micro.aio's task; WiFi joins wait without holding up the
other tasks, so the watchdog is fed by its own task whatever the network does.
"""
import time

import asyncio
from emitter_micro import aio

from telemetry import Telemetry


async def join(net):
    """True when joined; otherwise one join attempt (bounded by net.timeout_ms), then net.retry_ms of rest."""
    w = net.wlan
    if w.isconnected():
        return True
    w.active(True)
    w.connect(net.ssid, net.password)
    end = time.ticks_add(time.ticks_ms(), net.timeout_ms)
    while not w.isconnected() and time.ticks_diff(end, time.ticks_ms()) > 0:
        await asyncio.sleep(0.1)
    if w.isconnected():
        print("wifi: up", w.ifconfig()[0])
        return True
    print("wifi: no link to", net.ssid, "- retrying in", net.retry_ms, "ms")
    w.disconnect()
    await asyncio.sleep(net.retry_ms / 1000)
    return False


class TelemetryAio(Telemetry):
    """Publishes readings at QoS 1 every interval; obeys commands ({"interval": s}, {"led": bool}, {"reboot": true})."""

    async def network(self):
        net = getattr(self.board, "net", None)  # boards/common/board.py's WiFi; none on the unix port
        return await join(net) if net else self.board.wifi()

    async def watchdog(self):
        while True:
            self.board.feed()
            await asyncio.sleep(1)

    async def commands(self):
        async for msg in self.emitter.messages():
            self.on_command(msg)

    async def sensor(self, count):
        c = self.config
        while count is None or self.seq < count:
            while not await self.network():
                pass
            # QoS 1: returns once acked, or at once when queued while the link is down.
            r = self.reading()
            await self.emitter.publish(c.KEY, c.CHANNEL, r, qos=1)
            self.published(r)
            await asyncio.sleep(self.interval)

    async def main(self, count=None):
        c = self.config
        dog = asyncio.create_task(self.watchdog())
        while not await self.network():
            pass
        em = self.emitter = aio.Emitter(self.options())
        em.on("error", self.on_error)
        em.on("connect", lambda: print("telemetry: connected"))
        em.on("disconnect", lambda: print("telemetry: link down, reconnecting"))
        await em.connect()
        await em.subscribe(c.KEY, c.COMMAND_CHANNEL)  # its messages: the command task's
        cmd = asyncio.create_task(self.commands())
        await asyncio.sleep(0)  # commands stored for the device (a reboot) come first
        await self.sensor(count)
        await em.flush(5000)
        em.on("disconnect", lambda: print("telemetry: done"))
        await em.disconnect()
        for t in (cmd, dog):
            t.cancel()
        return em


def run(config, board):
    """Run the asyncio app (COUNT readings in config, or forever)."""
    return asyncio.run(TelemetryAio(config, board).main(getattr(config, "COUNT", None)))
