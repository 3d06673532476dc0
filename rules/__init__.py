"""bnlint's rule catalogue: one rule per module, discovered by existence.

Installed as ``bnlint.rules``. See ../shared/RULES.md for the codes."""
