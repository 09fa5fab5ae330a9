"""TLS for the bridge, as 0-core's proxy had it: a self-signed RSA-2048 certificate made at
each start (O=GIG, 100 years, CA bit, server auth; spec §2.1), or a configured one.

The key is made by the `openssl` command (always present where TLS is), in a subprocess so the
event loop never waits on it; it lives in a private temporary directory only while loading.
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from pathlib import Path
from .._errors import TLSSetupError

CERT_NAME = "bridge.crt"
KEY_NAME = "bridge.key"


async def make_self_signed(directory: Path, common_name: str = "zos-bridge") -> tuple[Path, Path]:
    """Write `bridge.crt` / `bridge.key` into `directory`; returns their paths."""
    cert, key = directory / CERT_NAME, directory / KEY_NAME
    argv = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-days", "36500", "-subj", f"/O=GIG/CN={common_name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
            "-addext", "extendedKeyUsage=serverAuth",
            "-keyout", str(key), "-out", str(cert)]
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError:
        raise TLSSetupError("the openssl command is needed to make the bridge certificate") from None
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise TLSSetupError(f"openssl req failed ({proc.returncode}): {err.decode(errors='replace')[-500:]}")
    return cert, key


async def server_context(data_dir: Path | None = None) -> ssl.SSLContext:
    """A server-side context: `<data_dir>/bridge.crt` + `bridge.key` when both exist, else a
    fresh self-signed pair. Client certificates are never asked for."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_NONE
    if data_dir is not None and (data_dir / CERT_NAME).is_file() and (data_dir / KEY_NAME).is_file():
        await asyncio.to_thread(_load, context, data_dir / CERT_NAME, data_dir / KEY_NAME)
        return context
    with tempfile.TemporaryDirectory(prefix="zos-bridge-tls-") as tmp:
        cert, key = await make_self_signed(Path(tmp))
        await asyncio.to_thread(_load, context, cert, key)
    return context


def _load(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise TLSSetupError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from exc
