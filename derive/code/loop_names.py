"""The names of the course's loop-form backward functions :mod:`.conv_reading` judges, and of
the forward helpers read beside them: here, without numpy, so that the checker can tell whether a
snippet needs that reading before it loads it."""

from __future__ import annotations

JUDGED = frozenset({"conv_backward", "pool_backward", "create_mask_from_window",
                    "distribute_value", "rnn_cell_backward", "rnn_backward",
                    "conv_backward_naive", "max_pool_backward_naive"})  # the last two CS231n's
FORWARD = frozenset({"zero_pad", "conv_single_step", "conv_forward", "pool_forward",
                     "rnn_cell_forward", "rnn_forward", "softmax", "conv_forward_naive",
                     "max_pool_forward_naive"})

__all__ = ["FORWARD", "JUDGED"]
