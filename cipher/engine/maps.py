"""The three chaotic maps of the SecurePix keystream, iterated side by side.

Every operation here is exactly rounded IEEE-754 arithmetic (+, -, *, /) or
exact (floor, rint, abs, copysign, comparisons).  numpy's sin and cos take SIMD
code paths that differ between CPUs by an ulp, and a chaotic map turns one ulp
into a different keystream within a few dozen steps, so the trigonometric terms
are fixed polynomials instead.  numpy never fuses a multiply and an add into an
FMA across ufunc calls, so the results are the same bit for bit on every CPU.

The operations are written in place into preallocated buffers: the keystream
runs tens of millions of map steps per image, and allocation would double its
cost.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]

TWO_PI = 6.283185307179586

# Taylor coefficients of sin and cos on [-pi/2, pi/2] (errors below 4e-6 and
# 3e-7).  Accuracy does not matter for a chaotic map; fixing the polynomial does.
_SIN_COEFFS = (1.0, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880)
_COS_COEFFS = (1.0, -1 / 2, 1 / 24, -1 / 720, 1 / 40320, -1 / 3628800)

# Map parameters.  The paper leaves them open; these are standard choices in
# each map's chaotic regime.
LOGISTIC_R = 3.9999  # r in (3.57, 4); r = 4 has the exact orbit 0.5 -> 1 -> 0 -> 0
CIRCLE_K = 1.0  # the paper's form x + Omega - K sin(2 pi x); K = 1 is 2 pi in the usual form
IKEDA_U = 0.9  # Ikeda's classic u = 0.9 (chaotic for u > 0.6)


def _polynomial(x: Floats, x2: Floats, coeffs: tuple[float, ...], out: Floats) -> Floats:
    """out = x * (c0 + c1 x2 + c2 x2^2 + ...), by Horner's rule."""
    out.fill(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        out *= x2
        out += c
    out *= x
    return out


class ChaoticLanes:
    """Logistic, Circle and Ikeda maps, one independent copy per lane.

    Logistic:  x' = x (1 - x) r
    Circle:    theta' = theta + Omega - K sin(2 pi theta)   (mod 1)
    Ikeda:     t = 0.4 - 6 / (1 + x^2 + y^2)
               x' = 1 + u (x cos t - y sin t),  y' = u (x sin t + y cos t)

    The paper prints an Ikeda variant with t = x^2 + y^2 and "1 +" in both
    coordinates; the standard form above is the one whose chaos is established.
    """

    def __init__(self, logistic: Floats, theta: Floats, omega: Floats, ikeda_x: Floats, ikeda_y: Floats) -> None:
        self.logistic = logistic.copy()
        self.theta = theta.copy()
        self.omega = omega.copy()
        self.ikeda_x = ikeda_x.copy()
        self.ikeda_y = ikeda_y.copy()
        shape = logistic.shape
        self._ones = np.ones(shape)
        self._a, self._b, self._c, self._d, self._e = (np.empty(shape) for _ in range(5))

    def step(self) -> None:
        self._step_logistic()
        self._step_circle()
        self._step_ikeda()

    def _step_logistic(self) -> None:
        x, tmp = self.logistic, self._a
        np.subtract(1.0, x, out=tmp)
        x *= tmp
        x *= LOGISTIC_R

    def _step_circle(self) -> None:
        # sin(2 pi theta) = sin(2 pi v), with v = theta - 0.5 folded into
        # [-0.25, 0.25] (sin(pi - a) = sin(a)), and a sign flip for the shift.
        theta, u, v, sine = self.theta, self._a, self._b, self._c
        np.subtract(theta, 0.5, out=u)
        np.copysign(0.5, u, out=v)
        v -= u
        np.copyto(v, u, where=np.abs(u, out=sine) <= 0.25)
        v *= TWO_PI
        np.multiply(v, v, out=u)
        _polynomial(v, u, _SIN_COEFFS, out=sine)
        theta += self.omega
        sine *= CIRCLE_K
        theta += sine  # + because sin(2 pi theta) = -sin(2 pi (theta - 0.5))
        theta -= np.floor(theta, out=u)

    def _step_ikeda(self) -> None:
        x, y = self.ikeda_x, self.ikeda_y
        half, half2, sine, cosine, tmp = self._a, self._b, self._c, self._d, self._e
        # t = 0.4 - 6 / (1 + x^2 + y^2), reduced to [-pi, pi] and halved
        np.multiply(x, x, out=half)
        np.multiply(y, y, out=tmp)
        half += tmp
        half += 1.0
        np.divide(-6.0, half, out=half)
        half += 0.4
        np.divide(half, TWO_PI, out=tmp)
        np.rint(tmp, out=tmp)
        tmp *= TWO_PI
        half -= tmp
        half *= 0.5
        np.multiply(half, half, out=half2)
        # sin t = 2 sin(t/2) cos(t/2),  cos t = 1 - 2 sin(t/2)^2
        _polynomial(half, half2, _SIN_COEFFS, out=sine)
        _polynomial(self._ones, half2, _COS_COEFFS, out=cosine)
        cosine *= sine
        cosine *= 2.0  # now sin t
        np.multiply(sine, sine, out=tmp)
        tmp *= -2.0
        tmp += 1.0  # cos t
        sine, cosine = cosine, tmp
        # x' = 1 + u (x cos t - y sin t),  y' = u (x sin t + y cos t)
        np.multiply(x, cosine, out=half)
        np.multiply(y, sine, out=half2)
        half -= half2
        np.multiply(x, sine, out=x)
        np.multiply(y, cosine, out=y)
        y += x
        y *= IKEDA_U
        np.multiply(half, IKEDA_U, out=x)
        x += 1.0
