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
from symbackprop.spec.files import load_networks

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


@pytest.mark.parametrize("target", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("network", [CLASSIFIER, REGRESSOR], ids=lambda n: n.name)
def test_check_estimator_passes_every_check_the_architecture_allows(network, target):
    """Every check of scikit-learn's check_estimator passes, except those that fit data the
    network's fixed shape cannot take — and each of those fails for exactly that reason, in
    fit's own words (so the exceptions hide nothing else). The PyTorch and JAX modules' Model
    is the same estimator."""
    model = sb.build(network, target=target).Model(epochs=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(model, on_fail=None)
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


@pytest.mark.parametrize("name", sorted(CLASSIFICATION_LOSSES))
def test_labels_in_a_column_fit_and_labels_that_cannot_are_refused_by_name(name):
    """A column of labels (n × 1, as a DataFrame's column comes) is labels, as scikit-learn
    takes it (it was read as the network's own targets: "T must have shape (60, 3)"); labels
    of types that cannot be sorted, and a y shorter than X, are refused naming y (a
    TypeError from np.unique, and the one-hot T's shape, before)."""
    activation = CLASSIFICATION_LOSSES[name]
    outputs = 3 if activation == "softmax" else 1
    network = sb.Network(
        f"column_{name}", 2, [sb.Dense(6, "tanh"), sb.Dense(outputs, activation)], name
    )
    X, y = make_blobs(
        60, n_features=2, centers=outputs if outputs > 1 else 2, random_state=1
    )
    labels = np.array(["cat", "dog", "eel"])[y]
    module = sb.build(network)
    by_column = module.Model(epochs=2).fit(X, labels[:, None])
    by_row = module.Model(epochs=2).fit(X, labels)
    assert np.array_equal(by_column.predict(X), by_row.predict(X))
    assert by_column.score(X, labels[:, None]) == by_row.score(X, labels)
    mixed = np.array(["cat", 1, 2.5] * 20, dtype=object)[: len(X)]
    if outputs == 1:
        mixed[mixed == 2.5] = "cat"
    with pytest.raises(ValueError, match="y mixes labels of the types .*int.*str"):
        module.Model(epochs=1).fit(X, mixed)
    short = "got 60 samples in X and 59 in y"
    with pytest.raises(ValueError, match=short):
        module.Model(epochs=1).fit(X, labels[:-1])
    with pytest.raises(ValueError, match=short):
        by_row.score(X, labels[:-1])


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


def test_a_regressor_predicts_in_the_shape_its_targets_came_in():
    """Fitted on a 1-D y, predict answers 1-D, as scikit-learn's regressors do (an N × 1
    answer would make y - predict(X) an N × N matrix); fitted on an N × 1 column, a column.
    """
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 2))
    y = X.sum(axis=1)
    module = sb.build(REGRESSOR)
    flat = module.Model(epochs=3).fit(X, y)
    column = module.Model(epochs=3).fit(X, y[:, None])
    assert flat.predict(X).shape == (30,) and column.predict(X).shape == (30, 1)
    np.testing.assert_array_equal(flat.predict(X), column.predict(X)[:, 0])
    assert (y - flat.predict(X)).shape == (30,)
    assert flat.score(X, y) == column.score(X, y[:, None])


def test_a_task_makes_the_quadratic_cost_a_digit_classifier():
    """Nielsen's network (Neural Networks and Deep Learning, ch. 1): sigmoid outputs, the
    quadratic cost ½‖y − t‖², classes told apart by the largest output — here on the 8×8
    digits scikit-learn ships, fitted on labels."""
    from sklearn.base import is_classifier
    from sklearn.datasets import load_digits

    network = sb.Network(
        "nielsen",
        64,
        [sb.Dense(15, "sigmoid"), sb.Dense(10, "sigmoid")],
        "half_sse",
        optimizer=sb.SGD(lr=3.0),
        task="multiclass",
    )
    assert network.describe().endswith("; task multiclass")
    module = sb.build(network)
    assert (module.TASK, module.TARGETS, module.PROBABILITIES) == (
        "multiclass",
        "real",
        False,
    )
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    model = module.Model(epochs=30, batch_size=10).fit(X[:1300], y[:1300])
    assert is_classifier(model) and list(model.classes_) == list(range(10))
    assert model.score(X[1300:], y[1300:]) > 0.85
    assert set(model.predict(X[1300:])) <= set(range(10))
    assert model.history_["accuracy"][-1] > 0.9
    assert not hasattr(model, "predict_proba")  # sigmoid outputs do not sum to 1
    with pytest.raises(TypeError, match="not class probabilities"):
        module.predict_proba(model.params_, X[:2])


