"""Simplification of index expressions: canonical sums and the div/mod strength-reduction rules.

Every sub-expression is read as a *linear form* ``sum(k_t * atom_t) + c`` whose atoms are
variables, divisions, modulos, table lookups and products of non-constants. The rules below act on
that form; each one is exact for floor division by a positive ``d`` on all integers unless a
range condition is stated, and the range conditions come from ``bounds`` (interval analysis over
the variables' extents).

Division ``(S) // d``:
  - ``(d*A + B) // d -> A + B // d``                   (pull out multiples, constants by divmod)
  - ``B // d -> q`` when every value of B lies in ``[q*d, (q+1)*d)``     (range analysis)
  - ``(g*A) // (g*m) -> A // m``                       (common factor of all coefficients)
  - ``(g*A + B) // (g*m) -> A // m`` when ``0 <= B < g``  (e.g. ``(i*a + j) // a -> i``)
  - ``(x // a) // b -> x // (a*b)``
Modulo ``(S) % d``:
  - ``(d*A + B) % d -> B % d`` (other coefficients are kept, so x%d still matches x//d)
  - ``B % d -> B - q*d`` when B lies in ``[q*d, (q+1)*d)``  (``x % n -> x`` for ``0 <= x < n``)
  - ``(g*A) % (g*m) -> g*(A % m)``
  - ``(g*A + B) % (g*m) -> g*(A % m) + B`` when ``0 <= B < g``  (e.g. ``(i*a + j) % a -> j``)
  - ``(x % a) % b -> x % b`` when ``a % b == 0``
  - ``(x // a) % b -> (x % (a*b)) // a``  (the canonical "bit-field" form; same size)
Sums: ``(x//a)*a + x%a -> x`` and ``((x%(a*b))//a)*a + x%a -> x%(a*b)`` (a split undone by a merge).
Lookup ``t[i]``: a constant index folds; a table that is an arithmetic progression over the
reachable indices becomes ``t0 + (i - lo)*step``.
Constant folding: any expression whose range is one value becomes that constant; a variable
of extent 1 is 0.

Canonical output: a sum lists its terms ordered by the variables they read (natural name order),
then by kind; a coefficient prints after its atom (``i*8``); a common factor is pulled out of
a sum when that is smaller. ``simplify`` never returns a larger tree (node count, ``size``):
at each node it keeps the rewritten form only when it is no larger than the node rebuilt from
its simplified children. This makes the result a function of the input only (deterministic).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from math import gcd

from smartmem_sim.layout.errors import LayoutError
from smartmem_sim.layout.expr import (
    Add,
    Const,
    Expr,
    FloorDiv,
    Lookup,
    Mod,
    Mul,
    Var,
    bounds,
    free_vars,
    size,
    to_python,
)

Linear = tuple[dict[Expr, int], int]  # {atom: coefficient}, constant


@lru_cache(maxsize=1 << 16)
def simplify(e: Expr) -> Expr:
    """The simplified, canonical form of ``e``: same value for every variable assignment within
    the variables' extents, never more nodes than ``e``."""
    if not isinstance(e, Expr):
        raise LayoutError(f"simplify: expected an index expression, got {type(e).__name__}")
    if isinstance(e, Const):
        return e
    if isinstance(e, Var):
        return Const(0) if e.extent == 1 else e
    if isinstance(e, Add | Mul):
        raw: Expr = type(e)(simplify(a) for a in e.args)
        cand = render_linear(*linear(raw))
    elif isinstance(e, FloorDiv):
        raw = FloorDiv(simplify(e.num), e.den)
        cand = render_linear(*div_linear(*linear(raw.num), e.den))
    elif isinstance(e, Mod):
        raw = Mod(simplify(e.num), e.den)
        cand = render_linear(*mod_linear(*linear(raw.num), e.den))
    elif isinstance(e, Lookup):
        raw = Lookup(e.table, simplify(e.index), e.name)
        cand = _lookup(raw)
    else:
        raise LayoutError(f"simplify: unknown node {type(e).__name__}")
    lo, hi = bounds(cand)
    if lo == hi:
        cand = Const(lo)
    return cand if size(cand) <= size(raw) else raw


def simplify_all(exprs: Iterable[Expr]) -> tuple[Expr, ...]:
    """``simplify`` over a sequence."""
    return tuple(simplify(e) for e in exprs)


# ---------------------------------------------------------------- linear forms


def linear(e: Expr) -> Linear:
    """``e`` as ``({atom: coefficient}, constant)``; products of non-constants are atoms."""
    if isinstance(e, Const):
        return {}, e.value
    if isinstance(e, Add):
        acc: Linear = ({}, 0)
        for a in e.args:
            acc = add_linear(acc, linear(a))
        return _recombine(acc)
    if isinstance(e, Mul):
        scale = 1
        factors: list[Expr] = []
        for a in e.args:
            terms, c = linear(a)
            if terms:
                factors.append(a)
            else:
                scale *= c
        if not factors or scale == 0:
            return {}, 0 if factors else scale
        if len(factors) == 1:
            return scale_linear(linear(factors[0]), scale)
        return {Mul(sorted(factors, key=_order_key)): scale}, 0
    return {e: 1}, 0


