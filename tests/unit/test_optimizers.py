"""Optimizers: slot tables and order, the per-dialect variable lists, configs, (de)serialization.

The expected values are what tf_keras 2.21 and Keras 3.15.1 produce (checked against the real
libraries in ``tests/oracle/test_optimizers_oracle.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from purekeras_io import optimizers
from purekeras_io.errors import ConfigError, TargetCompatibilityError
from purekeras_io.model.variable import Variable


def _weights() -> list[Variable]:
    """Stand-ins for Dense(4) → BatchNormalization → Dense(2) trainable weights on 3 features."""
    shapes = [("d1/kernel", (3, 4)), ("d1/bias", (4,)), ("bn/gamma", (4,)), ("bn/beta", (4,)),
              ("d2/kernel", (4, 2)), ("d2/bias", (2,))]
    return [Variable(p.split("/")[1], np.zeros(s, np.float32), path=p) for p, s in shapes]


def _names(opt: optimizers.Optimizer, dialect: str) -> list[str]:
    return [n for n, _ in opt.variables(_weights(), dialect)]  # type: ignore[arg-type]


# ============================================================================ slots and order


def test_adam_amsgrad_order_both_generations() -> None:
    opt = optimizers.Adam(amsgrad=True)
    k3 = _names(opt, "keras3")
    assert k3[:4] == ["adam/iteration", "adam/learning_rate", "adam/d1_kernel_momentum",
                      "adam/d1_kernel_velocity"]
    assert k3[-6:] == [f"adam/{v}_velocity_hat" for v in
                       ("d1_kernel", "d1_bias", "bn_gamma", "bn_beta", "d2_kernel", "d2_bias")]
    assert len(k3) == 2 + 3 * 6
    k2 = _names(opt, "keras2")
    assert k2[:3] == ["iteration", "Adam/m/d1/kernel", "Adam/v/d1/kernel"]
    assert k2[13:] == [f"Adam/vhat/{p}" for p in ("d1/kernel", "d1/bias", "bn/gamma", "bn/beta",
                                                   "d2/kernel", "d2/bias")]


def test_rmsprop_groups_slots_per_kind() -> None:
    opt = optimizers.RMSprop(momentum=0.5, centered=True)
    k2 = _names(opt, "keras2")
    assert [n.split("/")[1] for n in k2[1:]] == ["velocity"] * 6 + ["momentum"] * 6 + [
        "average_gradient"] * 6
    assert _names(opt, "keras3")[2] == "rm_sprop/d1_kernel_velocity"


def test_sgd_without_momentum_differs_between_generations() -> None:
    opt = optimizers.SGD()
    assert _names(opt, "keras3") == ["sgd/iteration", "sgd/learning_rate"]
    assert _names(opt, "keras2") == ["iteration"] + [f"SGD/m/{v.path}" for v in _weights()]
    assert len(_names(optimizers.SGD(momentum=0.9), "keras3")) == 8


def test_renamed_slots_and_extras() -> None:
    assert _names(optimizers.Adamax(), "keras3")[2:4] == ["adamax/d1_kernel_momentum",
                                                         "adamax/d1_kernel_norm"]
    assert _names(optimizers.Adamax(), "keras2")[1:3] == ["Adamax/m/d1/kernel",
                                                         "Adamax/u/d1/kernel"]
    nadam = optimizers.Nadam().variables(_weights(), "keras3")
    assert nadam[-1][0] == "nadam/variable" and float(nadam[-1][1]) == 1.0
    assert _names(optimizers.Nadam(), "keras2")[-1] == "Nadam/v/d2/bias"
    assert _names(optimizers.Ftrl(), "keras2")[1:3] == ["Ftrl/accumulator/d1/kernel",
                                                       "Ftrl/linear/d1/kernel"]


def test_initial_values_and_dtypes() -> None:
    opt = optimizers.Adagrad(initial_accumulator_value=0.3, learning_rate=0.05)
    out = dict(opt.variables(_weights(), "keras3"))
    assert out["adagrad/iteration"].dtype == np.int64 and out["adagrad/iteration"].shape == ()
    assert out["adagrad/learning_rate"].dtype == np.float32
    assert float(out["adagrad/learning_rate"]) == float(np.float32(0.05))
    assert np.all(out["adagrad/d1_kernel_accumulator"] == np.float32(0.3))
    ftrl = dict(optimizers.Ftrl(initial_accumulator_value=0.2).variables(_weights(), "keras2"))
    assert np.all(ftrl["Ftrl/accumulator/d1/bias"] == np.float32(0.2))
    assert np.all(ftrl["Ftrl/linear/d1/bias"] == 0)


def test_schedule_has_no_learning_rate_variable() -> None:
    sched = {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
                                                          "decay_steps": 10, "decay_rate": 0.9}}
    opt = optimizers.Adam(learning_rate=sched)
    assert _names(opt, "keras3")[:2] == ["adam/iteration", "adam/d1_kernel_momentum"]


def test_custom_name_prefixes_both_generations() -> None:
    opt = optimizers.Adam(name="my_opt")
    assert _names(opt, "keras2")[1] == "my_opt/m/d1/kernel"
    assert _names(opt, "keras3")[0] == "my_opt/iteration"
    assert opt.get_config("keras2")["name"] == opt.get_config("keras3")["name"] == "my_opt"


def test_var_names_override() -> None:
    names = [f"model/{v.path}" for v in _weights()]
    out = optimizers.Adam().variables(_weights(), "keras2", var_names=names)
    assert out[1][0] == "Adam/m/model/d1/kernel"


# ============================================================================ state


def test_set_from_variables_round_trip_and_cross_generation() -> None:
    rng = np.random.default_rng(0)
    opt = optimizers.Adam(amsgrad=True)
    layout = opt.variables(_weights(), "keras2")
    arrays = [np.asarray(7, np.int64)] + [rng.normal(size=a.shape).astype(np.float32)
                                          for _, a in layout[1:]]
    opt.set_from_variables(_weights(), arrays, "keras2")
    assert opt.iterations == 7
    again = [a for _, a in opt.variables(_weights(), "keras2")]
    for a, b in zip(again, arrays):
        np.testing.assert_array_equal(a, b)
    k3 = dict(opt.variables(_weights(), "keras3"))
    np.testing.assert_array_equal(k3["adam/d1_kernel_velocity_hat"], arrays[13])
    np.testing.assert_array_equal(k3["adam/d2_bias_velocity"], arrays[12])
    assert opt.slot_values is not None and opt.slot_values[0]["momentum"].shape == (3, 4)


def test_set_from_variables_keras3_sets_learning_rate_and_extras() -> None:
    opt = optimizers.Nadam()
    layout = opt.variables(_weights(), "keras3")
    arrays = [np.asarray(2, np.int64), np.asarray(0.5, np.float32)] + [
        np.ones(a.shape, np.float32) for _, a in layout[2:-1]] + [np.asarray(0.25, np.float32)]
    opt.set_from_variables(_weights(), arrays, "keras3")
    assert opt.learning_rate == 0.5 and opt.iterations == 2
    assert float(opt.variables(_weights(), "keras3")[-1][1]) == 0.25
    opt.set_state(5, opt.slot_values or [])
    assert float(opt.variables(_weights(), "keras3")[-1][1]) == pytest.approx(
        optimizers.nadam_u_product(5, 0.9))


def test_set_from_variables_refuses_wrong_layout() -> None:
    opt = optimizers.Adam()
    with pytest.raises(ConfigError, match="arrays"):
        opt.set_from_variables(_weights(), [np.asarray(0)], "keras3")
    layout = opt.variables(_weights(), "keras2")
    bad = [a for _, a in layout]
    bad[1] = np.zeros((9,), np.float32)
    with pytest.raises(ConfigError, match="shape"):
        opt.set_from_variables(_weights(), bad, "keras2")


def test_nadam_u_product() -> None:
    assert optimizers.nadam_u_product(0, 0.9) == 1.0
    assert optimizers.nadam_u_product(1, 0.9) == pytest.approx(0.9 * (1 - 0.5 * 0.96), rel=1e-6)
    assert optimizers.nadam_u_product(100000, 0.9) == 0.0


def test_build_and_backward_compatible_api() -> None:
    opt = optimizers.SGD(momentum=0.9)
    opt.build(_weights())
    assert opt.built and [s.keras3 for s in opt.active_slots()] == ["momentum"]
    assert [(i, s.keras3) for i, s in opt.slot_order(2)] == [(0, "momentum"), (1, "momentum")]
    assert len(opt.flat_slots()) == 6
    with pytest.raises(ConfigError):
        optimizers.Adam().set_state(1, [{"momentum": np.zeros(1)}])


# ============================================================================ configs


def test_config_key_order_and_float32_learning_rate() -> None:
    opt = optimizers.Adam()
    k3 = opt.get_config("keras3")
    assert list(k3)[:3] == ["name", "learning_rate", "weight_decay"]
    assert list(k3)[9:11] == ["loss_scale_factor", "gradient_accumulation_steps"]
    assert k3["learning_rate"] == 0.0010000000474974513 and k3["name"] == "adam"
    k2 = opt.get_config("keras2")
    assert list(k2)[:2] == ["name", "weight_decay"] and list(k2)[8:11] == [
        "jit_compile", "is_legacy_optimizer", "learning_rate"]
    assert k2["name"] == "Adam" and "loss_scale_factor" not in k2
    assert optimizers.RMSprop().get_config("keras3")["name"] == "rm_sprop"


def test_rmsprop_keras2_ema_overwrite_frequency_default() -> None:
    assert optimizers.RMSprop().get_config("keras2")["ema_overwrite_frequency"] == 100
    assert optimizers.RMSprop().get_config("keras3")["ema_overwrite_frequency"] is None
    k2 = optimizers.RMSprop().get_config("keras2")
    assert optimizers.RMSprop.from_config(k2).get_config("keras3")[
        "ema_overwrite_frequency"] is None


def test_keras3_only_values_refuse_keras2() -> None:
    with pytest.raises(TargetCompatibilityError, match="gradient_accumulation_steps"):
        optimizers.Adam(gradient_accumulation_steps=4).get_config("keras2")


def test_keras2_only_keys_kept_for_keras2() -> None:
    opt = optimizers.deserialize({"class_name": "Custom>Adam", "config": {
        "name": "Adam", "jit_compile": True, "is_legacy_optimizer": False, "learning_rate": 0.01}})
    assert opt.get_config("keras2")["jit_compile"] is True
    assert "jit_compile" not in opt.get_config("keras3")


@pytest.mark.parametrize("config", [
    {"class_name": "Custom>Adam", "config": {"name": "Adam", "learning_rate": 0.5}},
    {"module": "keras.optimizers", "class_name": "Adam", "config": {"name": "adam",
                                                                     "learning_rate": 0.5},
     "registered_name": None},
    {"class_name": "adam", "config": {"lr": 0.5}},
    {"class_name": "Adam", "config": {"name": "Adam", "learning_rate": 0.5, "decay": 0.0,
                                      "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
                                      "amsgrad": False}},
])
def test_deserialize_forms(config: dict) -> None:
    opt = optimizers.deserialize(config)
    assert isinstance(opt, optimizers.Adam) and opt.learning_rate == 0.5
    assert opt.name == "adam"


def test_deserialize_refuses_unknown() -> None:
    with pytest.raises(ConfigError, match="Frobnicator"):
        optimizers.deserialize({"class_name": "Frobnicator", "config": {}})
    with pytest.raises(ConfigError, match="momentum"):
        optimizers.deserialize({"class_name": "Adam", "config": {"momentum": 0.9}})
    with pytest.raises(ConfigError):
        optimizers.get(3)


def test_serialize_forms() -> None:
    opt = optimizers.Adam()
    assert opt.serialize("keras2") == {"class_name": "Custom>Adam",
                                       "config": opt.get_config("keras2")}
    assert opt.serialize("keras2", legacy=False) == {
        "module": "keras.optimizers", "class_name": "Adam", "config": opt.get_config("keras2"),
        "registered_name": None}
    assert opt.serialize("keras3")["config"]["name"] == "adam"


def test_schedule_envelope_and_name() -> None:
    sched = {"class_name": "ExponentialDecay", "config": {
        "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9, "staircase": False,
        "name": None}}
    opt = optimizers.Adam(learning_rate=sched)
    k3 = opt.get_config("keras3")["learning_rate"]
    assert k3["module"] == "keras.optimizers.schedules" and k3["registered_name"] is None
    assert k3["config"]["name"] == "ExponentialDecay"  # Keras 3's fit needs a named schedule
    assert opt.get_config("keras2")["learning_rate"]["config"]["name"] is None
    again = optimizers.deserialize(opt.serialize("keras3"))
    assert again.has_schedule and again.get_config("keras3")["learning_rate"] == k3


def test_get_by_name() -> None:
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("Lion"), optimizers.Lion)
    with pytest.raises(ConfigError, match="not known"):
        optimizers.get("adafactor")
