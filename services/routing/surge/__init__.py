"""Same-content surges (快速处理机制, seed 004 §3.5): which complaints are one problem, and the
alerts their counts raise. Pure logic, no I/O, no clock."""

from services.routing.surge.detector import SurgeDetector
from services.routing.surge.model import Alert, ClusterInfo, Complaint, Correction, Observation
from services.routing.surge.rules import NOTIFY_ROLE, Rule, ShingleScheme, SurgeConfig
from services.routing.surge.sketch import sketch
from services.routing.surge.text import normalise, shingle_hashes, shingles, tokens

__all__ = [
    "NOTIFY_ROLE", "Alert", "ClusterInfo", "Complaint", "Correction", "Observation", "Rule",
    "ShingleScheme", "SurgeConfig", "SurgeDetector", "normalise", "shingle_hashes", "shingles",
    "sketch", "tokens",
]  # fmt: skip
