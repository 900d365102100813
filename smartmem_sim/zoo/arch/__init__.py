"""Our own torch definitions of the zoo networks that no installed library provides.

One module per network, written from each paper's architecture description: ``cswin``, ``crossformer``,
``autoformer``, ``biformer``, ``flatten_transformer``, ``smt``, ``yolov8``. Every module exposes the same
small interface, so the zoo registry can treat them alike:

- ``build(tiny=False, seed=0) -> (model, inputs)``: the model in eval mode with deterministic random
  weights and a batch-1 example input tuple. ``tiny=True`` gives a twin with the same block structure and
  operator patterns (every distinctive reshape/transpose/attention pattern), few layers, small widths and
  a small input, for numeric checks through onnxruntime.
- ``make_model(cfg) -> nn.Module`` and the two configs ``FULL`` and ``TINY`` (plain dicts), so a caller can
  build the full-size network on the meta device (no weights allocated) to count parameters and MACs.
- ``input_shape(tiny) -> tuple[int, ...]``: the NCHW shape of the example input.
- ``PAPER``: the published figures of the full-size network (params in millions, GMACs at the input
  size) with their source.

The modules import torch, which is an optional extra (``pip install -e .[zoo]``); import them lazily.
"""
