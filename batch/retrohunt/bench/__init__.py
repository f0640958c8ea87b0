"""`retrohunt bench`: what a rule set costs and catches, against baselines and against
another version of itself, as tables, JSON and an HTML report."""

from retrohunt.bench.baselines import BASELINES, BaselineRun
from retrohunt.bench.compare import Comparison, compare
from retrohunt.bench.measure import BenchOptions, BenchReport, RuleBench, bench

__all__ = [
    "BASELINES",
    "BaselineRun",
    "BenchOptions",
    "BenchReport",
    "Comparison",
    "RuleBench",
    "bench",
    "compare",
]
