"""Array functions: whole-array NumPy expressions and element loops (issue: arrays and NumPy)."""

import math

import numpy as np

# --- one operation each -------------------------------------------------------------------

def elementwise(x):
    return np.sum(np.exp(np.sin(x)) * np.tanh(x) + np.sqrt(x * x + 1.0) - np.log(1.0 + x * x)
                  + np.cos(x) * np.abs(x) + np.power(x * x + 1.0, 1.5))


def scalar_and_array(a, x):
    return np.sum(a * x + x / (1.0 + a * a) - a ** 2 * x * x)


def broadcast_pair(a, b):
    return np.sum(np.sin(a) * b + a / (1.0 + b * b))


def reductions(x):
    return np.sum(x, axis=0)[0] + np.mean(x) + np.prod(x + 3.0) * 1e-3 + np.max(x) - np.min(x, axis=1)[1]


def mean_axis(x):
    return np.sum(np.mean(x * x, axis=1) * np.sum(x, axis=0)[0])


def products(a, b, v):
    return np.dot(v, v) + np.sum(a @ b) + np.sum(a @ v) + np.sum(v @ b.T) + np.sum(np.outer(v, v) * a)


def matmul_function(a, b):
    return np.sum(np.matmul(a, b) ** 2)


def where_clip(x):
    y = np.where(x > 0.1, x * x, -x)
    return np.sum(np.clip(y, -0.5, 0.8) + np.maximum(x, 0.3) * np.minimum(x, 0.2))


def shape_ops(x):
    y = np.reshape(x, (x.shape[1], x.shape[0]))
    z = np.transpose(x) * y
    return np.sum(z.T * x) + np.sum(np.concatenate((x[0], x[1] * 2.0))) + np.sum(np.stack((x[0], x[1])) ** 2)


def norm_and_size(x):
    return np.linalg.norm(x) * x.size + x.ndim + np.sum(x ** 3) / x.shape[0]


def methods(x):
    return x.sum() + (x * x).mean() + x.T.sum(axis=1)[0] + x.reshape(x.size).max()


def slices(x):
    d = x[1:] - x[:-1]
    return np.sum(d * d) + np.sum(x[::2]) + x[-1] * x[0]


def rows_and_columns(x):
    return np.sum(x[:, 1] * x[0, :2]) + np.sum(x[1, :] ** 2)


def built_arrays(x, y):
    v = np.array([x, y, x * y])
    w = np.ones(3) * 2.0 + np.arange(3.0)
    return np.sum(v * w) + np.sum(np.zeros_like(v) + v * v)


# --- element loops and local arrays -------------------------------------------------------

def recurrence(x):
    n = x.shape[0]
    y = np.zeros(n)
    y[0] = x[0]
    for i in range(1, n):
        y[i] = y[i - 1] * 0.5 + math.sin(x[i])
    return np.sum(y * y)


def overwritten_elements(x):
    y = np.zeros(3)
    for k in range(4):
        for i in range(3):
            y[i] = y[i] * x[i] + x[(i + k) % 3]
    return np.sum(y)


def matrix_elements(a):
    b = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            b[i, j] += a[i, j] * a[j, i]
    b[0, 1] = b[0, 1] * 3.0
    return np.sum(b * a)


def array_state(x, steps):
    h = x * 0.5
    for k in range(steps):
        h = np.tanh(h * 1.5 + x)
    return np.sum(h * h)


# --- objectives -------------------------------------------------------------------------

def least_squares(A, x, y):
    r = A @ x - y
    return 0.5 * np.dot(r, r)


