"""The settings hierarchy: factory ← global ← domain (and its wildcards) ← user.

`definitions` says which settings exist; `resolver` is the pure inheritance
logic; `store` reads the levels from the database."""
