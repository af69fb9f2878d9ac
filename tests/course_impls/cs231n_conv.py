"""CS231n's assignment 2 naive convolution and max-pool backward functions (cs231n/layers.py),
written here after the assignment's template: its signatures, its caches ((x, w, b,
conv_param) and (x, pool_param)), its layout (x (N, C, H, W), w (F, C, HH, WW), b (F,)); the loops
and names are this file's own. ``derive check --code`` reads it (never runs it); the tests run
it. tests/course_impls/dls_planted.py plants one-line mistakes in it.
"""

import numpy as np


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    dx_pad = np.zeros(x_pad.shape)
    dw = np.zeros(w.shape)
    db = np.zeros(b.shape)

    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    h0 = i * stride
                    w0 = j * stride
                    window = x_pad[n, :, h0:h0 + HH, w0:w0 + WW]
                    dw[f] += window * dout[n, f, i, j]
                    dx_pad[n, :, h0:h0 + HH, w0:w0 + WW] += w[f] * dout[n, f, i, j]
                    db[f] += dout[n, f, i, j]

    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    _, _, H_out, W_out = dout.shape
    dx = np.zeros(x.shape)

    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    h0 = i * stride
                    w0 = j * stride
                    window = x[n, c, h0:h0 + ph, w0:w0 + pw]
                    mask = window == np.max(window)
                    dx[n, c, h0:h0 + ph, w0:w0 + pw] += mask * dout[n, c, i, j]
    return dx