def mlp_loss(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    d = out - y
    return np.mean(d * d)


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def gmm_main_term(alphas, means, icf, x, k, d):
    """log alpha_k + log det Q_k - |Q_k (x_i - mu_k)|^2 / 2 for every point x_i, with Q_k
    lower triangular: exp(icf[k, :d]) on its diagonal, icf[k, d:] below, column by column."""
    Q = np.zeros((d, d))
    idx = d
    for j in range(d):
        Q[j, j] = math.exp(icf[k, j])
        for i in range(j + 1, d):
            Q[i, j] = icf[k, idx]
            idx += 1
    Qx = (x - means[k]) @ Q.T
    return alphas[k] + np.sum(icf[k, :d]) - 0.5 * np.sum(Qx * Qx, axis=1)


def gmm_objective(alphas, means, icf, x, wishart_gamma, wishart_m):
    """ADBench's GMM negative log-likelihood (up to its constant terms), Wishart prior included:
    means (K, d), log-weights alphas (K,), icf (K, d + d(d-1)/2): the log-diagonal and the
    strictly lower triangle of each inverse-covariance factor Q_k."""
    n = x.shape[0]
    d = x.shape[1]
    K = alphas.shape[0]
    best = np.full(n, -1e300)
    for k in range(K):
        best = np.maximum(best, gmm_main_term(alphas, means, icf, x, k, d))
    total = np.zeros(n)
    for k in range(K):
        total = total + np.exp(gmm_main_term(alphas, means, icf, x, k, d) - best)
    top = np.max(alphas)
    lse_alphas = top + np.log(np.sum(np.exp(alphas - top)))
    prior = 0.0
    for k in range(K):
        q = np.exp(icf[k, :d])
        frobenius = np.sum(q * q) + np.sum(icf[k, d:] ** 2)
        prior += 0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m * np.sum(icf[k, :d])
    return np.sum(best + np.log(total)) - n * lse_alphas + prior


def gmm_objective_matrix(alphas, means, icf, x, wishart_gamma, wishart_m):
    """The same objective with each component's terms computed once, as rows of a (K, n)
    matrix, and a log-sum-exp down its columns (the form the vectorized peers compute)."""
    n = x.shape[0]
    d = x.shape[1]
    K = alphas.shape[0]
    main = np.empty((K, n))
    for k in range(K):
        main[k] = gmm_main_term(alphas, means, icf, x, k, d)
    best = np.max(main, axis=0)
    lse = best + np.log(np.sum(np.exp(main - best), axis=0))
    top = np.max(alphas)
    lse_alphas = top + np.log(np.sum(np.exp(alphas - top)))
    q = np.exp(icf[:, :d])
    frobenius = np.sum(q * q) + np.sum(icf[:, d:] ** 2)
    prior = 0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m * np.sum(icf[:, :d])
    return np.sum(lse) - n * lse_alphas + prior


def gmm_objective_vectorized(alphas, means, icf, x, wishart_gamma, wishart_m):
    """The same objective written for autograd (no element assignment): the oracle."""
    import autograd.numpy as anp
    n, d = x.shape
    K = alphas.shape[0]
    rows, cols = np.tril_indices(d, -1)
    order = np.argsort(cols * d + rows, kind="stable")          # column by column, as above
    mask = np.zeros((K, d, d))
    Ls = []
    for k in range(K):
        flat = anp.zeros(d * d)
        pos = (rows[order] * d + cols[order])
        scatter = np.zeros((d * d, icf.shape[1] - d))
        scatter[pos, np.arange(len(pos))] = 1.0
        flat = anp.dot(scatter, icf[k, d:])
        Ls.append(anp.reshape(flat, (d, d)))
    del mask
    terms = []
    for k in range(K):
        q = anp.exp(icf[k, :d])
        xc = x - means[k]
        Lx = xc * q + anp.dot(xc, Ls[k].T)
        terms.append(alphas[k] + anp.sum(icf[k, :d]) - 0.5 * anp.sum(Lx * Lx, axis=1))
    main = anp.stack(terms, axis=1)
    best = anp.max(main, axis=1)
    lse = best + anp.log(anp.sum(anp.exp(main - best[:, None]), axis=1))
    top = anp.max(alphas)
    lse_alphas = top + anp.log(anp.sum(anp.exp(alphas - top)))
    q = anp.exp(icf[:, :d])
    prior = anp.sum(0.5 * wishart_gamma ** 2 * (anp.sum(q * q, axis=1) + anp.sum(icf[:, d:] ** 2, axis=1))
                    - wishart_m * anp.sum(icf[:, :d], axis=1))
    return anp.sum(lse) - n * lse_alphas + prior


def row_norms_weighted(A, w):
    """The sensitivity of A * A arrives as a broadcast row of the sum's: read elementwise."""
    return np.sum(np.sum(A * A, axis=1) * w) + np.sum(np.mean(np.tanh(A), axis=0))


def axis_sums_in_a_loop(A, w):
    """The sum's seed reaches `A * np.sin(A * w[k])` in a reverse loop body: un-broadcast
    there, since both partials have A's shape."""
    total = 0.0
    for k in range(w.shape[0]):
        total = total + np.sum(np.sum(A * np.sin(A * w[k]), axis=1) ** 2) \
            + np.sum(np.mean(np.exp(A * w[k]), axis=0))
    return total


def axis_sums_of_broadcasts(x, y):
    """Partials of another shape than the sum's operand (x * y of a column and a row, a
    number times x): the broadcast seed stays a view where un-broadcasting would change the
    product's shape."""
    return np.sum(np.sum(x * y, axis=1) ** 2) + np.sum(np.mean(2.0 * x, axis=1) ** 2)


def mean_squared_residual(X, w):
    """A least-squares mean: the mean's seed is the number 1 / size."""
    r = np.tanh(X @ w) - 0.5
    return np.mean(r * r)


def matrix_vector_layouts(A, v, w):
    """Matrix-vector and vector-matrix products of views: a column block, a transpose, a
    reversed vector (emitted as _matvec / _vecmat, which take any layout)."""
    u = np.tanh(A @ v)
    z = w @ A
    c = A[:, 1:] @ v[1:]
    return np.sum(u * u) + np.sum(z ** 2) + np.sum(A.T @ w[::-1]) + np.sum(c * u)


def row_sums_projected(A, B):
    """The sum's broadcast sensitivity feeds a matrix product: it must be a real array."""
    rows = np.sum(A @ B, axis=1)
    return np.sum(np.tanh(rows))


def gmm_data(d, K, n, seed=0):
    rng = np.random.default_rng(seed)
    alphas = rng.normal(size=K)
    means = rng.normal(size=(K, d))
    icf = rng.normal(size=(K, d + d * (d - 1) // 2)) * 0.3
    x = rng.normal(size=(n, d))
    return alphas, means, icf, x, 1.0, 0


def no_rule(x):
    return np.sum(np.spacing(x))
