"""Reference cycles in a plan: found with an iterative walk, so no input can recurse forever."""

from __future__ import annotations

from termserver.plans.model import Plan, Problem, Reference


def references(plan: Plan) -> list[Reference]:
    """Every link in the plan, in document order."""
    out: list[Reference] = [*plan.goal_refs, *plan.target_group_refs]
    for g in plan.goals:
        out.extend(g.addresses)
        out.extend(g.based_on)
    for iv in plan.interventions:
        out.extend(iv.reasons)
        out.extend(iv.goals)
    out.extend(plan.other_refs)
    return out


def find_cycles(edges: dict[str, list[Reference]], kind: str) -> list[Problem]:
    """One problem per cycle in ``edges`` (node key → its resolved outgoing links).

    Each cycle is reported once, at the link that closes it, with the whole chain named.
    """
    problems: list[Problem] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in edges:
        if start in state:
            continue
        path: list[str] = [start]
        state[start] = 1
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, i = stack[-1]
            out = edges.get(node, [])
            if i >= len(out):
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            stack[-1] = (node, i + 1)
            ref = out[i]
            nxt = ref.target
            if nxt is None:
                continue
            if state.get(nxt) == 1:
                chain = " → ".join([*path[path.index(nxt) :], nxt])
                problems.append(
                    Problem(
                        "cycle",
                        ref.location,
                        f"henvisningerne danner en ring ({kind}): {chain}",
                        f"the references form a cycle ({kind}): {chain}",
                    )
                )
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, 0))
    return problems
