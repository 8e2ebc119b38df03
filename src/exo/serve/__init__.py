"""``exo serve``: agents over HTTP (OpenAI Responses and Chat Completions, AG-UI, exo's run API)."""
