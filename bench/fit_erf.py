#!/usr/bin/env python3
"""Fit the rational erf of Sources/CKernels/common.h.

erf(z) ~ z * P(z^2) / Q(z^2) on 0 <= z <= ZMAX (and 1 beyond), P and Q of degree 5, Q(0) = 1.
The fit is linearized least squares (P - f Q, divided by the previous Q), reweighted each round
by the error so far (Lawson), which pushes it toward the smallest largest error. It prints the
float32 coefficients and the largest error of their float32 evaluation over [-8, 8].

    bench/.venv/bin/python bench/fit_erf.py
"""

import math

import numpy as np

ZMAX = 3.9
DEGREE = 5
ROUNDS = 60

erf = np.vectorize(math.erf)


def fit() -> tuple[np.ndarray, np.ndarray]:
    z = np.linspace(1e-4, ZMAX, 30000)
    t = z * z
    f = erf(z) / z
    q = np.ones_like(t)
    weight = z.copy()
    for _ in range(ROUNDS):
        a = np.hstack([np.vander(t, DEGREE + 1, increasing=True),
                       -(f[:, None] * np.vander(t, DEGREE + 1, increasing=True)[:, 1:])])
        w = (weight / np.abs(q))[:, None]
        solution, *_ = np.linalg.lstsq(a * w, f * w[:, 0], rcond=None)
        p = solution[:DEGREE + 1]
        qc = np.concatenate([[1.0], solution[DEGREE + 1:]])
        q = np.polyval(qc[::-1], t)
        error = z * np.polyval(p[::-1], t) / q - erf(z)
        weight = weight * (np.abs(error) + 1e-12) ** 0.3
        weight /= weight.max()
    return p.astype(np.float32), qc.astype(np.float32)


def evaluate(p: np.ndarray, q: np.ndarray, z: np.ndarray) -> np.ndarray:
    a = np.minimum(np.abs(z.astype(np.float32)), np.float32(ZMAX))
    t = a * a
    num = np.full_like(t, p[-1])
    for c in p[-2::-1]:
        num = num * t + c
    den = np.full_like(t, q[-1])
    for c in q[-2::-1]:
        den = den * t + c
    return np.sign(z) * np.minimum(a * (num / den), np.float32(1))


if __name__ == "__main__":
    p, q = fit()
    z = np.linspace(-8, 8, 400001)
    worst = np.max(np.abs(evaluate(p, q, z).astype(np.float64) - erf(z)))
    print("P:", ", ".join(f"{c:.9e}f" for c in p))
    print("Q:", ", ".join(f"{c:.9e}f" for c in q))
    print(f"largest |error| over [-8, 8]: {worst:.2e}")
