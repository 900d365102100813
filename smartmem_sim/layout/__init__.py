"""The layout algebra: symbolic index expressions (expr), their simplification with the paper's
div/mod strength reduction (simplify), index maps and reshape steps (maps), layout operators as
index maps (ops), tensor layouts on 2.5D image memory and buffers (image), OpenCL C printing (opencl).

Typical use (the paper's worked example)::

    from smartmem_sim.layout.ops import Chain, Reshape, Transpose
    chain = Chain((2, 256, 4), [Reshape((16, 8, 4, 4)), Transpose((0, 2, 1, 3))])
    str(chain.forward(("i", "j", "k")))  # '(i, j, k) -> (i*8 + j//32, j%4, (j%32)//4, k)'
    chain.inverse()                      # output coords -> input coords, for an absorbing kernel
"""
