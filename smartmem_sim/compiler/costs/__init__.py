"""Cost models (smartmem_sim/compiler/costs/model.py's interface): ``SimulatedCost`` asks memsim about sampled kernel traces,
``AnalyticalCost`` is a cheap formula for tests and quick searches. Both take a device as a memsim profile name
or a loaded ``memsim.DeviceProfile`` (with its ``[execution]`` table: smartmem_sim/compiler/costs/device.py)."""
from smartmem_sim.compiler.costs.analytical import AnalyticalCost
from smartmem_sim.compiler.costs.device import priced_device
from smartmem_sim.compiler.costs.simulated import KernelTerms, SimulatedCost

__all__ = ["AnalyticalCost", "KernelTerms", "SimulatedCost", "priced_device"]
