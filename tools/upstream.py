"""Third-party pieces the tests, demo and bench need, fetched or built on first use and cached in .deps/.

Nothing here is committed: the Emitter broker, Toxiproxy and umqtt.simple 1.8
come from their own sources (the Go module proxy, or the source archives in
../shared/upstream/ that this workplace provides), are built here and cached.

    python tools/upstream.py emitter|toxiproxy|umqtt18|all   # print each path and how it was had

Each getter prints one line saying how it got the piece (env / cache / go install /
built from source) and raises Unavailable with the exact reason when it cannot.
"""
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEPS = REPO / ".deps"
BIN = DEPS / "bin"
SHARED_UPSTREAM = REPO.parent / "shared" / "upstream"
EMITTER_MODULE = "github.com/emitter-io/emitter@v0.0.0-20250218001601-87f082c76c06"
EMITTER_ARCHIVE = "emitter-87f082c.tar.gz"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0"
MPYLIB_ARCHIVE = "micropython-lib-ee4bb8f.tar.gz"
UMQTT_IN_MPYLIB = "micropython/umqtt.simple/umqtt/simple.py"
GO_TIMEOUT_S = 900


class Unavailable(Exception):
    pass


def say(text):
    print("upstream: " + text, file=sys.stderr, flush=True)


def _executable(path):
    return path and os.path.isfile(path) and os.access(path, os.X_OK)


def _go():
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if go is None:
        raise Unavailable("`go` is not on PATH")
    return go


def _run_go(args, cwd=None, gobin=None):
    env = dict(os.environ)
    if gobin:
        env["GOBIN"] = str(gobin)
    try:
        p = subprocess.run([_go()] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=GO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "`go %s` timed out after %d s" % (" ".join(args), GO_TIMEOUT_S)
    if p.returncode:
        return (p.stderr.strip() or p.stdout.strip() or "exit %d" % p.returncode)
    return None


def _extract(archive, into):
    """Extract a source archive once; return the folder it holds."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        if not (into / top).is_dir():
            tar.extractall(into)
    return into / top


def _source(var, archive_name):
    """The archive or folder named by $var, else the archive in ../shared/upstream/, else None."""
    named = os.environ.get(var)
    if named:
        if not os.path.exists(named):
            raise Unavailable("%s=%s does not exist" % (var, named))
        return Path(named)
    default = SHARED_UPSTREAM / archive_name
    return default if default.is_file() else None


def emitter():
    """The Emitter broker: $EMITTER_BIN, cache, `go install` of the pinned version, or a build from $EMITTER_SRC."""
    env_bin = os.environ.get("EMITTER_BIN")
    if env_bin:
        if not _executable(env_bin):
            raise Unavailable("EMITTER_BIN=%s is not an executable file" % env_bin)
        say("emitter broker from EMITTER_BIN: %s" % env_bin)
        return env_bin
    cached = BIN / "emitter"
    if _executable(str(cached)):
        say("emitter broker cached: %s" % cached)
        return str(cached)
    BIN.mkdir(parents=True, exist_ok=True)
    installed = BIN / "emitter-install"
    install_error = _run_go(["install", EMITTER_MODULE], gobin=installed)
    if install_error is None and _executable(str(installed / "emitter")):
        os.replace(installed / "emitter", cached)
        say("emitter broker: go install %s -> %s" % (EMITTER_MODULE, cached))
        return str(cached)
    src = _source("EMITTER_SRC", EMITTER_ARCHIVE)
    if src is None:
        raise Unavailable("go install %s failed (%s) and no source: set EMITTER_SRC to the emitter source "
                          "(archive or folder)" % (EMITTER_MODULE, install_error))
    say("go install refused (%s); building the broker from %s" % (install_error.splitlines()[-1], src))
    folder = _extract(src, DEPS / "src") if src.is_file() else src
    error = _run_go(["build", "-trimpath", "-ldflags", "-s -w", "-o", str(cached), "."], cwd=str(folder))
    if error or not _executable(str(cached)):
        raise Unavailable("go build of the broker in %s failed: %s" % (folder, error))
    say("emitter broker built from %s -> %s" % (src, cached))
    return str(cached)


def toxiproxy():
    """Toxiproxy's server: $TOXIPROXY_BIN, cache, or `go install` of v2.5.0."""
    env_bin = os.environ.get("TOXIPROXY_BIN")
    if env_bin:
        if not _executable(env_bin):
            raise Unavailable("TOXIPROXY_BIN=%s is not an executable file" % env_bin)
        return env_bin
    cached = BIN / "toxiproxy-server"
    if _executable(str(cached)):
        say("toxiproxy cached: %s" % cached)
        return str(cached)
    gobin = BIN / "toxiproxy-install"
    error = _run_go(["install", TOXIPROXY_MODULE], gobin=gobin)
    if error or not _executable(str(gobin / "server")):
        raise Unavailable("go install %s failed: %s" % (TOXIPROXY_MODULE, error))
    os.replace(gobin / "server", cached)
    say("toxiproxy: go install %s -> %s" % (TOXIPROXY_MODULE, cached))
    return str(cached)


def umqtt18():
    """The folder holding umqtt/simple.py 1.8: $UMQTT18_DIR, cache, or out of the micropython-lib archive."""
    named = os.environ.get("UMQTT18_DIR")
    if named:
        if not (Path(named) / "umqtt" / "simple.py").is_file():
            raise Unavailable("UMQTT18_DIR=%s holds no umqtt/simple.py" % named)
        return Path(named).resolve()
    dest = DEPS / "umqtt18"
    if (dest / "umqtt" / "simple.py").is_file():
        return dest
    lib = micropython_lib()
    (dest / "umqtt").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(lib / UMQTT_IN_MPYLIB, dest / "umqtt" / "simple.py")
    (dest / "umqtt" / "__init__.py").write_text("")
    say("umqtt.simple 1.8 from %s -> %s" % (lib, dest))
    return dest


def micropython_lib():
    """micropython-lib's source folder: $MPY_LIB_SRC (archive or folder) or the archive in ../shared/upstream/."""
    src = _source("MPY_LIB_SRC", MPYLIB_ARCHIVE)
    if src is None:
        raise Unavailable("no micropython-lib source: set MPY_LIB_SRC (archive or folder)")
    folder = _extract(src, DEPS / "src") if src.is_file() else src
    if not (folder / UMQTT_IN_MPYLIB).is_file():
        raise Unavailable("%s has no %s" % (folder, UMQTT_IN_MPYLIB))
    return folder


GETTERS = {"emitter": emitter, "toxiproxy": toxiproxy, "umqtt18": umqtt18}


def main(argv):
    names = list(GETTERS) if argv[1:] == ["all"] else argv[1:]
    if not names or any(n not in GETTERS for n in names):
        print(__doc__, file=sys.stderr)
        return 2
    for name in names:
        try:
            print(GETTERS[name]())
        except Unavailable as e:
            print("upstream: %s unavailable: %s" % (name, e), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
