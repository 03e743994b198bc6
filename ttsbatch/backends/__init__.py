"""Speech backends: the seam between the run and a speech service.

The planner describes each paid request as a backend-neutral ``base.SpeechRequest`` (what
to say, in which voice, and the audio asked for); a backend turns it into its service's
wire format, sends it, and answers a ``base.SpeechReply``. It also says which parts of a
request change the sound (``source_identity``), which is what the cache keys hash.
MiniMax's native API (``minimax_native.py``) is the first backend.
"""
