import time, sys, logging
sys.path.insert(0, "layers/shop")
logging.getLogger("samtranslator").setLevel(logging.ERROR)
import requests
from benchmarks.local_cloud import open_shop, InvocationLog, place_and_wait
import benchmarks.local_cloud as lc
T0 = time.monotonic()
lines = []
class L(InvocationLog):
    def __call__(self, line):
        lines.append(f"{time.monotonic()-T0:8.3f} {line}")
cloud, shop = open_shop(L(), 100)
try:
    s = requests.Session()
    place_and_wait(shop, s, "w1")
    lc.POLL_INTERVAL = 0.5
    for i in range(3):
        lines.append(f"{time.monotonic()-T0:8.3f} ---- POST {i}")
        r = place_and_wait(shop, s, f"x{i}")
        lines.append(f"{time.monotonic()-T0:8.3f} ---- shipped {r.ship_seconds:.2f} {r.stages}")
        time.sleep(1.5)
    print("\n".join(l for l in lines if "OrdersApi" not in l or "----" in l)[-6000:])
finally:
    cloud.stop()
