"""Write a self-signed certificate for IDP_ISSUER's host into DIR, unless one is there.

For trying the compose stack locally (browsers warn about it); bring a real certificate
(fullchain.pem, privkey.pem) for anything else. Uses `cryptography`, which idp depends on.
Usage: python selfsigned_cert.py DIR
"""

import datetime
import ipaddress
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 90


def main(directory: Path) -> int:
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    if cert_path.exists() and key_path.exists():
        print(f"{cert_path} exists; not replaced")
        return 0
    host = urlsplit(os.environ.get("IDP_ISSUER", "https://localhost")).hostname or "localhost"
    try:
        alt_name = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt_name = x509.DNSName(host)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([alt_name]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    print(f"self-signed certificate for {host} written to {cert_path} (valid {VALID_DAYS} days)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python selfsigned_cert.py DIR")
    sys.exit(main(Path(sys.argv[1])))
