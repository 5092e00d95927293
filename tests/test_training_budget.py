"""The scaled pretraining budgets of bench/training_budget.py."""

import training_budget

from cryptocast.config import load_params
from cryptocast.training.kronos import PretrainParams
from cryptocast.training.toto import TotoTrainParams

TOTO = {"epochs": 10, "steps_per_epoch": 300, "warmup_steps": 100}
KRONOS = {"tokenizer": {"steps": 1400, "eval_every": 350, "lr": 0.002},
          "predictor": {"steps": 900, "eval_every": 150, "lr": 0.001}}


def test_toto_keeps_its_epochs_and_scales_the_steps_of_each():
    scaled = training_budget.scaled_budget("toto", TOTO, 0.25)
    assert scaled == {"epochs": 10, "steps_per_epoch": 75, "warmup_steps": 100}
    assert TOTO["steps_per_epoch"] == 300  # the params are not modified


def test_kronos_scales_both_phases_and_keeps_their_number_of_validations():
    scaled = training_budget.scaled_budget("kronos", KRONOS, 0.25)
    assert scaled["tokenizer"] == {"steps": 350, "eval_every": 87, "lr": 0.002}  # 4 evals
    assert scaled["predictor"] == {"steps": 225, "eval_every": 37, "lr": 0.001}  # 6 evals
    tiny = training_budget.scaled_budget("kronos", KRONOS, 0.0001)
    assert tiny["tokenizer"]["steps"] == tiny["tokenizer"]["eval_every"] == 1


def test_a_longer_budget_keeps_the_number_of_validations():
    assert training_budget.scaled_budget("toto", TOTO, 2)["steps_per_epoch"] == 600
    scaled = training_budget.scaled_budget("kronos", KRONOS, 2)
    assert scaled["tokenizer"] == {"steps": 2800, "eval_every": 700, "lr": 0.002}  # 4 evals
    assert scaled["predictor"] == {"steps": 1800, "eval_every": 300, "lr": 0.001}  # 6 evals


def test_budget_names_carry_the_scale_and_a_seed_other_than_params():
    assert training_budget.budget_name("kronos", 2.0, 42, 42) == "kronos-2"
    assert training_budget.budget_name("toto", 0.125, 43, 42) == "toto-0.125-seed43"


def test_the_scaled_budgets_of_params_yaml_are_valid_training_params():
    params = load_params("params.yaml")["pretrain"]
    TotoTrainParams(**training_budget.scaled_budget("toto", params["toto"], 0.125))
    PretrainParams.from_dict(training_budget.scaled_budget("kronos", params["kronos"], 0.125))
