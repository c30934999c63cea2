"""Behavioural safety audits of a model: red-teaming suites run with inspect-ai, a trained
judge, statistics with intervals, a base-versus-derivative regression test and a signed
audit attestation. Needs the ``audit`` extra (``pip install 'openward[audit]'``)."""
