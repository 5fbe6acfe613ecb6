"""Authlib adapters: short subclasses whose hooks call services."""
