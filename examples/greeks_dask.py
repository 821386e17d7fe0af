"""Pathwise delta and vega of a European call by Monte Carlo on dask: the paths' normals are
drawn chunk by chunk on the workers, each chunk's gradients run adjoint's compiled batch, and
the means and standard errors are dask reductions: no process holds all the paths.

Run: python examples/greeks_dask.py                      (10^7 paths, dask's threads)
     python examples/greeks_dask.py 1000000 --workers 2  (a 2-process LocalCluster)
Needs dask: pip install "adjoint[dask]".
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)           # for examples.option_greeks, here and on the workers

import dask  # noqa: E402
import dask.array as da  # noqa: E402

import adjoint  # noqa: E402
from examples.option_greeks import black_scholes_greeks, discounted_payoff  # noqa: E402

MARKET = (100.0, 0.2, 0.03, 1.0, 100.0)          # s0, sigma, rate, maturity, strike


def _add_root(root):
    if root not in sys.path:
        sys.path.insert(0, root)


def greeks(paths, steps, chunk, seed=0):
    """Lazy dask arrays: the estimates of delta and vega and their standard errors."""
    z = da.random.default_rng(seed).standard_normal((paths, steps), chunks=(chunk, steps))
    pathwise = adjoint.grad(discounted_payoff, wrt=("s0", "sigma"), target="cpu")
    delta, vega = pathwise.batch(z, *MARKET)       # one row per path, chunked like z
    return delta.mean(), delta.std() / paths ** 0.5, vega.mean(), vega.std() / paths ** 0.5


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", type=int, nargs="?", default=10_000_000)
    parser.add_argument("--steps", type=int, default=4, help="time steps per path (default 4)")
    parser.add_argument("--chunk", type=int, default=1_000_000,
                        help="paths per chunk (default 1000000: a chunk's work well above dask's cost per task)")
    parser.add_argument("--workers", type=int, default=0, help="a LocalCluster of this many processes")
    options = parser.parse_args()
    estimates = greeks(options.paths, options.steps, options.chunk)
    start = time.perf_counter()
    if options.workers:
        from dask.distributed import Client, LocalCluster, progress
        with LocalCluster(n_workers=options.workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            client.run(_add_root, ROOT)
            futures = client.compute(list(estimates))
            progress(futures)
            print()
            results = client.gather(futures)
    else:
        from dask.diagnostics import ProgressBar
        with ProgressBar():
            results = dask.compute(*estimates)
    seconds = time.perf_counter() - start
    delta, delta_error, vega, vega_error = (float(r) for r in results)
    exact = black_scholes_greeks(*MARKET)
    print(f"{options.paths} paths x {options.steps} steps in {len(range(0, options.paths, options.chunk))} "
          f"chunks: {seconds:.1f} s")
    print(f"delta  {delta:.4f} +- {2 * delta_error:.4f}   Black-Scholes {exact[0]:.4f}")
    print(f"vega   {vega:.3f} +- {2 * vega_error:.3f}   Black-Scholes {exact[1]:.3f}")


if __name__ == "__main__":
    main()
