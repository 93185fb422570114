"""Routes through class-code space from an image's class code to its reference's, straight or along real codes.

``StraightRoute`` (the straight line of the CAE paper's code) and ``GraphRoute`` (the shortest path through a
k-nearest-neighbour graph of real class codes, which stays on the class-code manifold). Any callable
``route(start, end, steps)`` is a ``Route``.

Used by ``paths.counterfactual_path(..., route=)``; taught in ``notebooks/05_paths.ipynb``. Importable from
``caelib.paths`` too.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from .codebank import CodeBank

__all__ = ["Route", "StraightRoute", "GraphRoute", "resample_polyline"]


class Route(Protocol):
    """``route(start (B, D), end (B, D), steps) -> codes (B, steps, D)``, first = start, last = end."""

    def __call__(self, start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor: ...


class StraightRoute:
    """The straight line from the image's class code to the reference's: ``(1 - t) s_x + t s_ref`` at
    ``steps`` evenly spaced t in [0, 1] (the paper's code uses t = 0, 0.2, ..., 1)."""

    def __call__(self, start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
        t = torch.linspace(0, 1, steps, device=start.device)[None, :, None]          # (1, S, 1)
        return (1 - t) * start[:, None, :] + t * end[:, None, :]                       # (B, S, D)

    def __repr__(self) -> str:
        return "StraightRoute()"


def resample_polyline(points: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points evenly spaced by arc length along a polyline (m, D) from its first to its last
    point -> (steps, D). A polyline of length 0 gives ``steps`` copies of its point."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)                            # (m - 1,)
    arc = np.concatenate([[0.0], np.cumsum(seg)])                                    # (m,)
    if arc[-1] <= 0:
        return np.repeat(points[:1], steps, axis=0)
    t = np.linspace(0.0, arc[-1], steps)
    return np.stack([np.interp(t, arc, points[:, j]) for j in range(points.shape[1])], axis=1)


class GraphRoute:
    """The shortest path through a k-nearest-neighbour graph of the bank's real class codes, from the
    image's class code to the reference's, resampled evenly along the polyline: a route that stays
    near real codes (the class-code manifold) instead of cutting across empty space.

    The graph joins each bank code to its ``k`` nearest neighbours (edge weight = Euclidean distance,
    scikit-learn's ``NearestNeighbors``), made symmetric; separate components (classes far apart) are
    joined by their closest pair of codes so that every class can be reached. The start and the end
    join the graph through their own ``k`` nearest bank codes (the start only by outgoing edges, the
    end only by incoming ones, so no path runs through another image's start or end). Shortest paths
    come from scipy's ``csgraph.dijkstra``. ``nodes(start, end)`` gives the bank indices visited."""

    def __init__(self, bank: CodeBank, k: int = 10):
        from scipy.sparse import csgraph, csr_matrix
        from sklearn.neighbors import NearestNeighbors

        if k < 1:
            raise ValueError(f"k must be >= 1 neighbours, got {k}")
        self.bank, self.k = bank, min(k, len(bank) - 1)
        pts = bank.codes.numpy().astype(np.float64)
        self._nn = NearestNeighbors(n_neighbors=self.k).fit(pts)
        dist, ind = self._nn.kneighbors(pts, n_neighbors=self.k + 1)               # (N, k + 1), self included
        rows = np.arange(len(pts))[:, None].repeat(self.k + 1, 1)
        keep = ind != rows
        graph = csr_matrix((np.maximum(dist[keep], 1e-12), (rows[keep], ind[keep])), shape=(len(pts),) * 2)
        graph = graph.maximum(graph.T).tolil()                                     # symmetric
        n_comp, comp = csgraph.connected_components(graph, directed=False)
        while n_comp > 1:                                                          # join the components
            inside = np.flatnonzero(comp == np.bincount(comp).argmin())
            outside = np.flatnonzero(comp != comp[inside[0]])
            dist, j = NearestNeighbors(n_neighbors=1).fit(pts[outside]).kneighbors(pts[inside])
            a = int(dist[:, 0].argmin())
            u, v = int(inside[a]), int(outside[j[a, 0]])
            graph[u, v] = graph[v, u] = max(float(dist[a, 0]), 1e-12)
            n_comp, comp = csgraph.connected_components(graph, directed=False)
        self.graph = graph.tocsr()                                                 # (N, N) sparse
        self.n_components_joined = int(np.unique(comp).size)

    def nodes(self, start: torch.Tensor, end: torch.Tensor) -> list[np.ndarray]:
        """For each pair (start (B, D), end (B, D)): the bank indices of the codes the shortest path
        visits, in order (start and end themselves excluded)."""
        from scipy.sparse import csgraph, csr_matrix, hstack, vstack

        n, b = len(self.bank), len(start)
        s, e = start.detach().cpu().double().numpy(), end.detach().cpu().double().numpy()
        ds, js = self._nn.kneighbors(s)                                            # (B, k)
        de, je = self._nn.kneighbors(e)
        rows = np.arange(b).repeat(self.k)
        out_edges = csr_matrix((np.maximum(ds.ravel(), 1e-12), (rows, js.ravel())), shape=(b, n))  # start -> bank
        in_edges = csr_matrix((np.maximum(de.ravel(), 1e-12), (je.ravel(), rows)), shape=(n, b))   # bank -> end
        # node layout: bank 0..n-1, ends n..n+b-1, starts n+b..n+2b-1
        graph = vstack([hstack([self.graph, in_edges, csr_matrix((n, b))]),
                        csr_matrix((b, n + 2 * b)),
                        hstack([out_edges, csr_matrix((b, 2 * b))])]).tocsr()
        # no direct start -> end edge: it would always be the shortest (the straight line)
        _, pred = csgraph.dijkstra(graph, directed=True, indices=np.arange(n + b, n + 2 * b),
                                   return_predecessors=True)                       # (B, n + 2B)
        chains = []
        for i in range(b):                       # walk the predecessors back from end i to start i
            chain, node = [], int(pred[i, n + i])
            while 0 <= node < n:
                chain.append(node)
                node = int(pred[i, node])
            chains.append(np.array(chain[::-1], dtype=np.int64))
        return chains

    def __call__(self, start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
        pts = self.bank.codes.numpy().astype(np.float64)
        s, e = start.detach().cpu().double().numpy(), end.detach().cpu().double().numpy()
        out = [resample_polyline(np.concatenate([s[i:i + 1], pts[chain], e[i:i + 1]]), steps)
               for i, chain in enumerate(self.nodes(start, end))]
        return torch.as_tensor(np.stack(out), dtype=torch.float32, device=start.device)  # (B, S, D)

    def __repr__(self) -> str:
        return f"GraphRoute(k={self.k})"

