"""An independent reference in PyTorch: a network written from its spec with torch's own
functions (activations, losses, ``F.batch_norm`` for a BatchNorm), differentiated by torch's
autograd. Nothing here comes from symbackprop's derivation."""

import torch
import torch.nn.functional as F

import symbackprop as sb

ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "identity": lambda z: z,
    "softmax": lambda z: torch.softmax(z, dim=1),
    "elu": F.elu,
    "gelu": F.gelu,  # the exact form, by erf
    "swish": F.silu,
}


def outputs(network, params, X, masks, training=True):
    """The network's outputs, node by node (a chain's layers in turn, a graph's nodes in the
    order they were made): ``masks`` in the order of the Dropouts (a dict, as
    ``network.dropout`` keys them); BatchNorm by the batch's statistics (training) or by
    params' mean<i>, var<i>; an ActivationLayer by torch's function; Add by ``+``,
    Concatenate by ``torch.cat``."""
    masks, values, i, b = iter(masks.values()), [], 0, 0
    for step in network.steps:
        layer = step.layer
        inputs = [values[s] for s in step.sources]
        if layer is None:
            A = torch.as_tensor(X)
        elif isinstance(layer, sb.Dropout):
            A = inputs[0] * torch.as_tensor(next(masks))
        elif isinstance(layer, sb.BatchNorm):
            b += 1
            A = F.batch_norm(
                inputs[0],
                None if training else params[f"mean{b}"],
                None if training else params[f"var{b}"],
                params[f"gamma{b}"] if layer.scale else None,
                params[f"beta{b}"] if layer.center else None,
                training=training,
                eps=layer.eps,
            )
        elif isinstance(layer, sb.ActivationLayer):
            A = ACTIVATIONS[layer.activation.name](inputs[0])
        elif isinstance(layer, sb.Add):
            A = sum(inputs[1:], inputs[0])
        elif isinstance(layer, sb.Concatenate):
            A = torch.cat(inputs, dim=1)
        else:
            i += 1
            Z = inputs[0] @ params[f"W{i}"].T + (params[f"b{i}"] if layer.bias else 0.0)
            if layer.activation.name == "prelu":  # its slope is a parameter
                A = torch.where(Z > 0, Z, params[f"alpha{i}"] * Z)
            else:
                A = ACTIVATIONS[layer.activation.name](Z)
        values.append(A)
    return values[-1]


def loss(network, params, X, T, masks, training=True):
    """The mean loss by torch's functions (plus an L2 penalty where the spec has one)."""
    A = outputs(network, params, X, masks, training)
    penalty = 0.0
    if network.regularizer is not None:
        lam = dict(network.regularizer.settings)["lam"]
        for i in range(1, len(network.dense) + 1):
            penalty = penalty + lam * (params[f"W{i}"] ** 2).sum()
    T = torch.as_tensor(T)
    n = A.shape[0]
    if network.loss.name == "sparse_categorical_crossentropy":
        L = F.nll_loss(torch.log(A), T, reduction="sum") / n
    elif network.loss.name == "categorical_crossentropy":
        L = -(T * torch.log(A)).sum() / n
    elif network.loss.name == "binary_crossentropy":
        L = F.binary_cross_entropy(A, T, reduction="sum") / n
    else:  # mse, summed over the outputs, as the catalog's
        L = ((A - T) ** 2).sum() / n
    return L + penalty


def gradients(network, params, X, T, masks, training=True, names=None):
    """torch autograd's gradient of ``loss`` for each parameter in ``names`` (all)."""
    names = list(params) if names is None else names
    tensors = {k: torch.tensor(v, requires_grad=k in names) for k, v in params.items()}
    loss(network, tensors, X, T, masks, training).backward()
    return {k: tensors[k].grad.numpy() for k in names}