def _recombine(form: Linear, modulus: int | None = None) -> Linear:
    """Undo a split inside a sum, using ``x%a = x - (x//a)*a``.

    Structural patterns first: ``(x//a)*a*k + (x%a)*k -> x*k`` and
    ``((x%(a*b))//a)*a*k + (x%a)*k -> (x%(a*b))*k``; then, for every ``x%a`` in the sum, rewriting it
    as ``x - (x//a)*a`` with ``x//a`` in its simplified form, kept when the sum gets smaller (this
    matches a division that was simplified differently, e.g. ``(i*8 + j*2 + k)//12 -> (i*4 + j)//6``).
    Inside ``(...) % modulus`` coefficients only have to match modulo ``modulus``."""
    terms, c = form
    while True:
        step = _recombine_step(terms, c, modulus)
        if step is None:
            return terms, c
        terms, c = step


def _reduce(form: Linear, modulus: int | None) -> Linear:
    if modulus is None:
        return form
    return {t: k for t, k in form[0].items() if k % modulus}, form[1] % modulus


def _recombine_step(terms: dict[Expr, int], c: int, modulus: int | None) -> Linear | None:
    for m, km in terms.items():
        if not isinstance(m, Mod):
            continue
        for d, kd in terms.items():
            if not isinstance(d, FloorDiv) or d.den != m.den:
                continue
            if kd != km * m.den and (modulus is None or (kd - km * m.den) % modulus):
                continue
            if d.num == m.num:
                whole = linear(m.num)
            elif isinstance(d.num, Mod) and d.num.num == m.num and d.num.den % m.den == 0:
                whole = ({d.num: 1}, 0)
            else:
                continue
            rest = {t: k for t, k in terms.items() if t is not m and t is not d}
            return _reduce(add_linear((rest, c), scale_linear(whole, km)), modulus)
    base = None
    for m, km in terms.items():
        # x%a = x - (x//a)*a ;  (x%M)//a = x//a - (x//M)*(M/a) when a divides M
        if isinstance(m, Mod):
            x = linear(m.num)
            whole, quotient, factor = x, div_linear(*x, m.den), m.den
        elif isinstance(m, FloorDiv) and isinstance(m.num, Mod) and m.num.den % m.den == 0:
            x = linear(m.num.num)
            whole, quotient, factor = div_linear(*x, m.den), div_linear(*x, m.num.den), m.num.den // m.den
        else:
            continue
        if not quotient[0] or any(t not in terms for t in quotient[0]):
            continue  # nothing in the sum for the quotient to cancel against
        rest = {t: k for t, k in terms.items() if t is not m}
        cand = _reduce(add_linear(add_linear((rest, c), scale_linear(whole, km)),
                                  scale_linear(quotient, -km * factor)), modulus)
        base = base if base is not None else size(render_linear(terms, c))
        if size(render_linear(*cand)) < base:
            return cand
    return None


def add_linear(a: Linear, b: Linear) -> Linear:
    terms = dict(a[0])
    for t, k in b[0].items():
        k2 = terms.get(t, 0) + k
        if k2:
            terms[t] = k2
        else:
            terms.pop(t, None)
    return terms, a[1] + b[1]


def scale_linear(a: Linear, k: int) -> Linear:
    if k == 0:
        return {}, 0
    return {t: c * k for t, c in a[0].items()}, a[1] * k


def linear_bounds(terms: dict[Expr, int], c: int) -> tuple[int, int]:
    lo = hi = c
    for t, k in terms.items():
        tlo, thi = bounds(t)
        if k >= 0:
            lo, hi = lo + k * tlo, hi + k * thi
        else:
            lo, hi = lo + k * thi, hi + k * tlo
    return lo, hi


def _natural(name: str) -> tuple:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name) if p)


_KIND_RANK = {Var: 0, Mul: 1, FloorDiv: 2, Mod: 3, Lookup: 4, Add: 5, Const: 6}


@lru_cache(maxsize=1 << 16)
def _order_key(e: Expr) -> tuple:
    names = tuple(sorted(_natural(n) for n in free_vars(e)))
    return names, _KIND_RANK[type(e)], to_python(e)


def _term(atom: Expr, k: int) -> Expr:
    if k == 1:
        return atom
    if isinstance(atom, Mul):
        return Mul((*atom.args, Const(k)))
    return Mul((atom, Const(k)))


