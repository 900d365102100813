"""OpenCL microbenchmarks for calibrating a memsim profile: pointer chases (latency vs footprint and
stride), streams (bandwidth per level; image, buffer, fp16 image) and an empty kernel (launch overhead).
``sources`` holds the OpenCL C, ``chains`` the host-side chase layouts, ``bench`` runs them."""
