"""``derive serve``: a web page and a JSON API over the Python API (docs/web.md).

:mod:`derive.web.api` holds the work of each route as plain functions (no web framework),
:mod:`derive.web.workers` runs them in worker processes under a time limit,
:mod:`derive.web.app` is the Starlette application, :mod:`derive.web.openapi` its OpenAPI
document, :mod:`derive.web.html` the notebooks' HTML renderings of results, and ``static/`` the
page (HTML, JavaScript, CSS and a vendored KaTeX: nothing is loaded from elsewhere).
"""
