"""Each atom's k nearest neighbours, compiled with numba: the graphs of the pymatgen search, faster.

Optional: ``_graphs`` uses it when numba is installed (``pip install skmatgp[fast]``) and
otherwise lists pairs with pymatgen's ``find_points_in_spheres`` and sorts them in numpy. Both
give the same edges in the same order, the same float32 distances and the same tie rule
(tests/test_compiled_search.py checks it on real structures).

Why it is faster on small structures: pymatgen's search pays a set-up cost per structure,
lists every pair within the radius, and numpy then sorts them all. Here every pair of atoms
is visited once (i <= j, both atoms' lists filled from one distance), and each atom keeps a
sorted list of its k best neighbours as it goes, so nothing is stored or sorted beyond k per
atom. Visiting every pair is O(n^2): above ``MAX_ATOMS`` atoms ``_graphs`` uses pymatgen's
cell list instead. The measured speeds are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import numba
import numpy as np

# pymatgen's search wins from about 600 to 1,500 atoms, depending on the cell ("crossover" in
# benchmarks/results/featurize.json); below 500 the numba search is clearly faster
MAX_ATOMS = 500


@numba.njit(cache=True, inline="always")
def _insert(best_dist, best_nbr, row, count, k, dist, nbr):
    """Put (dist, nbr) into row's list, kept sorted by (dist, nbr) and at most k long."""
    if count == k:
        last = k - 1
        if dist > best_dist[row, last] or (dist == best_dist[row, last] and nbr >= best_nbr[row, last]):
            return count
        pos = last
    else:
        pos = count
        count += 1
    while pos > 0 and (
        best_dist[row, pos - 1] > dist or (best_dist[row, pos - 1] == dist and best_nbr[row, pos - 1] > nbr)
    ):
        best_dist[row, pos] = best_dist[row, pos - 1]
        best_nbr[row, pos] = best_nbr[row, pos - 1]
        pos -= 1
    best_dist[row, pos] = dist
    best_nbr[row, pos] = nbr
    return count


@numba.njit(cache=True, inline="always")
def _translations(frac_step, reach, periodic):
    """The lattice translations t with |frac_step + t| <= reach along one axis."""
    if periodic:
        return int(np.ceil(-reach - frac_step)), int(np.floor(reach - frac_step))
    return 0, 0


@numba.njit(cache=True)
def _scan(
    i, j_from, j_to, both, frac, lattice, pbc, plane_spacing_inv, r, tol, k, best_dist, best_nbr, counts
):
    """Every image of atoms j_from..j_to-1 within r of atom i, into i's list (and j's if both).

    Within r as pymatgen's ``find_points_in_spheres`` has it: d^2 < r^2 + tol, so that a
    neighbour exactly at r (ideal cells, a radius on a neighbour shell) is kept by both
    searches. ``reach[m]`` is that distance in fractional units along axis m (times the
    inverse spacing of the lattice planes, with room for rounding), so only translations
    that can come within it are visited.
    """
    r2 = r * r + tol
    reach = plane_spacing_inv * (np.sqrt(r2) * (1 + 1e-9))
    for j in range(j_from, j_to):
        f0 = frac[j, 0] - frac[i, 0]
        f1 = frac[j, 1] - frac[i, 1]
        f2 = frac[j, 2] - frac[i, 2]
        lo0, hi0 = _translations(f0, reach[0], pbc[0])
        if lo0 > hi0:
            continue
        lo1, hi1 = _translations(f1, reach[1], pbc[1])
        if lo1 > hi1:
            continue
        lo2, hi2 = _translations(f2, reach[2], pbc[2])
        for t0 in range(lo0, hi0 + 1):
            a0 = f0 + t0
            for t1 in range(lo1, hi1 + 1):
                a1 = f1 + t1
                x01 = a0 * lattice[0, 0] + a1 * lattice[1, 0]
                y01 = a0 * lattice[0, 1] + a1 * lattice[1, 1]
                z01 = a0 * lattice[0, 2] + a1 * lattice[1, 2]
                for t2 in range(lo2, hi2 + 1):
                    a2 = f2 + t2
                    x = x01 + a2 * lattice[2, 0]
                    y = y01 + a2 * lattice[2, 1]
                    z = z01 + a2 * lattice[2, 2]
                    d2 = x * x + y * y + z * z
                    if d2 >= r2:
                        continue
                    d = np.sqrt(d2)
                    if j == i and d <= 1e-8:  # the atom itself
                        continue
                    dist = np.float32(d)
                    counts[i] = _insert(best_dist, best_nbr, i, counts[i], k, dist, j)
                    if both and j != i:
                        counts[j] = _insert(best_dist, best_nbr, j, counts[j], k, dist, i)


@numba.njit(cache=True)
def nearest_neighbors(frac, lattice, pbc, first, radius, k, tol):
    """Edges (neighbour row, centre row) and float32 distances to each atom's k nearest
    neighbours within radius.

    Same contract as ``_graphs._nearest_neighbors``: ordered by centre, distance, then
    neighbour index. The pairs are first searched within ``first``; an atom without k
    neighbours strictly inside it is searched again at ``radius``. ``tol``: pymatgen's pair
    tolerance (see ``_scan``).
    """
    n = frac.shape[0]
    plane_spacing_inv = np.empty(3)  # |b_m|: 1 / spacing of the lattice planes along axis m
    volume = abs(np.dot(lattice[0], np.cross(lattice[1], lattice[2])))
    for m in range(3):
        normal = np.cross(lattice[(m + 1) % 3], lattice[(m + 2) % 3])
        plane_spacing_inv[m] = np.sqrt(np.dot(normal, normal)) / volume
    best_nbr = np.empty((n, k), np.int64)
    best_dist = np.empty((n, k), np.float32)
    counts = np.zeros(n, np.int64)
    r = min(first, radius)
    for i in range(n):
        _scan(i, i, n, True, frac, lattice, pbc, plane_spacing_inv, r, tol, k, best_dist, best_nbr, counts)
    inside = np.float32(r * (1 - 1e-6))  # strictly inside, with room for a float32 tie just outside
    for i in range(n):
        if r < radius and (counts[i] < k or best_dist[i, counts[i] - 1] >= inside):
            counts[i] = 0
            _scan(
                i,
                0,
                n,
                False,
                frac,
                lattice,
                pbc,
                plane_spacing_inv,
                radius,
                tol,
                k,
                best_dist,
                best_nbr,
                counts,
            )
    total = counts.sum()
    edge_index = np.empty((2, total), np.int64)
    distances = np.empty(total, np.float32)
    edge = 0
    for i in range(n):
        for q in range(counts[i]):
            edge_index[0, edge] = best_nbr[i, q]
            edge_index[1, edge] = i
            distances[edge] = best_dist[i, q]
            edge += 1
    return edge_index, distances
