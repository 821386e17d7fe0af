"""Pathwise delta and vega of a European call by Monte Carlo: one path per thread.

Run: python examples/option_greeks.py            (cpu batch over all cores)
     NUMBA_ENABLE_CUDASIM=1 python examples/option_greeks.py cuda   (the cuda path, simulated)
"""

import math
import sys

import numpy as np

import adjoint


def discounted_payoff(z, s0, sigma, rate, maturity, strike):
    """One geometric Brownian motion path driven by the normals z; a call's discounted payoff."""
    steps = z.shape[0]
    dt = maturity / steps
    drift = (rate - 0.5 * sigma * sigma) * dt
    vol = sigma * math.sqrt(dt)
    s = s0
    for k in range(steps):
        s = s * math.exp(drift + vol * z[k])
    return math.exp(-rate * maturity) * max(s - strike, 0.0)


def black_scholes_greeks(s0, sigma, rate, maturity, strike):
    d1 = (math.log(s0 / strike) + (rate + 0.5 * sigma ** 2) * maturity) / (sigma * math.sqrt(maturity))
    delta = 0.5 * (1.0 + math.erf(d1 / math.sqrt(2.0)))
    vega = s0 * math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi) * math.sqrt(maturity)
    return delta, vega


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    paths, steps = (20_000, 252) if target != "cuda" else (2_000, 50)
    z = np.random.default_rng(0).standard_normal((paths, steps))
    greeks = adjoint.grad(discounted_payoff, wrt=("s0", "sigma"), target=target)
    delta, vega = greeks.batch(z, 100.0, 0.2, 0.03, 1.0, 100.0)
    print(f"{target}: delta {delta.mean():.4f}  vega {vega.mean():.3f}   ({paths} paths x {steps} steps)")
    print("Black-Scholes: delta {:.4f}  vega {:.3f}".format(*black_scholes_greeks(100.0, 0.2, 0.03, 1.0, 100.0)))
