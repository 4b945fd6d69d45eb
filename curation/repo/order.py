"""Order a repository's files so that each file's dependencies come before it.

DeepSeek-Coder's recipe: a topological sort that picks, among the files still to place, one of
minimal in-degree, and breaks cycles instead of failing. Here cycles are made explicit: the
strongly connected components (Tarjan, iterative) are condensed into a DAG, the DAG is placed
in topological order (ties: the component whose smallest path sorts first), and the files of a
component are placed by minimal remaining in-degree inside it (ties: path). Everything is
deterministic and O(V + E log V).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from typing import NamedTuple

MODES = ("dependency", "path", "random")


class DependencyOrder(NamedTuple):
    files: list[str]             # every path once, dependencies first
    components: list[list[str]]  # consecutive runs of `files`; a run of 2+ files is one cycle


def dependency_order(paths: Iterable[str], edges: Iterable[tuple[str, str]], mode: str = "dependency",
                     seed: int = 0) -> DependencyOrder:
    """Order `paths`; edges are (dependent, dependency) pairs.

    Edges naming a path outside `paths` are ignored (a dependency may have been filtered or
    deduplicated away) and so are self-edges. "path" and "random" modes ignore the edges and
    report every file as its own component.
    """
    nodes = sorted(set(paths))
    if mode == "path":
        return DependencyOrder(nodes, [[p] for p in nodes])
    if mode == "random":
        random.Random(seed).shuffle(nodes)
        return DependencyOrder(nodes, [[p] for p in nodes])
    if mode != "dependency":
        raise ValueError(f"unknown order mode {mode!r}; expected one of {', '.join(MODES)}")

    position = {path: i for i, path in enumerate(nodes)}
    # successors[b] holds a when a depends on b: b must come first
    successors: list[list[int]] = [[] for _ in nodes]
    seen: set[tuple[int, int]] = set()
    for dependent, dependency in edges:
        a, b = position.get(dependent), position.get(dependency)
        if a is None or b is None or a == b or (b, a) in seen:
            continue
        seen.add((b, a))
        successors[b].append(a)
    for targets in successors:
        targets.sort()

    component_of, components = strongly_connected_components(successors)
    order: list[int] = []
    placed_components: list[list[str]] = []
    for component in _condensation_order(successors, component_of, components):
        members = components[component]
        placed = members if len(members) == 1 else _order_cycle(members, successors, component_of, component)
        order.extend(placed)
        placed_components.append([nodes[i] for i in placed])
    return DependencyOrder([nodes[i] for i in order], placed_components)


def strongly_connected_components(successors: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Tarjan's algorithm without recursion: (component id per node, sorted members per component)."""
    n = len(successors)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    component_of = [-1] * n
    components: list[list[int]] = []
    stack: list[int] = []
    counter = 0
    for start in range(n):
        if index[start] != -1:
            continue
        # each frame: (node, position of the next successor to visit)
        work = [(start, 0)]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack[start] = True
        while work:
            node, next_child = work[-1]
            children = successors[node]
            if next_child < len(children):
                work[-1] = (node, next_child + 1)
                child = children[next_child]
                if index[child] == -1:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack[child] = True
                    work.append((child, 0))
                elif on_stack[child]:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component_of[member] = len(components)
                    members.append(member)
                    if member == node:
                        break
                components.append(sorted(members))
    return component_of, components


def _condensation_order(successors: list[list[int]], component_of: list[int],
                        components: list[list[int]]) -> list[int]:
    """Components in topological order; among ready ones, the one with the smallest path first."""
    in_degree = [0] * len(components)
    arcs: list[set[int]] = [set() for _ in components]
    for node, targets in enumerate(successors):
        source = component_of[node]
        for target in targets:
            sink = component_of[target]
            if sink != source and sink not in arcs[source]:
                arcs[source].add(sink)
                in_degree[sink] += 1
    # members are sorted and node ids follow path order, so members[0] is the smallest path
    ready = [(members[0], c) for c, members in enumerate(components) if in_degree[c] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, component = heapq.heappop(ready)
        order.append(component)
        for sink in sorted(arcs[component]):
            in_degree[sink] -= 1
            if in_degree[sink] == 0:
                heapq.heappush(ready, (components[sink][0], sink))
    return order


def _order_cycle(members: list[int], successors: list[list[int]], component_of: list[int],
                 component: int) -> list[int]:
    """Files of one cycle: repeatedly the one with the fewest unplaced dependencies inside it."""
    remaining = {m: 0 for m in members}
    for node in members:
        for target in successors[node]:
            if component_of[target] == component:
                remaining[target] += 1
    heap = [(degree, node) for node, degree in remaining.items()]
    heapq.heapify(heap)
    placed: set[int] = set()
    order = []
    while heap:
        degree, node = heapq.heappop(heap)
        if node in placed or degree != remaining[node]:
            continue  # a stale entry: the node was placed, or its degree dropped since
        placed.add(node)
        order.append(node)
        for target in successors[node]:
            if component_of[target] == component and target not in placed:
                remaining[target] -= 1
                heapq.heappush(heap, (remaining[target], target))
    return order
