"""Data access for the platform: keyword-only functions taking a SQLAlchemy Session.

Callers own the transaction (see :class:`winnow.platform.db.Database`);
functions flush but never commit. Every lookup is scoped to a workspace, and
what another workspace owns is reported as not found.
"""

from winnow.platform.store.annotations import add_annotation, check_annotation, list_annotations
from winnow.platform.store.datapoints import (
    CheckedImage,
    CheckedMetadata,
    PendingImage,
    RegisterResult,
    check_datapoint,
    check_image,
    check_tags,
    register_datapoint,
    register_datapoints,
)
from winnow.platform.store.listing import (
    BatchCounts,
    ImageFilters,
    get_image,
    list_batches,
    list_images,
)
from winnow.platform.store.models import (
    add_model_version,
    get_model_version,
    list_model_versions,
    parse_model_id,
)
from winnow.platform.store.projects import (
    create_project,
    get_al_config,
    get_project,
    list_al_config_versions,
    list_projects,
    save_al_config,
)
from winnow.platform.store.workspaces import (
    create_api_key,
    create_workspace,
    get_workspace,
    list_api_keys,
    resolve_key,
    revoke_api_key,
)

__all__ = [
    "BatchCounts",
    "CheckedImage",
    "CheckedMetadata",
    "ImageFilters",
    "PendingImage",
    "RegisterResult",
    "add_annotation",
    "add_model_version",
    "check_annotation",
    "check_datapoint",
    "check_image",
    "check_tags",
    "create_api_key",
    "create_project",
    "create_workspace",
    "get_al_config",
    "get_image",
    "get_model_version",
    "get_project",
    "get_workspace",
    "list_al_config_versions",
    "list_annotations",
    "list_api_keys",
    "list_batches",
    "list_images",
    "list_model_versions",
    "list_projects",
    "parse_model_id",
    "register_datapoint",
    "register_datapoints",
    "resolve_key",
    "revoke_api_key",
    "save_al_config",
]
