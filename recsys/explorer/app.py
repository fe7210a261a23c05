"""The explorer's web app (Flask, Jinja templates, no JavaScript): pages over an
:class:`~recsys.explorer.explorer.Explorer`.

Safety: photos are served by item id, only files that opened as images at start
(:mod:`recsys.explorer.photos`), with an image content type and ``nosniff``;
links percent-encode ids; uploads are size- and pixel-capped and decoded in
memory, a few at a time; a bad id is a 404 page and any failure a page with a
message, never a traceback.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Flask, abort, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from recsys.data.images import ImageError, max_image_bytes
from recsys.explorer.explorer import Explorer, NotFound

#: an upload's size cap on top of the image cap: the multipart envelope
FORM_OVERHEAD = 64 * 1024
#: no scripts, nothing from other hosts; photos from here or inline (the upload's thumbnail)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def id_url(prefix: str, some_id) -> str:
    """The page of an id, every character percent-encoded (a ``/``, a newline, ``..``
    inside an id stay in it). An id that is a whole ``.`` or ``..`` segment, which
    browsers resolve away even encoded, or that holds a newline, which routes do not
    match, goes in the query string instead."""
    some_id = str(some_id)
    if some_id in ("", ".", "..") or not some_id.isprintable():
        return f"/{prefix}/?id={quote(some_id, safe='')}"
    return f"/{prefix}/{quote(some_id, safe='')}"


def by_query(some_id: str | None) -> str:
    """The id of a page: from its path, else from ``?id=`` (:func:`id_url`)."""
    return some_id if some_id is not None else request.args.get("id", "")


def create_app(explorer: Explorer) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_image_bytes() + FORM_OVERHEAD
    _add_guards(app)
    _add_pages(app, explorer)
    _add_photo_page(app, explorer)
    return app


def _add_guards(app: Flask) -> None:
    """Security headers on every response, error pages that never show a traceback, link helpers."""

    @app.after_request
    def secure(response):
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.errorhandler(NotFound)
    def not_found(exc):
        return render_template("message.html", title="Not found", message=str(exc)), 404

    @app.errorhandler(HTTPException)
    def http_error(exc):
        messages = {404: "There is no such page.",
                    413: f"The file is larger than the {max_image_bytes() / 2**20:.3g} MiB cap."}
        message = messages.get(exc.code, exc.description)
        return render_template("message.html", title=exc.name, message=message), exc.code

    @app.errorhandler(Exception)
    def failure(exc):
        app.logger.exception("page failed")  # the traceback goes to the server's log only
        return render_template("message.html", title="Something went wrong",
                               message=f"This page failed ({type(exc).__name__}); the server log has the details."), 500

    @app.context_processor
    def helpers():
        return {"image_url": lambda item_id: id_url("images", item_id),
                "item_url": lambda item_id: id_url("items", item_id),
                "user_url": lambda user_id: id_url("users", user_id)}


def _add_pages(app: Flask, explorer: Explorer) -> None:
    """The start page, users, items, their photos and the model page."""

    @app.get("/")
    def index():
        return render_template("index.html", users=explorer.sample_users(),
                               new_items=[explorer.card(i) for i in explorer.new_item_ids[:explorer.k]],
                               summary=explorer.summary(), overview=explorer.overview())

    @app.get("/users")
    def find_user():
        user_id = request.args.get("id", "").strip()
        explorer.check_user(user_id)
        return redirect(id_url("users", user_id))

    @app.get("/users/")
    @app.get("/users/<path:user_id>")
    def user(user_id=None):
        user_id = by_query(user_id)
        history, total = explorer.history(user_id)
        return render_template("user.html", user_id=user_id, history=history, total=total,
                               recommendations=explorer.recommendations(user_id),
                               new_recommendations=explorer.recommendations(user_id, new_only=True),
                               has_new=bool(explorer.new_item_ids), k=explorer.k)

    @app.get("/items/")
    @app.get("/items/<path:item_id>")
    def item(item_id=None):
        item_id = by_query(item_id)
        details = explorer.item_details(item_id)
        return render_template("item.html", item=explorer.card(item_id), details=details,
                               similar=explorer.similar_items(item_id), users=explorer.likely_users(item_id))

    @app.get("/images/")
    @app.get("/images/<path:item_id>")
    def image(item_id=None):
        try:  # only what opened as an image at start, and opens as one now
            data, kind = explorer.images.read(by_query(item_id))
        except (KeyError, ImageError):
            abort(404)
        return data, 200, {"Content-Type": kind, "Cache-Control": "max-age=3600"}

    @app.get("/model")
    def model():
        return render_template("model.html", summary=explorer.summary())


def _add_photo_page(app: Flask, explorer: Explorer) -> None:
    """Upload a photo: similar catalog items and likely users, scored as a new item."""

    @app.route("/photo", methods=["GET", "POST"])
    def photo():
        new_items = [explorer.card(i) for i in explorer.new_item_ids[:explorer.k]]  # each one's page scores it
        if request.method == "GET":
            return render_template("photo.html", result=None, error=None, new_items=new_items)
        upload = request.files.get("photo")
        if upload is None or not upload.filename:
            return render_template("photo.html", result=None, error="Choose a photo to upload.",
                                   new_items=new_items), 400
        try:
            result = explorer.score_photo(upload.read(max_image_bytes() + 1))
        except (ImageError, ValueError) as exc:
            reason = f"{exc.reason}: {exc.detail}" if getattr(exc, "detail", "") else getattr(exc, "reason", str(exc))
            return render_template("photo.html", result=None, error=f"{upload.filename}: cannot be used ({reason}).",
                                   new_items=new_items), 400
        return render_template("photo.html", result=result, error=None, filename=upload.filename)
