"""The implementations `make bench` times: the generated module, its peers, and two floors.

Each trains one network (ReLU hidden layers, softmax output, cross-entropy, plain SGD, float64)
one epoch at a time over a given batch order, from parameters it is given, so that every peer
can be checked to compute the same epoch before any of them is timed.
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass

import numpy as np

import symbackprop as sb


@dataclass(frozen=True)
class Case:
    """One benchmark: a network, its data and its mini-batch settings."""

    name: str
    network: sb.Network
    X: np.ndarray
    T: np.ndarray  # one-hot targets
    batch_size: int
    lr: float

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.network.sizes

    @property
    def labels(self) -> np.ndarray:
        return self.T.argmax(axis=1)


def network(name: str, sizes: tuple[int, ...], lr: float) -> sb.Network:
    """The benchmark network: ReLU hidden layers, softmax output, cross-entropy, plain SGD."""
    *hidden, classes = sizes[1:]
    layers = [sb.Dense(units, activation="relu") for units in hidden]
    return sb.Network(
        name=name,
        inputs=sizes[0],
        layers=[*layers, sb.Dense(classes, activation="softmax")],
        loss="categorical_crossentropy",
        optimizer=sb.SGD(lr=lr),
    )


def batches(n: int, batch_size: int):
    return range(0, n, batch_size)


def synchronize(array) -> None:
    """Wait for a GPU's queued work on ``array``'s device, so that a timing includes it."""
    if getattr(array, "is_cuda", False):
        import torch

        torch.cuda.synchronize(array.device)


class Peer:
    """An implementation under test; ``missing`` says why it cannot run here (None: it can)."""

    name = ""
    missing: str | None = None
    trains = True  # False for the floors, which only do part of the work
    epochs = 1  # epochs per call of ``epoch``: its time is divided by them
    #: the library the peer needs beyond NumPy, set as the attribute of its name (self.torch)
    requires: str | None = None

    def __init__(self, case: Case):
        self.case = case
        if self.requires:
            setattr(self, self.requires, _module(self.requires))
            if getattr(self, self.requires) is None:
                self.missing = f"{self.requires} is not installed"

    def load(self, params: dict[str, np.ndarray]) -> None:
        """Start from these parameters (keys W1, b1, …; W of shape (out, in))."""
        self.W = [params[f"W{i}"].copy() for i in range(1, len(self.case.sizes))]
        self.b = [params[f"b{i}"].copy() for i in range(1, len(self.case.sizes))]

    def params(self) -> dict[str, np.ndarray]:
        named = {}
        for i, (W, b) in enumerate(zip(self.W, self.b), start=1):
            named[f"W{i}"], named[f"b{i}"] = W, b
        return named

    def epoch(self, order: np.ndarray, seed: int) -> None:
        """One epoch over the batches of ``order`` (drawn as default_rng(seed).permutation)."""
        raise NotImplementedError


class Generated(Peer):
    """The module symbackprop generates, through its public ``train``: with its default
    metrics (loss and accuracy recorded), or with ``metrics=()``; NumPy, or another target;
    one epoch per call, or ``epochs`` in one call (as a fit runs them: the call's checks and
    conversions shared; it then ends elsewhere than one epoch and is not compared); X and T
    as NumPy arrays, or (``on_device``, JAX) as the library's arrays, put on its device once
    as the hand-written peer holds them.
    """

    def __init__(
        self,
        case: Case,
        metrics: tuple[str, ...] | None = None,
        target="numpy",
        epochs: int = 1,
        on_device: bool = False,
    ):
        super().__init__(case)
        self.name = "symbackprop" + ("" if target == "numpy" else f" --target {target}")
        self.name += "" if metrics is None else ", metrics=()"
        self.name += "" if epochs == 1 else f", {epochs} epochs per call"
        self.name += ", X and T as JAX arrays" if on_device else ""
        self.data = (case.X, case.T)
        self.epochs, self.trains = epochs, epochs == 1
        self.trains_with = {} if metrics is None else {"metrics": metrics}
        library = None if target == "numpy" else _module(target)
        if target != "numpy" and library is None:
            self.missing = f"{target} is not installed"
            return
        self.module = sb.build(case.network, target=target)
        if on_device:  # float64 JAX arrays: made with JAX's 64-bit types on
            with library.enable_x64(True):
                self.data = tuple(map(library.device_put, self.data))

    def load(self, params):
        self.values = {key: value.copy() for key, value in params.items()}

    def params(self):
        return self.values

    def epoch(self, order, seed):
        case = self.case
        self.values, _ = self.module.train(
            self.values,
            *self.data,
            epochs=self.epochs,
            batch_size=case.batch_size,
            lr=case.lr,
            seed=seed,
            verbose=0,
            **self.trains_with,
        )


class HandNumPy(Peer):
    """A straightforward hand-written NumPy implementation, as a lecture would write it."""

    name = "hand-written NumPy"

    def epoch(self, order, seed):
        X, T, lr = self.case.X, self.case.T, self.case.lr
        W, b = self.W, self.b
        for start in batches(len(order), self.case.batch_size):
            batch = order[start : start + self.case.batch_size]
            activations, x = [X[batch]], X[batch]
            for i in range(len(W)):
                z = x @ W[i].T + b[i]
                if i < len(W) - 1:
                    x = np.maximum(z, 0)
                else:
                    e = np.exp(z - z.max(axis=1, keepdims=True))
                    x = e / e.sum(axis=1, keepdims=True)
                activations.append(x)
            delta = (activations[-1] - T[batch]) / len(batch)
            for i in reversed(range(len(W))):
                dW = delta.T @ activations[i]
                db = delta.sum(axis=0)
                if i > 0:
                    delta = (delta @ W[i]) * (activations[i] > 0)
                W[i] -= lr * dW
                b[i] -= lr * db


class MatrixProducts(Peer):
    """The floor: the same matrix products alone (forward, δ for every layer but the input,
    weight gradients), into preallocated arrays, over contiguous slices of X."""

    name = "floor: the matrix products alone"
    trains = False
    #: whether to also gather the epoch's order and update the weights in place (the subclass)
    passes = False

    def load(self, params):
        super().load(params)
        size, widths = self.case.batch_size, self.case.sizes
        # finite errors, small enough that the in-place updates of ProductsAndPasses leave
        # the weights (and so every product) near their scale: no inf, nan or denormals
        rng = np.random.default_rng(0)
        self.A = [np.zeros((size, width)) for width in widths]
        self.D = [1e-8 * rng.standard_normal((size, width)) for width in widths]
        self.G = [np.zeros_like(W) for W in self.W]

    #: the library's matrix product, writing into ``out``
    matmul = staticmethod(np.matmul)

    def samples(self, order):
        """The epoch's inputs: gathered in its order where the floor includes that pass."""
        return self.case.X[order] if self.passes else self.case.X

    def epoch(self, order, seed):
        X, W, matmul = self.samples(order), self.W, self.matmul
        for start in batches(len(order), self.case.batch_size):
            x = X[start : start + self.case.batch_size]
            m = x.shape[0]
            A = [x] + [a[:m] for a in self.A[1:]]
            D = [d[:m] for d in self.D]
            for i in range(len(W)):
                matmul(A[i], W[i].T, out=A[i + 1])
            for i in reversed(range(len(W))):
                matmul(D[i + 1].T, A[i], out=self.G[i])
                if i > 0:
                    matmul(D[i + 1], W[i], out=D[i])
                if self.passes:
                    W[i] -= self.G[i]
        synchronize(X)


