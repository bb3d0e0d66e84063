"""``termserver user``, ``termserver release``, ``termserver audit``: curation from a shell.

These run on the server's machine against its data directory and database, as its operator:
that is how the first admin is made (``termserver user add NAVN --role admin`` prints a token;
there is no default user or password).
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from termserver.curation.config import DATA_ENV_VAR, DATABASE_ENV_VAR, DEFAULT_DATA_DIR
from termserver.errors import TermserverError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar=DATA_ENV_VAR,
        help=f"Datamappen (standard: ./{DEFAULT_DATA_DIR}).",
    ),
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar=DATABASE_ENV_VAR,
        help="postgresql://... (standard: SQLite i datamappen).",
    ),
]


def _open(data_dir: Path | None, database: str | None):
    from termserver.curation.service import Curation

    try:
        return Curation.open(data_dir or DEFAULT_DATA_DIR, database)
    except (TermserverError, OSError) as exc:
        err.print(f"[red]fejl[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def _operator() -> str:
    """Who ran the command, for the audit log: the local account."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]fejl[/red] {escape(str(exc))}")
    return typer.Exit(1)


@contextmanager
def _curation(data_dir: Path | None, database: str | None) -> Iterator[Any]:
    """The curation engine for one command: a refusal is a Danish message and exit 1."""
    cur = _open(data_dir, database)
    try:
        yield cur
    except TermserverError as exc:
        raise _fail(exc) from None
    finally:
        cur.close()


