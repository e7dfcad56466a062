def test_health(catalog_api):
    r = catalog_api.call("GET", "/health")
    assert r.status == 200, r.body
    assert r.json() == {"status": "ok"}