def render_linear(terms: dict[Expr, int], c: int) -> Expr:
    """The expression tree of a linear form, terms in canonical order, constant last."""
    items = sorted(((t, k) for t, k in terms.items() if k), key=lambda tk: _order_key(tk[0]))
    if not items:
        return Const(c)
    parts = [_term(t, k) for t, k in items] + ([Const(c)] if c else [])
    expanded = parts[0] if len(parts) == 1 else Add(parts)
    if len(parts) < 2:
        return expanded
    g = gcd(c, *(k for _, k in items))
    if all(k < 0 for _, k in items) and c <= 0:
        g = -g
    if abs(g) == 1 and g > 0:
        return expanded
    inner = [_term(t, k // g) for t, k in items] + ([Const(c // g)] if c else [])
    factored = Mul((Add(inner), Const(g)))
    return factored if size(factored) < size(expanded) else expanded


# ---------------------------------------------------------------- division and modulo


def div_linear(terms: dict[Expr, int], c: int, d: int) -> Linear:
    """Linear form of ``(sum(k*t) + c) // d`` for a positive integer ``d``."""
    if d == 1:
        return dict(terms), c
    lo, hi = linear_bounds(terms, c)
    if lo // d == hi // d:
        return {}, lo // d
    outer = {t: k // d for t, k in terms.items() if k % d == 0}
    inner = {t: k for t, k in terms.items() if k % d != 0}
    oc, ic = divmod(c, d)
    return add_linear((outer, oc), _div_inner(inner, ic, d))


def _div_inner(inner: dict[Expr, int], ic: int, d: int) -> Linear:
    # (inner + ic) // d with no coefficient a multiple of d and 0 <= ic < d
    if not inner:
        return {}, 0
    lo, hi = linear_bounds(inner, ic)
    if lo // d == hi // d:
        return {}, lo // d
    g = gcd(d, ic, *inner.values())
    if g > 1:
        return div_linear({t: k // g for t, k in inner.items()}, ic // g, d // g)
    split = _partial_factor(inner, ic, d)
    if split is not None:
        gp, big, bc, _small, _sc = split
        return div_linear(big, bc, d // gp)
    if len(inner) == 1 and ic == 0:
        ((t, k),) = inner.items()
        if k == 1 and isinstance(t, FloorDiv):  # (x // a) // d -> x // (a*d)
            return div_linear(*linear(t.num), t.den * d)
    return {FloorDiv(render_linear(inner, ic), d): 1}, 0


def mod_linear(terms: dict[Expr, int], c: int, d: int) -> Linear:
    """Linear form of ``(sum(k*t) + c) % d`` for a positive integer ``d``."""
    if d == 1:
        return {}, 0
    terms, c = _recombine((terms, c), d)
    lo, hi = linear_bounds(terms, c)
    if lo // d == hi // d:  # no wrap-around: x % d == x - q*d
        return add_linear((dict(terms), c), ({}, -(lo // d) * d))
    # drop multiples of d but keep other coefficients as they are: (x*5 + y) % 4 stays, so that the
    # modulo keeps the numerator of the matching division x//d and a later sum can recombine them
    inner = {t: k for t, k in terms.items() if k % d}
    ic = c % d
    if not inner:
        return {}, ic
    lo, hi = linear_bounds(inner, ic)
    if lo // d == hi // d:
        return add_linear((inner, ic), ({}, -(lo // d) * d))
    g = gcd(d, ic, *inner.values())
    if g > 1:
        return scale_linear(mod_linear({t: k // g for t, k in inner.items()}, ic // g, d // g), g)
    split = _partial_factor(inner, ic, d)
    if split is not None:
        gp, big, bc, small, sc = split
        return add_linear(scale_linear(mod_linear(big, bc, d // gp), gp), (small, sc))
    if len(inner) == 1 and ic == 0:
        ((t, k),) = inner.items()
        if k == 1 and isinstance(t, Mod) and t.den % d == 0:  # (x % a) % d -> x % d
            return mod_linear(*linear(t.num), d)
        if k == 1 and isinstance(t, FloorDiv):  # (x // a) % d -> (x % (a*d)) // a
            return div_linear(*mod_linear(*linear(t.num), t.den * d), t.den)
    return {Mod(render_linear(inner, ic), d): 1}, 0


def _partial_factor(inner: dict[Expr, int], ic: int, d: int):
    """Find g | d splitting the sum into g*big + small with 0 <= small < g (largest g first).

    Returns ``(g, big/g terms, big constant/g, small terms, small constant)`` or None."""
    for gp in sorted({gcd(k, d) for k in inner.values()} - {1}, reverse=True):
        big = {t: k // gp for t, k in inner.items() if k % gp == 0}
        small = {t: k for t, k in inner.items() if k % gp != 0}
        sc = ic % gp
        if not big or (not small and sc == 0):
            continue
        slo, shi = linear_bounds(small, sc)
        if slo >= 0 and shi < gp:
            return gp, big, (ic - sc) // gp, small, sc
    return None


def _lookup(e: Lookup) -> Expr:
    lo, hi = bounds(e.index)
    n = len(e.table)
    if lo < 0 or hi >= n:
        return e  # may read outside the table: leave it for evaluate() to report
    part = e.table[lo : hi + 1]
    if len(part) == 1:
        return Const(part[0])
    step = part[1] - part[0]
    if all(b - a == step for a, b in zip(part, part[1:], strict=False)):
        return render_linear(*add_linear(scale_linear(linear(e.index), step), ({}, part[0] - lo * step)))
    return e
