"""Generated Models where scikit-learn users work: check_estimator, cross-validation, grid
search and pipelines, class labels of any kind for every classification loss."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import symbackprop as sb

CLASSIFIER = sb.Network(
    "clf",
    2,
    [sb.Dense(8, "tanh"), sb.Dense(3, "softmax")],
    "categorical_crossentropy",
    optimizer=sb.Adam(lr=0.05),
)
REGRESSOR = sb.Network(
    "reg", 2, [sb.Dense(8, "tanh"), sb.Dense(1)], "mse", optimizer=sb.Adam(lr=0.05)
)

#: why a check cannot pass, and the words fit says it with: a generated network has a fixed
#: input width (its spec's `inputs`) and a fixed output layer, while these checks fit data of
#: other widths (1, 3, 4, 5, 10 features) or more classes than the network has outputs
FIXED_ARCHITECTURE = {
    "feature(s), but": "the input width is fixed by the spec; the check fits other widths",
    "classes, but": "the output layer is fixed by the spec; the check fits more classes",
}


def _causes(error: BaseException) -> str:
    found = []
    while error is not None:
        found.append(str(error))
        error = error.__cause__ or error.__context__
    return " | ".join(found)


@pytest.mark.parametrize("network", [CLASSIFIER, REGRESSOR], ids=lambda n: n.name)
def test_check_estimator_passes_every_check_the_architecture_allows(network):
    """Every check of scikit-learn's check_estimator passes, except those that fit data the
    network's fixed shape cannot take — and each of those fails for exactly that reason, in
    fit's own words (so the exceptions hide nothing else)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(sb.build(network).Model(epochs=20), on_fail=None)
    passed, fixed, other = 0, set(), []
    for result in results:
        if result["status"] == "passed":
            passed += 1
        elif result["status"] == "skipped":
            # what this machine lacks (pandas; SciPy's array API flag), said by scikit-learn
            assert any(
                word in str(result["exception"])
                for word in ("pandas", "SCIPY_ARRAY_API")
            ), result
        else:
            causes = _causes(result["exception"])
            if any(words in causes for words in FIXED_ARCHITECTURE):
                fixed.add(result["check_name"])
            else:
                other.append((result["check_name"], causes[:300]))
    assert other == []
    assert passed >= 25
    # the classics pass: parameters, cloning, unfitted errors, repr, fit returns self, …
    names = {r["check_name"] for r in results if r["status"] == "passed"}
    assert {
        "check_get_params_invariance",
        "check_set_params",
        "check_estimators_unfitted",
        "check_parameters_default_constructible",
        "check_complex_data",
        "check_requires_y_none",
        "check_estimator_repr",
    } <= names
    assert fixed  # documented above, and checked to be the architecture's


def test_cross_validation_grid_search_and_pipelines_take_labels_of_any_kind():
    X, y = make_blobs(90, n_features=2, centers=3, random_state=0)
    module = sb.build(CLASSIFIER)
    scores = cross_val_score(module.Model(epochs=30), X, y, cv=3)
    assert scores.mean() > 0.8
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    pipeline = make_pipeline(StandardScaler(), module.Model(epochs=30))
    assert cross_val_score(pipeline, X, names, cv=3).mean() > 0.8
    fitted = pipeline.fit(X, names)
    assert set(fitted.predict(X)) <= set(names)
    assert list(fitted[-1].classes_) == ["setosa", "versicolor", "virginica"]
    search = GridSearchCV(module.Model(epochs=20), {"batch_size": [8, 32]}, cv=3)
    assert search.fit(X, y).best_params_["batch_size"] in (8, 32)
    Xr, yr = make_regression(60, n_features=2, random_state=0)
    regression = make_pipeline(StandardScaler(), sb.build(REGRESSOR).Model(epochs=60))
    assert cross_val_score(regression, Xr, yr / yr.std(), cv=3).mean() > 0.8


#: every loss whose network classifies (binary, multiclass or ±1 labels)
CLASSIFICATION_LOSSES = {
    "binary_crossentropy": "sigmoid",
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
    "hinge": "tanh",
    "squared_hinge": "tanh",
}


def test_the_classification_losses_are_every_loss_that_classifies():
    for name in sb.LOSSES:
        outputs = 3 if CLASSIFICATION_LOSSES.get(name) == "softmax" else 1
        activation = CLASSIFICATION_LOSSES.get(name, "sigmoid")
        network = sb.Network("any", 2, [sb.Dense(outputs, activation)], name)
        classifies = sb.build(network).TASK in ("binary", "multiclass", "sign")
        assert classifies == (name in CLASSIFICATION_LOSSES), name


@pytest.mark.parametrize("name", sorted(CLASSIFICATION_LOSSES))
def test_every_classification_loss_fits_class_labels(name):
    activation = CLASSIFICATION_LOSSES[name]
    outputs = 3 if activation == "softmax" else 1
    network = sb.Network(
        f"labels_{name}",
        2,
        [sb.Dense(6, "tanh"), sb.Dense(outputs, activation)],
        name,
        optimizer=sb.Adam(lr=0.05),
    )
    X, y = make_blobs(
        60, n_features=2, centers=outputs if outputs > 1 else 2, random_state=1
    )
    labels = np.array(["cat", "dog", "eel"])[y]
    module = sb.build(network)
    model = module.Model(epochs=40).fit(X, labels)
    assert list(model.classes_) == sorted(set(labels))
    assert set(model.predict(X)) <= set(labels)
    assert model.score(X, labels) > 0.8
    if module.TASK != "sign":
        assert model.predict_proba(X).shape == (60, len(model.classes_))
    with pytest.raises(ValueError, match="Unknown label type"):
        module.Model(epochs=1).fit(X, X[:, 0] + 0.5)


@pytest.mark.parametrize("network", [CLASSIFIER, REGRESSOR], ids=lambda n: n.name)
def test_what_the_width_bound_checks_test_holds_on_data_of_the_right_width(network):
    """The checks check_estimator cannot run here (they fit another width) test properties that
    hold for any width; they are tested on data the network takes: fit is idempotent, predict
    leaves the model unchanged and answers per sample (order and subsets), float32 and int
    inputs fit, a fitted model pickles, n_features_in_ is set and a wrong width is refused in
    scikit-learn's words."""
    import copy
    import pickle

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 2))
    y = (
        (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
        if network is CLASSIFIER
        else X.sum(axis=1)
    )
    module = sb.build(network)
    first = module.Model(epochs=5).fit(X, y)
    second = module.Model(epochs=5).fit(X, y).fit(X, y)
    for name in module.PARAMS:
        np.testing.assert_array_equal(first.params_[name], second.params_[name])
    before = copy.deepcopy(first.__dict__)
    predicted = first.predict(X)
    assert first.__dict__.keys() == before.keys()
    for key, value in before.items():
        if key != "history_":
            np.testing.assert_equal(first.__dict__[key], value)
    order = rng.permutation(40)
    # as scikit-learn's checks compare: to 1e-7 (a batch's BLAS blocking moves the last bit)
    np.testing.assert_allclose(first.predict(X[order]), predicted[order], rtol=1e-7)
    np.testing.assert_allclose(first.predict(X[:7]), predicted[:7], rtol=1e-7)
    for dtype in (np.float32, np.int64):
        module.Model(epochs=1).fit(X.astype(dtype), y).predict(X.astype(dtype))
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(first)).predict(X), predicted
    )
    assert first.n_features_in_ == 2
    with pytest.raises(
        ValueError, match="X has 3 feature\\(s\\), but .* is expecting 2"
    ):
        first.predict(np.zeros((4, 3)))
