"""Rules that relate several fields of a batching instance; each error names its JSON path.

Bad input only: a running batch that does not fit this step is not an error but something the plan must
fix by preempting (or, with preemption disabled, a proven infeasibility).
"""

from __future__ import annotations

from models.batching import BatchingInstance
from solver.batching.problem import Columns, columns
from solver.engine.errors import FieldError, InvalidInstance

MAX_ERRORS = 50


def validate(inst: BatchingInstance, cols: Columns | None = None) -> None:
    """Vectorised first; the field-by-field pass (which names every path) runs only when a rule breaks."""
    c = columns(inst) if cols is None else cols
    ids = c.r_ids + c.w_ids
    r, w = c.run, c.wait
    suspect = (
        len(set(ids)) != len(ids)
        or bool((r[1] >= r[2]).any())
        or bool((w[1] >= w[2]).any())
        or bool((r[4] > r[2]).any())  # a missing prediction is nan: never above
        or bool((w[4] > w[2]).any())
        or bool((r[7] > 0).any())
        or bool((w[7] > 0).any())
        or c.r_prefix.count(None) != len(c.r_prefix)
        or c.w_prefix.count(None) != len(c.w_prefix)
        or inst.kv_capacity_tokens < inst.block_tokens
    )
    if suspect:
        _validate_fields(inst)


def _validate_fields(inst: BatchingInstance) -> None:
    errors: list[FieldError] = []
    seen: dict[str, tuple[str, int]] = {}
    prefix_len: dict[str, tuple[int, tuple[str | int, ...]]] = {}

    def add(loc: tuple[str | int, ...], msg: str, value: object) -> None:
        if len(errors) < MAX_ERRORS:
            errors.append(FieldError(loc, msg, value))

    def check_prefix(loc: tuple[str | int, ...], prefix_id: str | None, tokens: int) -> None:
        if prefix_id is None:
            if tokens:
                add((*loc, "prefix_tokens"), "prefix_tokens needs a prefix_id (or set it to 0)", tokens)
            return
        if tokens < 1:
            add((*loc, "prefix_tokens"), f"prefix {prefix_id!r} must have at least one token", tokens)
            return
        first = prefix_len.setdefault(prefix_id, (tokens, loc))
        if first[0] != tokens:
            where = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in first[1]).lstrip(".")
            add(
                (*loc, "prefix_tokens"),
                f"prefix {prefix_id!r} has {first[0]} tokens at {where}; every holder must say the same",
                tokens,
            )

    for field in ("running", "waiting"):
        for i, req in enumerate(getattr(inst, field)):
            loc: tuple[str | int, ...] = (field, i)
            if req.id in seen:
                other = "{}[{}]".format(*seen[req.id])
                add((*loc, "id"), f"duplicate request id (also {other})", req.id)
            seen.setdefault(req.id, (field, i))
            if req.generated_tokens >= req.max_new_tokens:
                add(
                    (*loc, "generated_tokens"),
                    f"a request with {req.generated_tokens} of its max_new_tokens {req.max_new_tokens} "
                    "generated has finished; it must be below max_new_tokens",
                    req.generated_tokens,
                )
            if req.predicted_output_tokens is not None and req.predicted_output_tokens > req.max_new_tokens:
                add(
                    (*loc, "predicted_output_tokens"),
                    f"above max_new_tokens ({req.max_new_tokens})",
                    req.predicted_output_tokens,
                )
            check_prefix(loc, req.prefix_id, req.prefix_tokens)
    for i, r in enumerate(inst.running):
        if r.prefix_id is not None and r.kv_tokens < r.prefix_tokens:
            add(
                ("running", i, "kv_tokens"),
                f"a running request holding prefix {r.prefix_id!r} holds at least its {r.prefix_tokens} "
                "tokens",
                r.kv_tokens,
            )
    for j, w in enumerate(inst.waiting):
        if w.prefix_id is not None and w.prefix_tokens >= w.prompt_tokens:
            add(
                ("waiting", j, "prefix_tokens"),
                f"the shared prefix must be shorter than the prompt ({w.prompt_tokens} tokens)",
                w.prefix_tokens,
            )
    if inst.kv_capacity_tokens < inst.block_tokens:
        add(
            ("kv_capacity_tokens",),
            f"smaller than one block ({inst.block_tokens} tokens)",
            inst.kv_capacity_tokens,
        )
    if errors:
        raise InvalidInstance(errors)
