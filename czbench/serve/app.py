"""The FastAPI app of ``czbench serve``: thin routes over :mod:`.jobs`, :mod:`.board` and
:mod:`.storage`. Tokens come as ``Authorization: Bearer TOKEN``; a submission is the raw file
as the request body (``application/octet-stream``), so its size limit holds while it streams.
"""


from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from czbench import __version__
from czbench.errors import InputError
from czbench.serve import board, jobs
from czbench.serve.admin import NAME_PATTERN
from czbench.serve.migrate import make_engine, sessions
from czbench.serve.models import Challenge, Submission, Team, utcnow
from czbench.serve.protocol import published_names, read_embedding, sniff
from czbench.serve.scoring import public_view
from czbench.serve.storage import ID_PATTERN, Incoming, TooLarge, challenge_dir, upload_path
from czbench.serve.tokens import find_team

#: default upload limit (bytes)
MAX_UPLOAD = 64 << 20
#: the cookie that carries a team's token to its HTML page (set by ``POST /login``; HttpOnly,
#: SameSite=Strict; read by the GET pages only, never by an endpoint that changes anything)
TOKEN_COOKIE = "czbench_token"


def wants_html(request: Request) -> bool:
    """A browser asking for a page (``Accept: text/html``) rather than a client asking for JSON."""
    return "text/html" in request.headers.get("accept", "")


