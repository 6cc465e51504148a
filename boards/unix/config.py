# The unix port reads its settings from the environment (make demo sets them).
import os


def _env(name, default):
    v = os.getenv(name)
    return default if v is None else v


KEY = _env("EMITTER_KEY", "your-channel-key")
CHANNEL = _env("EMITTER_CHANNEL", "devices/unix-1/telemetry/")
COMMAND_CHANNEL = _env("EMITTER_COMMANDS", "devices/unix-1/commands/")
INTERVAL_S = int(_env("INTERVAL_S", "1"))
COUNT = int(_env("COUNT", "0")) or None
EMITTER = {"host": _env("EMITTER_HOST", "127.0.0.1"), "port": int(_env("EMITTER_PORT", "8080")),
           "secure": False, "keepalive": 30, "timeout": 5}
ASYNC = _env("ASYNC", "0") not in ("", "0")  # make demo ASYNC=1: the asyncio app
STORE = _env("STORE", "")  # a path: readings not yet delivered kept there across a restart (make demo sets one)
