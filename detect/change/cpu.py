"""Fused numba kernels of the change score (CPU).

Each kernel reads both dates once in their native dtype (uint8, uint16, float32...), keeps
every intermediate in a small block-local scratch (in cache), and writes the float32 score
once. ``prange`` runs blocks on all cores; ``nogil`` lets the tile pipeline read and write in
other threads meanwhile; ``cache=True`` keeps the compiled code on disk, so a new process
loads it instead of compiling.

Three things decide the speed here, each measured (see benchmarks/change_kernel.py):
* no array views in loops: every view costs an atomic reference count on the parent, and two
  threads updating the count of the same input array halve the throughput;
* unsigned column indices: numba checks signed indices for negative wrap-around, which stops
  LLVM from vectorising the loop;
* one written array per inner loop, and minima as a select stored unconditionally
  (``z[q] = d if d < z[q] else z[q]``), never ``min()``: LLVM turns that into masked stores
  (microcoded on AMD) or gives up vectorising;
* work shared where the maths allows: the two-way search computes each displacement's
  distance once for both directions (9-15 % of the robust kernel, 2026-12-04).

The maths is :mod:`detect.change.reference` step by step; ``tests/test_change_kernels.py``
holds them to it.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from detect.change.calibration import NullModel
from detect.change.model import ChangeModel

# No 'nnan'/'ninf': NaN marks nodata and +inf an empty minimum.
FASTMATH = {"contract", "arcp", "nsz", "afn"}
EMPTY_LUT = np.zeros(0, dtype=np.float32)
U64 = np.uint64


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _lut(t, lut, inv_step, tail):  # pragma: no cover - compiled
    """Score of statistic ``t``: the table (in sqrt(t)), or beyond it the asymptotic
    chi-square tail (calibration.tail_score; tail = (1/(2 scale), a-1, (a-1)(a-2), lgamma a))."""
    n = lut.size
    x = np.sqrt(t if t > 0 else np.float32(0.0)) * inv_step  # NaN -> 0: never index garbage
    if x >= np.float32(n - 1):
        z = np.float64(t) * tail[0]
        series = 1.0 + tail[1] / z + tail[2] / (z * z)
        return np.float32((z - tail[1] * np.log(z) + tail[3] - np.log(max(series, 1e-300)))
                          * 0.4342944819032518)
    i = int(x)
    f = x - np.float32(i)
    return lut[i] + f * (lut[i + 1] - lut[i])


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _lut_into(S, sr, sc, D, dr, dc, n, lut, inv_step, tail, t_end):  # pragma: no cover
    """D[dr, dc:dc+n] = score of the statistic S[sr, sc:sc+n] (2-D arrays, unsigned column
    offsets). The table lookup is one vectorised loop (clamped to the table); the rare pixels
    beyond the table get the asymptotic tail in a second, scalar loop, only when there are any."""
    top = np.float32(lut.size - 1) - np.float32(1e-3)
    ntail = 0
    for q in range(n):
        t = S[sr, sc + q]
        x = min(np.sqrt(max(t, np.float32(0.0))) * inv_step, top)
        i = np.uint32(x)  # unsigned 32-bit: no wrap-around check, 8-lane gathers
        f = x - np.float32(i)
        D[dr, dc + q] = lut[i] + f * (lut[i + np.uint32(1)] - lut[i])
        ntail += 1 if t >= t_end else 0
    if ntail > 0:
        for q in range(n):
            t = S[sr, sc + q]
            if t >= t_end:
                D[dr, dc + q] = _lut(t, lut, inv_step, tail)


@njit(parallel=True, cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def basic_kernel(X, Y, valid, wx, wy, c, lut, inv_step, tail, t_end,
                 row0, row1, col0, col1, out):  # pragma: no cover - compiled
    """IR-MAD chi-square per pixel (optionally through the score table) into ``out``
    (rows row0:row1, cols col0:col1 of the inputs). Three and four bands keep every MAD
    variate in registers; other band counts accumulate in a row buffer."""
    p = X.shape[0]
    nrows = row1 - row0
    n = U64(col1 - col0)
    c0 = U64(col0)
    use_lut = lut.size > 1
    nan = np.float32(np.nan)
    zero = np.float32(0.0)
    for rr in prange(nrows):
        r = row0 + rr
        if p == 3:
            for q in range(n):
                s = c0 + q
                a0 = np.float32(X[0, r, s])
                a1 = np.float32(X[1, r, s])
                a2 = np.float32(X[2, r, s])
                b0 = np.float32(Y[0, r, s])
                b1 = np.float32(Y[1, r, s])
                b2 = np.float32(Y[2, r, s])
                m0 = (c[0] + wx[0, 0] * a0 + wx[0, 1] * a1 + wx[0, 2] * a2
                      + wy[0, 0] * b0 + wy[0, 1] * b1 + wy[0, 2] * b2)
                m1 = (c[1] + wx[1, 0] * a0 + wx[1, 1] * a1 + wx[1, 2] * a2
                      + wy[1, 0] * b0 + wy[1, 1] * b1 + wy[1, 2] * b2)
                m2 = (c[2] + wx[2, 0] * a0 + wx[2, 1] * a1 + wx[2, 2] * a2
                      + wy[2, 0] * b0 + wy[2, 1] * b1 + wy[2, 2] * b2)
                out[rr, q] = m0 * m0 + m1 * m1 + m2 * m2
        elif p == 4:
            for q in range(n):
                s = c0 + q
                a0 = np.float32(X[0, r, s])
                a1 = np.float32(X[1, r, s])
                a2 = np.float32(X[2, r, s])
                a3 = np.float32(X[3, r, s])
                b0 = np.float32(Y[0, r, s])
                b1 = np.float32(Y[1, r, s])
                b2 = np.float32(Y[2, r, s])
                b3 = np.float32(Y[3, r, s])
                acc = zero
                for i in range(4):
                    m = (c[i] + wx[i, 0] * a0 + wx[i, 1] * a1 + wx[i, 2] * a2 + wx[i, 3] * a3
                         + wy[i, 0] * b0 + wy[i, 1] * b1 + wy[i, 2] * b2 + wy[i, 3] * b3)
                    acc += m * m
                out[rr, q] = acc
        else:
            m = np.empty(col1 - col0, np.float32)
            for q in range(n):
                out[rr, q] = zero
            for i in range(p):
                ci = c[i]
                for q in range(n):
                    m[q] = ci
                for j in range(p):
                    w1 = wx[i, j]
                    w2 = wy[i, j]
                    for q in range(n):
                        m[q] += w1 * np.float32(X[j, r, c0 + q]) + w2 * np.float32(Y[j, r, c0 + q])
                for q in range(n):
                    out[rr, q] += m[q] * m[q]
        if use_lut:
            tmp = np.empty((1, col1 - col0), np.float32)
            _lut_into(out, rr, U64(0), tmp, 0, U64(0), n, lut, inv_step, tail, t_end)
            for q in range(n):
                out[rr, q] = tmp[0, q] if valid[r, c0 + q] else nan
        else:
            for q in range(n):
                out[rr, q] = out[rr, q] if valid[r, c0 + q] else nan


# --------------------------------------------------------------------------------------------
# The robust kernel
# --------------------------------------------------------------------------------------------

@njit(cache=True, inline="always", fastmath=FASTMATH)
def _moments(VM, GA, GB, e, c0, c1, SV, sign):  # pragma: no cover - compiled
    """SV[:, c0:c1] += sign * (1, a, b, a^2, b^2, ab) of row e (a, b are zero if invalid);
    one loop per moment, so that each loop writes one array and vectorises."""
    for q in range(U64(c0), U64(c1)):
        SV[0, q] += sign * VM[e, q]
    for q in range(U64(c0), U64(c1)):
        SV[1, q] += sign * GA[e, q]
    for q in range(U64(c0), U64(c1)):
        SV[2, q] += sign * GB[e, q]
    for q in range(U64(c0), U64(c1)):
        SV[3, q] += sign * GA[e, q] * GA[e, q]
    for q in range(U64(c0), U64(c1)):
        SV[4, q] += sign * GB[e, q] * GB[e, q]
    for q in range(U64(c0), U64(c1)):
        SV[5, q] += sign * GA[e, q] * GB[e, q]


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _box_cols(SV, k, rad, lo, hi, width, SH):  # pragma: no cover - compiled
    """SH[k, q] = sum of SV[k, q - rad: q + rad + 1] (clipped to 0:width) for q in lo:hi."""
    for q in range(U64(lo), U64(hi)):
        SH[k, q] = 0.0
    for dx in range(-rad, rad + 1):
        a = max(lo, -dx)
        b = min(hi, width - dx)
        if b <= a:
            continue
        sa = U64(a + dx)
        da = U64(a)
        for q in range(U64(b - a)):
            SH[k, da + q] += SV[k, sa + q]


@njit(parallel=True, cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def robust_kernel(X, Y, valid, wx, wy, cx, cy, ga, gb, ga0, gb0,
                  offs, penalty, w, b, struct_c, floor, z0, add_w,
                  shadow, dark, gmean, ratio_max, shadow_w,
                  lut, inv_step, tail, t_end,
                  row0, row1, col0, col1, out, block_rows, block_cols, nthreads):  # pragma: no cover
    """The full statistic (search, structure, shadow, box mean; see reference.py) into
    ``out`` for rows row0:row1, cols col0:col1; context outside that region is read from the
    inputs, and whatever lies outside the arrays counts as invalid.

    Blocks of block_rows x block_cols output pixels run in parallel (in chunks that share
    their scratch, allocated once per chunk); each computes its intermediates for the block
    plus the halo it needs, so everything a block touches stays in cache."""
    p, H, W = X.shape
    nof = offs.shape[0]
    reach = 0
    for k in range(nof):
        reach = max(reach, abs(offs[k, 0]), abs(offs[k, 1]))
    hv = max(reach, w)
    nrb = (row1 - row0 + block_rows - 1) // block_rows
    ncb = (col1 - col0 + block_cols - 1) // block_cols
    fl = np.float32(1.0 - floor)
    nblk = nrb * ncb
    nchunk = min(nblk, 4 * nthreads)
    ERm = min(H, block_rows + 2 * (b + hv))
    ECm = min(W, block_cols + 2 * (b + hv))
    TRm = min(H, block_rows + 2 * b)
    for chunk in prange(nchunk):
        U = np.empty((p, ERm, ECm), np.float32)
        V = np.empty((p, ERm, ECm), np.float32)
        VM = np.empty((ERm, ECm), np.float32)
        GA = np.empty((ERm, ECm), np.float32)
        GB = np.empty((ERm, ECm), np.float32)
        ZA = np.empty((TRm, ECm), np.float32)
        ZB = np.empty((TRm, ECm), np.float32)
        TM = np.empty((TRm, ECm), np.float32)
        BUF = np.empty((1, ECm), np.float32)
        ACC = np.empty((2, ECm), np.float32)
        SV = np.zeros((6, ECm), np.float32)
        SH = np.empty((6, ECm), np.float32)
        for blk in range(chunk, nblk, nchunk):
            _robust_block(X, Y, valid, wx, wy, cx, cy, ga, gb, ga0, gb0, offs, penalty, w, b,
                          struct_c, fl, z0, add_w, shadow, dark, gmean, ratio_max, shadow_w,
                          lut, inv_step, tail, t_end, row0, row1, col0, col1, out, block_rows,
                          block_cols, blk, ncb, hv, U, V, VM, GA, GB, ZA, ZB, TM, BUF, ACC,
                          SV, SH)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _robust_block(X, Y, valid, wx, wy, cx, cy, ga, gb, ga0, gb0, offs, penalty, w, b,
                  struct_c, fl, z0, add_w, shadow, dark, gmean, ratio_max, shadow_w,
                  lut, inv_step, tail, t_end, row0, row1, col0, col1, out, block_rows,
                  block_cols, blk, ncb, hv, U, V, VM, GA, GB, ZA, ZB, TM, BUF, ACC,
                  SV, SH):  # pragma: no cover - compiled
    """One block of robust_kernel, in the chunk's scratch (block columns 0:EC of rows that
    are ECm long)."""
    p, H, W = X.shape
    nof = offs.shape[0]
    nsh = shadow.shape[0]
    use_lut = lut.size > 1
    inf = np.float32(np.inf)
    nan = np.float32(np.nan)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    r_a = row0 + (blk // ncb) * block_rows  # output rows r_a:r_b, cols k_a:k_b
    r_b = min(row1, r_a + block_rows)
    k_a = col0 + (blk % ncb) * block_cols
    k_b = min(col1, k_a + block_cols)
    # Rows/cols of the statistic T (out +- b) and of the inputs (T +- hv), clipped.
    ta = max(0, r_a - b)
    tb = min(H, r_b + b)
    ea = max(0, ta - hv)
    eb = min(H, tb + hv)
    ca = max(0, k_a - b - hv)
    cb = min(W, k_b + b + hv)
    ER = eb - ea
    EC = cb - ca
    TR = tb - ta
    t0 = ta - ea  # first T row in block coordinates
    tc0 = max(0, k_a - b) - ca
    tc1 = min(W, k_b + b) - ca
    nec = U64(EC)
    uca = U64(ca)
    # ---- Pass 1: u = wx x + cx, v = wy y + cy (each centred, so u + v loses nothing to
    # rounding), validity, brightness. Invalid pixels: u_0 = v_0 = NaN (every distance they
    # enter is NaN, which the search's "d < z" minimum never takes), brightness 0.
    for e in range(ER):
        rr = ea + e
        for q in range(nec):
            VM[e, q] = one if valid[rr, uca + q] else zero
        if p == 3:
            for q in range(nec):
                s_ = uca + q
                GA[e, q] = (ga0 + ga[0] * np.float32(X[0, rr, s_]) + ga[1] * np.float32(X[1, rr, s_])
                            + ga[2] * np.float32(X[2, rr, s_])) * VM[e, q]
            for q in range(nec):
                s_ = uca + q
                GB[e, q] = (gb0 + gb[0] * np.float32(Y[0, rr, s_]) + gb[1] * np.float32(Y[1, rr, s_])
                            + gb[2] * np.float32(Y[2, rr, s_])) * VM[e, q]
            for i in range(3):
                w_0 = wx[i, 0]
                w_1 = wx[i, 1]
                w_2 = wx[i, 2]
                ci = cx[i]
                for q in range(nec):
                    s_ = uca + q
                    U[i, e, q] = (ci + w_0 * np.float32(X[0, rr, s_]) + w_1 * np.float32(X[1, rr, s_])
                                  + w_2 * np.float32(X[2, rr, s_]))
                w_0 = wy[i, 0]
                w_1 = wy[i, 1]
                w_2 = wy[i, 2]
                ci = cy[i]
                for q in range(nec):
                    s_ = uca + q
                    V[i, e, q] = (ci + w_0 * np.float32(Y[0, rr, s_]) + w_1 * np.float32(Y[1, rr, s_])
                                  + w_2 * np.float32(Y[2, rr, s_]))
        else:
            for q in range(nec):
                GA[e, q] = ga0
            for q in range(nec):
                GB[e, q] = gb0
            for i in range(p):
                ci = cx[i]
                for q in range(nec):
                    U[i, e, q] = ci
                ci = cy[i]
                for q in range(nec):
                    V[i, e, q] = ci
            for j in range(p):
                w_0 = ga[j]
                for q in range(nec):
                    GA[e, q] += w_0 * np.float32(X[j, rr, uca + q])
                w_0 = gb[j]
                for q in range(nec):
                    GB[e, q] += w_0 * np.float32(Y[j, rr, uca + q])
                for i in range(p):
                    w_0 = wx[i, j]
                    for q in range(nec):
                        U[i, e, q] += w_0 * np.float32(X[j, rr, uca + q])
                    w_0 = wy[i, j]
                    for q in range(nec):
                        V[i, e, q] += w_0 * np.float32(Y[j, rr, uca + q])
            for q in range(nec):
                GA[e, q] *= VM[e, q]
            for q in range(nec):
                GB[e, q] *= VM[e, q]
        for q in range(nec):
            U[0, e, q] = U[0, e, q] if VM[e, q] != 0 else nan
        for q in range(nec):
            V[0, e, q] = V[0, e, q] if VM[e, q] != 0 else nan
    # ---- Pass 2: two-way search. For each displacement d the distance
    # D_d(r, c) = |u(r, c) + v(r + dy, c + dx)|^2 is computed once, row by row into BUF, and
    # serves both directions: z_ab(x) = min_d D_d(x) and z_ba(x) = min_d D_d(x - d) (+ the
    # penalty when d != 0). Minima keep the running value where a candidate is NaN (invalid).
    for t in range(TR):
        for q in range(U64(tc0), U64(tc1)):
            ZA[t, q] = inf
        for q in range(U64(tc0), U64(tc1)):
            ZB[t, q] = inf
    for k in range(nof):
        dx = offs[k, 0]
        dy = offs[k, 1]
        kp = np.float32(0.0) if dy == 0 and dx == 0 else penalty
        # D_d rows: those of T (for z_ab) and of T shifted by -dy (for z_ba), where both u at r
        # and v at r + dy exist; columns likewise, where u at c and v at c + dx exist.
        r_lo = max(max(0, -dy), min(t0, t0 - dy))
        r_hi = min(min(ER, ER - dy), max(t0 + TR, t0 + TR - dy))
        c_lo = max(max(0, -dx), min(tc0, tc0 - dx))
        c_hi = min(min(EC, EC - dx), max(tc1, tc1 - dx))
        if r_hi <= r_lo or c_hi <= c_lo:
            continue
        nc = U64(c_hi - c_lo)
        uc = U64(c_lo)
        vc = U64(c_lo + dx)
        b0 = max(tc0, c_lo + dx)
        b1 = min(tc1, c_hi + dx)
        a0 = max(tc0, c_lo)
        a1 = min(tc1, c_hi)
        for e in range(r_lo, r_hi):
            e2 = e + dy
            if p == 3:
                for q in range(nc):
                    d0 = U[0, e, uc + q] + V[0, e2, vc + q]
                    d1 = U[1, e, uc + q] + V[1, e2, vc + q]
                    d2 = U[2, e, uc + q] + V[2, e2, vc + q]
                    BUF[0, uc + q] = d0 * d0 + d1 * d1 + d2 * d2 + kp
            else:
                for q in range(nc):
                    BUF[0, uc + q] = kp
                for i in range(p):
                    for q in range(nc):
                        d = U[i, e, uc + q] + V[i, e2, vc + q]
                        BUF[0, uc + q] += d * d
            t = e - t0  # z_ab of row e: D_d at the same pixel
            if 0 <= t < TR and a1 > a0:
                for q in range(U64(a0), U64(a1)):
                    ac = BUF[0, q]
                    z = ZA[t, q]
                    ZA[t, q] = ac if ac < z else z
            t = e - t0 + dy  # z_ba of row e + dy: D_d at the pixel - d
            if 0 <= t < TR and b1 > b0:
                src = U64(b0 - dx)
                dst = U64(b0)
                for q in range(U64(b1 - b0)):
                    ac = BUF[0, src + q]
                    z = ZB[t, dst + q]
                    ZB[t, dst + q] = ac if ac < z else z
    # ---- Pass 3: T = max(z_ab, z_ba), structure damping, shadows; zero where invalid.
    v0 = max(0, tc0 - w)
    v1 = min(EC, tc1 + w)
    for t in range(TR):
        e = t + t0
        for q in range(U64(tc0), U64(tc1)):
            TM[t, q] = max(ZA[t, q], ZB[t, q])
        if w > 0:
            if t % 8 == 0:
                # Fresh sums every 8 rows: running float32 sums must not drift.
                for k in range(6):
                    for q in range(U64(v0), U64(v1)):
                        SV[k, q] = zero
                for e2 in range(max(0, e - w), min(ER, e + w + 1)):
                    _moments(VM, GA, GB, e2, v0, v1, SV, one)
            else:
                if e + w < ER:
                    _moments(VM, GA, GB, e + w, v0, v1, SV, one)
                if e - w - 1 >= 0:
                    _moments(VM, GA, GB, e - w - 1, v0, v1, SV, -one)
            for k in range(6):
                _box_cols(SV, k, w, tc0, tc1, EC, SH)
            for q in range(U64(tc0), U64(tc1)):
                inv = one / max(SH[0, q], one)
                ma = SH[1, q] * inv
                mb = SH[2, q] * inv
                va = max(SH[3, q] * inv - ma * ma, zero)
                vb = max(SH[4, q] * inv - mb * mb, zero)
                cov = SH[5, q] * inv - ma * mb
                sd = np.sqrt(va * vb)
                rho = cov / sd if sd > 0 else zero
                rho = min(max(rho, -one), one)
                tau = sd / (sd + struct_c)
                f = one - fl * tau * max(rho, zero)
                z = TM[t, q]
                z = z0 + (z - z0) * f if z > z0 else z
                TM[t, q] = z + add_w * tau * (one - rho) * np.float32(0.5)
        if nsh > 0:
            row = ta + t
            for q in range(tc0, tc1):
                if VM[e, q] == 0:
                    continue
                xa = GA[e, q]
                xb = GB[e, q]
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
                    TM[t, q] *= shadow_w
        for q in range(U64(tc0), U64(tc1)):
            TM[t, q] = TM[t, q] if VM[e, q] != 0 else zero
    # ---- Pass 4: box mean of T over valid pixels, score table, output.
    oc0 = k_a - ca
    oc1 = k_b - ca
    no = U64(oc1 - oc0)
    uoc = U64(oc0)
    ocol = U64(k_a - col0)
    for o in range(r_a, r_b):
        t = o - ta
        if b == 0:
            for q in range(no):
                ACC[0, q] = TM[t, uoc + q]
        else:
            for q in range(U64(tc0), U64(tc1)):
                SV[0, q] = zero
            for q in range(U64(tc0), U64(tc1)):
                SV[1, q] = zero
            for t2 in range(max(0, t - b), min(TR, t + b + 1)):
                for q in range(U64(tc0), U64(tc1)):
                    SV[0, q] += TM[t2, q]
                for q in range(U64(tc0), U64(tc1)):
                    SV[1, q] += VM[t2 + t0, q]
            _box_cols(SV, 0, b, oc0, oc1, tc1, SH)
            _box_cols(SV, 1, b, oc0, oc1, tc1, SH)
            for q in range(no):
                ACC[0, q] = SH[0, uoc + q] / max(SH[1, uoc + q], one)
        res = 0
        if use_lut:
            _lut_into(ACC, 0, U64(0), ACC, 1, U64(0), no, lut, inv_step, tail, t_end)
            res = 1
        er = o - ea
        orow = o - row0
        for q in range(no):
            out[orow, ocol + q] = ACC[res, q] if VM[er, uoc + q] != 0 else nan


def lut_args(null: NullModel | None) -> tuple[np.ndarray, np.float32, np.ndarray, np.float32]:
    """(table, 1 / step, tail constants, where the tail starts) for the kernels; an empty
    table = raw statistic."""
    if null is None:
        return EMPTY_LUT, np.float32(0.0), np.zeros(4), np.float32(np.inf)
    a1, a12, lg = null.tail_params
    # The tail starts a hair inside the table's end, so float32 rounding never leaves a pixel
    # between the clamped table and the tail.
    return (null.lut, np.float32(1.0 / null.step), np.array([0.5 / null.scale, a1, a12, lg]),
            np.float32(null.t_end * (1 - 1e-5)))


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
               raw: bool = False, block_rows: int = 32, block_cols: int = 512) -> np.ndarray:
    """Score (or the raw statistic with ``raw=True``) for the ``core`` region of a tile whose
    arrays carry the halo around it. Returns a float32 array of the core's shape."""
    row0, row1, col0, col1 = kernel_region(valid.shape, core)
    if out is None:
        out = np.empty((row1 - row0, col1 - col0), dtype=np.float32)
    x, y = _as_c(before), _as_c(after)
    if x.dtype != y.dtype:
        # Mixed bit depths (an 8-bit and an 11-bit date) are rare: one copy to the wider type
        # costs less than compiling (and caching) the kernels for every pair of dtypes.
        common = np.result_type(x.dtype, y.dtype)
        x, y = x.astype(common, copy=False), y.astype(common, copy=False)
    v = _as_c(valid.astype(np.bool_, copy=False))
    lut, inv_step, tail, t_end = lut_args(None if raw else model.null)
    if model.is_basic:
        basic_kernel(x, y, v, model.wx, model.wy, model.c, lut, inv_step, tail, t_end,
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
                  lut, inv_step, tail, t_end, row0, row1, col0, col1, out, block_rows,
                  block_cols, get_num_threads())
    return out
