import numpy as np
import pytest

from cryptocast.forecast.aggregation import VALID_FORMS, aggregate, parse_aggregation

X = np.arange(1.0, 11.0)  # 1..10
OUTLIER = np.array([1.0, 2.0, 3.0, 4.0, 100.0])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("mean", 5.5),
        ("median", 5.5),
        ("p10", 1.9),
        ("p90", 9.1),
        ("quantile_25", 3.25),
        ("quantile_0.25", 3.25),
        ("trimmed_mean_10", 5.5),
        ("trimmed_mean_0.2", 5.5),
        ("lower_trimmed_mean_20", 6.5),  # drops 1, 2
        ("upper_trimmed_mean_20", 4.5),  # drops 9, 10
        ("lower_trimmed_mean_0.1", 6.0),
    ],
)
def test_exact_values_on_1_to_10(spec, expected):
    assert aggregate(X, spec) == pytest.approx(expected)


def test_trimming_and_winsorizing_tame_an_outlier():
    assert aggregate(OUTLIER, "trimmed_mean_20") == pytest.approx(3.0)  # mean of 2, 3, 4
    assert aggregate(OUTLIER, "winsorized_mean_20") == pytest.approx((2 + 2 + 3 + 4 + 4) / 5)
    assert aggregate(OUTLIER, "trimmed_mean_5") == pytest.approx(22.0)  # 5% of 5 rounds to 0


def test_std_based_specs():
    std = X.std()
    assert aggregate(X, "mean_minus_std_0.5") == pytest.approx(5.5 - 0.5 * std)
    assert aggregate(X, "mean_plus_std_1") == pytest.approx(5.5 + std)
    assert aggregate(X, "quantile_plus_std_50_-0.25") == pytest.approx(5.5 - 0.25 * std)
    assert aggregate(X, "mean_quantile_mix_0.9_0.25") == pytest.approx(0.75 * 5.5 + 0.25 * 9.1)


def test_axis_and_batch_shapes():
    samples = np.stack([X, 2 * X])[:, :, None]  # [2, 10, 1]: batch, sample, horizon
    out = aggregate(samples, "median", axis=1)
    assert out.shape == (2, 1)
    np.testing.assert_allclose(out[:, 0], [5.5, 11.0])


@pytest.mark.parametrize(
    "spec",
    ["avg", "trimmed_mean", "trimmed_mean_x", "quantile_150", "trimmed_mean_60",
     "mean_quantile_mix_0.5", "mean_quantile_mix_0.5_2", "median ", ""],
)
def test_invalid_specs_list_valid_forms(spec):
    with pytest.raises(ValueError, match="valid forms") as err:
        parse_aggregation(spec)
    for form in VALID_FORMS:
        assert form in str(err.value)


def test_trimming_always_leaves_samples():
    assert aggregate(np.array([1.0, 3.0]), "trimmed_mean_49") == pytest.approx(2.0)
    assert aggregate(np.array([1.0, 3.0]), "lower_trimmed_mean_99") == pytest.approx(3.0)
    for spec in ("trimmed_mean_50", "winsorized_mean_0.5", "lower_trimmed_mean_100"):
        with pytest.raises(ValueError, match="out of range"):
            parse_aggregation(spec)


SAMPLES = np.random.default_rng(0).normal(size=1000)


@pytest.mark.parametrize(
    ("spec", "same_as"),
    [
        ("quantile_1", np.quantile(SAMPLES, 0.01)),  # an integer is a percent ...
        ("quantile_1.0", SAMPLES.max()),  # ... a number with a decimal point a fraction
        ("quantile_0", SAMPLES.min()),
        ("quantile_100", SAMPLES.max()),
        ("quantile_0.50", np.median(SAMPLES)),  # the plan's BTC config 2
        ("quantile_50", np.median(SAMPLES)),
        ("trimmed_mean_1", np.sort(SAMPLES)[10:990].mean()),  # 1 % per tail
        ("trimmed_mean_5", np.sort(SAMPLES)[50:950].mean()),  # the plan's default
        ("trimmed_mean_0.05", np.sort(SAMPLES)[50:950].mean()),
        ("trimmed_mean_20", np.sort(SAMPLES)[200:800].mean()),  # the plan's ETH baseline
        ("trimmed_mean_3", np.sort(SAMPLES)[30:970].mean()),  # the plan's 2.2 candidate
        ("winsorized_mean", np.clip(SAMPLES, *np.sort(SAMPLES)[[50, 949]]).mean()),  # = _5
    ],
)
def test_the_level_rule_and_the_plans_specs(spec, same_as):
    assert aggregate(SAMPLES, spec) == pytest.approx(same_as)
