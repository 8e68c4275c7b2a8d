"""`leanvoice ui`: the whole workflow in a browser (Gradio, the optional `[ui]` extra)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from leanvoice.errors import ConfigError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_host(host: str, allow_remote: bool) -> bool:
    """True when `host` is this machine only; other addresses need `allow_remote`."""
    local = host in LOCAL_HOSTS
    if not local:
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = False
    if not local and not allow_remote:
        raise ConfigError(
            f"--host {host} lets other machines use this one (train, read "
            "files in the workspace); add --allow-remote if that is meant"
        )
    return local


def launch(workspace: Path, host: str, port: int, allow_remote: bool = False) -> None:
    check_host(host, allow_remote)
    try:
        import gradio as gr
    except ImportError:
        raise ConfigError("the web UI needs Gradio: pip install 'leanvoice[ui]'") from None
    from leanvoice.ui.app import build_app

    app = build_app(workspace)
    app.queue(default_concurrency_limit=4)
    app.launch(
        server_name=host,
        server_port=port,
        allowed_paths=[str(Path(workspace).resolve())],
        show_error=False,
        theme=gr.themes.Default(font=["sans-serif"], font_mono=["monospace"]),
        quiet=False,
    )
