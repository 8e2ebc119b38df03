"""MCP support: serving an exo agent as an MCP server (:mod:`exo.mcp.serve`)."""
