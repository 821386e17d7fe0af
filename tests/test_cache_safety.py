"""grad(f, cache=True) never returns a stale or wrong gradient: the key covers everything the
emitted module depends on, the folder is private, entries are written atomically, and a
damaged entry is regenerated. Expected values are derived by hand."""

import json
import math
import os
import re
import stat
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import adjoint
from adjoint.api import cache as disk
from adjoint.api import compiling, gradient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def transformations(monkeypatch):
    """Counts the pipeline runs of grad(..., cache=True): a cache hit runs none."""
    calls = []
    original = gradient.differentiate
    for module in (gradient, compiling):        # the object's own code, and each variant's
        monkeypatch.setattr(module, "differentiate", lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def make_scaled_square(c):
    def scaled_square(x):
        return c * x * x
    return scaled_square


def test_closures_with_different_cells_get_their_own_gradient(cache_dir):
    """d(c x^2)/dx at 1 is 2c: the closure cell's value is part of the key."""
    assert adjoint.grad(make_scaled_square(3.0), target="python", cache=True)(1.0) == 6.0
    assert adjoint.grad(make_scaled_square(5.0), target="python", cache=True)(1.0) == 10.0
    assert adjoint.grad(make_scaled_square(3.0), target="python", cache=True)(2.0) == 12.0


VERBOSE = False


class Recorder:
    """An object with no value a later process could compare."""
    def __float__(self):
        return 2.0


RECORDER = Recorder()


def quiet_cube(x):
    if VERBOSE:
        x = x * float(RECORDER)
    return x * x * x


def test_a_global_with_no_stable_value_is_named_once_and_not_cached(cache_dir, transformations):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = adjoint.grad(quiet_cube, target="python", cache=True)(2.0)
        second = adjoint.grad(quiet_cube, target="python", cache=True)(2.0)
    assert first == second == 12.0                                    # 3 x^2
    messages = [str(w.message) for w in caught if "RECORDER" in str(w.message)]
    assert len(messages) == 1 and "not cached" in messages[0]
    assert len(transformations) == 2
    assert list(cache_dir.glob("*.json")) == []


# --- later processes: a changed module constant, environment variable or rule -----------

CONSTANTS = """
import os
SCALE = float(os.environ["ADJOINT_TEST_SCALE"])
POWER = {power}
"""

PRIMITIVES = """
import math
import adjoint

def wave(x):
    return math.sin(x)

@adjoint.rule(wave)
def wave_partial(x):
    return {partial}
"""

MODEL = """
import constants_for_cache
from constants_for_cache import POWER
from primitives_for_cache import wave as h


def wave(x):                 # unrelated to the callee h, which is primitives_for_cache.wave
    return 50.0 * x


def f(x):
    return constants_for_cache.SCALE * x ** POWER + h(x)
"""

RUN = """
import json, sys
sys.path[:0] = [{root!r}, {folder!r}]
import adjoint
from adjoint.api import compiling, gradient
calls = []
original = gradient.differentiate
gradient.differentiate = compiling.differentiate = lambda *a, **k: calls.append(1) or original(*a, **k)
import model_for_cache
value, gradient = adjoint.value_and_grad(model_for_cache.f, cache=True)(0.5)
print(json.dumps({{"value": value, "gradient": gradient, "transformed": len(calls)}}))
"""


def _run(script, env):
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_later_process_sees_changed_constants_environment_and_rules(tmp_path):
    """f(x) = S x^P + wave(x), with wave's registered partial read from another file. Each run
    changes one thing the gradient depends on (never f's own file); at x = 0.5 the value is
    S 0.5^P + sin 0.5 and the gradient S P 0.5^(P-1) + partial(0.5), derived by hand."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "model_for_cache.py").write_text(MODEL)
    script = tmp_path / "run.py"
    script.write_text(RUN.format(root=ROOT, folder=str(modules)))
    x = 0.5
    steps = [  # (S, P, partial source, partial at x, expected to be read from the cache)
        (3.0, 2, "2.0 * math.cos(x)", 2.0 * math.cos(x), False),
        (5.0, 2, "2.0 * math.cos(x)", 2.0 * math.cos(x), False),     # environment variable
        (5.0, 3, "2.0 * math.cos(x)", 2.0 * math.cos(x), False),     # another module's constant
        (5.0, 3, "math.cos(x)", math.cos(x), False),                 # the rule, fixed
        (5.0, 3, "math.cos(x)", math.cos(x), True),                  # nothing changed: a hit
    ]
    for scale, power, partial, partial_value, hit in steps:
        (modules / "constants_for_cache.py").write_text(CONSTANTS.format(power=power))
        (modules / "primitives_for_cache.py").write_text(PRIMITIVES.format(partial=partial))
        env = dict(os.environ, ADJOINT_CACHE_DIR=str(tmp_path / "cache"),
                   ADJOINT_TEST_SCALE=str(scale), PYTHONDONTWRITEBYTECODE="1")
        got = _run(script, env)
        assert got["value"] == pytest.approx(scale * x ** power + math.sin(x), rel=1e-12)
        assert got["gradient"] == pytest.approx(scale * power * x ** (power - 1) + partial_value,
                                                rel=1e-12)
        assert got["transformed"] == (0 if hit else 1), (scale, power, partial)


# --- damaged entries --------------------------------------------------------------------

DAMAGES = ("truncated_py", "empty_py", "json_missing_key", "json_garbage", "garbage_index",
           "garbage_data", "truncated_primal")

FAMILY = """
import math

{functions}
"""

FAMILY_RUN = """
import json, sys
sys.path[:0] = [{root!r}, {folder!r}]
import adjoint
import family_for_cache as family
out = {{}}
for k, name in enumerate({names!r}):
    fn = getattr(family, name)
    g = adjoint.grad(fn, cache=True)
    out[name] = [g(0.5), float(g.primal(0.5))]
print(json.dumps(out))
"""


def _damage(folder, key, how):
    path = folder / f"{key}.py"
    if how == "truncated_py":
        text = path.read_text()
        path.write_text(text[:len(text) // 2])
    elif how == "empty_py":
        path.write_text("")
    elif how == "truncated_primal":
        primal = folder / f"{key}_primal.py"
        primal.write_text(primal.read_text()[:-20])
    elif how == "json_missing_key":
        meta = folder / f"{key}.json"
        record = json.loads(meta.read_text())
        del record["origins"]
        meta.write_text(json.dumps(record))
    elif how == "json_garbage":
        (folder / f"{key}.json").write_text("{not json")
    else:
        suffix = "nbi" if how == "garbage_index" else "nbc"
        files = list((folder / "__pycache__").glob(f"{key}.*.{suffix}"))
        assert files, f"no numba {suffix} file for {key}"
        for damaged in files:
            damaged.write_bytes(b"\x80\x04garbage, not a pickle" * 3)


@pytest.mark.slow
def test_a_damaged_entry_is_regenerated_in_a_later_process(tmp_path):
    """One function per kind of damage (each its own entry); the second process finds every
    entry damaged and still returns d(k x^2 + sin x)/dx = 2 k x + cos x, and k x^2 + sin x."""
    modules = tmp_path / "modules"
    modules.mkdir()
    names = [f"damaged_{how}" for how in DAMAGES]
    functions = "\n\n".join(f"def {name}(x):\n    return {k + 1}.0 * x * x + math.sin(x)\n"
                            for k, name in enumerate(names))
    (modules / "family_for_cache.py").write_text(FAMILY.format(functions=functions))
    script = tmp_path / "run.py"
    script.write_text(FAMILY_RUN.format(root=ROOT, folder=str(modules), names=names))
    folder = tmp_path / "cache"
    env = dict(os.environ, ADJOINT_CACHE_DIR=str(folder), PYTHONDONTWRITEBYTECODE="1")
    first = _run(script, env)
    for how, name in zip(DAMAGES, names):
        (key,) = {p.stem for p in folder.glob(f"{name}_*.json")}
        _damage(folder, key, how)
    second = _run(script, env)
    for k, name in enumerate(names):
        for run in (first, second):
            gradient, value = run[name]
            assert gradient == pytest.approx(2 * (k + 1) * 0.5 + math.cos(0.5), rel=1e-12), name
            assert value == pytest.approx((k + 1) * 0.25 + math.sin(0.5), rel=1e-12), name


# --- the folder --------------------------------------------------------------------------

def cached_square(x):
    return x * x


def test_the_folder_is_private_and_so_are_its_files(cache_dir):
    assert adjoint.grad(cached_square, target="python", cache=True)(3.0) == 6.0
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    files = [p for p in cache_dir.iterdir() if p.is_file()]
    assert {p.suffix for p in files} == {".py", ".json"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_group_writable_folder_is_refused(cache_dir, transformations):
    cache_dir.mkdir(mode=0o700)
    os.chmod(cache_dir, 0o770)
    with pytest.warns(UserWarning, match="writable by others"):
        assert adjoint.grad(cached_square, target="python", cache=True)(3.0) == 6.0
    assert list(cache_dir.iterdir()) == []


def test_a_folder_another_user_owns_is_refused(cache_dir, transformations, monkeypatch):
    cache_dir.mkdir(mode=0o700)
    monkeypatch.setattr(disk, "_user_id", lambda: cache_dir.stat().st_uid + 1)
    with pytest.warns(UserWarning, match="another user"):
        assert adjoint.grad(cached_square, target="python", cache=True)(3.0) == 6.0
    assert list(cache_dir.iterdir()) == []


def façade_square(x):       # noqa: PLC2401  (a name that is not ASCII)
    return x * x * x * x


def test_cache_file_names_are_plain_whatever_the_function_and_folder(tmp_path, monkeypatch,
                                                                    transformations):
    folder = tmp_path / "a 'quoted' \"cache\" dir é"
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(folder))
    for _ in range(2):
        assert adjoint.grad(façade_square, cache=True)(0.5) == pytest.approx(0.5)     # 4 x^3
    assert len(transformations) == 1
    ours = [p.name for p in folder.iterdir() if p.is_file()]
    assert len(ours) == 3 and all(re.fullmatch(r"[A-Za-z0-9_.]+", n) for n in ours), ours
    keys = {n.split(".")[0] for n in ours}
    numba_files = [p.name for p in (folder / "__pycache__").iterdir()]      # numba's own names
    assert numba_files and all(n.split(".")[0] in keys for n in numba_files), numba_files


# --- many threads, one new entry ---------------------------------------------------------

def cached_quartic(x):
    return x * x * x * x + 2.0 * x


@pytest.mark.parametrize("trial", range(3))
def test_eight_threads_creating_one_new_entry(tmp_path, monkeypatch, trial):
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(tmp_path / f"cache_{trial}"))
    start = threading.Barrier(8)
    results, errors = [], []

    def work():
        start.wait()
        try:
            results.append(adjoint.grad(cached_quartic, cache=True)(1.5))
        except Exception as exc:             # noqa: BLE001  (reported below)
            errors.append(repr(exc))
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [pytest.approx(4 * 1.5 ** 3 + 2.0)] * 8
    leftovers = [p.name for p in (tmp_path / f"cache_{trial}").iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


# --- values the compiled code holds ------------------------------------------------------

WEIGHTS = np.array([1.0, 2.0])


def weighted_mean_square(x):
    return np.sum(WEIGHTS * x * x) / x.shape[0]


@pytest.mark.slow
def test_a_global_array_is_keyed_by_its_values(cache_dir):
    """numba compiles a global array into the machine code as a constant: the gradient
    2 W x / n must follow W's values, not the first entry's."""
    x = np.array([0.5, 3.0])
    np.testing.assert_allclose(adjoint.grad(weighted_mean_square, cache=True)(x), [0.5, 6.0])
    WEIGHTS[:] = [3.0, -1.0]
    try:
        np.testing.assert_allclose(adjoint.grad(weighted_mean_square, cache=True)(x), [1.5, -3.0])
    finally:
        WEIGHTS[:] = [1.0, 2.0]


HELPER = """
def bump(x):
    return {factor} * x
"""


def test_a_helper_in_another_file_is_keyed_by_its_source(tmp_path, cache_dir):
    """f(x) = bump(x) * x with bump(x) = k x: the gradient 2 k x follows the helper's file."""
    (tmp_path / "helper_for_cache.py").write_text(HELPER.format(factor="2.0"))
    (tmp_path / "user_of_helper.py").write_text(
        "from helper_for_cache import bump\n\n\ndef f(x):\n    return bump(x) * x\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib

        import helper_for_cache
        import user_of_helper
        assert adjoint.grad(user_of_helper.f, target="python", cache=True)(3.0) == 12.0
        (tmp_path / "helper_for_cache.py").write_text(HELPER.format(factor="5.0"))
        importlib.reload(helper_for_cache)
        importlib.reload(user_of_helper)
        assert adjoint.grad(user_of_helper.f, target="python", cache=True)(3.0) == 30.0
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("helper_for_cache", None)
        sys.modules.pop("user_of_helper", None)


# --- on by default -----------------------------------------------------------------------

DEFAULT_MODEL = """
import numpy as np


def f(x):
    return x[0] * x[0] + x[1] * x[2] + np.sin(x[2])


def h(x):
    return np.sum(x * x + np.sin(x))
"""

DEFAULT_RUN = """
import json, os, sys
sys.path[:0] = [{root!r}, {folder!r}]
import numpy as np
from numba.core import event
import adjoint
listener = event.RecordingListener()                 # numba's compilations, cache misses only
event.register("numba:compile", listener)
import model_default
x = np.array([0.5, 1.5, -2.0])
g = adjoint.grad(model_default.f)
out = {{"status": g.cache_status, "gradient": g(x).tolist(),
        "batch": g.batch(np.stack([x, 2.0 * x])).tolist(),
        "matrix": adjoint.grad(model_default.h)(np.array([[0.5, 1.0], [-1.0, 2.0]])).tolist(),
        "jvp": list(adjoint.jvp(model_default.f)(x, np.array([1.0, 0.0, 2.0]))),
        "compiled": len([e for e in listener.buffer if e[1].is_start]),
        "hits": adjoint.api.cache.hits(g.adjoint)}}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_a_second_process_loads_every_compiled_piece_without_compiling(tmp_path):
    """grad, its batch, jvp and a specialization to a matrix argument, with no cache argument:
    the first process compiles them, the second reads all of them from the cache and numba
    compiles nothing (numba's compile event, which a cache hit does not raise). By hand: f(x) = x0^2 + x1 x2 + sin x2 has the gradient
    (2 x0, x2, x1 + cos x2); h(x) = sum(x^2 + sin x), 2 x + cos x."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "model_default.py").write_text(DEFAULT_MODEL)
    script = tmp_path / "run.py"
    script.write_text(DEFAULT_RUN.format(root=ROOT, folder=str(modules)))
    env = dict(os.environ, ADJOINT_CACHE_DIR=str(tmp_path / "cache"), PYTHONDONTWRITEBYTECODE="1")
    env.pop("ADJOINT_CACHE", None)
    first, second = _run(script, env), _run(script, env)
    x = np.array([0.5, 1.5, -2.0])
    m = np.array([[0.5, 1.0], [-1.0, 2.0]])

    def gradient(p):
        return [2 * p[0], p[2], p[1] + np.cos(p[2])]
    for run in (first, second):
        np.testing.assert_allclose(run["gradient"], gradient(x), rtol=1e-12)
        np.testing.assert_allclose(run["batch"], [gradient(x), gradient(2 * x)], rtol=1e-12)
        np.testing.assert_allclose(run["matrix"], 2 * m + np.cos(m), rtol=1e-12)
        value, slope = run["jvp"]
        assert value == pytest.approx(x[0] ** 2 + x[1] * x[2] + np.sin(x[2]), rel=1e-12)
        assert slope == pytest.approx(np.dot(gradient(x), [1.0, 0.0, 2.0]), rel=1e-12)
    assert first["status"] == "stored" and first["compiled"] > 0 and first["hits"] == 0
    assert second["status"] == "loaded" and second["compiled"] == 0 and second["hits"] == 1


def test_the_default_is_off_with_the_environment_variable_or_cache_false(cache_dir, monkeypatch):
    monkeypatch.setenv("ADJOINT_CACHE", "0")
    g = adjoint.grad(cached_square)
    assert g.cache_key is None and g.cache_status == "off: ADJOINT_CACHE=0"
    assert adjoint.grad(cached_square, target="python", cache=True).cache_status == "stored"
    monkeypatch.delenv("ADJOINT_CACHE")
    assert adjoint.grad(cached_square, cache=False).cache_status == "off: cache=False"
    assert adjoint.grad(cached_square, target="python").cache_status.startswith("off: the python target")
    assert adjoint.grad(cached_square).cache_status == "stored"
    assert adjoint.grad(cached_square).cache_status == "loaded"
    assert adjoint.vjp(cached_square).cache_status == "stored"
    assert adjoint.value_and_grad(cached_square, cache=False).cache_key is None


def test_the_default_falls_back_silently_where_a_function_cannot_be_cached(cache_dir, transformations):
    """No warning (the user did not ask for the cache), the reason in cache_status, no entry."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = adjoint.grad(quiet_cube)
    assert g.cache_key is None
    assert g.cache_status.startswith("off: `RECORDER`") and "RECORDER" in g.cache_status
    assert list(cache_dir.glob("*.json")) == []


def test_the_default_leaves_out_functions_not_defined_in_a_file(cache_dir):
    """A notebook cell's file name changes from session to session: its entries would pile up."""
    import linecache
    name = "<notebook cell 7>"
    source = "def cell_square(x):\n    return x * x\n"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    namespace = {}
    exec(compile(source, name, "exec"), namespace)
    g = adjoint.grad(namespace["cell_square"])
    assert g.cache_key is None and g.cache_status == f"off: it is not defined in a file ({name})"
    assert not cache_dir.exists() or list(cache_dir.glob("*.json")) == []


LARGE = np.zeros(300)                  # 2400 bytes


def reads_large(x):
    return x * LARGE[0] + x * x


def test_the_default_does_not_hash_large_arrays(cache_dir, monkeypatch):
    """Hashing a large global array for every grad() would cost more than loading saves
    (the default's budget is 32 MiB: here 2,000 bytes)."""
    monkeypatch.setattr(disk, "ARRAY_BUDGET", 2000)
    g = adjoint.grad(reads_large)
    assert g.cache_key is None and g.cache_status.startswith("off: `LARGE` is a large array (2400 bytes)")
    assert adjoint.grad(reads_large, cache=True, target="python").cache_status == "stored"
    monkeypatch.setattr(disk, "ARRAY_BUDGET", 4000)
    assert adjoint.grad(reads_large).cache_status == "stored"


def box_surface(s):
    a, b, c, d = s
    return 2.0 * (a * b * c + a * b * d + a * c * d + b * c * d)


def test_the_record_keeps_every_field_of_the_allocation_free_code():
    """A batch driver is written from these fields: one a later process lost (a new field
    left at its default) would change the driver's source, and numba would compile it again."""
    import dataclasses

    from adjoint.pipeline import differentiate
    g = differentiate(box_surface, device=True, comments=False, parallel=False)
    back = disk._device_code(disk._device_fields(g.device), g.device_source)
    for field in dataclasses.fields(g.device):
        mine, theirs = getattr(g.device, field.name), getattr(back, field.name)
        if hasattr(mine, "body"):                # read back from the printed module
            assert theirs.name == mine.name and theirs.args.args[0].id == mine.args.args[0].id
        else:
            assert theirs == mine, field.name
    assert back.whole_rows == ("s",)
