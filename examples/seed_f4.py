"""The seed's hyper-box surface f4 and its gradient, as adjoint writes it.

Run: make demo   (or: python examples/seed_f4.py)
"""

import adjoint


def f4(side_lengths):
    t_a, t_b, t_c, t_d = side_lengths
    t_ab = t_a * t_b
    t_cd = t_c * t_d
    t_abc = t_ab * t_c
    t_abd = t_ab * t_d
    t_acd = t_a * t_cd
    t_bcd = t_b * t_cd
    t_s = t_abc + t_abd + t_acd + t_bcd
    ret = 2.0 * t_s
    return ret


grad_f4 = adjoint.grad(f4)

if __name__ == "__main__":
    print(adjoint.source(f4))
    print("grad_f4([1.0, 2.0, 3.0, 4.0]) =", grad_f4([1.0, 2.0, 3.0, 4.0]))
