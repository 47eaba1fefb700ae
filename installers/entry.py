"""Entry point of the frozen sidecar (PyInstaller runs this file as ``__main__``)."""

import multiprocessing

from voice_sidecar.cli import run

if __name__ == "__main__":
    # a frozen program re-executes itself for multiprocessing children: without this call a
    # child would run the whole CLI again instead of its target
    multiprocessing.freeze_support()
    run()
