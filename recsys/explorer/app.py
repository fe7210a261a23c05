"""The explorer's web app (Flask, Jinja templates, no JavaScript): pages over an
:class:`~recsys.explorer.catalog.Explorer`.

Safety: photos are served by item id from the dataset's folder only; uploads are
size-capped and decoded with the validation's checks; a bad id is a 404 page and
any failure a page with a message, never a traceback.
"""

from __future__ import annotations

import mimetypes

from flask import Flask, abort, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from recsys.data.images import ImageError, max_image_bytes, read_image_bytes
from recsys.explorer.catalog import Explorer, NotFound

#: an upload's size cap on top of the image cap: the multipart envelope
FORM_OVERHEAD = 64 * 1024
#: no scripts, nothing from other hosts; photos from here or inline (the upload's thumbnail)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(explorer: Explorer) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_image_bytes() + FORM_OVERHEAD

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
        return {"image_url": lambda item_id: url_for("image", item_id=item_id),
                "item_url": lambda item_id: url_for("item", item_id=item_id),
                "user_url": lambda user_id: url_for("user", user_id=user_id)}

    @app.get("/")
    def index():
        return render_template("index.html", users=explorer.sample_users(),
                               new_items=[explorer.card(i) for i in explorer.new_item_ids[:explorer.k]],
                               summary=explorer.summary())

    @app.get("/users")
    def find_user():
        user_id = request.args.get("id", "").strip()
        explorer.check_user(user_id)
        return redirect(url_for("user", user_id=user_id))

    @app.get("/users/<path:user_id>")
    def user(user_id):
        history, total = explorer.history(user_id)
        return render_template("user.html", user_id=user_id, history=history, total=total,
                               recommendations=explorer.recommendations(user_id),
                               new_recommendations=explorer.recommendations(user_id, new_only=True),
                               has_new=bool(explorer.new_item_ids), k=explorer.k)

    @app.get("/items/<path:item_id>")
    def item(item_id):
        details = explorer.item_details(item_id)
        return render_template("item.html", item=explorer.card(item_id), details=details,
                               similar=explorer.similar_items(item_id), users=explorer.likely_users(item_id))

    @app.get("/images/<path:item_id>")
    def image(item_id):
        path = explorer.images.get(item_id)
        if path is None:
            abort(404)
        try:
            data = read_image_bytes(path)
        except ImageError:
            abort(404)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return data, 200, {"Content-Type": kind, "Cache-Control": "max-age=3600"}

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
            reason = getattr(exc, "reason", None) or str(exc)
            return render_template("photo.html", result=None, error=f"{upload.filename}: cannot be used ({reason}).",
                                   new_items=new_items), 400
        return render_template("photo.html", result=result, error=None, filename=upload.filename)

    @app.get("/model")
    def model():
        return render_template("model.html", summary=explorer.summary())

    return app
