"""The access-instrumentation prelude every rendered kernel starts with: macros (``SM_READ_IMAGEF`` and friends)
that compile to plain image/buffer accesses, or, built with ``-DSM_INSTRUMENT``, also log every access for the
trace==kernel tests (smartmem_sim/kernels/runtime/instrument.py builds, runs and reads such logs). Text only, so
rendering needs no OpenCL driver. The text is part of every kernel's source, so of the kernel hashes that
measured CSVs record: changing even its comment makes earlier measurements unmatchable (calibration/kernel_hash.py).
"""
from __future__ import annotations

PRELUDE = r"""
/* smartmem-sim access instrumentation (smartmem_sim/kernels/runtime/instrument.py). */
#ifdef SM_INSTRUMENT
#ifndef SM_LOG_CAPACITY
#error "SM_INSTRUMENT needs -DSM_LOG_CAPACITY=<entries per work-item>"
#endif
#define SM_LOG_PARAMS , __global int* sm_log, volatile __global int* sm_log_overflow
#define SM_LOG_STRIDE (1 + 4 * (SM_LOG_CAPACITY))

size_t sm_global_linear_id(void) {
  return ((get_global_id(2) - get_global_offset(2)) * get_global_size(1)
          + (get_global_id(1) - get_global_offset(1))) * get_global_size(0)
         + (get_global_id(0) - get_global_offset(0));
}

/* Only the owning work-item touches its slice, so slot 0 needs no atomics. */
void sm_log_access(__global int* log, volatile __global int* overflow, int surface, int x, int y, int write) {
  __global int* slot = log + sm_global_linear_id() * SM_LOG_STRIDE;
  const int n = slot[0];
  if (n < (SM_LOG_CAPACITY)) {
    __global int* e = slot + 1 + 4 * n;
    e[0] = surface; e[1] = x; e[2] = y; e[3] = write;
  } else {
    atomic_inc(overflow);
  }
  slot[0] = n + 1;
}

int2 sm_log_image(int2 c, int surface, int write, __global int* log, volatile __global int* overflow) {
  sm_log_access(log, overflow, surface, c.x, c.y, write);
  return c;
}

long sm_log_buffer(long index, long elem_bytes, int surface, int write,
                   __global int* log, volatile __global int* overflow) {
  sm_log_access(log, overflow, surface, (int)(index * elem_bytes), 0, write);
  return index;
}

#define SM_READ_IMAGEF(img, smp, coord) \
  read_imagef((img), (smp), sm_log_image((coord), SM_SURFACE_##img, 0, sm_log, sm_log_overflow))
#define SM_WRITE_IMAGEF(img, coord, value) \
  write_imagef((img), sm_log_image((coord), SM_SURFACE_##img, 1, sm_log, sm_log_overflow), (value))
#define SM_LOAD(buf, index) \
  ((buf)[sm_log_buffer((index), sizeof((buf)[0]), SM_SURFACE_##buf, 0, sm_log, sm_log_overflow)])
#define SM_STORE(buf, index, value) \
  ((buf)[sm_log_buffer((index), sizeof((buf)[0]), SM_SURFACE_##buf, 1, sm_log, sm_log_overflow)] = (value))
#define SM_VLOAD4(index, buf) \
  vload4(sm_log_buffer((index), 4 * sizeof((buf)[0]), SM_SURFACE_##buf, 0, sm_log, sm_log_overflow), (buf))
#define SM_VSTORE4(value, index, buf) \
  vstore4((value), sm_log_buffer((index), 4 * sizeof((buf)[0]), SM_SURFACE_##buf, 1, sm_log, sm_log_overflow), (buf))
#else
#define SM_LOG_PARAMS
#define SM_READ_IMAGEF(img, smp, coord) read_imagef((img), (smp), (coord))
#define SM_WRITE_IMAGEF(img, coord, value) write_imagef((img), (coord), (value))
#define SM_LOAD(buf, index) ((buf)[(index)])
#define SM_STORE(buf, index, value) ((buf)[(index)] = (value))
#define SM_VLOAD4(index, buf) vload4((index), (buf))
#define SM_VSTORE4(value, index, buf) vstore4((value), (index), (buf))
#endif
"""


def with_prelude(source: str) -> str:
    """Prepend :data:`PRELUDE` to a kernel source."""
    return PRELUDE + "\n" + source
