"""The livekit-server version the product pins, and where its source lives.

One constant for the release download (``fetch.py``), the source build
(``source_build.py``), Docker Compose's image tag and the packaging docs (a test
checks that they agree). Kept free of imports so that ``scripts/build-livekit-server.sh``
can read it with nothing but Python.
"""

LIVEKIT_VERSION = "1.9.11"
GO_MODULE = "github.com/livekit/livekit-server"
GO_PACKAGE = f"{GO_MODULE}/cmd/server"
"""``go install`` builds this package; its binary comes out named ``server``."""
