"""`make export`'s last step: give backend.zip the built page shell, so the backend can answer story addresses.

A static host serves the frontend's files; a story published after the export has no file
there. The README's nginx block sends `/article/` and `/category/` to the backend, which
answers with this shell and the page's own head (`media_demo.story_pages`): the shell is
the frontend build's `__spa-fallback.html`, copied into backend.zip as `data/page_shell.html`.

Run: `python -m media_demo.hosting [frontend.zip] [backend.zip]`.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

SHELL_IN_FRONTEND = "__spa-fallback.html"
SHELL_IN_BACKEND = "data/page_shell.html"


def ship_shell(frontend_zip: Path, backend_zip: Path) -> int:
    """Copy the shell from `frontend_zip` into `backend_zip` (replacing an older one); returns its size."""
    with zipfile.ZipFile(frontend_zip) as frontend:
        try:
            shell = frontend.read(SHELL_IN_FRONTEND)
        except KeyError:
            raise ValueError(f"{frontend_zip}: no {SHELL_IN_FRONTEND} (was it built by `reflex export`?)") from None
    if b"</head>" not in shell:
        raise ValueError(f"{frontend_zip}: {SHELL_IN_FRONTEND} has no </head> to put a story's tags in")
    with zipfile.ZipFile(backend_zip) as backend:
        kept = [(info, backend.read(info)) for info in backend.infolist() if info.filename != SHELL_IN_BACKEND]
    with zipfile.ZipFile(backend_zip, "w", compression=zipfile.ZIP_DEFLATED) as backend:
        for info, data in kept:
            backend.writestr(info, data)
        backend.writestr(SHELL_IN_BACKEND, shell)
    return len(shell)


def main(argv: list[str]) -> None:
    """Ship the shell from the archives named in `argv` (by default the two `make export` wrote here)."""
    frontend, backend = (Path(a) for a in (argv + ["frontend.zip", "backend.zip"][len(argv) :])[:2])
    size = ship_shell(frontend, backend)
    print(f"{backend}: {SHELL_IN_BACKEND} ({size:,} bytes), the page shell the backend answers story addresses with")


if __name__ == "__main__":
    main(sys.argv[1:])
