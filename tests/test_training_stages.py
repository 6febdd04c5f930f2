"""A stage hands on its own result only if it scores at least what it received on the balanced
validation Dice (training/stages.py, keep_the_better): otherwise the received weights go back
into the model and the record keeps the stage's own result beside them."""

import numpy as np
import pytest

from training.stages import HANDOFF, SCORE, keep_the_better


def _model(seed):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))


@pytest.fixture
def received(tmp_path):
    """A stage folder whose hand-on is another model's weights; (folder, those weights)."""
    other = _model(1)
    other.save_weights(str(tmp_path / HANDOFF))
    return tmp_path, other.get_weights()


def _record(score):
    return {"stage": 2, "handed_on": "mean of epochs 2-6", SCORE: score,
            "weight_average": {"epochs": [2, 3, 4, 5, 6]}}


def test_a_stage_that_scores_below_what_it_received_hands_that_on(received):
    folder, received_weights = received
    model = _model(2)
    pairs = zip(model.get_weights(), received_weights, strict=True)
    assert any(not np.array_equal(a, b) for a, b in pairs)
    record = _record(0.64)
    changes = keep_the_better(model, record, folder, {"stage": 1, SCORE: 0.816})
    for got, want in zip(model.get_weights(), received_weights, strict=True):
        np.testing.assert_array_equal(got, want)
    record.update(changes)
    assert record[SCORE] == 0.816
    assert record["handed_on"].startswith("what it received (stage 1's hand-on)")
    assert "0.8160 against 0.6400" in record["handed_on"]
    # its own result is kept in the record, and it no longer claims an average was handed on
    assert record["own_result"] == {"handed_on": "mean of epochs 2-6", SCORE: 0.64,
                                    "weight_average": {"epochs": [2, 3, 4, 5, 6]}}
    assert "weight_average" not in record


@pytest.mark.parametrize("score", [0.82, 0.816])  # better, and a tie: the stage's own stands
def test_a_stage_that_scores_at_least_what_it_received_hands_on_its_own(received, score):
    folder, _ = received
    model = _model(2)
    own = model.get_weights()
    record = _record(score)
    assert keep_the_better(model, record, folder, {"stage": 1, SCORE: 0.816}) == {}
    for got, want in zip(model.get_weights(), own, strict=True):
        np.testing.assert_array_equal(got, want)
    assert record == _record(score)


def test_a_stage_sets_its_own_presence_weight_and_compiles_with_it():
    from training.recipes import SMOKE, Stage
    from training.stages import stage_config
    from training.train import TrainConfig, compile_for

    base = TrainConfig(epochs=2, batch_size=4, presence_weight=0.5)
    plain, heavier = Stage("a", 2, 1e-3), Stage("b", 2, 1e-4, presence_weight=1.0)
    assert stage_config(base, plain, SMOKE).presence_weight == 0.5  # the recipe's
    cfg = stage_config(base, heavier, SMOKE)
    assert (cfg.presence_weight, cfg.learning_rate) == (1.0, 1e-4)
    model = _model(3)
    compile_for(model, 1, cfg)
    assert model.loss.presence_weight == 1.0
    assert heavier.to_dict()["presence_weight"] == 1.0 and "presence_weight" not in plain.to_dict()


def test_a_recipe_without_stages_keeps_its_settings_in_its_one_stage():
    import dataclasses
    from types import SimpleNamespace

    from training.recipes import SMOKE
    from training.stages import custom_stage

    recipe = dataclasses.replace(SMOKE, average_last_epochs=2, dice_per_image=True)
    (stage,) = recipe.schedule()
    assert (stage.average_last_epochs, stage.dice_per_image, stage.presence_weight) == (2, True,
                                                                                       None)
    (custom,) = custom_stage(recipe, SimpleNamespace(epochs=3, learning_rate=None))
    assert (custom.epochs, custom.average_last_epochs, custom.presence_weight) == (3, 2, None)
