"""Batched gradients over dask arrays (api/distributed.py): the same numbers as the in-process
batch, chunked like the batched argument, reductions over the points, shared arguments held
once in the graph (scattered where a Client is current), the numba threads of a chunk's task,
the cuda batch as the chunk's kernel, and a 2-process LocalCluster (one per module: it takes
seconds to start) on which each worker compiles the batch driver at most once."""

import os
import pickle
import sys

import numpy as np
import pytest

import adjoint
from examples.option_greeks import discounted_payoff
from examples.seed_f4 import f4
from tests.conftest import needs_cuda
from tests.oracles import finite_difference

da = pytest.importorskip("dask.array")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny(x, a):
    """A small function, quick to compile on each worker."""
    return a * x[0] * x[1] + x[1] * x[1]


def weighted(x, w):
    """A point `x` and an array `w` shared by every point."""
    return x[0] * x[1] * np.sum(w * w)


def _points(n=50, d=4, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, (n, d))


def test_batch_over_dask_equals_in_process_and_keeps_chunks():
    g = adjoint.grad(f4, target="python")
    X = _points()
    G = g.batch(da.from_array(X, chunks=(16, 4)))
    assert isinstance(G, da.Array) and G.chunks == ((16, 16, 16, 2), (4,))
    np.testing.assert_allclose(G.compute(), g.batch(X), rtol=1e-12)
    np.testing.assert_allclose(G.compute()[7], finite_difference(f4, (X[7],), 0), rtol=1e-5, atol=1e-7)


def test_shared_arguments_are_one_key_and_tuple_wrt():
    greeks = adjoint.grad(discounted_payoff, wrt=("s0", "sigma"), target="python")
    Z = np.random.default_rng(1).standard_normal((40, 5))
    args = (100.0, 0.2, 0.03, 1.0, 100.0)
    delta, vega = greeks.batch(da.from_array(Z, chunks=(10, 5)), *args)
    want = greeks.batch(Z, *args)
    np.testing.assert_allclose(delta.compute(), want[0], rtol=1e-12)
    np.testing.assert_allclose(vega.compute(), want[1], rtol=1e-12)
    assert delta.chunks == ((10, 10, 10, 10),)
    shared = [key for key in dict(delta.dask) if isinstance(key, str) and key.startswith("adjoint-shared")]
    assert len(shared) == 1                    # the shared arguments: one key every chunk reads


