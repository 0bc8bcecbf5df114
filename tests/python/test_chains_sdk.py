"""Every derivation-chain method of the beava SDK, registered through the SDK, over HTTP and TCP.

`filter`, `with_columns`, `map`, `select`, `drop`, `rename`, `cast`, `fillna` before `group_by`,
an event derivation (`@bv.event def D(e: E): return e.filter(...)`) feeding a table, fan-out of one
event into two tables, global tables (`@bv.table` + `.agg(...)`) and a composite key. Expected rows
were produced by running this file against beava 0.0.6's own binary.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import beava as bv
import pytest

from conftest import Server
from flows import assert_row

c = bv.col


@bv.event
class Tx:
    user: str
    amount: float
    country: str
    qty: int
    note: str


EVENTS = [
    {"user": "u1", "amount": 5.0, "country": "FR", "qty": 1, "note": "a"},
    {"user": "u1", "amount": 20.0, "country": "DE", "qty": 3, "note": "7"},
    {"user": "u2", "amount": 50.0, "country": "FR", "qty": 2, "note": "b"},
    {"user": "u1", "amount": 12.5, "country": "FR", "qty": 7, "note": "c"},
]

# A case builds its nodes and lists (table, key, expected row); key None = the global row.
Case = Callable[[], tuple[list[Any], list[tuple[str, Any, dict[str, Any]]]]]


def filter_case():
    @bv.table(key="user")
    def F(t: Tx):
        return t.filter(c("amount") > 10).group_by("user").agg(n=bv.count(), s=bv.sum("amount"))
    return [F], [("F", "u1", {"n": 2, "s": 32.5}), ("F", "u2", {"n": 1, "s": 50.0})]


def filter_compound_case():
    @bv.table(key="user")
    def FC(t: Tx):
        return (t.filter((c("country") == "FR") & ~(c("qty") > 5))
                .group_by("user").agg(n=bv.count(), s=bv.sum("amount")))
    return [FC], [("FC", "u1", {"n": 1, "s": 5.0}), ("FC", "u2", {"n": 1, "s": 50.0})]


def with_columns_case():
    @bv.table(key="user")
    def W(t: Tx):
        return (t.with_columns(dbl=c("amount") * 2, big=c("amount") > 10, tag=bv.lit("x"))
                .group_by("user").agg(s=bv.sum("dbl"), nb=bv.count(where=c("big")), t=bv.last("tag")))
    return [W], [("W", "u1", {"s": 75.0, "nb": 2, "t": "x"})]


def map_case():
    @bv.table(key="user")
    def M(t: Tx):
        return t.map(net=c("amount") - c("qty")).group_by("user").agg(s=bv.sum("net"), mx=bv.max("net"))
    return [M], [("M", "u1", {"s": 26.5, "mx": 17.0})]


def select_case():
    @bv.table(key="user")
    def S(t: Tx):
        return t.select("user", "amount").group_by("user").agg(s=bv.sum("amount"), n=bv.count())
    return [S], [("S", "u1", {"s": 37.5, "n": 3})]


def drop_case():
    @bv.table(key="user")
    def D(t: Tx):
        return t.drop("country", "note").group_by("user").agg(q=bv.sum("qty"))
    return [D], [("D", "u1", {"q": 11.0})]


def rename_case():
    @bv.table(key="user")
    def R(t: Tx):
        return t.rename(amount="amt").group_by("user").agg(s=bv.sum("amt"), l=bv.last("amt"))
    return [R], [("R", "u1", {"s": 37.5, "l": 12.5})]


def cast_case():
    # `where` sees the cast value; an aggregation `field` naming a rewritten *event* field reads
    # the raw pushed value (beava's observable behaviour, reproduced by weir).
    @bv.table(key="user")
    def C(t: Tx):
        return (t.cast(qty="str", note="int")
                .group_by("user").agg(q=bv.last("qty"), q7=bv.count(where=c("qty") == "7"),
                                      nn=bv.count(where=c("note").isnull())))
    return [C], [("C", "u1", {"q": 7, "q7": 1, "nn": 2})]


def cast_expr_case():
    @bv.table(key="user")
    def CE(t: Tx):
        return (t.with_columns(qs=c("qty").cast("str"), ai=c("amount").cast("int"))
                .group_by("user").agg(q=bv.last("qs"), a=bv.sum("ai")))
    return [CE], [("CE", "u1", {"q": "7", "a": 37.0})]


def fillna_case():
    @bv.table(key="user")
    def N(t: Tx):
        return (t.with_columns(nv=c("note").cast("int")).fillna(nv=-1)
                .group_by("user").agg(l=bv.last_n("nv", n=3), s=bv.sum("nv")))
    return [N], [("N", "u1", {"l": [-1, 7, -1], "s": 5.0}), ("N", "u2", {"l": [-1], "s": -1.0})]


def pipeline_case():
    @bv.table(key="user")
    def P(t: Tx):
        return (t.filter(c("qty") >= 2).with_columns(v=c("amount") * c("qty")).rename(v="value")
                .select("user", "value").group_by("user").agg(s=bv.sum("value"), l=bv.last("value")))
    return [P], [("P", "u1", {"s": 147.5, "l": 87.5}), ("P", "u2", {"s": 100.0, "l": 100.0})]


def event_derivation_case():
    @bv.event
    def Big(t: Tx):
        return t.filter(c("amount") > 10)

    @bv.table(key="user")
    def BigT(b: Big):
        return b.group_by("user").agg(n=bv.count(), s=bv.sum("amount"))
    return [Big, BigT], [("BigT", "u1", {"n": 2, "s": 32.5}), ("BigT", "u2", {"n": 1, "s": 50.0})]


def event_derivation_chain_case():
    @bv.event
    def Tagged(t: Tx):
        return t.with_columns(eur=c("amount") * 0.5).filter(c("country") == "FR")

    @bv.table(key="country")
    def ByC(t: Tagged):
        return t.group_by("country").agg(e=bv.sum("eur"), n=bv.count())
    return [Tagged, ByC], [("ByC", "FR", {"e": 33.75, "n": 3}), ("ByC", "DE", {})]


def fan_out_case():
    @bv.table(key="user")
    def U(t: Tx):
        return t.group_by("user").agg(n_user=bv.count())

    @bv.table(key="country")
    def K(t: Tx):
        return t.group_by("country").agg(n_country=bv.count(), s_country=bv.sum("amount"))
    return [U, K], [("U", "u1", {"n_user": 3}), ("U", "u2", {"n_user": 1}),
                    ("K", "FR", {"n_country": 3, "s_country": 67.5}), ("K", "DE", {"n_country": 1, "s_country": 20.0})]


def fan_out_derived_case():
    @bv.event
    def Fr(t: Tx):
        return t.filter(c("country") == "FR")

    @bv.table(key="user")
    def FrUser(t: Fr):
        return t.group_by("user").agg(fr_n=bv.count())

    @bv.table
    def FrAll(t: Fr):
        return t.agg(fr_total=bv.sum("amount"))
    return [Fr, FrUser, FrAll], [("FrUser", "u1", {"fr_n": 2}), ("FrAll", None, {"fr_total": 67.5})]


def global_case():
    @bv.table
    def G(t: Tx):
        return t.agg(n=bv.count(), s=bv.sum("amount"), u=bv.n_unique("user"))
    return [G], [("G", None, {"n": 4, "s": 87.5, "u": 2})]


def global_filtered_case():
    @bv.table()
    def G2(t: Tx):
        return t.filter(c("country") == "FR").agg(n=bv.count(window="1h"), top=bv.top_k("user", k=1))
    return [G2], [("G2", None, {"n": 3, "top": [{"count": 2, "value": "u1"}]})]


def composite_key_case():
    @bv.table(key=["user", "country"])
    def UC(t: Tx):
        return t.group_by("user", "country").agg(n=bv.count())
    return [UC], [("UC", "u1|FR", {"n": 2}), ("UC", "u1|DE", {"n": 1}), ("UC", "u2|DE", {})]


CASES: list[Case] = [
    filter_case, filter_compound_case, with_columns_case, map_case, select_case, drop_case, rename_case,
    cast_case, cast_expr_case, fillna_case, pipeline_case, event_derivation_case, event_derivation_chain_case,
    fan_out_case, fan_out_derived_case, global_case, global_filtered_case, composite_key_case,
]


@pytest.fixture(params=["http", "tcp"])
def app(request: pytest.FixtureRequest, server: Server) -> Iterator[Any]:
    url = server.http_url if request.param == "http" else server.tcp_url
    with bv.App(url) as a:
        yield a
    assert server.alive(), "server died during the test"


@pytest.mark.parametrize("case", [pytest.param(f, id=f.__name__.removesuffix("_case")) for f in CASES])
def test_chain(app: Any, case: Case) -> None:
    nodes, reads = case()
    app.reset()
    out = app.register(Tx, *nodes)
    assert out["status"] == "ok"
    assert out["registered_descriptors"] == ["Tx"] + [n._name for n in nodes]
    for ev in EVENTS:
        ack = app.push("Tx", ev)
        assert isinstance(ack["ack_lsn"], int)
    for table, key, want in reads:
        assert_row(app.get(table, key), want)
    # batch_get reads the same rows (global row = "" key)
    got = app.batch_get([(table, "" if key is None else key) for table, key, _ in reads])
    for row, (_, _, want) in zip(got, reads):
        assert_row(row, want)


def test_event_derivation_is_not_a_push_target(app: Any) -> None:
    nodes, _ = event_derivation_case()
    app.reset()
    app.register(Tx, *nodes)
    with pytest.raises(bv.RegistrationError, match=r"\[event_not_found\]"):
        app.push("Big", EVENTS[0])
    assert app.get("BigT", "u1") == {}
