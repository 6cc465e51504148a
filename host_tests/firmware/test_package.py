"""package.json (for `mpremote mip install github:OWNER/emitter_micro`) stays complete and installs."""
import hashlib
import json
import re
import subprocess
import sys

import runtimes
from test_deploy import MPREMOTE, mpremote, pty_board  # noqa: F401  (the pty board fixture)

PACKAGE_JSON = runtimes.REPO / "package.json"
MANIFEST = runtimes.REPO / "firmware_manifest.py"


def load():
    return json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))


def check_package(pkg, repo=runtimes.REPO):
    """Problems with a package.json dict (empty when fine)."""
    problems = []
    if set(pkg) - {"urls", "deps", "version", "hashes"}:
        problems.append("unknown keys %s" % sorted(set(pkg) - {"urls", "deps", "version", "hashes"}))
    urls = pkg.get("urls", [])
    targets = [t for t, _u in urls]
    wanted = sorted("emitter_micro/" + p.name for p in (repo / "emitter_micro").glob("*.py"))
    if sorted(targets) != wanted:
        problems.append("urls install %s, emitter_micro/ holds %s (missing %s, extra %s)"
                        % (sorted(targets), wanted, sorted(set(wanted) - set(targets)),
                           sorted(set(targets) - set(wanted))))
    if len(set(targets)) != len(targets):
        problems.append("a target is listed twice: %s" % targets)
    for target, url in urls:
        if url != target:
            problems.append("%s comes from %s, not the same path in the repo" % (target, url))
        if not (repo / url).is_file():
            problems.append("url %s: no such file in the repo" % url)
    if pkg.get("deps") != [["umqtt.simple", "latest"]]:
        problems.append("deps is %r" % pkg.get("deps"))
    if not re.fullmatch(r"\d+\.\d+\.\d+", str(pkg.get("version", ""))):
        problems.append("version %r is not X.Y.Z" % pkg.get("version"))
    return problems


def test_package_json_lists_every_module_and_only_existing_files():
    assert check_package(load()) == []


def test_check_catches_a_forgotten_module_and_a_wrong_path():
    pkg = load()
    forgot = dict(pkg, urls=pkg["urls"][1:])
    assert any("missing ['emitter_micro/__init__.py']" in p for p in check_package(forgot))
    typo = dict(pkg, urls=[[t, u.replace("emitter_micro/", "emitter_micr/")] for t, u in pkg["urls"]])
    assert any("no such file" in p for p in check_package(typo))
    assert check_package(dict(pkg, deps=[])) != []
    assert check_package(dict(pkg, version="latest")) != []


def test_version_matches_the_firmware_manifest():
    m = re.search(r'^metadata\(.*\bversion="([^"]+)"', MANIFEST.read_text(), re.M)
    assert m, "no metadata(version=...) in firmware_manifest.py"
    assert m.group(1) == load()["version"]


def local_index(root, mpy_version):
    """A micropython-lib-shaped mip index (package/<mpy>/umqtt.simple/latest.json + file/..)
    holding umqtt.simple 1.3.4 from .deps, so mip's deps step works offline."""
    out = root / "simple.mpy"
    subprocess.run([runtimes.mpy_cross_cmd(), "-o", str(out), "-s", "umqtt/simple.py",
                    str(runtimes.UMQTT134 / "umqtt" / "simple.py")], check=True, timeout=60)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    index = root / "index"
    (index / "file" / digest[:2]).mkdir(parents=True)
    (index / "file" / digest[:2] / digest[:8]).write_bytes(out.read_bytes())  # mip's short hash
    pkg = index / "package" / str(mpy_version) / "umqtt.simple"
    pkg.mkdir(parents=True)
    (pkg / "latest.json").write_text(json.dumps(
        {"hashes": [["umqtt/simple.mpy", digest[:8]]], "version": "1.3.4"}))
    return index


def test_mip_installs_package_json_on_the_pty_board(pty_board, tmp_path):  # noqa: F811
    """`mpremote mip install <repo>/package.json` with a local index: what users get from github:."""
    index = local_index(tmp_path, 6)
    proc = subprocess.run([MPREMOTE, "connect", pty_board.port, "mip", "install",
                           "--index", str(index), str(PACKAGE_JSON)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lib = pty_board.flash / "lib"
    for target, _url in load()["urls"]:
        assert (lib / target).read_bytes() == (runtimes.REPO / target).read_bytes(), target
    assert (lib / "umqtt" / "simple.mpy").is_file(), proc.stdout
    proc = mpremote(pty_board.port, "exec",
                    "import emitter_micro, umqtt.simple\n"
                    "print(emitter_micro.__file__, umqtt.simple.__file__)\n"
                    "print(emitter_micro.Emitter({'secure': False, 'host': '127.0.0.1'}).port)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == ["/lib/emitter_micro/__init__.py", "/lib/umqtt/simple.mpy",
                                   "8080"], proc.stdout


def test_import_graph_has_no_circle():
    """tools/import_graph.py: emitter_micro's modules import one way (function-level imports included)."""
    p = subprocess.run([sys.executable, str(runtimes.REPO / "tools" / "import_graph.py")], capture_output=True, text=True)
    assert p.returncode == 0 and "no circle" in p.stdout, p.stdout + p.stderr
    assert "core" in p.stdout and "mqtt" in p.stdout, p.stdout
