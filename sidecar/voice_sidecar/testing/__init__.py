"""Local stand-ins used by the tests and the benchmark (never by a real session)."""
