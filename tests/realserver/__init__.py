"""exo against a real OpenAI-compatible server (llama-cpp-python\x27s)."""
