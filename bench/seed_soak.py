"""Seed the soak test: users with passwords and one confidential client; prints JSON."""

from __future__ import annotations

import json
import sys

from idp import create_app
from idp.services import clients, users

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 100
REDIRECT_URI = "http://127.0.0.1:9/callback"

app = create_app()
with app.app_context():
    seeded = []
    for i in range(COUNT):
        email, password = f"soak{i}@example.com", f"soak passphrase number {i} ok"
        users.create_user(email, password, name=f"Soak {i}", email_verified=True)
        seeded.append((email, password))
    client, secret = clients.create_client("Soak app", [REDIRECT_URI])
    print(
        json.dumps(
            {
                "users": seeded,
                "client_id": client.client_id,
                "client_secret": secret,
                "redirect_uri": REDIRECT_URI,
            }
        )
    )
