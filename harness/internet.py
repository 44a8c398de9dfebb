"""The fake internet every lab talks to: the checks probe it, providers serve it.

A provider that cannot serve it (say, a VM with real network access) must at least
resolve NAME to a web server whose page contains MARKER.
"""

NAME = "www.bing.com"  # the name the seed article fetched
NAMES = (NAME, "internet.fwlab.test")
ADDR = "203.0.113.10"  # TEST-NET-3: never routed anywhere real
MARKER = "fwlab-internet"  # what a probe looks for in the page
