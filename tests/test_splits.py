import pandas as pd
import pytest
from conftest import make_candles

from cryptocast.data.splits import Splits, compute_splits

DAY = pd.Timedelta(days=1)


def test_splits_from_the_common_end_date():
    frames = {"A": make_candles(100), "B": make_candles(90)}  # B ends 10 days earlier
    splits = compute_splits(frames, "1d", DAY, val_steps=20, test_steps=10)
    assert splits.end == pd.Timestamp("2024-03-30")  # day 90 of B
    assert splits.test_start == pd.Timestamp("2024-03-21")
    assert splits.val_start == pd.Timestamp("2024-03-01")
    mask_val = splits.target_mask(frames["A"]["timestamp"], "validation")
    mask_test = splits.target_mask(frames["A"]["timestamp"], "test")
    assert mask_val.sum() == 20 and mask_test.sum() == 10
    assert not (mask_val & mask_test).any()
    # A's candles after the common end are in neither split
    assert not (mask_val | mask_test)[90:].any()


def test_splits_round_trip_and_bad_split_name():
    splits = compute_splits({"A": make_candles(100)}, "1d", DAY, 10, 10)
    assert Splits.from_dict(splits.to_dict()) == splits
    with pytest.raises(ValueError, match="unknown split 'train'"):
        splits.target_mask(make_candles(5)["timestamp"], "train")


def test_splits_need_history_before_validation():
    frames = {"A": make_candles(100), "NEW": make_candles(15, start="2024-03-26")}
    with pytest.raises(ValueError, match="NEW .* not before the validation start"):
        compute_splits(frames, "1d", DAY, 10, 10)


def test_splits_reject_non_positive_sizes():
    with pytest.raises(ValueError, match="eval.val_steps"):
        compute_splits({"A": make_candles(50)}, "1d", DAY, 0, 10)
