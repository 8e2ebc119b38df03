"""The exo error tree.

Every error exo raises on purpose derives from :class:`ExoError`::

    ExoError
    ├── AgentError                 a run (or an agent's configuration) failed
    │   ├── ConfigError            bad configuration, raised at construction (also a ValueError)
    │   ├── ModelError             the model provider failed (HTTP status, retryable, partial text)
    │   ├── MaxStepsExceeded       the loop used all of max_steps; carries the partial RunResult
    │   ├── BudgetExceeded         the run tree reached max_cost / max_tokens_total; carries it too
    │   ├── OutputTruncated        the model stopped at max_tokens; carries the partial RunResult
    │   ├── OutputValidationError  the typed answer failed validation after output_retries
    │   ├── MemorySaveError        the answer is complete but saving the turn failed; carries it
    │   ├── PlanningError          the planner pre-pass failed
    │   └── ToolsetError           a toolset (an MCP server) could not connect or list its tools
    └── ToolError                  raised *by a tool* to hand the model an error message

A tool failure is data for the model, not an exception: the loop turns any exception a tool
raises into an error tool result and the run goes on. ``ToolError`` exists so that a tool can
say exactly what the model should read.

Messages say what failed, where, and what to do about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exo.types import RunResult

__all__ = [
    "AgentError",
    "BudgetExceeded",
    "ConfigError",
    "ExoError",
    "MaxStepsExceeded",
    "MemorySaveError",
    "ModelError",
    "OutputTruncated",
    "OutputValidationError",
    "PlanningError",
    "ToolError",
    "ToolsetError",
]


class ExoError(Exception):
    """Base class of every error exo raises on purpose.

    Args:
        message: What failed, where, and what to do about it.
        hint: An optional extra line telling the user how to fix it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class AgentError(ExoError):
    """A run, or an agent's configuration, failed."""


class ConfigError(AgentError, ValueError):
    """A parameter is invalid; raised at construction, before any run.

    Args:
        message: What is wrong.
        parameter: The name of the offending parameter, if there is one.
        hint: How to fix it.
    """

    def __init__(self, message: str, *, parameter: str | None = None, hint: str | None = None):
        self.parameter = parameter
        super().__init__(message, hint=hint)


class ModelError(AgentError):
    """The model provider failed.

    Attributes:
        backend: The backend name (``"openai"``, ``"anthropic"``, …).
        model: The model name.
        status: The HTTP status code, when there was a response.
        retryable: Whether trying again may succeed (429, 5xx, connection errors).
        retry_after: Seconds the provider asked us to wait, when it said.
        partial_text: Text the model had streamed before the failure.
    """

    def __init__(
        self,
        message: str,
        *,
        backend: str,
        model: str,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        partial_text: str = "",
        hint: str | None = None,
    ) -> None:
        self.backend = backend
        self.model = model
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.partial_text = partial_text
        where = f"{backend}:{model}"
        status_text = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{where}{status_text}: {message}", hint=hint)
        self.detail = message

    def with_partial_text(self, text: str) -> ModelError:
        """Return a copy of this error that keeps the text streamed before it."""
        err = ModelError(
            self.detail,
            backend=self.backend,
            model=self.model,
            status=self.status,
            retryable=self.retryable,
            retry_after=self.retry_after,
            partial_text=text,
            hint=self.hint,
        )
        err.__cause__ = self.__cause__
        return err


class _ResultError(AgentError):
    """An AgentError that carries the partial result of the run."""

    def __init__(self, message: str, *, result: RunResult[Any], hint: str | None = None) -> None:
        self.result = result
        super().__init__(message, hint=hint)


class MaxStepsExceeded(_ResultError):
    """The run used all of ``max_steps`` model calls without a final answer.

    Attributes:
        result: The partial :class:`~exo.types.RunResult` (transcript, usage, steps so far).
    """


class BudgetExceeded(_ResultError):
    """The run tree reached its ``max_cost`` or ``max_tokens_total`` budget.

    Raised before the next model call once the planner, the executor and the children
    together have spent the budget (see :mod:`exo.cost`).

    Attributes:
        result: The partial :class:`~exo.types.RunResult` (transcript, usage, cost, plan and
            children so far).
        limit: Which budget was reached: ``"max_cost"`` or ``"max_tokens_total"``.
    """

    def __init__(
        self, message: str, *, result: RunResult[Any], limit: str, hint: str | None = None
    ) -> None:
        self.limit = limit
        super().__init__(message, result=result, hint=hint)


class OutputTruncated(_ResultError):
    """The model stopped because it reached ``max_tokens``; the answer is incomplete.

    Attributes:
        result: The partial :class:`~exo.types.RunResult`; ``result.output`` is the cut text.
    """


class OutputValidationError(_ResultError):
    """The model's answer did not validate against the agent's ``output_type``, also after
    ``output_retries`` corrections.

    Attributes:
        result: The partial :class:`~exo.types.RunResult` (transcript, usage, steps so far).
        raw: The text (JSON) of the model's last answer, as it sent it.
        errors: The validation errors of that answer, one line each.
    """

    def __init__(
        self,
        message: str,
        *,
        result: RunResult[Any],
        raw: str,
        errors: list[str],
        hint: str | None = None,
    ) -> None:
        self.raw = raw
        self.errors = errors
        super().__init__(message, result=result, hint=hint)


class MemorySaveError(_ResultError):
    """The run finished, but saving its turn to memory failed (see ``__cause__``).

    The answer is not lost: ``result`` is the complete :class:`~exo.types.RunResult` (the
    stream delivered it in a RunCompleteEvent before this error), and
    ``await run.save(agent, err.result)`` tries the save again.

    Attributes:
        result: The complete result of the run.
    """


class PlanningError(AgentError):
    """The planner pre-pass failed (see ``__cause__`` for the underlying error)."""


class ToolsetError(AgentError):
    """A toolset (e.g. an MCP server) could not start, connect or list its tools when a run
    started (see ``__cause__``); the run stops before its first model call."""


class ToolError(ExoError):
    """Raise inside a tool to hand the model an error message it can act on.

    The message becomes the tool result (marked as an error); the run goes on.
    """

    def __init__(self, message: str, **_: Any) -> None:
        super().__init__(message)
