"""Cost models (smartmem_sim/compiler/costs/model.py's interface): ``SimulatedCost`` asks memsim about sampled kernel traces,
``AnalyticalCost`` is a cheap formula for tests and quick searches."""
from smartmem_sim.compiler.costs.analytical import AnalyticalCost
from smartmem_sim.compiler.costs.device import Device, load_device
from smartmem_sim.compiler.costs.simulated import KernelTerms, SimulatedCost

__all__ = ["AnalyticalCost", "Device", "KernelTerms", "SimulatedCost", "load_device"]
