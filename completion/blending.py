"""Poisson blending: the last step of Yeh, Chen et al. (Sec. 3.4), solved exactly.

Pasting G(z) into the hole leaves a seam where its colours do not match the
photo. The paper instead keeps G(z)'s *gradients* inside the hole and the
photo's *values* outside (Perez et al., "Poisson Image Editing", 2003): find x
with

    laplacian(x)[p] = laplacian(G(z))[p]   for every missing pixel p,
    x[q] = y[q]                             for every known pixel q,

where ``laplacian(f)[p] = sum over the 4 neighbours q of p inside the image of
(f[p] - f[q])``. A neighbour outside the image is simply left out (the hole may
touch the border). Every 4-connected part of the hole then touches a known
pixel unless no pixel at all is known, so the system is non-singular; an image
with no known pixel (the ``lowres`` mask) keeps G(z) as it is.

We solve this sparse linear system per channel with ``scipy.sparse.linalg.spsolve``
rather than ``cv2.seamlessClone``: OpenCV's cloning works in uint8, treats the
mask's edge its own way and changed some known pixels of a real face under an
80% random mask (docs/DESIGN.md has the figures), while the direct solve keeps every
known pixel bit-exact and satisfies the equation to round-off. A 64x64 image
with a 32x32 hole is a 1024-unknown system: about 15 ms for three channels.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def poisson_blend(image: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend ``generated`` into the missing pixels of ``image``.

    image, generated: (S, S, C) floats (any range, e.g. [-1, 1]); mask: (S, S) or
    (S, S, 1), 1 (or > 0.5) = known. Returns float64 (S, S, C): ``image`` on the
    known pixels, and inside the hole the solution keeping ``generated``'s
    Laplacian, with the known pixels as the boundary condition.
    """
    image = np.asarray(image, np.float64)
    generated = np.asarray(generated, np.float64)
    known = np.asarray(mask).reshape(image.shape[:2]) > 0.5
    result = np.where(known[..., None], image, generated)
    holes = np.argwhere(~known)
    if len(holes) == 0 or not known.any():
        return result
    height, width = known.shape
    index = -np.ones(known.shape, int)
    index[~known] = np.arange(len(holes))

    rows, cols, values = [], [], []
    boundary = np.zeros((len(holes), image.shape[2]))     # sum of known neighbours' values
    degree = np.zeros(len(holes))
    guidance = np.zeros((len(holes), image.shape[2]))     # laplacian of generated
    for dy, dx in NEIGHBOURS:
        y, x = holes[:, 0] + dy, holes[:, 1] + dx
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        p = np.flatnonzero(inside)
        qy, qx = y[inside], x[inside]
        degree[p] += 1
        guidance[p] += generated[holes[p, 0], holes[p, 1]] - generated[qy, qx]
        q_known = known[qy, qx]
        boundary[p[q_known]] += image[qy[q_known], qx[q_known]]
        rows.append(p[~q_known])
        cols.append(index[qy[~q_known], qx[~q_known]])
        values.append(-np.ones((~q_known).sum()))
    rows.append(np.arange(len(holes)))
    cols.append(np.arange(len(holes)))
    values.append(degree)
    system = scipy.sparse.csc_matrix((np.concatenate(values),
                                      (np.concatenate(rows), np.concatenate(cols))),
                                     shape=(len(holes), len(holes)))
    solution = scipy.sparse.linalg.spsolve(system, guidance + boundary)
    result[holes[:, 0], holes[:, 1]] = solution.reshape(len(holes), -1)
    return result


def blend_batch(images: np.ndarray, generated: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """:func:`poisson_blend` over a batch: (B, S, S, C) images and G(z), (B or 1, S, S, 1) masks."""
    masks = np.broadcast_to(masks, (len(images), *np.shape(masks)[-3:]))
    return np.stack([poisson_blend(image, fake, mask)
                     for image, fake, mask in zip(images, generated, masks)]).astype(np.float32)


def laplacian(image: np.ndarray) -> np.ndarray:
    """The 4-neighbour Laplacian used above, ``sum_q (f[p] - f[q])`` over in-image neighbours."""
    image = np.asarray(image, np.float64)
    result = np.zeros_like(image)
    height, width = image.shape[:2]
    for dy, dx in NEIGHBOURS:
        ys = slice(max(-dy, 0), height - max(dy, 0))
        xs = slice(max(-dx, 0), width - max(dx, 0))
        qs = slice(max(dy, 0), height - max(-dy, 0))
        qx = slice(max(dx, 0), width - max(-dx, 0))
        result[ys, xs] += image[ys, xs] - image[qs, qx]
    return result
