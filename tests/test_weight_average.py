import numpy as np
import pytest

from training.weight_average import mean_weights, parse_epoch_range


def test_epoch_range_is_inclusive_and_counts_from_one():
    assert parse_epoch_range("7-12") == [7, 8, 9, 10, 11, 12]
    assert parse_epoch_range(" 9 ") == [9]
    for bad in ("0-3", "5-2", "seven", "3-", ""):
        with pytest.raises(ValueError, match="epoch range"):
            parse_epoch_range(bad)


def test_mean_weights_is_elementwise_and_keeps_dtype():
    a = [np.array([[1.0, 2.0]], np.float32), np.array([4], np.int64)]
    b = [np.array([[3.0, 6.0]], np.float32), np.array([8], np.int64)]
    got = mean_weights([a, b])
    np.testing.assert_array_equal(got[0], [[2.0, 4.0]])
    assert got[0].dtype == np.float32 and got[1].dtype == np.int64 and got[1][0] == 6


def test_mean_weights_refuses_different_architectures_and_nothing():
    with pytest.raises(ValueError, match="different architectures"):
        mean_weights([[np.zeros(3)], [np.zeros(4)]])
    with pytest.raises(ValueError, match="no weights"):
        mean_weights([])
