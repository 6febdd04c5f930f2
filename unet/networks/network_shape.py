"""The shape of an encoder-decoder network, read from its layers: levels, sizes, filters.

Needs the Keras model; the engine stores :func:`architecture` beside its flatbuffers, so the app
can describe the network without loading Keras."""

from __future__ import annotations

_PASS_THROUGH = {"Dropout", "SpatialDropout2D", "Identity", "GaussianNoise"}


def levels(model) -> dict:
    """The network's levels, read from its layers' output sizes (any encoder-decoder network).

    The layers with a 2-D output, in order, fall into runs of one spatial size. The runs before
    the smallest size are the encoder levels, the run at the smallest size is the bottleneck,
    the runs after it are the decoder levels; each level is represented by its last layer
    (layers that only pass values through at inference, such as dropout, are skipped). The
    output layers (one channel) are not a level. Returns ``{"encoder": [(name, (h, w, c))],
    "bottleneck": (name, (h, w, c)), "decoder": [(name, (h, w, c))]}``, encoder largest
    first, decoder smallest first (the order of the forward pass).
    """
    import keras

    seq = []
    for layer in model.layers:
        shape = getattr(layer.output, "shape", None)
        if (isinstance(layer, keras.layers.InputLayer) or shape is None or len(shape) != 4
                or type(layer).__name__ in _PASS_THROUGH):
            continue
        seq.append((layer.name, (int(shape[1]), int(shape[2]), int(shape[3]))))
    while len(seq) > 1 and seq[-1][1][2] == 1:  # the output (and its logit): not a level
        seq.pop()
    runs: list[list] = []
    for name, shape in seq:
        if runs and runs[-1][-1][1][:2] == shape[:2]:
            runs[-1].append((name, shape))
        else:
            runs.append([(name, shape)])
    while len(runs) > 1 and runs[0][-1][1][2] <= 3:  # the input copied to colour channels
        runs.pop(0)
    smallest = min(run[0][1][0] * run[0][1][1] for run in runs)
    bottom = max(i for i, run in enumerate(runs) if run[0][1][0] * run[0][1][1] == smallest)
    return {"encoder": [run[-1] for run in runs[:bottom]], "bottleneck": runs[bottom][-1],
            "decoder": [run[-1] for run in runs[bottom + 1:]]}


def architecture(model) -> dict:
    """Levels of an encoder-decoder network: sizes and filter counts (see :func:`levels`).

    ``decoder`` is listed finest first, so that ``decoder[i]`` has the size of ``encoder[i]``
    when the network is symmetric."""
    found = levels(model)
    return {
        "input": tuple(int(v) for v in model.input_shape[1:]),
        "encoder": [shape for _, shape in found["encoder"]],
        "bottleneck": found["bottleneck"][1],
        "decoder": [shape for _, shape in reversed(found["decoder"])],
        "output": tuple(int(v) for v in model.output_shape[1:]),
        "parameters": int(model.count_params()),
        "layers": len(model.layers),
    }