def create_app(url: str, data: str | Path, *, max_upload: int = MAX_UPLOAD,
               poll_seconds: int = 15) -> FastAPI:
    """The server on database ``url`` (migrated by ``czbench serve init``) and data folder
    ``data``; its HTML pages re-read themselves every ``poll_seconds``."""
    engine = make_engine(url)
    factory = sessions(engine)
    data = Path(data)
    app = FastAPI(title="czbench serve", version=__version__)
    app.state.engine = engine

    def db() -> Iterator[Session]:
        with factory() as session:
            yield session

    def caller(authorization: Annotated[str | None, Header()] = None) -> Team | None:
        token = authorization[7:].strip() if authorization and \
            authorization.lower().startswith("bearer ") else None
        if token is None:
            return None
        with factory() as session:  # a short session: an upload holds no connection
            return find_team(session, token)

    def page_caller(request: Request,
                    team: Annotated[Team | None, Depends(caller)]) -> Team | None:
        """The caller of a GET page: a bearer token, else the login cookie."""
        token = request.cookies.get(TOKEN_COOKIE)
        if team is not None or not token:
            return team
        with factory() as session:
            return find_team(session, token)

    def required(team: Annotated[Team | None, Depends(caller)]) -> Team:
        if team is None:
            raise HTTPException(401, "token: missing or not valid",
                                headers={"WWW-Authenticate": "Bearer"})
        return team

    def challenge_of(session: Session, challenge_id: str) -> Challenge:
        found = session.get(Challenge, challenge_id) if ID_PATTERN.match(challenge_id) else None
        if found is None:
            raise HTTPException(404, "challenge: not found")
        return found

    def part_allowed(challenge: Challenge, part: str, team: Team | None) -> None:
        if part not in ("public", "private"):
            raise HTTPException(422, "part: expected public or private")
        if part == "private" and challenge.state != "closed" and not (team and team.is_admin):
            raise HTTPException(403, "part: the private board is shown after the challenge "
                                     "closes")

    @app.exception_handler(InputError)
    async def _input_error(_request: Request, err: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=422)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    @app.get("/challenges")
    def challenges(session: Annotated[Session, Depends(db)]) -> list[dict[str, Any]]:
        rows = session.scalars(select(Challenge).order_by(Challenge.created_at))
        return [board.challenge_view(c) for c in rows]

    @app.get("/challenges/{challenge_id}", response_model=None)
    def challenge(challenge_id: str, request: Request,
                  session: Annotated[Session, Depends(db)]) -> dict[str, Any] | HTMLResponse:
        found = challenge_of(session, challenge_id)
        if wants_html(request):  # the leaderboard page (czbench.pages)
            from czbench.pages import render_leaderboard

            return HTMLResponse(render_leaderboard(board.leaderboard(session, found),
                                                    poll_seconds=poll_seconds))
        return board.challenge_view(found)

    @app.get("/challenges/{challenge_id}/leaderboard")
    def leaderboard(challenge_id: str, session: Annotated[Session, Depends(db)],
                    team: Annotated[Team | None, Depends(caller)],
                    part: Annotated[str, Query()] = "public") -> dict[str, Any]:
        found = challenge_of(session, challenge_id)
        part_allowed(found, part, team)
        return board.leaderboard(session, found, part=part)

    @app.get("/challenges/{challenge_id}/data.h5ad")
    def public_data(challenge_id: str, session: Annotated[Session, Depends(db)],
                    _team: Annotated[Team, Depends(required)]) -> FileResponse:
        found = challenge_of(session, challenge_id)
        return FileResponse(challenge_dir(data, found.id) / "public.h5ad",
                            media_type="application/x-hdf5",
                            filename=f"{found.name}-public.h5ad")

    @app.post("/challenges/{challenge_id}/close")
    def close(challenge_id: str, session: Annotated[Session, Depends(db)],
              team: Annotated[Team, Depends(required)]) -> dict[str, Any]:
        if not team.is_admin:
            raise HTTPException(403, "token: an admin token is needed")
        found = challenge_of(session, challenge_id)
        found.state = "closed"
        session.commit()
        return board.challenge_view(found)

    @app.post("/challenges/{challenge_id}/submissions")
    async def submit(challenge_id: str, request: Request,
                     team: Annotated[Team, Depends(required)],
                     name: Annotated[str, Query()] = "submission") -> JSONResponse:
        if team.is_admin:
            raise HTTPException(403, "token: submissions need a team token")
        if not NAME_PATTERN.match(name):
            raise HTTPException(422, "name: expected 1-64 letters, digits, '.', '_' or '-'")
        found = await run_in_threadpool(_open_challenge, challenge_id)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_upload:
            raise HTTPException(413, f"upload: larger than the limit of {max_upload} bytes")
        incoming = Incoming(data, max_upload)
        try:
            async for chunk in request.stream():
                incoming.write(chunk)
        except TooLarge as err:
            raise HTTPException(413, str(err)) from None
        except BaseException:
            incoming.abort()
            raise
        sha, size, head = incoming.commit()
        return await run_in_threadpool(_accept, found, team, sha, size, head, name)

    def _open_challenge(challenge_id: str) -> Challenge:
        with factory() as session:
            found = challenge_of(session, challenge_id)
        if found.state != "open":
            raise HTTPException(409, "challenge: closed")
        if found.deadline is not None and utcnow() > found.deadline:
            raise HTTPException(409, "challenge: past its deadline")
        return found

    def _accept(found: Challenge, team: Team, sha: str, size: int, head: bytes,
                name: str) -> JSONResponse:
        kind = sniff(head)
        try:
            if size == 0 or kind is None:
                raise HTTPException(415, "submission: expected a .npy, an .h5ad or a zipped "
                                         "MLflow package")
            if kind == "mlflow" and not found.allow_mlflow:
                raise HTTPException(422, "submission: this challenge takes embeddings only")
            if kind != "mlflow":
                names = published_names(str(challenge_dir(data, found.id) / "public.h5ad"))
                try:
                    read_embedding(upload_path(data, sha), kind, names)
                except InputError as err:
                    raise HTTPException(422, str(err)) from None
            with factory() as session:
                try:
                    row, created = jobs.submit(session, found, team, sha256=sha,
                                               file_kind=kind, name=name)
                except jobs.QuotaError as err:
                    raise HTTPException(429, str(err)) from None
                view = board.submission_view(row, found)
        except HTTPException:
            _forget(sha)
            raise
        return JSONResponse({**view, "duplicate": not created},
                            status_code=202 if created else 200)

    def _forget(sha: str) -> None:
        with factory() as session:
            if not session.scalar(select(exists().where(Submission.sha256 == sha))):
                upload_path(data, sha).unlink(missing_ok=True)

    def own_submission(session: Session, submission_id: str, team: Team | None
                       ) -> tuple[Submission, Challenge]:
        row = session.get(Submission, submission_id) if ID_PATTERN.match(submission_id) \
            else None
        visible = row is not None and (row.kind == "reference" or (
            team is not None and (team.is_admin or row.team_id == team.id)))
        if not visible:  # another team's submission is "not found", as a missing one
            raise HTTPException(404 if team is not None or row is None else 401,
                                "submission: not found" if team is not None or row is None
                                else "token: missing or not valid")
        return row, session.get(Challenge, row.challenge_id)

    @app.get("/submissions/{submission_id}")
    def submission(submission_id: str, session: Annotated[Session, Depends(db)],
                   team: Annotated[Team | None, Depends(caller)]) -> dict[str, Any]:
        row, found = own_submission(session, submission_id, team)
        return board.submission_view(row, found)

    @app.get("/submissions/{submission_id}/document")
    def document(submission_id: str, session: Annotated[Session, Depends(db)],
                 team: Annotated[Team | None, Depends(caller)],
                 part: Annotated[str, Query()] = "public") -> dict[str, Any]:
        row = session.get(Submission, submission_id) if ID_PATTERN.match(submission_id) \
            else None
        if part == "public" and row is not None and row.state == "scored":
            found = session.get(Challenge, row.challenge_id)  # a public board row's document
        else:
            row, found = own_submission(session, submission_id, team)
        part_allowed(found, part, team)
        stored = getattr(row, f"{part}_document")
        if row.state != "scored" or stored is None:
            raise HTTPException(409, f"submission: {row.state}, not scored")
        return public_view(stored, found, part)

    @app.get("/teams/me", response_model=None)
    def me(request: Request, session: Annotated[Session, Depends(db)],
           team: Annotated[Team | None, Depends(page_caller)],
           challenge: Annotated[str | None, Query()] = None
           ) -> dict[str, Any] | HTMLResponse | RedirectResponse:
        html = wants_html(request)
        if team is None:
            if html:
                return RedirectResponse("/login", status_code=303)
            raise HTTPException(401, "token: missing or not valid",
                                headers={"WWW-Authenticate": "Bearer"})
        if challenge is not None:
            chosen = challenge_of(session, challenge)
        else:
            chosen = session.scalar(select(Challenge).where(Challenge.state == "open")
                                    .order_by(Challenge.created_at.desc()).limit(1))
        view = board.team_view(session, team, chosen)
        if html:  # the team's own page (czbench.pages)
            from czbench.pages import render_team

            return HTMLResponse(render_team(view, poll_seconds=poll_seconds),
                                headers={"Cache-Control": "no-store"})
        return view

    @app.get("/login", response_class=HTMLResponse)
    def login_page() -> HTMLResponse:
        from czbench.pages import render_login

        return HTMLResponse(render_login())

    @app.post("/login", response_model=None)
    async def login(request: Request) -> HTMLResponse | RedirectResponse:
        from urllib.parse import parse_qs

        body = await request.body()
        token = parse_qs(body[:4096].decode("ascii", "replace")).get("token", [""])[0].strip()
        team = await run_in_threadpool(_team_of, token)
        if team is None:
            from czbench.pages import render_login

            # the form again with the reason (200: a browser logs a 401 page as a console error)
            return HTMLResponse(render_login(error="token: not valid"))
        response = RedirectResponse("/teams/me", status_code=303)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    def _team_of(token: str) -> Team | None:
        if not token:
            return None
        with factory() as session:
            return find_team(session, token)

    return app