def test_reduce_mean_and_sum():
    g = adjoint.grad(f4, target="python")
    X = _points(n=37)
    rows = g.batch(X)
    mean = g.batch(da.from_array(X, chunks=(10, 4)), reduce="mean")
    assert isinstance(mean, da.Array) and mean.shape == (4,)
    np.testing.assert_allclose(mean.compute(), rows.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(g.batch(da.from_array(X, chunks=(10, 4)), reduce="sum").compute(),
                               rows.sum(axis=0), rtol=1e-12)
    many = g.batch(da.from_array(X, chunks=(2, 4)), reduce="mean")       # 19 chunks: sums of 8, 8 and 3, then of those
    assert sum(1 for key in dict(many.dask) if "adjoint-sum" in str(key)) == 3 + 1
    np.testing.assert_allclose(many.compute(), rows.mean(axis=0), rtol=1e-12)
    greeks = adjoint.grad(discounted_payoff, wrt=("s0", "sigma"), target="python")
    Z = np.random.default_rng(2).standard_normal((23, 3))
    delta, vega = greeks.batch(da.from_array(Z, chunks=(4, 3)), 100.0, 0.2, 0.03, 1.0, 100.0, reduce="sum")
    assert delta.shape == vega.shape == ()
    want = greeks.batch(Z, 100.0, 0.2, 0.03, 1.0, 100.0)
    np.testing.assert_allclose([delta.compute(), vega.compute()], [want[0].sum(), want[1].sum()], rtol=1e-12)
    np.testing.assert_allclose(g.batch(X, reduce="mean"), rows.mean(axis=0), rtol=1e-12)   # in-process too
    with pytest.raises(adjoint.AdjointError, match="reduce='max'"):
        g.batch(X, reduce="max")


def test_jvp_batch_over_dask():
    j = adjoint.jvp(f4, target="python")
    X = _points(n=30)
    values, tangents = j.batch(da.from_array(X, chunks=(8, 4)), np.ones(4))
    want = j.batch(X, np.ones(4))
    np.testing.assert_allclose(values.compute(), want[0], rtol=1e-12)
    np.testing.assert_allclose(tangents.compute(), want[1], rtol=1e-12)
    V = _points(n=30, seed=3)                  # one direction per point, chunked differently
    values, tangents = j.batch(da.from_array(X, chunks=(8, 4)), da.from_array(V, chunks=(7, 4)))
    np.testing.assert_allclose(tangents.compute(), j.batch(X, V)[1], rtol=1e-12)
    assert tangents.chunks == ((8, 8, 8, 6),)
    values, tangents = j.batch(da.from_array(X, chunks=(8, 4)), da.from_array(V, chunks=(7, 4)), reduce="mean")
    assert values.shape == tangents.shape == ()
    np.testing.assert_allclose([values.compute(), tangents.compute()],
                               [want[0].mean(), j.batch(X, V)[1].mean()], rtol=1e-12)


def _graph_bytes(array):
    return len(pickle.dumps(dict(array.__dask_graph__())))


def test_shared_array_is_in_the_graph_once():
    g = adjoint.grad(weighted, target="python")
    w = np.linspace(0.0, 1.0, 50_000)              # 400 kB, shared by 12 chunks
    X = _points(n=60, d=2)
    G = g.batch(da.from_array(X, chunks=(5, 2)), w)
    assert len(G.chunks[0]) == 12
    assert w.nbytes < _graph_bytes(G) < 1.5 * w.nbytes
    holding = [key for key, task in dict(G.__dask_graph__()).items() if len(pickle.dumps(task)) > w.nbytes]
    assert len(holding) == 1 and holding[0].startswith("adjoint-shared-")     # one key, not one per task
    np.testing.assert_allclose(G.compute(), g.batch(X, w), rtol=1e-12)
    np.testing.assert_allclose(G.compute()[3], finite_difference(weighted, (X[3], w), 0), rtol=1e-5)


def test_numba_threads_of_a_chunk_task():
    import dask

    from adjoint.api.distributed import task_threads
    assert dask.delayed(task_threads)().compute(scheduler="sync") == 0       # numba's own setting
    assert dask.delayed(task_threads)().compute(scheduler="threads") == 1    # one per pool thread


@pytest.mark.slow
@needs_cuda
def test_cuda_batch_is_the_chunk_kernel():
    import dask
    g = adjoint.grad(f4, target="cuda")
    X = _points(n=12)
    G = g.batch(da.from_array(X, chunks=(5, 4)))
    assert G.chunks == ((5, 5, 2), (4,))
    got = G.compute(scheduler="sync")
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, adjoint.grad(f4, target="python").batch(X), rtol=1e-12)
    mean = g.batch(da.from_array(X, chunks=(5, 4)), reduce="mean")
    np.testing.assert_allclose(dask.compute(mean, scheduler="sync")[0], got.mean(axis=0), rtol=1e-12)
    values, rows = dask.compute(*adjoint.value_and_grad(f4, target="cuda").batch(da.from_array(X, chunks=(5, 4))),
                                scheduler="sync")
    np.testing.assert_allclose(values, [f4(x) for x in X], rtol=1e-13)
    np.testing.assert_allclose(rows, got, rtol=1e-12)


def test_value_and_grad_batch_over_dask():
    """A tuple of dask arrays chunked like the points: the values (against f in a loop), then
    the gradient rows (as grad's batch); the means and sums as a tree of per-chunk sums."""
    vg = adjoint.value_and_grad(f4, target="python")
    X = _points(n=37)
    values, G = vg.batch(da.from_array(X, chunks=(10, 4)))
    assert isinstance(values, da.Array) and isinstance(G, da.Array)
    assert values.chunks == ((10, 10, 10, 7),) and G.chunks == ((10, 10, 10, 7), (4,))
    np.testing.assert_allclose(values.compute(), [f4(x) for x in X], rtol=1e-13)
    np.testing.assert_allclose(G.compute(), adjoint.grad(f4, target="python").batch(X), rtol=1e-13)
    np.testing.assert_allclose(G.compute()[5], finite_difference(f4, (X[5],), 0), rtol=1e-6)
    mean_value, mean_gradient = vg.batch(da.from_array(X, chunks=(2, 4)), reduce="mean")   # 19 chunks
    assert mean_value.shape == () and mean_gradient.shape == (4,)
    np.testing.assert_allclose(mean_value.compute(), np.mean([f4(x) for x in X]), rtol=1e-13)
    np.testing.assert_allclose(mean_gradient.compute(), G.compute().mean(axis=0), rtol=1e-13)
    greeks = adjoint.value_and_grad(discounted_payoff, wrt=("s0", "sigma"), target="python")
    Z = np.random.default_rng(4).standard_normal((23, 3))
    args = (100.0, 0.2, 0.03, 1.0, 100.0)
    price, (delta, vega) = greeks.batch(da.from_array(Z, chunks=(4, 3)), *args, reduce="sum")
    want_price, (want_delta, want_vega) = greeks.batch(Z, *args)
    np.testing.assert_allclose([price.compute(), delta.compute(), vega.compute()],
                               [sum(discounted_payoff(z, *args) for z in Z), want_delta.sum(), want_vega.sum()],
                               rtol=1e-12)
    with pytest.raises(adjoint.AdjointArgumentError, match="out= with a dask array"):
        vg.batch(da.from_array(X, chunks=(10, 4)), out=(np.empty(37), np.empty((37, 4))))


