"""Make an account an editor (or stop it being one): `make editor EMAIL=...`.

Editors see the newsroom's own dashboards, such as `/experiments`. The role is
granted from the command line by whoever runs the newsroom, never from a page,
so no reader can grant it to themselves. The account must exist: sign up first.
"""

from __future__ import annotations

import argparse
import sys

from media_demo.accounts import EDITOR, AccountError, Accounts
from media_demo.settings import Settings
from media_demo.signals.storage.database import open_database


def main(argv: list[str] | None = None) -> int:
    """Grant or revoke the editor role of the account with the given email; 0 when done, 2 when refused."""
    parser = argparse.ArgumentParser(prog="python -m media_demo.editors", description=__doc__)
    parser.add_argument("email", help="the email the account signed up with")
    parser.add_argument("--revoke", action="store_true", help="take the role back instead")
    args = parser.parse_args(argv)
    settings = Settings()
    engine = open_database(settings.database_url)
    try:
        accounts = Accounts(engine)
        account = accounts.grant(args.email, EDITOR)
        if args.revoke:
            accounts.revoke(account.user_id, EDITOR)
            print(f"{account.email} is no longer an editor")
        else:
            print(f"{account.email} is an editor: /experiments is open to them once they sign in")
        return 0
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
