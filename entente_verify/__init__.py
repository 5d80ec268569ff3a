"""entente-verify: check Entente audit bundles and checkpoints offline (docs/AUDIT.md).

Needs only the standard library and `cryptography`: copy this directory anywhere and run
`python -m entente_verify --key KEY bundle.ndjson`.
"""
