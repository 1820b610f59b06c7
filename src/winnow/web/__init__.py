"""The labeling web UI: server-rendered pages, plain JS, static files served locally.

``winnow.web.routes.router`` holds every page and endpoint (under ``/app``);
``winnow.web.assets.mount_static(app)`` serves ``/app/static``.
"""