class ProductsAndPasses(MatrixProducts):
    """The floor plus what any shuffled SGD epoch must also do: gather the samples in the
    epoch's order, and subtract each weight gradient from its weights in place."""

    name = "floor + shuffle gather + in-place updates"
    passes = True


def _module(name: str):
    """The installed module, or None."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class ScikitLearn(Peer):
    """scikit-learn's MLPClassifier: solver="sgd", momentum 0, alpha 0, partial_fit per epoch."""

    name = "scikit-learn MLPClassifier"

    def __init__(self, case):
        super().__init__(case)
        neural = _module("sklearn.neural_network")
        if neural is None:
            self.missing = "scikit-learn is not installed"
            return
        self.model = neural.MLPClassifier(
            hidden_layer_sizes=case.sizes[1:-1],
            activation="relu",
            solver="sgd",
            learning_rate_init=case.lr,
            momentum=0.0,
            nesterovs_momentum=False,
            alpha=0.0,
            batch_size=case.batch_size,
            random_state=0,
        )
        self.classes = np.arange(case.sizes[-1])

    def load(self, params):
        # one update on one sample creates the layers; then they are replaced
        self._fit(self.case.X[:1], self.case.labels[:1])
        count = len(self.case.sizes) - 1
        self.model.coefs_ = [params[f"W{i}"].T.copy() for i in range(1, count + 1)]
        self.model.intercepts_ = [params[f"b{i}"].copy() for i in range(1, count + 1)]
        self.model._optimizer.params = self.model.coefs_ + self.model.intercepts_

    def params(self):
        self.W = [coef.T for coef in self.model.coefs_]
        self.b = list(self.model.intercepts_)
        return super().params()

    def _fit(self, X, labels):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after one epoch
            self.model.partial_fit(X, labels, classes=self.classes)

    def epoch(self, order, seed):
        # shuffle=False with the epoch's order given: the same batches as every other peer
        self.model.shuffle = False
        self._fit(self.case.X[order], self.case.labels[order])


