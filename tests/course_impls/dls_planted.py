"""One-line mistakes planted in the course's conv/pool and RNN backward functions
(:mod:`tests.course_impls.dls_conv`, :mod:`tests.course_impls.dls_rnn`), each planted alone: (name,
the function the edit is in, the line as written there, the line as planted, the gradients it
breaks)."""


CONV = [
    ("flipped_filter", "conv_backward",
     "+= W[:, :, :, c] * dZ[i, h, w, c]", "+= W[::-1, ::-1, :, c] * dZ[i, h, w, c]", "dA_prev"),
    ("wrong_filter_slice", "conv_backward",
     "+= W[:, :, :, c] * dZ[i, h, w, c]", "+= W[:, :, c, :] * dZ[i, h, w, c]", "dA_prev"),
    ("crop_of_the_4d_array", "conv_backward",
     "dA_prev[i, :, :, :] = da_prev_pad[pad:-pad, pad:-pad, :]",
     "dA_prev = dA_prev_pad[pad:-pad, pad:-pad, :]", "dA_prev"),
    ("crop_at_the_wrong_corner", "conv_backward",
     "dA_prev[i, :, :, :] = da_prev_pad[pad:-pad, pad:-pad, :]",
     "dA_prev[i, :, :, :] = da_prev_pad[:-2 * pad, :-2 * pad, :]", "dA_prev"),
    ("missing_stride", "conv_backward",
     "vert_start = stride * h", "vert_start = h", "dA_prev dW"),
    ("dW_from_the_unpadded_input", "conv_backward",
     "a_slice = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]",
     "a_slice = A_prev[i, vert_start:vert_end, horiz_start:horiz_end, :]", "dW"),
    ("db_overwritten", "conv_backward",
     "db[:, :, :, c] += dZ[i, h, w, c]", "db[:, :, :, c] = dZ[i, h, w, c]", "db"),
    ("mask_of_the_min", "create_mask_from_window",
     "mask = x == np.max(x)", "mask = x == np.min(x)", "dA_prev"),
    ("average_not_divided", "distribute_value",
     "average = dz / (n_H * n_W)", "average = dz", "dA_prev"),
    ("pool_missing_stride", "pool_backward",
     "vert_start = h * stride", "vert_start = h", "dA_prev"),
]


RNN = [
    ("dtanh_without_derivative", "rnn_cell_backward",
     "dtanh = (1 - a_next ** 2) * da_next", "dtanh = da_next", "dxt da_prev dWax dWaa dba"),
    ("dtanh_of_a_prev", "rnn_cell_backward",
     "dtanh = (1 - a_next ** 2) * da_next", "dtanh = (1 - a_prev ** 2) * da_next",
     "dxt da_prev dWax dWaa dba"),
    ("dWaa_with_a_next", "rnn_cell_backward",
     "dWaa = np.dot(dtanh, a_prev.T)", "dWaa = np.dot(dtanh, a_next.T)", "dWaa"),
    ("dba_summed_over_the_wrong_axis", "rnn_cell_backward",
     "dba = np.sum(dtanh, axis=1, keepdims=True)", "dba = np.sum(dtanh, axis=0, keepdims=True)",
     "dba"),
    ("missing_sum_over_t", "rnn_backward",
     "dWax += dWaxt", "dWax = dWaxt", "dWax"),
    ("gradient_through_time_dropped", "rnn_backward",
     "gradients = rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])",
     "gradients = rnn_cell_backward(da[:, :, t], caches[t])", "dx da0 dWax dWaa dba"),
    ("wrong_cache_step", "rnn_backward",
     "gradients = rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])",
     "gradients = rnn_cell_backward(da[:, :, t] + da_prevt, caches[T_x - 1 - t])",
     "dx da0 dWax dWaa dba"),
]

CS231N = [
    ("cs231n_flipped_filter", "conv_backward_naive",
     "+= w[f] * dout[n, f, i, j]", "+= w[f, :, ::-1, ::-1] * dout[n, f, i, j]", "dx"),
    ("cs231n_missing_stride", "conv_backward_naive",
     "h0 = i * stride\n" + " " * 20 + "w0 = j * stride\n" + " " * 20 + "window = x_pad",
     "h0 = i\n" + " " * 20 + "w0 = j * stride\n" + " " * 20 + "window = x_pad", "dx dw"),
    ("cs231n_crop_off_by_one", "conv_backward_naive",
     "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad[:, :, :H, :W]", "dx"),
    ("cs231n_db_overwritten", "conv_backward_naive",
     "db[f] += dout[n, f, i, j]", "db[f] = dout[n, f, i, j]", "db"),
    ("cs231n_pool_missing_stride", "max_pool_backward_naive",
     "h0 = i * stride\n" + " " * 20 + "w0 = j * stride\n" + " " * 20 + "window = x[n",
     "h0 = i\n" + " " * 20 + "w0 = j\n" + " " * 20 + "window = x[n", "dx"),
]