def test_a_task_decides_classifier_or_regressor_and_probabilities():
    from sklearn.base import is_classifier, is_regressor

    def build(outputs, activation, loss, task):
        layers = [sb.Dense(4, "tanh"), sb.Dense(outputs, activation)]
        network = sb.Network(
            "task", 2, layers, loss, optimizer=sb.Adam(lr=0.05), task=task
        )
        return sb.build(network)

    soft = build(1, "sigmoid", "binary_crossentropy", "regression")
    assert soft.TASK == "regression" and is_regressor(soft.Model())
    binary = build(1, "sigmoid", "mse", "binary")
    assert binary.PROBABILITIES and is_classifier(binary.Model())
    X, y = make_blobs(40, n_features=2, centers=2, random_state=0)
    model = binary.Model(epochs=40).fit(X, np.array(["no", "yes"])[y])
    assert model.predict_proba(X).shape == (40, 2)
    assert model.score(X, np.array(["no", "yes"])[y]) > 0.8
    assert not build(1, "identity", "mse", "binary").PROBABILITIES
    sign = build(2, "tanh", "mae", "sign")
    assert sign.TASK == "sign" and not sign.PROBABILITIES


@pytest.mark.parametrize(
    ("outputs", "activation", "loss", "task", "message"),
    [
        (1, "identity", "mse", "ranking", "Network.task must be one of regression"),
        (3, "softmax", "sparse_categorical_crossentropy", "binary", "integer class"),
        (1, "sigmoid", "binary_crossentropy", "sign", "targets -1 and 1, but the loss"),
        (2, "softplus", "poisson", "sign", "needs values ≥ 0"),
        (1, "sigmoid", "mse", "multiclass", "an output unit per class .* got 1"),
        (1, "tanh", "hinge", "binary", "targets 0 and 1, but the loss 'hinge'"),
    ],
)
def test_a_task_the_loss_cannot_train_is_refused_by_name(
    outputs, activation, loss, task, message
):
    with pytest.raises(sb.SpecError, match=message):
        sb.Network("task", 2, [sb.Dense(outputs, activation)], loss, task=task)


def test_a_task_in_a_data_spec(tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text(
        '[[network]]\nname = "quad"\ninputs = 2\nloss = "half_sse"\ntask = "multiclass"\n'
        '[[network.layers]]\nunits = 3\nactivation = "sigmoid"\n'
    )
    (network,) = load_networks(spec)
    assert network.task == "multiclass" and network.effective_task == "multiclass"
    spec.write_text(spec.read_text().replace('"multiclass"', '"clustering"'))
    with pytest.raises(sb.SpecError, match="task must be one of"):
        load_networks(spec)


def test_sample_weight_reaches_the_model_through_pipelines_and_metadata_routing():
    import sklearn
    from sklearn.base import clone

    X, y = make_blobs(90, n_features=2, centers=3, random_state=0)
    weights = np.where(np.arange(90) < 10, 3.0, 1.0)
    module = sb.build(CLASSIFIER)
    direct = module.Model(epochs=5).fit(StandardScaler().fit_transform(X), y, weights)
    pipeline = make_pipeline(StandardScaler(), module.Model(epochs=5))
    pipeline.fit(X, y, model__sample_weight=weights)
    for name in module.PARAMS:
        np.testing.assert_array_equal(pipeline[-1].params_[name], direct.params_[name])
    with sklearn.config_context(enable_metadata_routing=True):
        model = (
            module.Model(epochs=5)
            .set_fit_request(sample_weight=True)
            .set_score_request(sample_weight=True)
        )
        assert clone(model)._metadata_request == {"fit": True, "score": True}
        scores = cross_val_score(model, X, y, params={"sample_weight": weights}, cv=3)
        assert scores.mean() > 0.8
        search = GridSearchCV(
            module.Model(epochs=5)
            .set_fit_request(sample_weight=True)
            .set_score_request(sample_weight=False),
            {"batch_size": [8, 16]},
            cv=3,
        )
        search.fit(X, y, sample_weight=weights)
        with pytest.raises(Exception, match="sample_weight"):  # asked but not said
            cross_val_score(
                module.Model(epochs=1), X, y, params={"sample_weight": weights}, cv=3
            )
    with pytest.raises(ValueError, match="True, False or None"):
        module.Model().set_fit_request(sample_weight="yes")
