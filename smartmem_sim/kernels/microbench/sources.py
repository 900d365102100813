"""The microbenchmarks' OpenCL C (our own, small). Every kernel writes something derived from all it read
into ``sink`` so the compiler cannot drop the reads.

- ``mb_chase_image``: one work-item follows a chain stored in an RGBA float32 image: the texel at (x, y)
  holds the next coordinates in its R and G lanes. Each step is one dependent texture read, so the
  kernel's time / steps is the latency of whichever level serves the chain.
- ``mb_chase_buffer``: the same over an int buffer (element i holds the next index).
- ``mb_stream_image``: a (width, groups) grid; work-item (gx, gy) reads ``count`` texels of column gx at
  rows gy, gy + groups, ... wrapping around the image's ``height``: consecutive work-items read consecutive
  texels (row-wise, coalesced), and the footprint (the image) is independent of the parallelism, so a
  small image read by every core measures the per-core level and a large one the outer levels.
- ``mb_stream_buffer``: the same walk over a float4 buffer holding the image's texels row-major.
- ``mb_empty``: does nothing visible (launch overhead).
"""

SAMPLER = ("__constant sampler_t mb_sampler = CLK_NORMALIZED_COORDS_FALSE | CLK_ADDRESS_CLAMP_TO_EDGE"
           " | CLK_FILTER_NEAREST;\n")

CHASE_IMAGE = SAMPLER + r"""
__kernel void mb_chase_image(__read_only image2d_t chain, const int steps, __global float *sink) {
  int2 p = (int2)(0, 0);
  for (int i = 0; i < steps; ++i) {
    const float4 v = read_imagef(chain, mb_sampler, p);
    p = (int2)((int)v.x, (int)v.y);
  }
  sink[0] = (float)p.x + 65536.0f * (float)p.y;
}
"""

CHASE_BUFFER = r"""
__kernel void mb_chase_buffer(__global const int *chain, const int steps, __global int *sink) {
  int i = 0;
  for (int s = 0; s < steps; ++s) i = chain[i];
  sink[0] = i;
}
"""

STREAM_IMAGE = SAMPLER + r"""
__kernel void mb_stream_image(__read_only image2d_t src, const int height, const int count,
                              __global float4 *sink) {
  const int gx = get_global_id(0), gy = get_global_id(1);
  const int step = (int)get_global_size(1) % height;
  int y = gy % height;
  float4 acc = (float4)(0.0f);
  for (int i = 0; i < count; ++i) {
    acc += read_imagef(src, mb_sampler, (int2)(gx, y));
    y += step;
    if (y >= height) y -= height;
  }
  sink[gy * get_global_size(0) + gx] = acc;
}
"""

STREAM_BUFFER = r"""
__kernel void mb_stream_buffer(__global const float4 *src, const int height, const int count,
                               __global float4 *sink) {
  const int gx = get_global_id(0), gy = get_global_id(1), width = get_global_size(0);
  const int step = (int)get_global_size(1) % height;
  int y = gy % height;
  float4 acc = (float4)(0.0f);
  for (int i = 0; i < count; ++i) {
    acc += src[y * width + gx];
    y += step;
    if (y >= height) y -= height;
  }
  sink[gy * width + gx] = acc;
}
"""

EMPTY = r"""
__kernel void mb_empty(__global float *sink, const int never) {
  if ((int)get_global_id(0) == never) sink[0] = 1.0f;
}
"""

ALL = {"mb_chase_image": CHASE_IMAGE, "mb_chase_buffer": CHASE_BUFFER, "mb_stream_image": STREAM_IMAGE,
       "mb_stream_buffer": STREAM_BUFFER, "mb_empty": EMPTY}
