"""The one exception type kernels/ raises for bad input or an unusable OpenCL set-up."""


class KernelError(ValueError):
    """Bad kernel input (sizes, arrays, arguments, source) or no working OpenCL device.

    The message names the kernel, argument, image or device concerned and what to do about it.
    """
