"""Theming without forking: operator templates first, `brand` in every template, /brand/ files.

- IDP_TEMPLATES_DIR: a file there (auth/login.html, email/verify_email.txt, base.html...)
  replaces the built-in file of the same name; every other file stays built in. Mail
  templates are the email/ folder of the same tree, so they override the same way. The
  built-in files stay reachable as "idp/<name>", so an override can extend the original
  ({% extends "idp/auth/login.html" %}) and change one block.
- IDP_BRAND_DIR: served read-only at /brand/<file> (logo, favicon, stylesheet, fonts), so a
  theme needs no other web server and its files stay same-origin under the strict CSP.
- IDP_BRAND_PRIMARY_COLOR: /brand.css sets the CSS variables idp.css reads; a stylesheet
  file rather than inline style, because the CSP allows no inline style.
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, current_app, send_from_directory
from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader

from ..branding import brand_of, origin_of

BRAND_FILE_MAX_AGE_SECONDS = 3600
BUILT_IN_PREFIX = "idp"  # {% extends "idp/auth/login.html" %} reaches the shipped file


def init_app(app: Flask) -> None:
    settings = app.config["IDP"]
    brand = brand_of(settings)
    app.extensions["idp.brand"] = brand
    if settings.templates_dir:
        built_in = FileSystemLoader(os.path.join(app.root_path, app.template_folder or ""))
        # Set before the Jinja environment is first built (it reads app.jinja_loader once).
        app.jinja_loader = ChoiceLoader(
            [
                FileSystemLoader(settings.templates_dir),
                built_in,
                PrefixLoader({BUILT_IN_PREFIX: built_in}),
            ]
        )

    @app.context_processor
    def inject_brand() -> dict:
        return {"brand": brand}

    @app.get("/brand.css")
    def brand_stylesheet() -> Response:
        css = ""
        if brand.primary_color:
            css = (
                f":root {{ --idp-primary: {brand.primary_color}; "
                f"--idp-on-primary: {brand.on_primary}; }}\n"
            )
        response = Response(css, mimetype="text/css")
        response.cache_control.public = True
        response.cache_control.max_age = BRAND_FILE_MAX_AGE_SECONDS
        return response

    @app.get("/brand/<path:filename>")
    def brand_file(filename: str) -> Response:
        folder = current_app.config["IDP"].brand_dir
        if not folder:
            abort(404)
        # send_from_directory refuses ../ and absolute paths (werkzeug.security.safe_join).
        return send_from_directory(folder, filename, max_age=BRAND_FILE_MAX_AGE_SECONDS)


def csp_sources(app: Flask) -> dict[str, list[str]]:
    """Origins the brand's absolute URLs add to the CSP (images are allowed from https:)."""
    brand = app.extensions["idp.brand"]
    return {"style-src": [o for o in (origin_of(brand.stylesheet_url),) if o]}
