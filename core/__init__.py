"""The leaf of SecurePix: error codes, domains and decisions, permission names,
the request context and output naming.  Imports nothing of the project and no
Django, so that every other package may import it."""