def torch_device(torch):
    """Where the torch peers run: as a generated torch module decides (SYMBACKPROP_DEVICE,
    else CUDA if present, else the CPU)."""
    return torch.device(
        os.environ.get("SYMBACKPROP_DEVICE")
        or ("cuda" if torch.cuda.is_available() else "cpu")
    )


class PyTorch(Peer):
    """PyTorch eager on the torch device: nn.Sequential of Linear and ReLU, CrossEntropyLoss,
    optim.SGD."""

    name = "PyTorch eager (autograd)"
    requires = "torch"

    def load(self, params):
        torch, device = self.torch, torch_device(self.torch)
        layers = []
        for i in range(1, len(self.case.sizes)):
            W = params[f"W{i}"]
            linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W))
                linear.bias.copy_(torch.from_numpy(params[f"b{i}"]))
            layers += [linear, torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1]).to(device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.case.lr)
        self.loss = torch.nn.CrossEntropyLoss()
        self.X = torch.as_tensor(self.case.X, device=device)
        self.labels = torch.as_tensor(self.case.labels, device=device)

    def params(self):
        linears = [m for m in self.model if isinstance(m, self.torch.nn.Linear)]
        self.W = [m.weight.detach().cpu().numpy() for m in linears]
        self.b = [m.bias.detach().cpu().numpy() for m in linears]
        return super().params()

    def epoch(self, order, seed):
        order = self.torch.as_tensor(order, device=self.X.device)
        for start in batches(len(order), self.case.batch_size):
            batch = order[start : start + self.case.batch_size]
            self.optimizer.zero_grad()
            self.loss(self.model(self.X[batch]), self.labels[batch]).backward()
            self.optimizer.step()
        synchronize(self.X)


