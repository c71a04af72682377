"""The API's routers, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from service.http.routes import ask, facets, files, health, products, search

#: Every router of the API, in the order the app includes them.
ROUTERS: tuple[APIRouter, ...] = (
    ask.router,
    search.router,
    facets.router,
    products.router,
    files.router,
    health.router,
)
