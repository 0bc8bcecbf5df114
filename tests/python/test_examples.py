"""The examples/python apps (marketplace_rerank, growth_rescue) driven through the SDK."""
from __future__ import annotations

import time

import beava as bv

from conftest import Server
from flows import assert_row, growth, marketplace


def test_marketplace_rerank_flow(server: Server) -> None:
    ShopEvent, SkuMomentum, UserIntent = marketplace()
    with bv.App(server.http_url) as app:
        app.reset()
        app.register(ShopEvent, SkuMomentum, UserIntent)
        events = [
            ("u1", "sku-a", "view", 59.99, "shoes"), ("u1", "sku-a", "add_to_cart", 59.99, "shoes"),
            ("u2", "sku-a", "view", 59.99, "shoes"), ("u2", "sku-a", "purchase", 59.99, "shoes"),
            ("u3", "sku-a", "purchase", 59.99, "shoes"), ("u3", "sku-a", "purchase", 59.99, "shoes"),
            ("u1", "sku-b", "add_to_cart", 120, "bags"), ("u1", "sku-c", "view", 15.0, "hats"),
        ]
        t0 = int(time.time() * 1000)
        for u, sku, act, price, cat in events:
            app.push("ShopEvent", {"user_id": u, "sku": sku, "action": act, "price": price, "category": cat})
        t1 = int(time.time() * 1000)
        a = app.get("SkuMomentum", "sku-a")
        assert t0 <= a.pop("sku_last_seen") <= t1
        assert_row(a, {"views_1h": 2, "carts_1h": 1, "buyers_1h": 2})
        assert_row(app.get("UserIntent", "u1"), {
            "avg_cart_price_1h": 89.995, "categories_seen_1h": 3, "events_total": 4,
            "top_categories_1h": [{"count": 2, "value": "shoes"}, {"count": 1, "value": "bags"}, {"count": 1, "value": "hats"}]})
        u2 = app.get("UserIntent", "u2")
        assert u2["avg_cart_price_1h"] is None and u2["events_total"] == 2
        # Rerank: order SKUs by momentum as the example does.
        ranked = sorted(["sku-a", "sku-b", "sku-c"],
                        key=lambda s: -(app.get("SkuMomentum", s).get("views_1h", 0) + 3 * app.get("SkuMomentum", s).get("buyers_1h", 0)))
        assert ranked[0] == "sku-a"


def test_growth_rescue_flow(server: Server) -> None:
    UsageEvent, UserFriction, OrgExpansion = growth()
    with bv.App(server.tcp_url) as app:
        app.reset()
        app.register(UsageEvent, UserFriction, OrgExpansion)
        evs = [
            ("ann", "acme", "export", "use", "error", 1000.0), ("ann", "acme", "export", "use", "error", 500.0),
            ("ann", "acme", "sso", "invite", "ok", 250.0), ("bob", "acme", "billing", "use", "ok", 100.0),
            ("cat", "initech", "import", "invite", "error", 10.0),
        ]
        for u, org, feat, act, st, d in evs:
            app.push("UsageEvent", {"user_id": u, "org_id": org, "feature": feat, "action": act, "status": st, "duration_ms": d})
        time.sleep(0.2)
        ann = app.get("UserFriction", "ann")
        assert 150 <= ann.pop("ms_since_last_event") <= 5000
        decay = ann.pop("engagement_decay")
        assert isinstance(decay, float) and 1749.0 < decay <= 1750.0
        assert_row(ann, {"errors_1h": 2, "last_feature": "sso", "top_error_features_1h": [{"count": 2, "value": "export"}]})
        bob = app.get("UserFriction", "bob")
        assert bob["errors_1h"] == 0 and bob["top_error_features_1h"] == [] and bob["last_feature"] == "billing"
        assert_row(app.get("OrgExpansion", "acme"), {"invites_7d": 1, "active_users_7d": 2})
        assert_row(app.get("OrgExpansion", "initech"), {"invites_7d": 1, "active_users_7d": 1})
        # batch_get reads at the last-push watermark: time_since is measured from the last push.
        rows = app.batch_get([("UserFriction", "cat"), ("OrgExpansion", "acme", ["invites_7d"])])
        assert rows[0]["ms_since_last_event"] == 0
        assert rows[1] == {"invites_7d": 1}