class HandTorch(Peer):
    """The hand-written NumPy peer's formulas in PyTorch tensors on the torch device, without
    autograd: what a practitioner writes by hand to compare with the torch target."""

    name = "hand-written PyTorch"
    requires = "torch"

    def load(self, params):
        torch, device = self.torch, torch_device(self.torch)
        count = len(self.case.sizes)
        self.W = [torch.tensor(params[f"W{i}"], device=device) for i in range(1, count)]
        self.b = [torch.tensor(params[f"b{i}"], device=device) for i in range(1, count)]
        self.X = torch.as_tensor(self.case.X, device=device)
        self.T = torch.as_tensor(self.case.T, device=device)

    def params(self):
        named = {}
        for i, (W, b) in enumerate(zip(self.W, self.b), start=1):
            named[f"W{i}"], named[f"b{i}"] = W.cpu().numpy(), b.cpu().numpy()
        return named

    def epoch(self, order, seed):
        torch, lr = self.torch, self.case.lr
        W, b = self.W, self.b
        order = torch.as_tensor(order, device=self.X.device)
        X, T = self.X[order], self.T[order]
        for start in batches(len(order), self.case.batch_size):
            x = X[start : start + self.case.batch_size]
            activations = [x]
            for i in range(len(W)):
                z = x @ W[i].T + b[i]
                if i < len(W) - 1:
                    x = torch.relu(z)
                else:
                    e = torch.exp(z - z.amax(dim=1, keepdim=True))
                    x = e / e.sum(dim=1, keepdim=True)
                activations.append(x)
            delta = (x - T[start : start + self.case.batch_size]) / x.shape[0]
            for i in reversed(range(len(W))):
                dW = delta.T @ activations[i]
                db = delta.sum(dim=0)
                if i > 0:
                    delta = (delta @ W[i]) * (activations[i] > 0)
                W[i] -= lr * dW
                b[i] -= lr * db
        synchronize(X)


class TorchFloor(ProductsAndPasses):
    """PyTorch's floor: the matrix products, the shuffle's gather and the in-place weight
    updates alone (as ProductsAndPasses in NumPy), into preallocated tensors on the device.
    """

    name = "PyTorch floor: products + gather + updates"
    requires = "torch"

    def load(self, params):
        super().load(params)
        torch = self.torch
        self.matmul = torch.matmul
        device = torch_device(torch)
        moved = [
            [torch.as_tensor(a, device=device) for a in arrays]
            for arrays in (self.W, self.A, self.D, self.G)
        ]
        self.W, self.A, self.D, self.G = moved
        self.X = torch.as_tensor(self.case.X, device=device)

    def samples(self, order):
        return self.X[self.torch.as_tensor(order, device=self.X.device)]


class HipsAutograd(Peer):
    """HIPS autograd: grad of the mean cross-entropy written in autograd.numpy, SGD by hand."""

    name = "HIPS autograd"

    def __init__(self, case):
        super().__init__(case)
        self.autograd = _module("autograd")
        if self.autograd is None:
            self.missing = "autograd is not installed"
            return
        anp = _module("autograd.numpy")

        def loss(params, x, t):
            for W, b in params[:-1]:
                x = anp.maximum(anp.dot(x, W.T) + b, 0)
            W, b = params[-1]
            z = anp.dot(x, W.T) + b
            m = anp.max(z, axis=1, keepdims=True)
            log_sum = m + anp.log(anp.sum(anp.exp(z - m), axis=1, keepdims=True))
            return anp.sum(t * (log_sum - z)) / x.shape[0]

        self.gradient = self.autograd.grad(loss)

    def epoch(self, order, seed):
        X, T, lr = self.case.X, self.case.T, self.case.lr
        params = list(zip(self.W, self.b))
        for start in batches(len(order), self.case.batch_size):
            batch = order[start : start + self.case.batch_size]
            grads = self.gradient(params, X[batch], T[batch])
            params = [
                (W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)
            ]
        self.W = [W for W, _ in params]
        self.b = [b for _, b in params]


#: the epochs of the rows that time an epoch inside one ``train`` call
FIT_EPOCHS = 5


def peers(case: Case) -> list[Peer]:
    """Every implementation of ``case`` timed in the main process, ours first."""
    return [
        Generated(case),
        Generated(case, metrics=()),
        Generated(case, epochs=FIT_EPOCHS),
        HandNumPy(case),
        ScikitLearn(case),
        HipsAutograd(case),
        MatrixProducts(case),
        ProductsAndPasses(case),
    ]


def torch_peers(case: Case) -> list[Peer]:
    """The PyTorch implementations, timed in a process of their own: PyTorch's thread pool and
    OpenBLAS's disturb each other."""
    return [
        Generated(case, target="torch"),
        Generated(case, target="torch", epochs=FIT_EPOCHS),
        HandTorch(case),
        PyTorch(case),
        TorchFloor(case),
    ]
