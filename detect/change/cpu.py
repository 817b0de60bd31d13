"""Fused numba kernels of the change score (CPU).

Each kernel reads both dates once in their native dtype (uint8, uint16, float32...), keeps
every intermediate in a small block-local scratch (a few hundred KB, in cache), and writes the
float32 score once. ``prange`` runs blocks of rows x columns on all cores; ``nogil`` lets the
tile pipeline read and write in other threads meanwhile; ``cache=True`` keeps the compiled
code on disk, so a new process loads it instead of compiling.

The maths is :mod:`detect.change.reference` step by step; ``tests/test_change_kernels.py``
holds them to it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from detect.change.calibration import NullModel
from detect.change.model import ChangeModel

# No 'nnan'/'ninf': NaN marks nodata and +inf marks invalid neighbours.
FASTMATH = {"contract", "arcp", "nsz", "afn"}
EMPTY_LUT = np.zeros(0, dtype=np.float32)


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _lut(t, lut, inv_step, tail):  # pragma: no cover - compiled
    """Score of statistic ``t``: the table, or beyond it the asymptotic chi-square tail
    (calibration.tail_score; tail = (1 / (2 scale), a - 1, (a - 1)(a - 2), lgamma(a)))."""
    n = lut.size
    x = t * inv_step
    x = x if x > 0 else np.float32(0.0)  # also maps NaN to 0: never index with garbage
    if x >= np.float32(n - 1):
        z = np.float64(t) * tail[0]
        series = 1.0 + tail[1] / z + tail[2] / (z * z)
        return np.float32((z - tail[1] * np.log(z) + tail[3] - np.log(max(series, 1e-300)))
                          * 0.4342944819032518)
    i = int(x)
    f = x - np.float32(i)
    return lut[i] + f * (lut[i + 1] - lut[i])


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _row_lut(row, n, lut, inv_step, tail):  # pragma: no cover - compiled
    for q in range(n):
        row[q] = _lut(row[q], lut, inv_step, tail)


@njit(parallel=True, cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def basic_kernel(X, Y, valid, wx, wy, c, lut, inv_step, tail,
                 row0, row1, col0, col1, out):  # pragma: no cover - compiled
    """IR-MAD chi-square per pixel (optionally through the score table) into ``out``
    (rows row0:row1, cols col0:col1 of the inputs). Three and four bands have a path that
    keeps every MAD variate in registers; other band counts accumulate row by row."""
    p = X.shape[0]
    nrows = row1 - row0
    ncols = col1 - col0
    use_lut = lut.size > 1
    nan = np.float32(np.nan)
    for rr in prange(nrows):
        r = row0 + rr
        o = out[rr]
        vr = valid[r, col0:col1]
        if p == 3:
            x0 = X[0, r, col0:col1]
            x1 = X[1, r, col0:col1]
            x2 = X[2, r, col0:col1]
            y0 = Y[0, r, col0:col1]
            y1 = Y[1, r, col0:col1]
            y2 = Y[2, r, col0:col1]
            for q in range(ncols):
                a0 = np.float32(x0[q])
                a1 = np.float32(x1[q])
                a2 = np.float32(x2[q])
                b0 = np.float32(y0[q])
                b1 = np.float32(y1[q])
                b2 = np.float32(y2[q])
                m0 = (c[0] + wx[0, 0] * a0 + wx[0, 1] * a1 + wx[0, 2] * a2
                      + wy[0, 0] * b0 + wy[0, 1] * b1 + wy[0, 2] * b2)
                m1 = (c[1] + wx[1, 0] * a0 + wx[1, 1] * a1 + wx[1, 2] * a2
                      + wy[1, 0] * b0 + wy[1, 1] * b1 + wy[1, 2] * b2)
                m2 = (c[2] + wx[2, 0] * a0 + wx[2, 1] * a1 + wx[2, 2] * a2
                      + wy[2, 0] * b0 + wy[2, 1] * b1 + wy[2, 2] * b2)
                o[q] = m0 * m0 + m1 * m1 + m2 * m2
        elif p == 4:
            x0 = X[0, r, col0:col1]
            x1 = X[1, r, col0:col1]
            x2 = X[2, r, col0:col1]
            x3 = X[3, r, col0:col1]
            y0 = Y[0, r, col0:col1]
            y1 = Y[1, r, col0:col1]
            y2 = Y[2, r, col0:col1]
            y3 = Y[3, r, col0:col1]
            for q in range(ncols):
                a0 = np.float32(x0[q])
                a1 = np.float32(x1[q])
                a2 = np.float32(x2[q])
                a3 = np.float32(x3[q])
                b0 = np.float32(y0[q])
                b1 = np.float32(y1[q])
                b2 = np.float32(y2[q])
                b3 = np.float32(y3[q])
                s = np.float32(0.0)
                for i in range(4):
                    m = (c[i] + wx[i, 0] * a0 + wx[i, 1] * a1 + wx[i, 2] * a2 + wx[i, 3] * a3
                         + wy[i, 0] * b0 + wy[i, 1] * b1 + wy[i, 2] * b2 + wy[i, 3] * b3)
                    s += m * m
                o[q] = s
        else:
            m = np.empty(ncols, np.float32)
            for q in range(ncols):
                o[q] = 0.0
            for i in range(p):
                ci = c[i]
                for q in range(ncols):
                    m[q] = ci
                for j in range(p):
                    w1 = wx[i, j]
                    w2 = wy[i, j]
                    xr = X[j, r, col0:col1]
                    yr = Y[j, r, col0:col1]
                    for q in range(ncols):
                        m[q] += w1 * xr[q] + w2 * yr[q]
                for q in range(ncols):
                    o[q] += m[q] * m[q]
        if use_lut:
            _row_lut(o, ncols, lut, inv_step, tail)
        for q in range(ncols):
            o[q] = o[q] if vr[q] else nan


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _box_rows(src, r0, r1, lo, hi, out):  # pragma: no cover - compiled
    """out[lo:hi] = sum of src rows r0:r1 (clipped to the array) over columns lo:hi."""
    n = hi - lo
    o = out[lo:hi]
    for q in range(n):
        o[q] = 0.0
    for e in range(max(r0, 0), min(r1, src.shape[0])):
        s = src[e, lo:hi]
        for q in range(n):
            o[q] += s[q]


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _box_cols(src, rad, lo, hi, width, out):  # pragma: no cover - compiled
    """out[lo:hi] = sum of src[q - rad: q + rad + 1] (clipped to 0:width) for q in lo:hi."""
    n = hi - lo
    o = out[lo:hi]
    for q in range(n):
        o[q] = 0.0
    for dx in range(-rad, rad + 1):
        a = max(lo, -dx)
        b = min(hi, width - dx)
        if b <= a:
            continue
        s = src[a + dx:b + dx]
        oo = out[a:b]
        for q in range(b - a):
            oo[q] += s[q]


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _moments(vm, ga, gb, sv, sign):  # pragma: no cover - compiled
    """sv[:, q] += sign * (1, a, b, a^2, b^2, ab) of one row (a, b already zero if invalid)."""
    s0 = sv[0]
    s1 = sv[1]
    s2 = sv[2]
    s3 = sv[3]
    s4 = sv[4]
    s5 = sv[5]
    for q in range(vm.size):
        xa = ga[q]
        xb = gb[q]
        s0[q] += sign * vm[q]
        s1[q] += sign * xa
        s2[q] += sign * xb
        s3[q] += sign * xa * xa
        s4[q] += sign * xb * xb
        s5[q] += sign * xa * xb


@njit(parallel=True, cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def robust_kernel(X, Y, valid, wx, wy, cx, cy, ga, gb, ga0, gb0,
                  offs, penalty, w, b, struct_c, floor, z0, add_w,
                  shadow, dark, gmean, ratio_max, shadow_w,
                  lut, inv_step, tail,
                  row0, row1, col0, col1, out, block_rows, block_cols):  # pragma: no cover
    """The full statistic (search, structure, shadow, box mean; see reference.py) into
    ``out`` for rows row0:row1, cols col0:col1; context outside that region is read from the
    inputs, and whatever lies outside the arrays counts as invalid.

    Blocks of block_rows x block_cols output pixels run in parallel; each computes its
    intermediates for the block plus the halo it needs, in block-local scratch. The search
    evaluates each pair distance D_d(x) = |u(x) + v(x + d)|^2 once and uses it for both
    directions: for z_ab at x and, as D_{-d'}(x - d'), for z_ba at x + d."""
    p, H, W = X.shape
    nof = offs.shape[0]
    reach = 0
    for k in range(nof):
        reach = max(reach, abs(offs[k, 0]), abs(offs[k, 1]))
    hv = max(reach, w)
    nrb = (row1 - row0 + block_rows - 1) // block_rows
    ncb = (col1 - col0 + block_cols - 1) // block_cols
    nsh = shadow.shape[0]
    use_lut = lut.size > 1
    inf = np.float32(np.inf)
    nan = np.float32(np.nan)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    fl = np.float32(1.0 - floor)
    for blk in prange(nrb * ncb):
        a0 = row0 + (blk // ncb) * block_rows
        a1 = min(row1, a0 + block_rows)
        k0 = col0 + (blk % ncb) * block_cols
        k1 = min(col1, k0 + block_cols)
        # Rows/cols of the statistic T (out +- b) and of the inputs (T +- hv), clipped.
        ta = max(0, a0 - b)
        tb = min(H, a1 + b)
        ea = max(0, ta - hv)
        eb = min(H, tb + hv)
        ca = max(0, k0 - b - hv)
        cb = min(W, k1 + b + hv)
        ER = eb - ea
        EC = cb - ca
        TR = tb - ta
        t0 = ta - ea  # first T row in block coordinates
        t1 = tb - ea
        tc0 = max(0, k0 - b) - ca
        tc1 = min(W, k1 + b) - ca
        # ---- Pass 1: u = wx x + cx, v = wy y + cy (each centred, so u + v loses nothing to
        # rounding), validity as 1/0 and +inf/0, brightness. Invalid pixels are zeroed.
        U = np.empty((p, ER, EC), np.float32)
        V = np.empty((p, ER, EC), np.float32)
        PEN = np.empty((ER, EC), np.float32)
        VM = np.empty((ER, EC), np.float32)
        GA = np.empty((ER, EC), np.float32)
        GB = np.empty((ER, EC), np.float32)
        xf = np.empty((p, EC), np.float32)
        yf = np.empty((p, EC), np.float32)
        for e in range(ER):
            rr = ea + e
            vr = valid[rr, ca:cb]
            vme = VM[e]
            pe = PEN[e]
            for q in range(EC):
                vme[q] = one if vr[q] else zero
                pe[q] = zero if vr[q] else inf
            for j in range(p):
                xs = X[j, rr, ca:cb]
                ys = Y[j, rr, ca:cb]
                xj = xf[j]
                yj = yf[j]
                for q in range(EC):
                    xj[q] = np.float32(xs[q])
                    yj[q] = np.float32(ys[q])
            gae = GA[e]
            gbe = GB[e]
            for q in range(EC):
                gae[q] = ga0
                gbe[q] = gb0
            for j in range(p):
                w1 = ga[j]
                w2 = gb[j]
                xj = xf[j]
                yj = yf[j]
                for q in range(EC):
                    gae[q] += w1 * xj[q]
                    gbe[q] += w2 * yj[q]
            for q in range(EC):
                gae[q] *= vme[q]
                gbe[q] *= vme[q]
            if p == 3:
                # Three bands (RGB, the common case): every variate in registers.
                x0 = xf[0]
                x1 = xf[1]
                x2 = xf[2]
                y0 = yf[0]
                y1 = yf[1]
                y2 = yf[2]
                pu0 = U[0, e]
                pu1 = U[1, e]
                pu2 = U[2, e]
                pv0 = V[0, e]
                pv1 = V[1, e]
                pv2 = V[2, e]
                for q in range(EC):
                    p0 = x0[q]
                    p1 = x1[q]
                    p2 = x2[q]
                    q0 = y0[q]
                    q1 = y1[q]
                    q2 = y2[q]
                    m = vme[q]
                    pu0[q] = (cx[0] + wx[0, 0] * p0 + wx[0, 1] * p1 + wx[0, 2] * p2) * m
                    pu1[q] = (cx[1] + wx[1, 0] * p0 + wx[1, 1] * p1 + wx[1, 2] * p2) * m
                    pu2[q] = (cx[2] + wx[2, 0] * p0 + wx[2, 1] * p1 + wx[2, 2] * p2) * m
                    pv0[q] = (cy[0] + wy[0, 0] * q0 + wy[0, 1] * q1 + wy[0, 2] * q2) * m
                    pv1[q] = (cy[1] + wy[1, 0] * q0 + wy[1, 1] * q1 + wy[1, 2] * q2) * m
                    pv2[q] = (cy[2] + wy[2, 0] * q0 + wy[2, 1] * q1 + wy[2, 2] * q2) * m
            else:
                for i in range(p):
                    ue = U[i, e]
                    ve = V[i, e]
                    c1 = cx[i]
                    c2 = cy[i]
                    for q in range(EC):
                        ue[q] = c1
                        ve[q] = c2
                    for j in range(p):
                        w1 = wx[i, j]
                        w2 = wy[i, j]
                        xj = xf[j]
                        yj = yf[j]
                        for q in range(EC):
                            ue[q] += w1 * xj[q]
                            ve[q] += w2 * yj[q]
                    for q in range(EC):
                        ue[q] *= vme[q]
                        ve[q] *= vme[q]
        # ---- Pass 2: two-way search. D_d(x') = |u(x') + v(x' + d)|^2 (+ penalty, +inf if
        # either is invalid) is computed once per (x', d) and feeds z_ab at x' and z_ba at
        # x' + d. ZA/ZB rows are the T rows; x' runs over T rows +- reach.
        ZA = np.full((TR, EC), inf, np.float32)
        ZB = np.full((TR, EC), inf, np.float32)
        acc = np.empty(EC, np.float32)
        d0 = max(0, t0 - reach)
        d1 = min(ER, t1 + reach)
        for e in range(d0, d1):
            for k in range(nof):
                dx = offs[k, 0]
                dy = offs[k, 1]
                e2 = e + dy
                if e2 < 0 or e2 >= ER:
                    continue
                za_ok = t0 <= e < t1
                zb_ok = t0 <= e2 < t1
                if not (za_ok or zb_ok):
                    continue
                lo = max(max(0, -dx), min(tc0, tc0 - dx))
                hi = min(min(EC, EC - dx), max(tc1, tc1 - dx))
                n = hi - lo
                if n <= 0:
                    continue
                pa = PEN[e, lo:hi]
                pb = PEN[e2, lo + dx:hi + dx]
                kp = zero if dy == 0 and dx == 0 else penalty
                if p == 3:
                    su0 = U[0, e, lo:hi]
                    su1 = U[1, e, lo:hi]
                    su2 = U[2, e, lo:hi]
                    sv0 = V[0, e2, lo + dx:hi + dx]
                    sv1 = V[1, e2, lo + dx:hi + dx]
                    sv2 = V[2, e2, lo + dx:hi + dx]
                    for q in range(n):
                        d0_ = su0[q] + sv0[q]
                        d1_ = su1[q] + sv1[q]
                        d2_ = su2[q] + sv2[q]
                        acc[q] = d0_ * d0_ + d1_ * d1_ + d2_ * d2_ + (pa[q] + pb[q] + kp)
                else:
                    for q in range(n):
                        acc[q] = pa[q] + pb[q] + kp
                    for i in range(p):
                        ui = U[i, e, lo:hi]
                        vi = V[i, e2, lo + dx:hi + dx]
                        for q in range(n):
                            d = ui[q] + vi[q]
                            acc[q] += d * d
                if za_ok:
                    a_ = max(lo, tc0)
                    b_ = min(hi, tc1)
                    if b_ > a_:
                        zr = ZA[e - t0, a_:b_]
                        ac = acc[a_ - lo:b_ - lo]
                        for q in range(b_ - a_):
                            zr[q] = min(zr[q], ac[q])
                if zb_ok:
                    a_ = max(lo + dx, tc0)
                    b_ = min(hi + dx, tc1)
                    if b_ > a_:
                        zr = ZB[e2 - t0, a_:b_]
                        ac = acc[a_ - dx - lo:b_ - dx - lo]
                        for q in range(b_ - a_):
                            zr[q] = min(zr[q], ac[q])
        # ---- Pass 3: T = max(z_ab, z_ba), structure weighting, shadows; zero where invalid.
        Tm = np.empty((TR, EC), np.float32)
        nc = tc1 - tc0
        sv = np.zeros((6, EC), np.float32)
        sh = np.empty((6, EC), np.float32)
        v0 = max(0, tc0 - w)
        v1 = min(EC, tc1 + w)
        for t in range(TR):
            e = t + t0
            tm = Tm[t, tc0:tc1]
            zar = ZA[t, tc0:tc1]
            zbr = ZB[t, tc0:tc1]
            for q in range(nc):
                tm[q] = max(zar[q], zbr[q])
            if w > 0:
                if t % 8 == 0:
                    # Fresh sums every 8 rows: running float32 sums must not drift.
                    for k in range(6):
                        for q in range(v0, v1):
                            sv[k, q] = zero
                    for e2 in range(max(0, e - w), min(ER, e + w + 1)):
                        _moments(VM[e2, v0:v1], GA[e2, v0:v1], GB[e2, v0:v1], sv[:, v0:v1], one)
                else:
                    if e + w < ER:
                        _moments(VM[e + w, v0:v1], GA[e + w, v0:v1], GB[e + w, v0:v1],
                                 sv[:, v0:v1], one)
                    if e - w - 1 >= 0:
                        _moments(VM[e - w - 1, v0:v1], GA[e - w - 1, v0:v1],
                                 GB[e - w - 1, v0:v1], sv[:, v0:v1], -one)
                for k in range(6):
                    _box_cols(sv[k], w, tc0, tc1, EC, sh[k])
                h0 = sh[0, tc0:tc1]
                h1 = sh[1, tc0:tc1]
                h2 = sh[2, tc0:tc1]
                h3 = sh[3, tc0:tc1]
                h4 = sh[4, tc0:tc1]
                h5 = sh[5, tc0:tc1]
                for q in range(nc):
                    inv = one / max(h0[q], one)
                    ma = h1[q] * inv
                    mb = h2[q] * inv
                    va = max(h3[q] * inv - ma * ma, zero)
                    vb = max(h4[q] * inv - mb * mb, zero)
                    cov = h5[q] * inv - ma * mb
                    sd = np.sqrt(va * vb)
                    rho = cov / sd if sd > 0 else zero
                    rho = min(max(rho, -one), one)
                    tau = sd / (sd + struct_c)
                    f = one - fl * tau * max(rho, zero)
                    z = tm[q]
                    z = z0 + (z - z0) * f if z > z0 else z
                    tm[q] = z + add_w * tau * (one - rho) * np.float32(0.5)
            if nsh > 0:
                row = ta + t
                vme = VM[e]
                gae = GA[e]
                gbe = GB[e]
                for q in range(tc0, tc1):
                    if vme[q] == 0:
                        continue
                    xa = gae[q]
                    xb = gbe[q]
                    da = xa < dark
                    db = xb < dark
                    sign = 0
                    if db and not da and xb + gmean < ratio_max * (xa + gmean):
                        sign = 1
                    elif da and not db and xa + gmean < ratio_max * (xb + gmean):
                        sign = -1
                    if sign == 0:
                        continue
                    col = ca + q
                    found = False
                    for k in range(nsh):
                        cc = col + sign * shadow[k, 0]
                        r2 = row + sign * shadow[k, 1]
                        if cc < 0 or cc >= W or r2 < 0 or r2 >= H or not valid[r2, cc]:
                            continue
                        g = zero
                        if sign == 1:
                            g = ga0
                            for j in range(p):
                                g += ga[j] * X[j, r2, cc]
                        else:
                            g = gb0
                            for j in range(p):
                                g += gb[j] * Y[j, r2, cc]
                        if g < dark:
                            found = True
                            break
                    if found:
                        Tm[t, q] *= shadow_w
            vme = VM[e, tc0:tc1]
            for q in range(nc):
                tm[q] = tm[q] if vme[q] != 0 else zero
        # ---- Pass 4: box mean of T over valid pixels, score table, output.
        oc0 = k0 - ca
        oc1 = k1 - ca
        no = oc1 - oc0
        for o in range(a0, a1):
            t = o - ta
            res = acc[oc0:oc1]
            if b == 0:
                src = Tm[t, oc0:oc1]
                for q in range(no):
                    res[q] = src[q]
            else:
                _box_rows(Tm, t - b, t + b + 1, tc0, tc1, sv[0])
                _box_rows(VM[t0:t1], t - b, t + b + 1, tc0, tc1, sv[1])
                _box_cols(sv[0, :tc1], b, oc0, oc1, tc1, sh[0])
                _box_cols(sv[1, :tc1], b, oc0, oc1, tc1, sh[1])
                s0 = sh[0, oc0:oc1]
                s1 = sh[1, oc0:oc1]
                for q in range(no):
                    res[q] = s0[q] / max(s1[q], one)
            if use_lut:
                _row_lut(res, no, lut, inv_step, tail)
            vme = VM[o - ea, oc0:oc1]
            orow = out[o - row0, k0 - col0:k1 - col0]
            for q in range(no):
                orow[q] = res[q] if vme[q] != 0 else nan


def lut_args(null: NullModel | None) -> tuple[np.ndarray, np.float32, np.ndarray]:
    """(table, 1 / step, tail constants) for the kernels; an empty table = raw statistic."""
    if null is None:
        return EMPTY_LUT, np.float32(0.0), np.zeros(4)
    a1, a12, lg = null.tail_params
    return null.lut, np.float32(1.0 / null.step), np.array([0.5 / null.scale, a1, a12, lg])


def _as_c(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def kernel_region(shape: tuple[int, int], core: tuple[slice, slice] | None) -> tuple[int, int, int, int]:
    if core is None:
        return 0, shape[0], 0, shape[1]
    rs, cs = core
    return (rs.start or 0, rs.stop if rs.stop is not None else shape[0],
            cs.start or 0, cs.stop if cs.stop is not None else shape[1])


def score_tile(before: np.ndarray, after: np.ndarray, valid: np.ndarray, model: ChangeModel, *,
               core: tuple[slice, slice] | None = None, out: np.ndarray | None = None,
               raw: bool = False, block_rows: int = 32, block_cols: int = 256) -> np.ndarray:
    """Score (or the raw statistic with ``raw=True``) for the ``core`` region of a tile whose
    arrays carry the halo around it. Returns a float32 array of the core's shape."""
    row0, row1, col0, col1 = kernel_region(valid.shape, core)
    if out is None:
        out = np.empty((row1 - row0, col1 - col0), dtype=np.float32)
    x, y = _as_c(before), _as_c(after)
    v = _as_c(valid.astype(np.bool_, copy=False))
    lut, inv_step, tail = lut_args(None if raw else model.null)
    if model.is_basic:
        basic_kernel(x, y, v, model.wx, model.wy, model.c, lut, inv_step, tail,
                     row0, row1, col0, col1, out)
        return out
    robust_kernel(x, y, v, model.wx, model.wy, model.cx, model.cy, model.ga, model.gb,
                  np.float32(model.ga0), np.float32(model.gb0),
                  model.offsets, np.float32(model.search_penalty), model.structure_radius,
                  model.smooth_radius,
                  np.float32(model.structure_c), np.float32(model.weight_floor),
                  np.float32(model.structure_onset), np.float32(model.add_weight),
                  model.shadow, np.float32(model.dark_level), np.float32(model.grey_mean),
                  np.float32(model.ratio_max), np.float32(model.shadow_weight),
                  lut, inv_step, tail, row0, row1, col0, col1, out, block_rows, block_cols)
    return out