def _compiled():
    from adjoint.api import distributed
    return distributed.compiled


def _add_path(root):
    if root not in sys.path:
        sys.path.insert(0, root)


@pytest.fixture(scope="module")
def client():
    """A 2-process LocalCluster, one thread each (as CI runs it), shared by this module's tests."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        client.run(_add_path, ROOT)            # the workers import this module for its functions
        yield client


def test_local_cluster_compiles_once_per_worker(client):
    g = adjoint.grad(tiny, target="cpu")
    X = _points(n=400, d=2)
    before = client.run(_compiled)
    D = da.from_array(X, chunks=(25, 2))
    got, mean = client.compute([g.batch(D, 3.0), g.batch(D, 3.0, reduce="mean")], sync=True)
    counts = {worker: n - before[worker] for worker, n in client.run(_compiled).items()}
    want = adjoint.grad(tiny, target="python").batch(X, 3.0)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(mean, want.mean(axis=0), rtol=1e-12)
    assert len(counts) == 2 and all(c <= 1 for c in counts.values()), counts
    assert sum(counts.values()) >= 1


def test_shared_array_is_scattered_with_a_client(client):
    g = adjoint.grad(weighted, target="python")
    w = np.linspace(0.0, 1.0, 50_000)
    X = _points(n=60, d=2)
    G = g.batch(da.from_array(X, chunks=(5, 2)), w)
    assert _graph_bytes(G) < w.nbytes / 4          # the graph names the scattered key only
    small = g.batch(da.from_array(X, chunks=(5, 2)), w[:100])       # under SCATTER_BYTES: in the graph
    assert any(str(key).startswith("adjoint-shared-") for key in dict(small.__dask_graph__()))
    np.testing.assert_allclose(client.compute(G, sync=True), g.batch(X, w), rtol=1e-12)


def test_value_and_grad_on_the_cluster_shares_its_arguments_once(client):
    vg = adjoint.value_and_grad(weighted, target="python")
    w = np.linspace(0.0, 1.0, 20_000)                          # scattered: over SCATTER_BYTES
    X = _points(n=60, d=2)
    D = da.from_array(X, chunks=(15, 2))
    values, G = vg.batch(D, w)
    assert _graph_bytes(G) < w.nbytes / 4
    (got_values, got_G), (mean_value, mean_G) = client.compute([(values, G), vg.batch(D, w, reduce="mean")],
                                                               sync=True)
    want = [weighted(x, w) for x in X]
    np.testing.assert_allclose(got_values, want, rtol=1e-13)
    np.testing.assert_allclose(got_G, adjoint.grad(weighted, target="python").batch(X, w), rtol=1e-13)
    np.testing.assert_allclose(got_G[3], finite_difference(weighted, (X[3], w), 0), rtol=1e-5)
    np.testing.assert_allclose(mean_value, np.mean(want), rtol=1e-13)
    np.testing.assert_allclose(mean_G, got_G.mean(axis=0), rtol=1e-13)


def test_chunk_tasks_on_a_worker_take_one_numba_thread(client):
    from adjoint.api.distributed import task_threads
    assert client.submit(task_threads, pure=False).result() == 1       # dask's nanny: OMP_NUM_THREADS=1


def test_import_adjoint_does_not_import_dask():
    import subprocess
    code = "import sys, adjoint; print(any(m.split('.')[0] == 'dask' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT}, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_greeks_example_runs():
    import subprocess
    done = subprocess.run([sys.executable, "examples/greeks_dask.py", "200000", "--chunk", "50000"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    delta = next(line for line in done.stdout.splitlines() if line.startswith("delta")).split()
    estimate, error, exact = float(delta[1]), float(delta[3]), float(delta[-1])
    assert abs(estimate - exact) < 2 * error + 1e-3     # the pathwise estimate near Black-Scholes