def register(app: typer.Typer) -> None:
    """Add the curation commands to the ``termserver`` CLI."""
    users = typer.Typer(help="Brugere og API-tokens til kurateringen.", no_args_is_help=True)
    app.add_typer(users, name="user")

    @users.command("add")
    def user_add(
        name: Annotated[str, typer.Argument(help="Brugernavn (små bogstaver, fx 'mette').")],
        role: Annotated[str, typer.Option(help="reader, editor, approver eller admin.")] = "editor",
        data_dir: DataDirOpt = None,
        database: DatabaseOpt = None,
    ) -> None:
        """Opret en bruger og udskriv vedkommendes API-token (vises kun denne ene gang)."""
        with _curation(data_dir, database) as cur:
            user, token = cur.add_user(None, name, role, by=_operator())
        err.print(f"Oprettet {user.name} ({user.role}). Gem tokenet nu; det vises ikke igen:")
        print(token)

    @users.command("token")
    def user_token(
        name: Annotated[str, typer.Argument(help="Brugernavn.")],
        data_dir: DataDirOpt = None,
        database: DatabaseOpt = None,
    ) -> None:
        """Udsted et nyt API-token til en bruger (udskrives én gang)."""
        with _curation(data_dir, database) as cur:
            token = cur.new_token(None, name, by=_operator())
        print(token)

    @users.command("tokens")
    def user_tokens(
        name: Annotated[str, typer.Argument(help="Brugernavn.")],
        data_dir: DataDirOpt = None,
        database: DatabaseOpt = None,
    ) -> None:
        """Vis en brugers API-tokens (id, mærke, datoer); selve tokenet gemmes aldrig."""
        with _curation(data_dir, database) as cur:
            found = cur.tokens(None, name)
        from rich.table import Table  # deferred for start-up time: ``serve`` starts without it

        table = Table("id", "mærke", "udstedt", "tilbagekaldt")
        for t in found:
            table.add_row(str(t.id), t.label or "", t.created_at[:19], (t.revoked_at or "")[:19])
        out.print(table)

    @users.command("revoke")
    def user_revoke(
        name: Annotated[str, typer.Argument(help="Brugernavn.")],
        token_id: Annotated[int, typer.Argument(help="Tokenets id (se 'user tokens').")],
        data_dir: DataDirOpt = None,
        database: DatabaseOpt = None,
    ) -> None:
        """Tilbagekald ét API-token, fx et lækket; brugerens andre tokens virker stadig."""
        with _curation(data_dir, database) as cur:
            cur.revoke_token(None, name, token_id, by=_operator())
        out.print(f"Token {token_id} for {name} er tilbagekaldt.")

    @users.command("list")
    def user_list(data_dir: DataDirOpt = None, database: DatabaseOpt = None) -> None:
        """Vis alle brugere og deres roller."""
        with _curation(data_dir, database) as cur:
            found = cur.users(None)
        from rich.table import Table  # deferred for start-up time: ``serve`` starts without it

        table = Table("bruger", "rolle", "oprettet", "aktiv")
        for u in found:
            table.add_row(u.name, u.role, u.created_at[:19], "nej" if u.disabled else "ja")
        out.print(table)

    @users.command("set")
    def user_set(
        name: Annotated[str, typer.Argument(help="Brugernavn.")],
        role: Annotated[str | None, typer.Option(help="Ny rolle.")] = None,
        disable: Annotated[
            bool | None,
            typer.Option("--disable/--enable", help="Deaktivér (tilbagekalder tokens)."),
        ] = None,
        data_dir: DataDirOpt = None,
        database: DatabaseOpt = None,
    ) -> None:
        """Skift en brugers rolle, eller deaktivér/aktivér brugeren."""
        with _curation(data_dir, database) as cur:
            u = cur.update_user(None, name, role=role, disabled=disable, by=_operator())
        out.print(f"{u.name}: {u.role}{' (deaktiveret)' if u.disabled else ''}")

    @app.command("release")
    def release(
        as_user: Annotated[
            str, typer.Option("--as", help="Godkenderen, der udgiver (står i revisionsloggen).")
        ],
        data_dir: DataDirOpt = None,
        database: DatabaseOpt = None,
        list_only: Annotated[
            bool, typer.Option("--list", help="Vis udgivelserne i stedet for at udgive.")
        ] = False,
    ) -> None:
        """Udgiv alle godkendte ændringer som en ny udgivelse (eller vis udgivelserne)."""
        with _curation(data_dir, database) as cur:
            if list_only:
                current = cur.data.current_name()
                for r in cur.releases():
                    mark = "*" if r.name == current else " "
                    out.print(
                        f"{mark} {r.number:>3}  {r.name:24} {r.created_at[:19]}  "
                        f"{len(r.changes)} ændringer  ({escape(r.created_by)})"
                    )
                return
            user = cur.user(as_user)
            info = cur.publish(user, client=_operator())
        out.print(f"Udgivet {info.name} ({len(info.changes)} ændringer) → {info.path}")
        for scheme, version in info.scheme_versions.items():
            out.print(f"  {scheme}: ny udgave {version}")

    @app.command("audit")
    def audit_log(
        actor: Annotated[str | None, typer.Option("--user", help="Kun denne bruger.")] = None,
        object_id: Annotated[
            str | None, typer.Option("--object", help="Kun dette objekt (fx ændringens nr.).")
        ] = None,
        since: Annotated[str | None, typer.Option(help="Fra (ISO-dato eller -tid).")] = None,
        until: Annotated[str | None, typer.Option(help="Til (eksklusiv).")] = None,
        limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
        as_json: Annotated[bool, typer.Option("--json", help="Én JSON-linje pr. post.")] = False,
        data_dir: DataDirOpt = None,
        database: DatabaseOpt = None,
    ) -> None:
        """Vis revisionsloggen: hvem gjorde hvad, hvornår og hvorfra."""
        with _curation(data_dir, database) as cur:
            entries = cur.audit(
                None, actor=actor, object_id=object_id, since=since, until=until, limit=limit
            )
        for e in entries:
            if as_json:
                print(json.dumps(e.__dict__, ensure_ascii=False))
            else:
                where = f" fra {e.client}" if e.client else ""
                out.print(
                    f"{e.at[:19]}  {escape(e.actor):16} {e.action:18} "
                    f"{e.object_type} {escape(e.object_id)}{escape(where)}"
                )
