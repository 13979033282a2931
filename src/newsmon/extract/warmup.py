"""Imported once by the extraction forkserver: loads trafilatura and the language model there, so
every worker forked from it (a replacement for a killed one too) starts warm in milliseconds."""

import py3langid
import trafilatura  # noqa: F401

py3langid.classify("warm up the language model")
