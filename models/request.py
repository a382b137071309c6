"""The one request type every surface accepts, discriminated on `kind`.

Adding a family is one member in each union below (and one entry in solver's registry);
while pods is the only family the union has a single member.
"""

from __future__ import annotations

from pydantic import TypeAdapter

from models.pods import PodsRequest, PodsResult

SolveRequest = PodsRequest
AnySolveResult = PodsResult

request_adapter: TypeAdapter[SolveRequest] = TypeAdapter(SolveRequest)
