#!/usr/bin/env python3
"""nova's own scheduler filters (Debian python3-nova) on the same synthetic cloud that
bench/scheduler_bench.cc builds, for a side-by-side figure. Not a test.

Usage: scheduler_nova.py HOSTS REQUESTS [CHECK]
Prints one JSON line: decisions/s and p50/p99 in ms (thread CPU time, as the C++ side) over
REQUESTS requests (each request runs
AvailabilityZoneFilter, ComputeFilter, AggregateInstanceExtraSpecsFilter, PciPassthroughFilter
over every host, as nova's FilterHandler does), and, for the first CHECK requests, how many hosts
passed, so that the C++ side can check both agree.
"""
import datetime
import json
import logging
import sys
import time

logging.disable(logging.CRITICAL)

import nova.conf  # noqa: E402
from nova import objects  # noqa: E402

objects.register_all()
CONF = nova.conf.CONF
CONF([], project="nova")

from nova.pci import stats as pci_stats  # noqa: E402
from nova.scheduler import host_manager  # noqa: E402
from nova.scheduler.filters import aggregate_instance_extra_specs  # noqa: E402
from nova.scheduler.filters import availability_zone_filter  # noqa: E402
from nova.scheduler.filters import compute_filter  # noqa: E402
from nova.scheduler.filters import pci_passthrough_filter  # noqa: E402


# The cloud, by the same formulas as make_cloud() in scheduler_bench.cc.
def make_cloud(n):
    now = datetime.datetime.utcnow()
    zones = [objects.Aggregate(id=k, name="zone-az%d" % k, hosts=[],
                               metadata={"availability_zone": "az%d" % k}) for k in range(3)]
    gpu = objects.Aggregate(id=10, name="GPU", hosts=[], metadata={"gpu": "true"})
    nongpu = objects.Aggregate(id=11, name="nonGPU", hosts=[], metadata={"gpu": "false"})
    racks = {}
    hosts = []
    for i in range(n):
        name = "host%05d" % i
        h = host_manager.HostState(name, name, None)
        r = i // 40
        if r not in racks:
            racks[r] = objects.Aggregate(id=100 + r, name="rack-%d" % r, hosts=[],
                                         metadata={"rack": str(r)})
        is_gpu = i % 4 == 0
        h.aggregates = [zones[i % 3], gpu if is_gpu else nongpu, racks[r]]
        down = i % 89 == 0
        h.service = {"host": name, "binary": "nova-compute", "disabled": i % 97 == 0,
                     "disabled_reason": None, "forced_down": False,
                     "last_seen_up": now - datetime.timedelta(hours=1) if down else now,
                     "created_at": now}
        pools = []
        if is_gpu:
            allocated = (i // 4) % 5
            for numa in (0, 1):
                # 4 devices per NUMA node; the allocated ones are taken from node 0 first.
                taken = min(allocated, 4) if numa == 0 else max(0, allocated - 4)
                free = 4 - taken
                if free:
                    pools.append(objects.PciDevicePool(
                        product_id="11bf", vendor_id="10de", numa_node=numa, count=free,
                        tags={"dev_type": "type-PCI"}))
        h.pci_stats = pci_stats.PciDeviceStats(
            None, stats=objects.PciDevicePoolList(objects=pools))
        hosts.append(h)
    return hosts


def make_request(r):
    is_gpu = r % 4 == 0
    specs = {"gpu": "true" if is_gpu else "false"}
    reqs = []
    if is_gpu:
        specs["pci_passthrough:alias"] = "K2_Grid:1"
        reqs.append(objects.InstancePCIRequest(
            count=1, spec=[{"vendor_id": "10de", "product_id": "11bf"}], alias_name="K2_Grid",
            numa_policy="legacy", request_id=None))
    flavor = objects.Flavor(name="bench", vcpus=4, memory_mb=8192, root_gb=40, ephemeral_gb=0,
                            swap=0, extra_specs=specs)
    return objects.RequestSpec(flavor=flavor, availability_zone="az%d" % (r % 3),
                               pci_requests=objects.InstancePCIRequests(requests=reqs),
                               num_instances=1)


def main():
    n, count = int(sys.argv[1]), int(sys.argv[2])
    check = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    hosts = make_cloud(n)
    filters = [availability_zone_filter.AvailabilityZoneFilter(),
               compute_filter.ComputeFilter(),
               aggregate_instance_extra_specs.AggregateInstanceExtraSpecsFilter(),
               pci_passthrough_filter.PciPassthroughFilter()]
    requests = [make_request(r) for r in range(max(count, check))]
    passed_counts = []
    latencies = []
    for r in range(max(count, check)):
        spec = requests[r]
        t0 = time.thread_time()
        survivors = hosts
        for f in filters:
            survivors = list(f.filter_all(survivors, spec))
        t1 = time.thread_time()
        if r < count:
            latencies.append(t1 - t0)
        if r < check:
            passed_counts.append(len(survivors))
    latencies.sort()
    total = sum(latencies)
    from nova import version
    print(json.dumps({
        "nova": version.version_string(),
        "hosts": n, "requests": count,
        "decisions_per_s": count / total if total else 0.0,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
        "passed": passed_counts,
    }))


if __name__ == "__main__":
    main()
