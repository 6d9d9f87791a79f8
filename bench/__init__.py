"""The measurement harness of issue 9: the fake against a bare-Starlette ceiling, as ratios.

``python -m bench.run`` (``make bench``) runs everything and writes ``bench/results/``;
``python -m bench.profile`` samples the fake's hot paths under load. See bench/README.md.
"""
