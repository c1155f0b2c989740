"""Judges that are themselves lm-eval models, shared by A2 scoring and A1 answer matching:
the judge spec (spec), the reply cache (cache) and asking until replies can be read (asking)."""
