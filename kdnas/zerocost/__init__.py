"""Zero-cost proxies, computed on an untrained student in one or two forward/backward passes:
synflow (Tanaka et al. 2020, as a NAS proxy by Abdelfattah et al., ICLR 2021) and NASWOT (Mellor
et al., ICML 2021). Baselines for the fidelity benchmark, not search proxies of their own."""

from kdnas.zerocost.naswot import naswot_score
from kdnas.zerocost.synflow import synflow_score

__all__ = ["naswot_score", "synflow_score"]
