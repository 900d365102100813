"""The compiler's passes, one a file, in the order smartmem_sim/compiler/pipeline.py lists them:

statistics.py normalizations over many elements -> reductions + element-wise ops (all policies)
classify.py   constant subgraphs; group of every node; layout operators as index-map operators
eliminate.py  what happens to every layout operator (copy, free view, inverse fold, forward fold)
fuse.py       which element-wise nodes become epilogues of their producer's kernel
lower.py      IR + those decisions -> Plan (steps, operands with index maps, stored tensors)
layouts.py    layout of every stored tensor (policy defaults, the reduction-dimension heuristic,
              conversions and extra copies)
decisions.py  one EdgeDecision (groups, action, reason) per producer -> consumer edge
"""
