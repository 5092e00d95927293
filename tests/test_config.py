import pytest
from tiny import section

from cryptocast.config import EvalConfig, load_params, merge_params, symbols_from_params


def test_unknown_and_invalid_params_name_the_key():
    with pytest.raises(ValueError, match=r"params eval: unknown keys \['horizn'\]"):
        EvalConfig.from_params({"eval": section("eval", horizn=2)})
    with pytest.raises(ValueError, match=r"params eval: missing keys \['n_boot'\]"):
        EvalConfig.from_params({"eval": {k: v for k, v in section("eval").items()
                                         if k != "n_boot"}})
    with pytest.raises(ValueError, match="eval.val_steps must be >= 1"):
        EvalConfig.from_params({"eval": section("eval", val_steps=0)})
    with pytest.raises(ValueError, match="params symbols"):
        symbols_from_params({"symbols": []})


def test_merge_params_overrides_recursively():
    base = {"eval": {"val_steps": 120, "test_steps": 120}, "symbols": ["A", "B"]}
    merged = merge_params(base, {"eval": {"val_steps": 30}, "symbols": ["C"]})
    assert merged == {"eval": {"val_steps": 30, "test_steps": 120}, "symbols": ["C"]}
    assert base["eval"]["val_steps"] == 120


def test_missing_params_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_params(tmp_path / "nope.yaml")


def test_from_mapping_names_missing_keys():
    from dataclasses import dataclass

    from cryptocast.config import from_mapping

    @dataclass
    class Needs:
        required: int
        optional: int = 1

    assert from_mapping(Needs, {"required": 2}, "s") == Needs(2, 1)
    with pytest.raises(ValueError, match=r"s: missing keys \['required'\]"):
        from_mapping(Needs, {"optional": 3}, "s")


def test_tracked_params_record_the_values_read():
    from cryptocast.config import TrackedParams

    params = TrackedParams({"seed": 1, "eval": {"horizon": 1, "n_boot": 10},
                            "sweep": {"defaults": {"n_trials": 5}, "symbols": {"A": {}}},
                            "symbols": ["A"]})
    assert params["seed"] == 1 and params.get("missing", 3) == 3
    assert "absent" not in params["sweep"]
    dict(params["eval"])  # a copy of the section reads every key of it
    merge_params(params["sweep"]["defaults"], {"n_trials": 6})
    assert params.reads == {"seed", "missing", "sweep.absent", "eval.horizon", "eval.n_boot",
                            "sweep.defaults.n_trials"}
    assert {**params["eval"]} == {"horizon": 1, "n_boot": 10}  # plain values come back
    assert params.opened == {"eval", "sweep", "sweep.defaults"}
