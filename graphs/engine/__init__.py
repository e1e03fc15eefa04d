"""Kaizen graph engine: plain Python, no Django/Celery/Channels imports.

Public entry points: ``GraphSpec`` (the document), ``validate_graph`` (errors naming
node/edge/field), ``Engine`` (runs a validated graph against ports for checkpoints,
events and LLM providers).
"""
