"""The one exception type the index algebra, the layouts and the Plan raise for bad input."""


class LayoutError(ValueError):
    """A bad shape, permutation, index map, layout or plan. The message names the tensor, dim or step."""
