"""The OpenAPI document. The body of /v1/solve and /v1/jobs is read by the routes themselves (with
solver.parse_request, off the event loop, so error paths are the solver's and a large instance does not
stall the loop that keeps every deadline), so its schema and examples are added here."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from models.request import request_adapter

REQUEST_SCHEMA = "SolveRequest"
REF = "#/components/schemas/{model}"


def request_body(examples: dict[str, Any]) -> dict[str, Any]:
    """openapi_extra of a route whose body is a SolveRequest."""
    schema = {"$ref": REF.format(model=REQUEST_SCHEMA)}
    content = {"application/json": {"schema": schema, "examples": examples}}
    return {"requestBody": {"required": True, "content": content}}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            add_request_schema(schema.setdefault("components", {}).setdefault("schemas", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_request_schema(components: dict[str, Any]) -> None:
    """SolveRequest and the models it uses; a model that FastAPI already documents differently (as a
    response) is added as `<name>-Input`, as FastAPI itself names such pairs."""
    generated = request_adapter.json_schema(ref_template=REF)
    defs: dict[str, Any] = generated.pop("$defs", {})
    renames = {n: f"{n}-Input" for n, s in defs.items() if n in components and components[n] != s}
    for old, new in renames.items():
        if new in components and components[new] != defs[old]:
            raise RuntimeError(f"OpenAPI: two different schemas named {new!r}")
    for name, schema in {**defs, REQUEST_SCHEMA: generated}.items():
        components[renames.get(name, name)] = _renamed(schema, renames)


def _renamed(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _renamed(v, renames) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF.format(model="")):
            name = ref.rsplit("/", 1)[1]
            out["$ref"] = REF.format(model=renames.get(name, name))
        return out
    if isinstance(node, list):
        return [_renamed(v, renames) for v in node]
    return node
