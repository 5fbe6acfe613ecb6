"""Declarative schemas: one model per data shape (clients, users, roles) and the scope registry.

Every entry point (the admin API, the admin console, the `idp` CLI, RFC 7591/7592 dynamic
registration) validates its input with these models, and the admin API's OpenAPI document is
generated from them, so the rules exist once. This package imports nothing else of idp: the
checks that need the running app (the outbound URL rules, the active signing algorithms) are
passed in as a validation context (see clients.Rules).
"""
