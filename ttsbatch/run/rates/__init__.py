"""Rates an account shares: GCRA pacing (one schedule for every process, through a file or
Redis) and ``--rpm auto``, which finds the account's limit and remembers it."""
