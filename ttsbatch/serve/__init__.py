"""``ttsbatch serve``: OpenAI's speech API (``POST /v1/audio/speech``) in front of MiniMax's.

For tools that only speak OpenAI's spec. A request is checked (``request``), turned into the
same backend-neutral ``SpeechRequest`` a manifest line becomes, answered from the ledger when
that sound was paid for before, else paced on the account's schedule (the one a run of the
same key books in: ``run.pacing``) and sent through the MiniMax native backend (``speech``);
MiniMax's codes become honest HTTP statuses (``errors``), the audio is encoded in the format
asked (``formats``), and the Starlette app (``app``) adds the client key, the size cap, cost
and trace headers and the access log. ``server`` runs it on uvicorn.
"""
