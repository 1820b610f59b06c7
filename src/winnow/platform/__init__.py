"""The platform role: workspaces, projects, AL configs, batches, images, annotations, models.

``Platform.open(settings)`` (in :mod:`winnow.platform.service`) builds everything;
``Platform.router`` carries every route. Storage access lives in
:mod:`winnow.platform.store` as keyword-only functions taking a Session.
"""
