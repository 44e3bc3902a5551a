#!/usr/bin/env python3
"""Prints N seed URLs on distinct loopback addresses (127.a.b.c, all of 127/8 is
loopback on Linux), skipping 127.0.0.0 and 127.0.0.1 (the generated site's absolute
links name 127.0.0.1, so every other host sees them as off-scope, as on a real web).
Usage: gen_seeds.py N PORT"""
import sys

n, port = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    j = i + 2
    print(f"http://127.{j // 62500}.{(j // 250) % 250}.{j % 250 + 1}:{port}/")
