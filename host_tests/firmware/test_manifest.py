"""firmware_manifest.py, evaluated with MicroPython's manifest tool (as vendored by
micropython-stubber), freezes every emitter_micro module and umqtt.simple; the
frozen-like .mpy layout it describes imports and runs under the unix port."""
import os
import shutil
import subprocess

import pytest
from stubber.tools import manifestfile as mf

import runtimes

MANIFEST = runtimes.REPO / "firmware_manifest.py"
MODULES = sorted("emitter_micro/" + p.name for p in (runtimes.REPO / "emitter_micro").glob("*.py"))


@pytest.fixture
def tree(tmp_path):
    """$(PORT_DIR) with a minimal boards/manifest.py, and a micropython-lib-shaped $(MPY_LIB_DIR)."""
    port = tmp_path / "ports" / "fake"
    (port / "modules").mkdir(parents=True)
    (port / "modules" / "_boot.py").write_text("# the port's own frozen module\n")
    (port / "boards").mkdir()
    (port / "boards" / "manifest.py").write_text('module("_boot.py", base_path="$(PORT_DIR)/modules")\n')
    lib = tmp_path / "micropython-lib"
    pkg = lib / "micropython" / "umqtt.simple"
    (pkg / "umqtt").mkdir(parents=True)
    (pkg / "manifest.py").write_text(
        'metadata(description="Lightweight MQTT client for MicroPython.", version="1.3.4")\n'
        'package("umqtt")\n')
    shutil.copy(runtimes.UMQTT134 / "umqtt" / "simple.py", pkg / "umqtt" / "simple.py")
    for name in mf.BASE_LIBRARY_NAMES:
        (lib / name).mkdir(exist_ok=True)
    return {"MPY_DIR": str(tmp_path), "MPY_LIB_DIR": str(lib), "PORT_DIR": str(port),
            "BOARD_DIR": str(port / "boards"), "root": tmp_path}


def evaluate(manifest, tree, mode):
    m = mf.ManifestFile(mode, {k: v for k, v in tree.items() if k != "root"})
    cwd = os.getcwd()
    os.chdir(str(tree["root"]))  # the manifest must not depend on the caller's folder
    try:
        m.execute(str(manifest))
    finally:
        os.chdir(cwd)
    return m


def check_files(m):
    """{target path: source} of the manifest's files; raises unless it is what firmware needs."""
    files = {f.target_path: f.full_path for f in m.files()}
    missing = [t for t in MODULES + ["umqtt/simple.py", "_boot.py"] if t not in files]
    if missing:
        raise AssertionError("manifest lacks %s; it lists %s" % (missing, sorted(files)))
    for target in MODULES:
        assert os.path.samefile(files[target], runtimes.REPO / target), (target, files[target])
    extra = [t for t in files if t.startswith("emitter_micro/") and t not in MODULES]
    assert not extra, extra
    return files


@pytest.mark.parametrize("mode", [mf.MODE_FREEZE, mf.MODE_COMPILE], ids=["freeze", "compile"])
def test_manifest_lists_emitter_micro_and_umqtt(tree, mode):
    m = evaluate(MANIFEST, tree, mode)
    files = check_files(m)
    kinds = {f.target_path: f.kind for f in m.files()}
    want = mf.KIND_FREEZE_AS_MPY if mode == mf.MODE_FREEZE else mf.KIND_COMPILE_AS_MPY
    assert {kinds[t] for t in MODULES + ["umqtt/simple.py"]} == {want}
    assert files["umqtt/simple.py"].startswith(tree["MPY_LIB_DIR"])
    assert m.metadata().version


def test_manifest_found_from_another_folder_as_frozen_manifest(tree, tmp_path):
    """FROZEN_MANIFEST=/abs/path/firmware_manifest.py: emitter_micro is found beside the manifest."""
    elsewhere = tmp_path / "build-dir"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(str(elsewhere))
    try:
        m = mf.ManifestFile(mf.MODE_FREEZE, {k: v for k, v in tree.items() if k != "root"})
        m.execute(str(MANIFEST))
    finally:
        os.chdir(cwd)
    check_files(m)


def test_frozen_layout_imports_from_mpy(tree, tmp_path, micropython):
    files = check_files(evaluate(MANIFEST, tree, mf.MODE_FREEZE))
    out = tmp_path / "frozen"
    for target, source in files.items():
        mpy = out / (target[:-3] + ".mpy")
        mpy.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([runtimes.mpy_cross_cmd(), "-o", str(mpy), "-s", target, source],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and mpy.is_file(), proc.stdout + proc.stderr
    assert sorted(p.name for p in (out / "emitter_micro").iterdir()) == \
        sorted(t.split("/")[1][:-3] + ".mpy" for t in MODULES)
    empty = tmp_path / "cwd"
    empty.mkdir()
    code = ("import emitter_micro, umqtt.simple\n"
            "e = emitter_micro.Emitter({'secure': False, 'host': '127.0.0.1'})\n"
            "assert e.port == 8080, e.port\n"
            "print(emitter_micro.__file__)\nprint(umqtt.simple.__file__)\nprint('SMOKE OK')\n")
    proc = subprocess.run([micropython, "-c", code], cwd=str(empty), capture_output=True,
                          text=True, timeout=60,
                          env=dict(os.environ, MICROPYPATH=".frozen:%s" % out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["%s/emitter_micro/__init__.mpy" % out,
                                   "%s/umqtt/simple.mpy" % out, "SMOKE OK"], proc.stdout


@pytest.mark.parametrize("breakage", [
    ('package("emitter_micro", base_path="..")', 'package("emitter_micr", base_path="..")'),
    ('require("umqtt.simple")', 'require("umqtt.simpel")'),
    ('include("$(PORT_DIR)/boards/manifest.py")', 'include("$(PORT_DIR)/board/manifest.py")'),
], ids=["package-typo", "require-typo", "include-typo"])
def test_broken_manifest_fails(tree, tmp_path, breakage):
    old, new = breakage
    copy = tmp_path / "checkout"  # a checkout-like folder: the manifests beside emitter_micro/
    (copy / "firmware").mkdir(parents=True)
    (copy / "emitter_micro").symlink_to(runtimes.REPO / "emitter_micro")
    texts = {name: (runtimes.REPO / name).read_text() for name in ("firmware_manifest.py", "firmware/emitter_micro.py")}
    holder = [name for name, text in texts.items() if old in text]
    assert holder, "the manifests no longer have %r: update this test" % old
    for name, text in texts.items():
        (copy / name).write_text(text)
    manifest = copy / "firmware_manifest.py"
    check_files(evaluate(manifest, tree, mf.MODE_FREEZE))  # control: the unbroken copy passes
    (copy / holder[0]).write_text(texts[holder[0]].replace(old, new))
    with pytest.raises((mf.ManifestFileError, AssertionError)):
        check_files(evaluate(manifest, tree, mf.MODE_FREEZE))
