"""Blueprints: OAuth protocol endpoints, discovery, and the hosted browser pages."""
