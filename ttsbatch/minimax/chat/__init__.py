"""MiniMax's two text endpoints behind one client, for the script step.

``POST /v1/chat/completions`` (OpenAI-compatible, Bearer key) and ``POST
/anthropic/v1/messages`` (Anthropic-compatible, ``x-api-key``) differ only on the wire, so
each is one module (``completions.py``, ``messages.py``) behind a small protocol class;
``client.py`` picks the protocol once and does the HTTP, retries and error mapping for both;
``reply.py`` is what both return (the answer with thinking removed, usage, stop reason) and
``stream.py`` what both read (server-sent events, errors delivered inside a reply).
"""
