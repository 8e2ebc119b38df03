"""``exo eval``: does planning pay? Run a task suite with and without it and compare.

from exo.eval import load_suite, run_eval, summarize, format_table

suite = load_suite("basic")
measured = await run_eval(suite, agent, model="openai:gpt-4o-mini", repeats=3)
print(format_table(summarize(measured)))
"""

from exo.eval.harness import DEFAULT_VARIANTS, EvalRun, Trial, default_variants, run_eval
from exo.eval.report import VariantSummary, format_table, summarize, to_json
from exo.eval.suite import Step, Suite, Task, load_suite, reference_model

__all__ = [
    "DEFAULT_VARIANTS",
    "EvalRun",
    "Step",
    "Suite",
    "Task",
    "Trial",
    "VariantSummary",
    "default_variants",
    "format_table",
    "load_suite",
    "reference_model",
    "run_eval",
    "summarize",
    "to_json",
]
