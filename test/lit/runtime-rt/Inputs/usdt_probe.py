#!/usr/bin/env python3
# usdt_probe.py BIN PROVIDER NAME: the metadata probe entry for the first
# site of that USDT probe, from `readelf -n` (what tracec would emit).
import re, subprocess, sys, json
binary, provider, name = sys.argv[1:4]
out = subprocess.run(["readelf", "-n", binary], capture_output=True, text=True, check=True).stdout
for m in re.finditer(r"Provider: (\S+)\s+Name: (\S+)\s+Location: (0x[0-9a-f]+), Base: (0x[0-9a-f]+), Semaphore: (0x[0-9a-f]+)", out):
    if m.group(1) == provider and m.group(2) == name:
        print(json.dumps({"index": 0, "prog": "usdt_probe", "kind": "usdt",
                          "spec": "usdt:%s:%s:%s" % (binary, provider, name),
                          "binary": binary, "provider": provider, "event": name,
                          "address": int(m.group(3), 16), "semaphore": int(m.group(5), 16)}))
        sys.exit(0)
sys.exit("no USDT probe %s:%s in %s" % (provider, name, binary))
