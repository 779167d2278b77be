"""The target domains: one table that the spec, the checks, generated modules and the CLI share."""

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.spec.targets import DOMAINS


@pytest.mark.parametrize("name", sorted(set(DOMAINS) - {"labels"}))
def test_samples_and_probes_lie_in_their_domain(name):
    domain = DOMAINS[name]
    T = domain.sample(np.random.default_rng(0), 50, 3)
    assert T.shape == (50, 3) and domain.contains(T)
    assert domain.contains(np.array([float(sp.Rational(p)) for p in domain.probes]))
    assert domain.contains(np.array(domain.points))


@pytest.mark.parametrize(
    ("name", "outside"),
    [("probability", 1.5), ("probability", -0.1), ("nonnegative", -1.0), ("sign", 0.0)],
)
def test_a_value_outside_is_refused(name, outside):
    assert not DOMAINS[name].contains(np.array([[outside]]))


def test_labels_are_one_class_per_sample():
    labels = DOMAINS["labels"].sample(np.random.default_rng(0), 40, 3)
    assert labels.shape == (40,) and set(labels) <= {0, 1, 2}


def test_a_loss_names_a_domain_of_the_table():
    with pytest.raises(sb.SpecError, match="targets") as error:
        sb.Loss("odd", (sb.y - sb.t) ** 2, targets="integers")
    assert all(name in str(error.value) for name in DOMAINS)


def test_every_generated_module_checks_targets_with_its_loss_domain():
    for loss in sb.LOSSES.values():
        module = sb.build(
            sb.Network("n", 2, [sb.Dense(2, "softmax")], loss)
            if loss.min_units > 1 or loss.targets == "labels"
            else sb.Network("n", 2, [sb.Dense(1, "sigmoid")], loss)
        )
        assert module.TARGETS == loss.targets
        assert module.TARGET_DOMAIN == DOMAINS[loss.targets].constants()
