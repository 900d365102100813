"""The exception compiler passes and the front end raise for bad input."""


class CompilerError(ValueError):
    """Bad model or option. The message names the model, node, operator or dim and what to do."""
