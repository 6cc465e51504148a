# boards_run.py for the asyncio app (config.ASYNC = True): the same run and report, with the QoS of
# every emitter_micro.aio publish recorded too.
# usage: micropython host_tests/boards/boards_run_aio.py BOARD_DIR SCENARIO
import sys

from emitter_micro import aio

g = {"__name__": "__main__"}  # boards_run.py's globals: its qos_used is made when it runs
_publish = aio.Emitter.publish


async def _recording_publish(self, key, channel, message, ttl=None, qos=0, retain=False, me=True):
    g["qos_used"].append(qos)
    await _publish(self, key, channel, message, ttl, qos, retain, me)


aio.Emitter.publish = _recording_publish
here = sys.argv[0].rpartition("/")[0] or "."
exec(open(here + "/boards_run.py").read(), g)
