"""Process-wide llama.cpp engines for the ``local`` backend.

One :class:`Engine` per loaded model (GGUF path, chat format, context size), shared by every
provider, event loop and thread of the process. Each engine owns one worker thread: it loads the
model on its first job, then runs jobs one at a time, since a ``llama_cpp.Llama`` is not
thread-safe. Jobs stream text back to the event loop that submitted them
(``loop.call_soon_threadsafe``), so the loop never blocks on llama.cpp. A job whose consumer
went away is cancelled: it is skipped if still queued, and stops at the next token if running.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EngineKey", "Job", "JobResult", "run_job"]

_LOG = logging.getLogger("exo.models.local")
_LLAMA_LOG = logging.getLogger("exo.models.local.llama_cpp")


@dataclass(frozen=True, slots=True)
class EngineKey:
    """What identifies one loaded model: the GGUF file and how it is loaded."""

    name: str
    chat_format: str | None = None
    n_ctx: int = 8192
    n_threads: int | None = None


@dataclass(slots=True)
class JobResult:
    """The end of a job: what its work returned, or the exception it raised, and token counts."""

    value: object = None
    error: BaseException | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(eq=False)
class Job:
    """One generation, run on an engine's worker thread.

    Attributes:
        work: ``work(llm, job, chat)`` runs the generation (``chat`` tells whether the model has
            a chat template or format) and returns the job's value.
        post: Sends an item back to the submitting event loop; returns False if it is gone.
    """

    work: Callable[[Any, Job, bool], object]
    post: Callable[[str | JobResult], bool]
    cancelled: threading.Event = field(default_factory=threading.Event)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def emit(self, text: str) -> None:
        """Stream a piece of text to the consumer (cancels the job if the consumer is gone)."""
        if text and not self.post(text):
            self.cancelled.set()

    def finish(self, *, value: object = None, error: BaseException | None = None) -> None:
        """Send the job's end to the consumer."""
        self.post(
            JobResult(
                value=value,
                error=error,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
            )
        )


class Engine:
    """One loaded model and the worker thread that owns it."""

    def __init__(self, key: EngineKey, locate: Callable[[], str]) -> None:
        self.key = key
        self._locate = locate
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._serve, name=f"exo-local:{key.name}", daemon=True
        )
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue a job (call with the registry lock held)."""
        self._jobs.put(job)

    def _serve(self) -> None:
        try:
            llm, chat = self._load()
        except BaseException as exc:
            self._fail(exc)
            return
        while True:
            job = self._jobs.get()
            if job.cancelled.is_set():
                continue
            llm.exo_job = job
            try:
                value = job.work(llm, job, chat)
            except BaseException as exc:
                job.finish(error=exc)
                continue
            finally:
                llm.exo_job = None
            if job.cancelled.is_set():
                _LOG.debug("generation cancelled after %d tokens", job.completion_tokens)
            job.finish(value=value)

    def _load(self) -> tuple[Any, bool]:
        path = self._locate()
        _install_log_handler()
        llama_class = _counting_llama_class()
        # Half the logical CPUs (about the physical cores), for generation *and* prompt
        # evaluation: llama.cpp's threads spin, and oversubscribed they slow it tenfold.
        threads = self.key.n_threads or max(1, (os.cpu_count() or 2) // 2)
        llm = llama_class(
            model_path=path,
            n_ctx=self.key.n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            chat_format=self.key.chat_format,
            verbose=False,
        )
        chat = self.key.chat_format is not None or "tokenizer.chat_template" in llm.metadata
        _LOG.debug("loaded %s (chat template: %s)", path, chat)
        return llm, chat

    def _fail(self, exc: BaseException) -> None:
        # Forget this engine so the next run tries again, then fail every job it was given.
        with _registry_lock:
            if _engines.get(self.key) is self:
                del _engines[self.key]
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            job.finish(error=exc)


_engines: dict[EngineKey, Engine] = {}
_registry_lock = threading.Lock()


def _submit(key: EngineKey, locate: Callable[[], str], job: Job) -> None:
    with _registry_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = Engine(key, locate)
        engine.submit(job)


async def run_job(
    key: EngineKey, locate: Callable[[], str], work: Callable[[Any, Job, bool], object]
) -> AsyncIterator[str | JobResult]:
    """Run ``work`` on the engine for ``key``: yield the text it emits, then its JobResult.

    The model is loaded on first use (``locate()`` returns the GGUF path, on the worker thread).
    Leaving the iteration early cancels the job.
    """
    loop = asyncio.get_running_loop()
    items: asyncio.Queue[str | JobResult] = asyncio.Queue()

    def post(item: str | JobResult) -> bool:
        try:
            loop.call_soon_threadsafe(items.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return False
        return True

    job = Job(work=work, post=post)
    _submit(key, locate, job)
    done = False
    try:
        while not done:
            item = await items.get()
            done = isinstance(item, JobResult)
            yield item
    finally:
        if not done:
            job.cancelled.set()


@functools.cache
def _counting_llama_class() -> type[Any]:
    """A ``llama_cpp.Llama`` that counts tokens for the running job and stops when it is cancelled.

    Every completion llama.cpp makes, including those its chat handlers make (some make two),
    runs through ``generate``: this adds each prompt's tokens and each generated token (end of
    generation markers aside, as llama.cpp's own usage does) to the job, and ends the generation
    at the next token once the job is cancelled.
    """
    import llama_cpp

    class CountingLlama(llama_cpp.Llama):  # type: ignore[misc]
        exo_job: Job | None = None

        def generate(  # type: ignore[override]
            self, tokens: Sequence[int], **kwargs: Any
        ) -> Iterator[int]:
            job = self.exo_job
            inner = super().generate(tokens, **kwargs)
            if job is None:
                yield from inner
                return
            job.prompt_tokens += len(tokens)
            try:
                for token in inner:
                    if job.cancelled.is_set():
                        return
                    if not llama_cpp.llama_vocab_is_eog(self._model.vocab, token):
                        job.completion_tokens += 1
                    yield token
            finally:
                inner.close()

    return CountingLlama


_log_callback: object = None


def _install_log_handler() -> None:
    """Route llama.cpp's own log lines to ``logging`` (debug level) instead of raw stderr."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def forward(_level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        _LLAMA_LOG.debug("%s", text.decode("utf-8", errors="replace").rstrip())

    _log_callback = forward  # keep a reference: llama.cpp holds only a C pointer
    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))
