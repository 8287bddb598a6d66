"""`fundflow console`: serve the analysts' web console."""

from __future__ import annotations

import ipaddress

from console.app import CYTOSCAPE, create_app
from pipelines.errors import ConfigError
from pipelines.settings import Settings


def console_command(args, settings: Settings) -> int:
    import uvicorn

    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"注意：控制台对 {args.host} 开放，请确认只在内网使用 / warning: console listens beyond this machine")
    if not CYTOSCAPE.exists():
        raise ConfigError(
            "缺少前端库，请先运行 console/setup_browser.sh 或 make console / "
            "console/node_modules missing: run console/setup_browser.sh"
        )
    print(f"线索工作台 / console: http://{args.host}:{args.port}/  (Ctrl+C 停止 / to stop)")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0
