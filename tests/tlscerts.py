"""Self-signed TLS certificates for tests, made with the ``openssl`` command (no Python package needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def self_signed(folder: Path, name: str = "cert", names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """(certificate, key) PEM files in ``folder``, valid for ``names`` (DNS names or IPv4 addresses) for a day;
    the key is owner-only. A self-signed certificate is its own CA."""
    from required_services import unavailable

    if shutil.which("openssl") is None:
        unavailable("the openssl command is not installed", "apt-get install openssl")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    alt = ",".join(f"IP:{n}" if n.replace(".", "").isdigit() else f"DNS:{n}" for n in names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={alt}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    key.chmod(0o600)
    return cert, key
