"""Runnable jobs and the ``recsys`` command line; thin layers over the library."""
