"""The plateau schedule of §5 (/10 on a plateau of validation error, at most 3 times) and
the fixed one the experiments share."""
import numpy as np
import pytest
import tensorflow as tf

from alexnet_tf import config
from alexnet_tf.training.schedule import PlateauSchedule

ERRORS = [0.9, 0.8, 0.8, 0.795, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.6]
# Worked by hand with patience 2, min_delta 0.01: 0.795 is not an improvement on 0.8
# (needs < 0.79); reductions after epochs 3, 6 and 8; none after that, even on a plateau.
EXPECTED = [1e-2, 1e-2, 1e-2, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-5,
            1e-5, 1e-5, 1e-5, 1e-5, 1e-5]


def _schedule():
    return PlateauSchedule(0.01, factor=0.1, patience=2, min_delta=0.01, max_reductions=3)


def test_divides_by_ten_on_plateau_and_at_most_three_times():
    schedule = _schedule()
    rates = [schedule.update(e) for e in ERRORS]
    np.testing.assert_allclose(rates, EXPECTED, rtol=1e-12)
    assert int(schedule.reductions.numpy()) == 3


def test_state_survives_a_checkpoint_mid_way(tmp_path):
    first = _schedule()
    for e in ERRORS[:5]:
        first.update(e)
    path = tf.train.Checkpoint(schedule=first).write(str(tmp_path / "ckpt"))
    second = _schedule()
    tf.train.Checkpoint(schedule=second).read(path).assert_consumed()
    rates = [second.update(e) for e in ERRORS[5:]]
    np.testing.assert_allclose(rates, EXPECTED[5:], rtol=1e-12)


def test_paper_preset_defaults():
    schedule = PlateauSchedule.from_train_config(config.get_config("paper").train)
    assert (schedule.initial_learning_rate, schedule.factor, schedule.max_reductions) == (
        0.01, 0.1, 3)
    assert schedule.learning_rate == 0.01


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="patience"):
        PlateauSchedule(0.01, factor=0.1, patience=0, min_delta=0.0, max_reductions=3)
    with pytest.raises(ValueError, match="factor"):
        PlateauSchedule(0.01, factor=10.0, patience=2, min_delta=0.0, max_reductions=3)


def test_the_fixed_schedule_steps_after_the_listed_epochs_whatever_the_error():
    from alexnet_tf.training.schedule import FixedSchedule, from_train_config
    schedule = FixedSchedule(0.02, factor=0.1, step_epochs=(2, 5))
    assert schedule.learning_rate == 0.02                       # epoch 1
    # Worked by hand: epochs 1-2 at 0.02, 3-5 at 0.002, 6 on at 0.0002.
    rates = [schedule.update(error) for error in (0.9, 0.1, 0.9, None, 0.5, 0.5, 0.5)]
    np.testing.assert_allclose(rates, [0.02, 0.002, 0.002, 0.002, 2e-4, 2e-4, 2e-4],
                               rtol=1e-12)
    cfg = config.override(config.get_config("digits"), ["train.lr_schedule=fixed",
                                                         "train.lr_step_epochs=1"])
    assert isinstance(from_train_config(cfg.train), FixedSchedule)
    assert isinstance(from_train_config(config.get_config("paper").train), PlateauSchedule)
    assert not schedule.driven_by_validation and PlateauSchedule.driven_by_validation


def test_the_fixed_schedule_resumes_from_a_checkpoint(tmp_path):
    from alexnet_tf.training.schedule import FixedSchedule
    first = FixedSchedule(0.01, factor=0.5, step_epochs=(1, 3))
    first.update(None)
    first.update(None)
    path = tf.train.Checkpoint(schedule=first).write(str(tmp_path / "ckpt"))
    second = FixedSchedule(0.01, factor=0.5, step_epochs=(1, 3))
    tf.train.Checkpoint(schedule=second).read(path).assert_consumed()
    assert second.learning_rate == 0.005                        # epoch 3: one step so far
    assert second.update(None) == 0.0025
