"""`localmarl app`: serve the Solara app (`solara run app.py`) on this machine.

The page works offline: its JavaScript comes from the `solara-assets` package; telemetry and
solara's version check are off, and production mode skips solara's one-time "installation check"
(a hidden request to solara.dev that plain `solara run app.py` makes in development mode).
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from pathlib import Path

#: `app.py` at the repository root; an installed (non-editable) package serves the page module instead.
APP_PATH = Path(__file__).resolve().parent.parent / "app.py"
APP_MODULE = "visualization.page"
#: Set for the server: no telemetry calls out, matplotlib draws off-screen.
APP_ENV = {"SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "MPLBACKEND": "Agg"}


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_port(text) -> int:
    """`--port` as a number from 1 to 65535, or a ValueError that says so."""
    try:
        port = int(str(text), 10)
    except ValueError:
        raise ValueError(f"--port must be a whole number from 1 to 65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"--port must be from 1 to 65535, got {port}")
    return port


def check_host(host: str) -> str:
    """`--host` as an IP address or a host name, or a ValueError that says so."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    # a name's last label is never all digits (that would be a mistyped IPv4 address)
    if 0 < len(host) <= 253 and all(_HOST_LABEL.fullmatch(x) for x in labels) and not labels[-1].isdigit():
        return host
    raise ValueError(f"--host must be an IP address or a host name (e.g. 127.0.0.1, 0.0.0.0, localhost), got {host!r}")


def app_command(host: str = "127.0.0.1", port: int = 8765, production: bool = True) -> list[str]:
    """The `solara run` command line that serves the app."""
    app = str(APP_PATH) if APP_PATH.is_file() else APP_MODULE
    # --no-check-version: solara would otherwise ask PyPI for its latest version at every start
    cmd = [sys.executable, "-m", "solara", "run", app, "--host", host, "--port", str(port), "--no-check-version"]
    return cmd + (["--production"] if production else [])


def app_env(base: dict[str, str] | None = None) -> dict[str, str]:
    return {**(os.environ if base is None else base), **APP_ENV}


def cmd_app(args) -> int:
    """Serve the app; a bad --port or --host is a one-line error (`localmarl` exits with 2)."""
    host, port = check_host(args.host), check_port(args.port)
    cmd = app_command(host, port, production=not args.dev)
    print(f"localmarl app: serving on http://{host}:{port} ({' '.join(cmd[1:])})", flush=True)
    os.execve(cmd[0], cmd, app_env())  # replaces this process; returns only on failure (raises OSError)
    return 1


def register(sub) -> None:
    """Add `localmarl app` to the `localmarl` parser."""
    p = sub.add_parser("app", help="serve the interactive Solara app (works offline)",
                       description="Serve the Solara app: step a market design hour by hour and watch what its "
                                   "views draw (arbitrage: the feeder, prices and scores). Trained runs are listed "
                                   "from runs/out of the working directory and of the repository.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", default="8765", help="port to listen on, 1..65535 (default 8765)")
    p.add_argument("--dev", action="store_true", help="solara's development mode (reloads on code changes)")
    p.set_defaults(func=cmd_app)
