"""`localmarl app`: serve the Solara app (`solara run app.py`) on this machine.

The page works offline: its JavaScript comes from the `solara-assets` package; telemetry and
solara's version check are off, and production mode skips solara's one-time "installation check"
(a hidden request to solara.dev that plain `solara run app.py` makes in development mode).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: `app.py` at the repository root; an installed (non-editable) package serves the page module instead.
APP_PATH = Path(__file__).resolve().parent.parent / "app.py"
APP_MODULE = "visualization.page"
#: Set for the server: no telemetry calls out, matplotlib draws off-screen.
APP_ENV = {"SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "MPLBACKEND": "Agg"}


def app_command(host: str = "127.0.0.1", port: int = 8765, production: bool = True) -> list[str]:
    """The `solara run` command line that serves the app."""
    app = str(APP_PATH) if APP_PATH.is_file() else APP_MODULE
    # --no-check-version: solara would otherwise ask PyPI for its latest version at every start
    cmd = [sys.executable, "-m", "solara", "run", app, "--host", host, "--port", str(port), "--no-check-version"]
    return cmd + (["--production"] if production else [])


def app_env(base: dict[str, str] | None = None) -> dict[str, str]:
    return {**(os.environ if base is None else base), **APP_ENV}


def cmd_app(args) -> int:
    cmd = app_command(args.host, args.port, production=not args.dev)
    print(f"localmarl app: serving on http://{args.host}:{args.port} ({' '.join(cmd[1:])})", flush=True)
    os.execve(cmd[0], cmd, app_env())  # replaces this process; returns only on failure (raises OSError)
    return 1


def register(sub) -> None:
    """Add `localmarl app` to the `localmarl` parser."""
    p = sub.add_parser("app", help="serve the interactive Solara app (works offline)",
                       description="Serve the Solara app: the feeder, prices and scores, stepped hour by hour.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--dev", action="store_true", help="solara's development mode (reloads on code changes)")
    p.set_defaults(func=cmd_app)
