"""The HTTP server: a FastAPI app over the answering core.

:func:`service.http.app.create_app` makes the app; :mod:`service.factory` builds the
:class:`service.http.state.Service` it serves. One router module per resource in ``routes/``;
the web page's files are package data in ``web/``.
"""
